//! `CREATE TYPE` (enum and composite), `CREATE DOMAIN`, `ALTER TYPE` and `DROP TYPE`/`DROP DOMAIN`,
//! with the columns that use them retyped or dropped as PostgreSQL would.

use super::*;

impl Catalog {
    pub(super) fn create_type(
        &mut self,
        name: &ObjectName,
        representation: Option<&UserDefinedTypeRepresentation>,
        at: &Provenance,
    ) -> Result<(), FoldError> {
        let key = self.qualified(name)?;
        let definition = match representation {
            Some(UserDefinedTypeRepresentation::Enum { labels }) => {
                TypeDefinition::Enum(labels.iter().map(|label| label.value.clone()).collect())
            }
            Some(UserDefinedTypeRepresentation::Composite { attributes }) => {
                TypeDefinition::Composite(
                    attributes
                        .iter()
                        .map(|attribute| {
                            (
                                fold_ident(&attribute.name),
                                self.column_type(&attribute.data_type),
                            )
                        })
                        .collect(),
                )
            }
            _ => {
                return Err(FoldError::NotFolded {
                    construct: format!(
                        "CREATE TYPE {}.{} (range, base or shell type)",
                        key.0, key.1
                    ),
                })
            }
        };
        if self.type_exists(&key.0, &key.1) {
            return Err(FoldError::Exists {
                what: "type".to_string(),
                name: format!("{}.{}", key.0, key.1),
            });
        }
        self.require_schema(&key.0)?;
        self.types.insert(
            key,
            UserType {
                definition,
                provenance: at.clone(),
            },
        );
        Ok(())
    }

    pub(super) fn create_domain(
        &mut self,
        create: &CreateDomain,
        at: &Provenance,
        notes: &mut Notes,
    ) -> Result<(), FoldError> {
        let key = self.qualified(&create.name)?;
        if self.type_exists(&key.0, &key.1) {
            return Err(FoldError::Exists {
                what: "type".to_string(),
                name: format!("{}.{}", key.0, key.1),
            });
        }
        self.require_schema(&key.0)?;
        let base_type = self.column_type(&create.data_type);
        let mut checks: Vec<(String, Expr)> = Vec::new();
        for constraint in &create.constraints {
            let TableConstraint::Check(check) = constraint else {
                notes.push(format!(
                    "domain constraint {constraint} of {}.{} is not folded into the schema",
                    key.0, key.1
                ));
                continue;
            };
            // `ChooseConstraintName(domain, NULL, "check")`, as DefineDomain does.
            let name = match &check.name {
                Some(name) => fold_ident(name),
                None => (0usize..)
                    .map(|pass| {
                        let label = if pass == 0 {
                            "check".to_string()
                        } else {
                            format!("check{pass}")
                        };
                        make_object_name(&key.1, None, &label)
                    })
                    .find(|candidate| {
                        !self.constraint_exists(&key.0, candidate)
                            && !checks.iter().any(|(taken, _)| taken == candidate)
                    })
                    .unwrap_or_default(),
            };
            checks.push((name, (*check.expr).clone()));
        }
        checks.sort_by(|left, right| left.0.cmp(&right.0));
        self.domains.insert(
            key,
            Domain {
                default: create
                    .default
                    .as_ref()
                    .map(|expr| default_text(expr, &base_type)),
                base_type,
                not_null: false,
                checks,
                provenance: at.clone(),
            },
        );
        Ok(())
    }

    /// `NOT NULL` of a CREATE DOMAIN, which sqlparser does not read (the rewrite removes it).
    pub(crate) fn set_domain_not_null(&mut self, name: &ObjectName) -> Result<(), FoldError> {
        let key = self.qualified(name)?;
        let domain = self
            .domains
            .get_mut(&key)
            .ok_or_else(|| FoldError::Missing {
                what: "domain".to_string(),
                name: format!("{}.{}", key.0, key.1),
            })?;
        domain.not_null = true;
        Ok(())
    }

