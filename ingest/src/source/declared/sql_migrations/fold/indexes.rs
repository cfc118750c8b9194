//! `CREATE INDEX` and `ALTER INDEX ... RENAME`.

use super::*;

impl Catalog {
    pub(super) fn create_index(
        &mut self,
        create: &CreateIndex,
        at: &Provenance,
    ) -> Result<(), FoldError> {
        let table_key = self.qualified(&create.table_name)?;
        let materialized_view = self
            .views
            .get(&table_key)
            .is_some_and(|view| view.materialized);
        if !self.tables.contains_key(&table_key) && !materialized_view {
            return Err(FoldError::Missing {
                what: "table".to_string(),
                name: format!("{}.{}", table_key.0, table_key.1),
            });
        }
        let keys: Vec<IndexKey> = create
            .columns
            .iter()
            .map(|column| index_key(&column.column.expr))
            .collect();
        let name = match &create.name {
            Some(name) => last_part(name)?,
            None => {
                let names: Vec<String> = keys
                    .iter()
                    .zip(&create.columns)
                    .map(|(key, column)| index_key_name(key, &column.column.expr))
                    .collect();
                self.choose_relation_name(
                    &table_key.0,
                    &table_key.1,
                    Some(&name_addition(&names)),
                    "idx",
                    false,
                )
            }
        };
        if self.relation_exists(&table_key.0, &name) {
            return if create.if_not_exists {
                Ok(())
            } else {
                Err(FoldError::Exists {
                    what: "relation".to_string(),
                    name: format!("{}.{name}", table_key.0),
                })
            };
        }
        self.indexes.insert(
            (table_key.0.clone(), name),
            Index {
                table: table_key.1.clone(),
                keys,
                unique: create.unique,
                predicate: create.predicate.clone(),
                method: create.using.as_ref().map_or("btree".to_string(), |method| {
                    method.to_string().to_ascii_lowercase()
                }),
                provenance: at.clone(),
            },
        );
        Ok(())
    }

    /// ALTER INDEX ... RENAME TO; a constraint's index renames the constraint too.
    pub(super) fn rename_index(
        &mut self,
        name: &ObjectName,
        new_name: &ObjectName,
        at: &Provenance,
    ) -> Result<(), FoldError> {
        let key = self.qualified(name)?;
        let new = last_part(new_name)?;
        if self.relation_exists(&key.0, &new) {
            return Err(FoldError::Exists {
                what: "relation".to_string(),
                name: format!("{}.{new}", key.0),
            });
        }
        let mut index = self
            .indexes
            .remove(&key)
            .ok_or_else(|| FoldError::Missing {
                what: "index".to_string(),
                name: format!("{}.{}", key.0, key.1),
            })?;
        index.provenance = at.clone();
        let table_key = (key.0.clone(), index.table.clone());
        if let Some(table) = self.tables.get_mut(&table_key) {
            for constraint in &mut table.constraints {
                if constraint.name == key.1 && constraint.kind.has_index() {
                    constraint.name = new.clone();
                    constraint.provenance = at.clone();
                }
            }
        }
        self.indexes.insert((key.0, new), index);
        Ok(())
    }
}

pub(super) fn index_key(expr: &Expr) -> IndexKey {
    match expr {
        Expr::Identifier(ident) => IndexKey::Column(fold_ident(ident)),
        other => IndexKey::Expression(Box::new(other.clone())),
    }
}

/// The name an index key contributes to an implicit index name (`FigureIndexColname`).
pub(super) fn index_key_name(key: &IndexKey, expr: &Expr) -> String {
    match (key, expr) {
        (IndexKey::Column(name), _) => name.clone(),
        (_, Expr::Function(function)) => function
            .name
            .0
            .last()
            .and_then(|part| match part {
                ObjectNamePart::Identifier(ident) => Some(fold_ident(ident)),
                ObjectNamePart::Function(_) => None,
            })
            .unwrap_or_else(|| "expr".to_string()),
        _ => "expr".to_string(),
    }
}
