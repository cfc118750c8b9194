//! `DROP` of tables, views, indexes, sequences and schemas, with what depends on them (views
//! reading a relation, foreign keys into a table) dropped or refused as PostgreSQL would.

use super::*;

impl Catalog {
    pub(super) fn drop(
        &mut self,
        object_type: ObjectType,
        name: &ObjectName,
        if_exists: bool,
        cascade: bool,
        at: &Provenance,
    ) -> Result<(), FoldError> {
        let missing = |what: &str, label: String| {
            if if_exists {
                Ok(())
            } else {
                Err(FoldError::Missing {
                    what: what.to_string(),
                    name: label.to_string(),
                })
            }
        };
        match object_type {
            ObjectType::Table => {
                let key = self.qualified(name)?;
                if !self.tables.contains_key(&key) {
                    return missing("table", format!("{}.{}", key.0, key.1));
                }
                self.drop_table(&key, cascade)
            }
            ObjectType::Index => {
                let key = self.qualified(name)?;
                match self.indexes.get(&key) {
                    None => missing("index", format!("{}.{}", key.0, key.1)),
                    Some(index) => {
                        let table_key = (key.0.clone(), index.table.clone());
                        let backs_constraint = self.tables.get(&table_key).is_some_and(|table| {
                            table
                                .constraints
                                .iter()
                                .any(|c| c.name == key.1 && c.kind.has_index())
                        });
                        if backs_constraint {
                            return Err(FoldError::Refused(format!(
                                "cannot drop index {}.{}: constraint {} requires it",
                                key.0, key.1, key.1
                            )));
                        }
                        self.indexes.remove(&key);
                        Ok(())
                    }
                }
            }
            ObjectType::View | ObjectType::MaterializedView => {
                let key = self.qualified(name)?;
                if !self.views.contains_key(&key) {
                    return missing("view", format!("{}.{}", key.0, key.1));
                }
                self.drop_dependent_views(&key, cascade)?;
                self.views.remove(&key);
                Ok(())
            }
            ObjectType::Sequence => {
                let key = self.qualified(name)?;
                match self.sequences.remove(&key) {
                    Some(_) => Ok(()),
                    None => missing("sequence", format!("{}.{}", key.0, key.1)),
                }
            }
            ObjectType::Schema => {
                let schema = last_part(name)?;
                if !self.schemas.contains_key(&schema) {
                    return missing("schema", schema);
                }
                let tables: Vec<Qualified> = self
                    .tables
                    .keys()
                    .filter(|(table_schema, _)| *table_schema == schema)
                    .cloned()
                    .collect();
                let has_objects = !tables.is_empty()
                    || self.views.keys().any(|(s, _)| *s == schema)
                    || self.sequences.keys().any(|(s, _)| *s == schema)
                    || self.types.keys().any(|(s, _)| *s == schema)
                    || self.domains.keys().any(|(s, _)| *s == schema);
                if has_objects && !cascade {
                    return Err(FoldError::Refused(format!(
                        "cannot drop schema {schema}: it is not empty (use CASCADE)"
                    )));
                }
                for table in tables {
                    self.drop_table(&table, true)?;
                }
                self.views.retain(|(s, _), _| *s != schema);
                self.sequences.retain(|(s, _), _| *s != schema);
                self.indexes.retain(|(s, _), _| *s != schema);
                self.types.retain(|(s, _), _| *s != schema);
                self.domains.retain(|(s, _), _| *s != schema);
                self.schemas.remove(&schema);
                Ok(())
            }
            ObjectType::Type => self.drop_type(name, false, if_exists, cascade, at),
            other => Err(FoldError::NotFolded {
                construct: format!("DROP {other}"),
            }),
        }
    }

    /// Views reading `key`, directly or through other views.
    pub(super) fn dependent_views(&self, key: &Qualified) -> Vec<Qualified> {
        let mut found: Vec<Qualified> = Vec::new();
        let mut pending = vec![key.clone()];
        while let Some(relation) = pending.pop() {
            for (view_key, view) in &self.views {
                if !found.contains(view_key)
                    && reads_relation(&view.query, view.schema.as_deref(), &relation)
                {
                    found.push(view_key.clone());
                    pending.push(view_key.clone());
                }
            }
        }
        found
    }

    /// Drop what depends on a relation being dropped: with CASCADE its views go too; without,
    /// PostgreSQL refuses.
    pub(super) fn drop_dependent_views(
        &mut self,
        key: &Qualified,
        cascade: bool,
    ) -> Result<(), FoldError> {
        let views = self.dependent_views(key);
        if views.is_empty() {
            return Ok(());
        }
        if !cascade {
            let names: Vec<String> = views
                .iter()
                .map(|(schema, name)| format!("view {schema}.{name}"))
                .collect();
            return Err(FoldError::Refused(format!(
                "cannot drop {}.{}: {} depend on it (use CASCADE)",
                key.0,
                key.1,
                names.join(", ")
            )));
        }
        for view in views {
            self.views.remove(&view);
        }
        Ok(())
    }

    pub(super) fn drop_table(&mut self, key: &Qualified, cascade: bool) -> Result<(), FoldError> {
        self.drop_dependent_views(key, cascade)?;
        let referencing = self.foreign_keys_referencing(key);
        if !referencing.is_empty() && !cascade {
            let names: Vec<String> = referencing
                .iter()
                .map(|(table, name, _)| format!("{}.{}.{}", table.0, table.1, name))
                .collect();
            return Err(FoldError::Refused(format!(
                "cannot drop table {}.{}: {} depend on it (use CASCADE)",
                key.0,
                key.1,
                names.join(", ")
            )));
        }
        for (table_key, name, _) in referencing {
            if let Some(table) = self.tables.get_mut(&table_key) {
                table.constraints.retain(|c| c.name != name);
            }
        }
        self.tables.remove(key);
        self.indexes
            .retain(|(schema, _), index| !(*schema == key.0 && index.table == key.1));
        self.sequences.retain(|(schema, _), sequence| {
            !(*schema == key.0
                && sequence
                    .owned_by
                    .as_ref()
                    .is_some_and(|(table, _)| *table == key.1))
        });
        Ok(())
    }
}

/// Whether a view's query reads `relation` (unqualified names resolve to `schema`, the
/// creation schema when the view was made).
pub(super) fn reads_relation(
    query: &sqlparser::ast::Query,
    schema: Option<&str>,
    relation: &Qualified,
) -> bool {
    sqlparser::ast::visit_relations(query, |name| {
        if qualified_in(name, schema).is_ok_and(|key| key == *relation) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .is_break()
}

/// Views reference tables by oid in PostgreSQL, so a renamed table shows its new name in
/// their definitions: rewrite the references.
pub(super) fn rename_relation(
    query: &mut sqlparser::ast::Query,
    schema: Option<&str>,
    old: &Qualified,
    new_name: &str,
) {
    let _ = sqlparser::ast::visit_relations_mut(query, |name| {
        if qualified_in(name, schema).is_ok_and(|key| key == *old) {
            if let Some(ObjectNamePart::Identifier(last)) = name.0.last_mut() {
                *last = Ident::new(new_name);
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Expressions reference columns by number in PostgreSQL, so a renamed column shows its new
/// name in them: rewrite the identifiers.
pub(super) fn rename_in_expression(expr: &mut Expr, old: &str, new: &str) {
    let _ = sqlparser::ast::visit_expressions_mut(expr, |expr| {
        if let Expr::Identifier(ident) = expr {
            if fold_ident(ident) == old {
                *ident = Ident::new(new);
            }
        }
        ControlFlow::<()>::Continue(())
    });
}
