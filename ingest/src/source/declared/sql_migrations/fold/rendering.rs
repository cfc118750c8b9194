//! Types, defaults and referential actions in PostgreSQL's own rendering (`format_type`,
//! `pg_get_expr`), so declared attributes compare equal to what a live catalog prints.

use super::*;

impl Catalog {
    /// A type as `format_type` prints it for a reader whose search path is the default one:
    /// an unqualified user type or domain found through this session's search path is
    /// qualified with its schema unless that is `public`.
    pub(super) fn column_type(&self, data_type: &DataType) -> String {
        let normalized = normalize_type(&data_type.to_string());
        let base = normalized.trim_end_matches("[]");
        let suffix = &normalized[base.len()..];
        if base.contains(['.', '(', ' ', '"']) {
            return normalized;
        }
        let found = self.search_path.iter().find(|schema| {
            let key = (schema.to_string(), base.to_string());
            self.types.contains_key(&key) || self.domains.contains_key(&key)
        });
        match found {
            Some(schema) if schema != "public" => format!("{schema}.{base}{suffix}"),
            _ => normalized,
        }
    }
}

pub(super) fn referential_action(action: Option<ReferentialAction>) -> &'static str {
    match action {
        None | Some(ReferentialAction::NoAction) => "no action",
        Some(ReferentialAction::Restrict) => "restrict",
        Some(ReferentialAction::Cascade) => "cascade",
        Some(ReferentialAction::SetNull) => "set null",
        Some(ReferentialAction::SetDefault) => "set default",
    }
}

/// A type as PostgreSQL's `format_type` prints it.
pub(crate) fn normalize_type(text: &str) -> String {
    let lower = text
        .to_ascii_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(element) = lower.strip_suffix("[]") {
        return format!("{}[]", normalize_type(element));
    }
    let (base, arguments, tail) = match lower.find('(') {
        Some(open) => match lower[open..].find(')') {
            Some(close) => (
                lower[..open].trim().to_string(),
                lower[open..=open + close].replace(' ', ""),
                lower[open + close + 1..].trim().to_string(),
            ),
            None => (lower.clone(), String::new(), String::new()),
        },
        None => (lower.clone(), String::new(), String::new()),
    };
    let full = if tail.is_empty() {
        base.clone()
    } else {
        format!("{base} {tail}")
    };
    let time = |name: &str, zone: &str| format!("{name}{arguments} {zone}");
    match full.as_str() {
        "int" | "int4" | "integer" | "serial" | "serial4" => "integer".to_string(),
        "smallint" | "int2" | "smallserial" | "serial2" => "smallint".to_string(),
        "bigint" | "int8" | "bigserial" | "serial8" => "bigint".to_string(),
        "varchar" | "character varying" | "char varying" => format!("character varying{arguments}"),
        "char" | "character" => {
            if arguments.is_empty() {
                "character(1)".to_string()
            } else {
                format!("character{arguments}")
            }
        }
        "bool" | "boolean" => "boolean".to_string(),
        "float8" | "double precision" => "double precision".to_string(),
        "float4" | "real" => "real".to_string(),
        "float" => match arguments
            .trim_matches(|c| c == '(' || c == ')')
            .parse::<u32>()
        {
            Ok(bits) if bits <= 24 => "real".to_string(),
            _ => "double precision".to_string(),
        },
        "decimal" | "numeric" | "dec" => format!("numeric{arguments}"),
        "timestamptz" | "timestamp with time zone" => time("timestamp", "with time zone"),
        "timestamp" | "timestamp without time zone" => time("timestamp", "without time zone"),
        "timetz" | "time with time zone" => time("time", "with time zone"),
        "time" | "time without time zone" => time("time", "without time zone"),
        "varbit" | "bit varying" => format!("bit varying{arguments}"),
        _ => format!("{full}{arguments}"),
    }
}

/// The type name a cast in a default prints: no type modifier, `bpchar` for `character(n)`.
pub(super) fn cast_type_name(normalized: &str) -> String {
    let mut without_modifier = String::new();
    let mut depth = 0;
    for character in normalized.chars() {
        match character {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if depth == 0 => without_modifier.push(character),
            _ => {}
        }
    }
    let name = without_modifier
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if name == "character" {
        "bpchar".to_string()
    } else {
        name
    }
}

