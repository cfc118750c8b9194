//! Names as PostgreSQL makes them: identifier folding and truncation, qualified names under the
//! search_path, and the implicit names of indexes, sequences and constraints (`ChooseRelationName`).

use super::*;

impl Catalog {
    /// `ChooseRelationName`: the first of `label`, `label1`, `label2`, ... that is free.
    pub(super) fn choose_relation_name(
        &self,
        schema: &str,
        name1: &str,
        name2: Option<&str>,
        label: &str,
        is_constraint: bool,
    ) -> String {
        let mut pass = 0usize;
        loop {
            let modified = if pass == 0 {
                label.to_string()
            } else {
                format!("{label}{pass}")
            };
            let candidate = make_object_name(name1, name2, &modified);
            let taken = self.relation_exists(schema, &candidate)
                || (is_constraint && self.constraint_exists(schema, &candidate));
            if !taken {
                return candidate;
            }
            pass += 1;
        }
    }

    /// `ChooseConstraintName`: like relation names, but only constraints conflict.
    pub(super) fn choose_constraint_name(
        &self,
        schema: &str,
        name1: &str,
        name2: Option<&str>,
        label: &str,
    ) -> String {
        let mut pass = 0usize;
        loop {
            let modified = if pass == 0 {
                label.to_string()
            } else {
                format!("{label}{pass}")
            };
            let candidate = make_object_name(name1, name2, &modified);
            if !self.constraint_exists(schema, &candidate) {
                return candidate;
            }
            pass += 1;
        }
    }
}

pub(super) fn fold_ident(ident: &Ident) -> String {
    truncate_identifier(postgres_identifier(
        &ident.value,
        ident.quote_style.is_some(),
    ))
}

pub(super) fn truncate_identifier(mut name: String) -> String {
    if name.len() > MAX_IDENTIFIER_BYTES {
        let mut end = MAX_IDENTIFIER_BYTES;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    name
}

pub(super) fn name_parts(name: &ObjectName) -> Result<Vec<String>, FoldError> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => Ok(fold_ident(ident)),
            ObjectNamePart::Function(_) => {
                Err(FoldError::Refused(format!("unsupported name {name}")))
            }
        })
        .collect()
}

/// `schema.name`, `name` (in `schema`, the first existing schema of the search path) or
/// `database.schema.name`.
pub(super) fn qualified_in(
    name: &ObjectName,
    schema: Option<&str>,
) -> Result<Qualified, FoldError> {
    let parts = name_parts(name)?;
    match parts.as_slice() {
        [name] => match schema {
            Some(schema) => Ok((schema.to_string(), name.clone())),
            None => Err(FoldError::Refused(format!(
                "no schema has been selected for {name} (the search_path is empty)"
            ))),
        },
        [.., schema, name] => Ok((schema.clone(), name.clone())),
        [] => Err(FoldError::Refused("empty name".to_string())),
    }
}

pub(super) fn last_part(name: &ObjectName) -> Result<String, FoldError> {
    name_parts(name)?
        .pop()
        .ok_or_else(|| FoldError::Refused("empty name".to_string()))
}

/// PostgreSQL's `makeObjectName`: `name1_name2_label`, shortening the longer of name1 and
/// name2 one byte at a time until the result fits in 63 bytes.
pub(crate) fn make_object_name(name1: &str, name2: Option<&str>, label: &str) -> String {
    let mut overhead = label.len() + 1;
    if name2.is_some() {
        overhead += 1;
    }
    let available = MAX_IDENTIFIER_BYTES.saturating_sub(overhead);
    let mut name1_len = name1.len();
    let mut name2_len = name2.map_or(0, str::len);
    while name1_len + name2_len > available {
        if name1_len > name2_len {
            name1_len -= 1;
        } else {
            name2_len -= 1;
        }
    }
    let clip = |text: &str, mut length: usize| {
        while !text.is_char_boundary(length) {
            length -= 1;
        }
        text[..length].to_string()
    };
    let mut result = clip(name1, name1_len);
    if let Some(name2) = name2 {
        result.push('_');
        result.push_str(&clip(name2, name2_len));
    }
    result.push('_');
    result.push_str(label);
    result
}

/// The column part of an implicit name: the names joined by `_`, cut at 63 bytes as
/// `ChooseIndexNameAddition` / `ChooseForeignKeyConstraintNameAddition` do.
pub(super) fn name_addition(columns: &[String]) -> String {
    let mut buffer = String::new();
    for column in columns {
        if !buffer.is_empty() {
            buffer.push('_');
        }
        buffer.push_str(column);
        if buffer.len() > MAX_IDENTIFIER_BYTES {
            break;
        }
    }
    truncate_identifier(buffer)
}