    pub(super) fn alter_type(
        &mut self,
        alter: &AlterType,
        at: &Provenance,
    ) -> Result<(), FoldError> {
        let key = self.qualified(&alter.name)?;
        let Some(user_type) = self.types.get_mut(&key) else {
            return Err(FoldError::Missing {
                what: "type".to_string(),
                name: format!("{}.{}", key.0, key.1),
            });
        };
        user_type.provenance = at.clone();
        match &alter.operation {
            AlterTypeOperation::AddValue(add) => {
                let TypeDefinition::Enum(labels) = &mut user_type.definition else {
                    return Err(FoldError::Refused(format!(
                        "{}.{} is not an enum",
                        key.0, key.1
                    )));
                };
                let value = add.value.value.clone();
                if labels.contains(&value) {
                    return if add.if_not_exists {
                        Ok(())
                    } else {
                        Err(FoldError::Refused(format!(
                            "enum label \"{value}\" already exists in {}.{}",
                            key.0, key.1
                        )))
                    };
                }
                let at_index = match &add.position {
                    None => labels.len(),
                    Some(
                        AlterTypeAddValuePosition::Before(neighbour)
                        | AlterTypeAddValuePosition::After(neighbour),
                    ) => {
                        let found = labels
                            .iter()
                            .position(|label| *label == neighbour.value)
                            .ok_or_else(|| {
                                FoldError::Refused(format!(
                                    "\"{}\" is not an existing enum label of {}.{}",
                                    neighbour.value, key.0, key.1
                                ))
                            })?;
                        match &add.position {
                            Some(AlterTypeAddValuePosition::After(_)) => found + 1,
                            _ => found,
                        }
                    }
                };
                labels.insert(at_index, value);
                Ok(())
            }
            AlterTypeOperation::RenameValue(rename) => {
                let TypeDefinition::Enum(labels) = &mut user_type.definition else {
                    return Err(FoldError::Refused(format!(
                        "{}.{} is not an enum",
                        key.0, key.1
                    )));
                };
                if labels.contains(&rename.to.value) {
                    return Err(FoldError::Refused(format!(
                        "enum label \"{}\" already exists in {}.{}",
                        rename.to.value, key.0, key.1
                    )));
                }
                let label = labels
                    .iter_mut()
                    .find(|label| **label == rename.from.value)
                    .ok_or_else(|| {
                        FoldError::Refused(format!(
                            "\"{}\" is not an existing enum label of {}.{}",
                            rename.from.value, key.0, key.1
                        ))
                    })?;
                *label = rename.to.value.clone();
                Ok(())
            }
            AlterTypeOperation::Rename(rename) => {
                let new_name = fold_ident(&rename.new_name);
                if self.type_exists(&key.0, &new_name) {
                    return Err(FoldError::Exists {
                        what: "type".to_string(),
                        name: format!("{}.{new_name}", key.0),
                    });
                }
                let renamed = (key.0.clone(), new_name);
                if let Some(user_type) = self.types.remove(&key) {
                    self.types.insert(renamed.clone(), user_type);
                }
                // Columns keep the type (by oid), so they show its new name.
                self.retype_columns(&key, Some(&renamed));
                Ok(())
            }
        }
    }

    /// How `format_type` prints a user type (see [`Catalog::column_type`]), and the
    /// `public.`-qualified spelling a dump writes.
    pub(super) fn type_spellings(key: &Qualified) -> Vec<String> {
        let qualified = format!("{}.{}", key.0, key.1);
        if key.0 == "public" {
            vec![key.1.clone(), qualified]
        } else {
            vec![qualified]
        }
    }

    /// Columns, composite attributes and domains of type `key` (or an array of it): renamed
    /// to `renamed`, or listed when `renamed` is None. Returns (table, column) of columns.
    pub(super) fn retype_columns(
        &mut self,
        key: &Qualified,
        renamed: Option<&Qualified>,
    ) -> Vec<(Qualified, String)> {
        let spellings = Self::type_spellings(key);
        let new_spelling = renamed.map(|renamed| {
            if renamed.0 == "public" {
                renamed.1.clone()
            } else {
                format!("{}.{}", renamed.0, renamed.1)
            }
        });
        let mut users = Vec::new();
        let retype = |data_type: &mut String| -> bool {
            let base = data_type.trim_end_matches("[]");
            if !spellings.iter().any(|spelling| spelling.as_str() == base) {
                return false;
            }
            let base_length = base.len();
            if let Some(new_spelling) = &new_spelling {
                let suffix = data_type[base_length..].to_string();
                *data_type = format!("{new_spelling}{suffix}");
            }
            true
        };
        for (table_key, table) in self.tables.iter_mut() {
            for column in &mut table.columns {
                if retype(&mut column.data_type) {
                    users.push((table_key.clone(), column.name.clone()));
                }
            }
        }
        for user_type in self.types.values_mut() {
            if let TypeDefinition::Composite(attributes) = &mut user_type.definition {
                for (_, data_type) in attributes {
                    retype(data_type);
                }
            }
        }
        for domain in self.domains.values_mut() {
            retype(&mut domain.base_type);
        }
        users
    }

    /// DROP TYPE / DROP DOMAIN: refused while columns use it, unless CASCADE (which drops
    /// those columns, as PostgreSQL does).
    pub(super) fn drop_type(
        &mut self,
        name: &ObjectName,
        domain: bool,
        if_exists: bool,
        cascade: bool,
        at: &Provenance,
    ) -> Result<(), FoldError> {
        let key = self.qualified(name)?;
        let what = if domain { "domain" } else { "type" };
        let exists = if domain {
            self.domains.contains_key(&key)
        } else {
            self.types.contains_key(&key)
        };
        if !exists {
            return if if_exists {
                Ok(())
            } else {
                Err(FoldError::Missing {
                    what: what.to_string(),
                    name: format!("{}.{}", key.0, key.1),
                })
            };
        }
        let users = self.retype_columns(&key, None);
        if !users.is_empty() && !cascade {
            let (table, column) = &users[0];
            return Err(FoldError::Refused(format!(
                "cannot drop {what} {}.{}: column {}.{}.{column} depends on it (use CASCADE)",
                key.0, key.1, table.0, table.1
            )));
        }
        for (table, column) in users {
            self.drop_column(&table, &column, true, at)?;
        }
        if domain {
            self.domains.remove(&key);
        } else {
            self.types.remove(&key);
        }
        Ok(())
    }
}