pub(super) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

pub(super) fn string_literal(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Value(value) => match &value.value {
            SqlValue::SingleQuotedString(text) | SqlValue::EscapedStringLiteral(text) => Some(text),
            _ => None,
        },
        Expr::Nested(inner) => string_literal(inner),
        _ => None,
    }
}

/// A column default as `pg_get_expr` prints it, for the common forms: literals cast to the
/// column type, negative numbers quoted, `nextval` with `::regclass`, function names lower
/// case. Other expressions keep sqlparser's rendering.
pub(super) fn default_text(expr: &Expr, column_type: &str) -> String {
    if let Some(text) = string_literal(expr) {
        return format!("{}::{}", quote_literal(text), cast_type_name(column_type));
    }
    match expr {
        Expr::Nested(inner) => default_text(inner, column_type),
        Expr::Value(value) => match &value.value {
            SqlValue::Boolean(flag) => flag.to_string(),
            SqlValue::Number(number, _) => number.to_string(),
            _ => expr.to_string(),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr: inner,
        } => match inner.as_ref() {
            // The constant keeps its own type; the coercion to the column type is implicit
            // and not printed.
            Expr::Value(value) if matches!(value.value, SqlValue::Number(..)) => {
                let number = value.value.to_string();
                let literal_type = if number.contains(['.', 'e', 'E']) {
                    "numeric"
                } else if format!("-{number}").parse::<i32>().is_ok() {
                    "integer"
                } else if format!("-{number}").parse::<i64>().is_ok() {
                    "bigint"
                } else {
                    "numeric"
                };
                format!("'-{number}'::{literal_type}")
            }
            _ => expr.to_string(),
        },
        Expr::Cast {
            expr: inner,
            data_type,
            ..
        } => match string_literal(inner) {
            Some(text) => format!(
                "{}::{}",
                quote_literal(text),
                cast_type_name(&normalize_type(&data_type.to_string()))
            ),
            None => expr.to_string(),
        },
        Expr::Function(function) => {
            let text = expr.to_string();
            let name = function.name.to_string();
            let quoted = function.name.0.iter().any(|part| match part {
                ObjectNamePart::Identifier(ident) => ident.quote_style.is_some(),
                ObjectNamePart::Function(_) => true,
            });
            let lowered =
                if quoted || !text.starts_with(&name) || !text[name.len()..].starts_with('(') {
                    text
                } else {
                    format!("{}{}", name.to_ascii_lowercase(), &text[name.len()..])
                };
            match lowered
                .strip_prefix("nextval('")
                .and_then(|rest| rest.strip_suffix("')"))
            {
                Some(sequence) => format!("nextval('{sequence}'::regclass)"),
                None => lowered,
            }
        }
        _ => expr.to_string(),
    }
}

/// Column references in an expression (with repeats), for naming CHECK constraints.
pub(super) fn referenced_columns(expr: &Expr) -> Vec<String> {
    let mut columns = Vec::new();
    let _ = sqlparser::ast::visit_expressions(expr, |expr| {
        match expr {
            Expr::Identifier(ident) => columns.push(fold_ident(ident)),
            Expr::CompoundIdentifier(parts) => {
                if let Some(last) = parts.last() {
                    columns.push(fold_ident(last));
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    columns
}

/// The columns in first-appearance order, without repeats.
pub(super) fn distinct(columns: Vec<String>) -> Vec<String> {
    columns.into_iter().fold(Vec::new(), |mut unique, column| {
        if !unique.contains(&column) {
            unique.push(column);
        }
        unique
    })
}

pub(super) fn serial_type(data_type: &DataType) -> Option<&'static str> {
    match data_type.to_string().to_ascii_lowercase().as_str() {
        "serial" | "serial4" => Some("integer"),
        "bigserial" | "serial8" => Some("bigint"),
        "smallserial" | "serial2" => Some("smallint"),
        _ => None,
    }
}
