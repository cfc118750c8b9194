//! `CREATE TABLE` (partitions included), `ALTER TABLE` and its column, constraint and partition
//! operations.

use super::*;

impl Catalog {
    pub(super) fn create_table(
        &mut self,
        create: &CreateTable,
        at: &Provenance,
        notes: &mut Notes,
    ) -> Result<(), FoldError> {
        let key = self.qualified(&create.name)?;
        if self.relation_exists(&key.0, &key.1) {
            return if create.if_not_exists {
                Ok(())
            } else {
                Err(FoldError::Exists {
                    what: "relation".to_string(),
                    name: format!("{}.{}", key.0, key.1),
                })
            };
        }
        self.require_schema(&key.0)?;
        if let Some(parent) = &create.partition_of {
            return self.create_partition(&key, parent, create, at, notes);
        }
        if create.query.is_some() {
            return Err(FoldError::NotFolded {
                construct: format!("CREATE TABLE {}.{} AS", key.0, key.1),
            });
        }
        self.tables.insert(
            key.clone(),
            Table {
                columns: Vec::new(),
                constraints: Vec::new(),
                next_position: 1,
                provenance: at.clone(),
            },
        );
        let mut pending = Vec::new();
        for column in &create.columns {
            pending.extend(self.add_column(&key, column, at)?);
        }
        for constraint in &create.constraints {
            match table_constraint(constraint, self.default_schema()) {
                Ok(constraint) => pending.push(constraint),
                Err(message) => notes.push(message.to_string()),
            }
        }
        self.add_constraints(&key, pending, at, notes);
        Ok(())
    }

    /// `CREATE TABLE child PARTITION OF parent FOR VALUES ...`: the parent's columns (types,
    /// NOT NULL, defaults, generated expressions; positions without the parent's gaps) and
    /// CHECK constraints are inherited, then the partition is attached as by ATTACH PARTITION.
    pub(super) fn create_partition(
        &mut self,
        key: &Qualified,
        parent: &ObjectName,
        create: &CreateTable,
        at: &Provenance,
        notes: &mut Notes,
    ) -> Result<(), FoldError> {
        let parent = self.qualified(parent)?;
        let parent_table = self.tables.get(&parent).ok_or_else(|| FoldError::Missing {
            what: "table".to_string(),
            name: format!("{}.{}", parent.0, parent.1),
        })?;
        if !create.columns.is_empty() || !create.constraints.is_empty() {
            notes.push(format!(
                "column options and constraints of the partition {}.{} are not folded",
                key.0, key.1
            ));
        }
        let columns: Vec<Column> = parent_table
            .columns
            .iter()
            .enumerate()
            .map(|(index, column)| Column {
                identity: None,
                position: index + 1,
                provenance: at.clone(),
                ..column.clone()
            })
            .collect();
        let constraints: Vec<Constraint> = parent_table
            .constraints
            .iter()
            .filter(|constraint| constraint.kind == ConstraintType::Check)
            .map(|constraint| Constraint {
                provenance: at.clone(),
                ..constraint.clone()
            })
            .collect();
        self.tables.insert(
            key.clone(),
            Table {
                next_position: columns.len() + 1,
                columns,
                constraints,
                provenance: at.clone(),
            },
        );
        self.attach_keys(&parent, key, at, notes)
    }

    /// Add a column; returns its inline constraints for the caller to name and add.
    pub(super) fn add_column(
        &mut self,
        key: &Qualified,
        definition: &ColumnDef,
        at: &Provenance,
    ) -> Result<Vec<PendingConstraint>, FoldError> {
        let name = fold_ident(&definition.name);
        let data_type = serial_type(&definition.data_type)
            .map(str::to_string)
            .unwrap_or_else(|| self.column_type(&definition.data_type));
        let mut column = Column {
            name: name.clone(),
            data_type: data_type.clone(),
            not_null: false,
            default: None,
            identity: None,
            generated: None,
            position: 0,
            provenance: at.clone(),
        };
        let mut pending = Vec::new();
        let mut needs_sequence = serial_type(&definition.data_type).is_some();
        if needs_sequence {
            column.not_null = true;
        }
        for option in &definition.options {
            let constraint_name = option.name.as_ref().map(fold_ident);
            match &option.option {
                ColumnOption::Null => column.not_null = false,
                ColumnOption::NotNull => column.not_null = true,
                ColumnOption::Default(expr) => {
                    column.default = Some(default_text(expr, &data_type))
                }
                ColumnOption::PrimaryKey(primary) => pending.push(PendingConstraint {
                    name: constraint_name.or_else(|| primary.name.as_ref().map(fold_ident)),
                    kind: ConstraintType::PrimaryKey,
                    columns: vec![name.clone()],
                    references: None,
                    check: None,
                }),
                ColumnOption::Unique(unique) => pending.push(PendingConstraint {
                    name: constraint_name.or_else(|| unique.name.as_ref().map(fold_ident)),
                    kind: ConstraintType::Unique,
                    columns: vec![name.clone()],
                    references: None,
                    check: None,
                }),
                ColumnOption::ForeignKey(foreign) => pending.push(PendingConstraint {
                    name: constraint_name.or_else(|| foreign.name.as_ref().map(fold_ident)),
                    kind: ConstraintType::ForeignKey,
                    columns: vec![name.clone()],
                    references: Some((
                        self.qualified(&foreign.foreign_table)?,
                        foreign.referred_columns.iter().map(fold_ident).collect(),
                        referential_action(foreign.on_delete),
                        referential_action(foreign.on_update),
                    )),
                    check: None,
                }),
                ColumnOption::Check(check) => pending.push(PendingConstraint {
                    name: constraint_name.or_else(|| check.name.as_ref().map(fold_ident)),
                    kind: ConstraintType::Check,
                    columns: distinct(referenced_columns(&check.expr)),
                    references: None,
                    check: Some((*check.expr).clone()),
                }),
                ColumnOption::Generated {
                    generated_as,
                    generation_expr,
                    ..
                } => match generation_expr {
                    Some(expr) => column.generated = Some(expr.to_string()),
                    None => {
                        column.identity = Some(match generated_as {
                            GeneratedAs::ByDefault => "by default",
                            _ => "always",
                        });
                        column.not_null = true;
                        needs_sequence = true;
                    }
                },
                ColumnOption::Collation(_) | ColumnOption::Comment(_) => {}
                other => {
                    return Err(FoldError::Refused(format!(
                        "column option {other} of {}.{}.{name} is not folded",
                        key.0, key.1
                    )))
                }
            }
        }
        if needs_sequence {
            let sequence = self.choose_relation_name(&key.0, &key.1, Some(&name), "seq", false);
            if column.identity.is_none() {
                let qualified_sequence = if key.0 == "public" {
                    sequence.clone()
                } else {
                    format!("{}.{}", key.0, sequence)
                };
                column.default = Some(format!("nextval('{qualified_sequence}'::regclass)"));
            }
            self.sequences.insert(
                (key.0.clone(), sequence),
                Sequence {
                    data_type: data_type.clone(),
                    owned_by: Some((key.1.clone(), name.clone())),
                    provenance: at.clone(),
                },
            );
        }
        let table = self.tables.get_mut(key).ok_or_else(|| FoldError::Missing {
            what: "table".to_string(),
            name: format!("{}.{}", key.0, key.1),
        })?;
        if table.columns.iter().any(|existing| existing.name == name) {
            return Err(FoldError::Exists {
                what: "column".to_string(),
                name: format!("{name} of {}.{}", key.0, key.1),
            });
        }
        column.position = table.next_position;
        table.next_position += 1;
        table.columns.push(column);
        table.provenance = at.clone();
        Ok(pending)
    }

    /// Name and add constraints in PostgreSQL's order: CHECKs, then the primary key, then
    /// UNIQUE constraints (each with its index), then foreign keys.
    pub(super) fn add_constraints(
        &mut self,
        key: &Qualified,
        pending: Vec<PendingConstraint>,
        at: &Provenance,
        notes: &mut Notes,
    ) {
        let rank = |kind: ConstraintType| match kind {
            ConstraintType::Check => 0,
            ConstraintType::PrimaryKey => 1,
            ConstraintType::Unique => 2,
            ConstraintType::ForeignKey => 3,
        };
        let mut pending = pending;
        pending.sort_by_key(|constraint| rank(constraint.kind));
        for constraint in pending {
            if let Err(message) = self.add_constraint(key, constraint, at) {
                notes.push(message.to_string());
            }
        }
    }

    pub(super) fn add_constraint(
        &mut self,
        key: &Qualified,
        pending: PendingConstraint,
        at: &Provenance,
    ) -> Result<(), FoldError> {
        let (schema, table_name) = (key.0.as_str(), key.1.as_str());
        let name = match (&pending.name, pending.kind) {
            (Some(name), _) => name.clone(),
            (None, ConstraintType::PrimaryKey) => {
                self.choose_relation_name(schema, table_name, None, "pkey", true)
            }
            (None, ConstraintType::Unique) => self.choose_relation_name(
                schema,
                table_name,
                Some(&name_addition(&pending.columns)),
                "key",
                true,
            ),
            (None, ConstraintType::ForeignKey) => self.choose_constraint_name(
                schema,
                table_name,
                Some(&name_addition(&pending.columns)),
                "fkey",
            ),
            (None, ConstraintType::Check) => {
                // PostgreSQL names a CHECK after its column when it references exactly one
                // distinct column (AddRelationNewConstraints).
                let mut columns = pending
                    .check
                    .as_ref()
                    .map(referenced_columns)
                    .unwrap_or_default();
                columns.sort();
                columns.dedup();
                let single = match columns.as_slice() {
                    [only] => Some(only.as_str()),
                    _ => None,
                };
                self.choose_constraint_name(schema, table_name, single, "check")
            }
        };
        if pending.kind.has_index() && self.relation_exists(schema, &name) {
            return Err(FoldError::Exists {
                what: "relation".to_string(),
                name: format!("{schema}.{name}"),
            });
        }
        let references = match pending.references {
            Some((referenced, mut columns, on_delete, on_update)) => {
                if columns.is_empty() {
                    columns = self
                        .tables
                        .get(&referenced)
                        .and_then(|table| {
                            table
                                .constraints
                                .iter()
                                .find(|c| c.kind == ConstraintType::PrimaryKey)
                        })
                        .map(|primary| primary.columns.clone())
                        .ok_or_else(|| {
                            FoldError::Refused(format!(
                                "{name}: referenced table {}.{} has no primary key",
                                referenced.0, referenced.1
                            ))
                        })?;
                }
                Some(Reference {
                    schema: referenced.0,
                    table: referenced.1,
                    columns,
                    on_delete,
                    on_update,
                })
            }
            None => None,
        };
        let table = self.tables.get_mut(key).ok_or_else(|| FoldError::Missing {
            what: "table".to_string(),
            name: format!("{schema}.{table_name}"),
        })?;
        if table.constraints.iter().any(|c| c.name == name) {
            return Err(FoldError::Exists {
                what: "constraint".to_string(),
                name: format!("{name} of {schema}.{table_name}"),
            });
        }
        for column in &pending.columns {
            if !table.columns.iter().any(|c| &c.name == column) {
                return Err(FoldError::Missing {
                    what: "constraint".to_string(),
                    name: format!("{name}: column {column} of {schema}.{table_name}"),
                });
            }
        }
        if pending.kind == ConstraintType::PrimaryKey {
            for column in table.columns.iter_mut() {
                if pending.columns.contains(&column.name) {
                    column.not_null = true;
                }
            }
        }
        table.constraints.push(Constraint {
            name: name.clone(),
            kind: pending.kind,
            columns: pending.columns.clone(),
            references,
            check: pending.check.clone(),
            provenance: at.clone(),
        });
        table.provenance = at.clone();
        if pending.kind.has_index() {
            self.indexes.insert(
                (schema.to_string(), name),
                Index {
                    table: table_name.to_string(),
                    keys: pending.columns.into_iter().map(IndexKey::Column).collect(),
                    unique: true,
                    predicate: None,
                    method: "btree".to_string(),
                    provenance: at.clone(),
                },
            );
        }
        Ok(())
    }

    /// One ALTER TABLE operation; returns the new key when the table was renamed.
    pub(super) fn alter_table(
        &mut self,
        key: &Qualified,
        operation: &AlterTableOperation,
        at: &Provenance,
        notes: &mut Notes,
    ) -> Result<Option<Qualified>, FoldError> {
        let (schema, table_name) = (key.0.clone(), key.1.clone());
        match operation {
            AlterTableOperation::AddColumn {
                if_not_exists,
                column_def,
                ..
            } => {
                let name = fold_ident(&column_def.name);
                if *if_not_exists && self.column(key, &name).is_some() {
                    return Ok(None);
                }
                let pending = self.add_column(key, column_def, at)?;
                self.add_constraints(key, pending, at, notes);
                Ok(None)
            }
            AlterTableOperation::DropColumn {
                column_names,
                if_exists,
                drop_behavior,
                ..
            } => {
                let cascade = matches!(drop_behavior, Some(DropBehavior::Cascade));
                for column in column_names {
                    let column = fold_ident(column);
                    if self.column(key, &column).is_none() {
                        if !*if_exists {
                            notes.push(format!(
                                "column {column} of {schema}.{table_name} does not exist"
                            ));
                        }
                        continue;
                    }
                    self.drop_column(key, &column, cascade, at)?;
                }
                Ok(None)
            }
            AlterTableOperation::AlterColumn { column_name, op } => {
                let name = fold_ident(column_name);
                let new_type = match op {
                    AlterColumnOperation::SetDataType { data_type, .. } => {
                        Some(self.column_type(data_type))
                    }
                    _ => None,
                };
                let column = self.column_mut(key, &name)?;
                match op {
                    AlterColumnOperation::SetNotNull => column.not_null = true,
                    AlterColumnOperation::DropNotNull => column.not_null = false,
                    AlterColumnOperation::SetDefault { value } => {
                        column.default = Some(default_text(value, &column.data_type))
                    }
                    AlterColumnOperation::DropDefault => column.default = None,
                    AlterColumnOperation::SetDataType { .. } => {
                        if let Some(new_type) = new_type {
                            column.data_type = new_type;
                        }
                    }
                    AlterColumnOperation::AddGenerated { generated_as, .. } => {
                        column.identity = Some(match generated_as {
                            Some(GeneratedAs::ByDefault) => "by default",
                            _ => "always",
                        });
                        let data_type = column.data_type.clone();
                        column.provenance = at.clone();
                        let sequence = self.choose_relation_name(
                            &schema,
                            &table_name,
                            Some(&name),
                            "seq",
                            false,
                        );
                        self.sequences.insert(
                            (schema.clone(), sequence),
                            Sequence {
                                data_type,
                                owned_by: Some((table_name.clone(), name.clone())),
                                provenance: at.clone(),
                            },
                        );
                        self.touch(key, at);
                        return Ok(None);
                    }
                }
                column.provenance = at.clone();
                self.touch(key, at);
                Ok(None)
            }
            AlterTableOperation::AddConstraint { constraint, .. } => {
                let pending = table_constraint(constraint, self.default_schema())?;
                self.add_constraint(key, pending, at)?;
                Ok(None)
            }
            AlterTableOperation::DropConstraint {
                if_exists, name, ..
            } => {
                let name = fold_ident(name);
                let table = self.table_mut(key)?;
                let Some(position) = table.constraints.iter().position(|c| c.name == name) else {
                    return if *if_exists {
                        Ok(None)
                    } else {
                        Err(FoldError::Missing {
                            what: "constraint".to_string(),
                            name: format!("{name} of {schema}.{table_name}"),
                        })
                    };
                };
                let removed = table.constraints.remove(position);
                table.provenance = at.clone();
                if removed.kind.has_index() {
                    self.indexes.remove(&(schema, name));
                }
                Ok(None)
            }
            AlterTableOperation::RenameColumn {
                old_column_name,
                new_column_name,
            } => {
                let old = fold_ident(old_column_name);
                let new = fold_ident(new_column_name);
                if self.column(key, &new).is_some() {
                    return Err(FoldError::Exists {
                        what: "column".to_string(),
                        name: format!("{new} of {schema}.{table_name}"),
                    });
                }
                self.column_mut(key, &old)?.name = new.clone();
                self.column_mut(key, &new)?.provenance = at.clone();
                self.rename_column_references(key, &old, &new);
                self.touch(key, at);
                Ok(None)
            }
            AlterTableOperation::RenameTable { table_name: kind } => {
                let target = match kind {
                    RenameTableNameKind::To(name) | RenameTableNameKind::As(name) => name,
                };
                let new_name = last_part(target)?;
                if self.relation_exists(&schema, &new_name) {
                    return Err(FoldError::Exists {
                        what: "relation".to_string(),
                        name: format!("{schema}.{new_name}"),
                    });
                }
                let mut table = self.tables.remove(key).ok_or_else(|| FoldError::Missing {
                    what: "table".to_string(),
                    name: format!("{schema}.{table_name}"),
                })?;
                table.provenance = at.clone();
                let new_key = (schema.clone(), new_name.clone());
                self.tables.insert(new_key.clone(), table);
                for ((index_schema, _), index) in self.indexes.iter_mut() {
                    if *index_schema == schema && index.table == table_name {
                        index.table = new_name.clone();
                    }
                }
                for ((sequence_schema, _), sequence) in self.sequences.iter_mut() {
                    if let Some((owner, _)) = &mut sequence.owned_by {
                        if *sequence_schema == schema && *owner == table_name {
                            *owner = new_name.clone();
                        }
                    }
                }
                for table in self.tables.values_mut() {
                    for constraint in &mut table.constraints {
                        if let Some(reference) = &mut constraint.references {
                            if reference.schema == schema && reference.table == table_name {
                                reference.table = new_name.clone();
                            }
                        }
                    }
                }
                for view in self.views.values_mut() {
                    rename_relation(&mut view.query, view.schema.as_deref(), key, &new_name);
                }
                Ok(Some(new_key))
            }
            AlterTableOperation::RenameConstraint { old_name, new_name } => {
                let old = fold_ident(old_name);
                let new = fold_ident(new_name);
                let table = self.table_mut(key)?;
                let constraint = table
                    .constraints
                    .iter_mut()
                    .find(|c| c.name == old)
                    .ok_or_else(|| FoldError::Missing {
                        what: "constraint".to_string(),
                        name: format!("{old} of {schema}.{table_name}"),
                    })?;
                constraint.name = new.clone();
                constraint.provenance = at.clone();
                let has_index = constraint.kind.has_index();
                if has_index {
                    if let Some(mut index) = self.indexes.remove(&(schema.clone(), old)) {
                        index.provenance = at.clone();
                        self.indexes.insert((schema, new), index);
                    }
                }
                Ok(None)
            }
            other => Err(FoldError::NotFolded {
                construct: format!("ALTER TABLE {schema}.{table_name} {other}"),
            }),
        }
    }

    pub(super) fn touch(&mut self, key: &Qualified, at: &Provenance) {
        if let Some(table) = self.tables.get_mut(key) {
            table.provenance = at.clone();
        }
    }

    pub(super) fn table_mut(&mut self, key: &Qualified) -> Result<&mut Table, FoldError> {
        self.tables.get_mut(key).ok_or_else(|| FoldError::Missing {
            what: "table".to_string(),
            name: format!("{}.{}", key.0, key.1),
        })
    }

    pub(super) fn column(&self, key: &Qualified, name: &str) -> Option<&Column> {
        self.tables
            .get(key)
            .and_then(|table| table.columns.iter().find(|c| c.name == name))
    }

    pub(super) fn column_mut(
        &mut self,
        key: &Qualified,
        name: &str,
    ) -> Result<&mut Column, FoldError> {
        self.table_mut(key)?
            .columns
            .iter_mut()
            .find(|c| c.name == name)
            .ok_or_else(|| FoldError::Missing {
                what: "column".to_string(),
                name: format!("{name} of {}.{}", key.0, key.1),
            })
    }

    pub(super) fn rename_column_references(&mut self, key: &Qualified, old: &str, new: &str) {
        let rename = |columns: &mut Vec<String>| {
            for column in columns.iter_mut() {
                if column == old {
                    *column = new.to_string();
                }
            }
        };
        if let Some(table) = self.tables.get_mut(key) {
            for constraint in &mut table.constraints {
                rename(&mut constraint.columns);
                if let Some(check) = &mut constraint.check {
                    rename_in_expression(check, old, new);
                }
            }
        }
        for table in self.tables.values_mut() {
            for constraint in &mut table.constraints {
                if let Some(reference) = &mut constraint.references {
                    if reference.schema == key.0 && reference.table == key.1 {
                        rename(&mut reference.columns);
                    }
                }
            }
        }
        for ((schema, _), index) in self.indexes.iter_mut() {
            if *schema == key.0 && index.table == key.1 {
                for index_key in &mut index.keys {
                    match index_key {
                        IndexKey::Column(name) if name == old => *name = new.to_string(),
                        IndexKey::Column(_) => {}
                        IndexKey::Expression(expr) => rename_in_expression(expr, old, new),
                    }
                }
                if let Some(predicate) = &mut index.predicate {
                    rename_in_expression(predicate, old, new);
                }
            }
        }
        for ((schema, _), sequence) in self.sequences.iter_mut() {
            if let Some((table, column)) = &mut sequence.owned_by {
                if *schema == key.0 && *table == key.1 && column == old {
                    *column = new.to_string();
                }
            }
        }
    }

    /// Drop a column with what PostgreSQL drops along: indexes and constraints of the table
    /// using it, its owned sequence, and (CASCADE) foreign keys of other tables referencing it.
    pub(super) fn drop_column(
        &mut self,
        key: &Qualified,
        column: &str,
        cascade: bool,
        at: &Provenance,
    ) -> Result<(), FoldError> {
        let referenced_by: Vec<String> = self
            .foreign_keys_referencing(key)
            .into_iter()
            .filter(|(_, _, columns)| columns.iter().any(|c| c == column))
            .map(|(table, name, _)| format!("{}.{}.{}", table.0, table.1, name))
            .collect();
        if !referenced_by.is_empty() && !cascade {
            return Err(FoldError::Refused(format!(
                "cannot drop column {column} of {}.{}: {} depend on it (use CASCADE)",
                key.0,
                key.1,
                referenced_by.join(", ")
            )));
        }
        for table in self.tables.values_mut() {
            table.constraints.retain(|constraint| {
                !constraint.references.as_ref().is_some_and(|reference| {
                    reference.schema == key.0
                        && reference.table == key.1
                        && reference.columns.iter().any(|c| c == column)
                })
            });
        }
        let table = self.table_mut(key)?;
        table.columns.retain(|c| c.name != column);
        let dropped_constraints: Vec<String> = table
            .constraints
            .iter()
            .filter(|c| {
                c.columns.iter().any(|name| name == column)
                    || (c.kind == ConstraintType::Check
                        && c.check.is_some()
                        && c.check.as_ref().is_some_and(|check| {
                            referenced_columns(check).iter().any(|name| name == column)
                        }))
            })
            .map(|c| c.name.clone())
            .collect();
        table
            .constraints
            .retain(|c| !dropped_constraints.contains(&c.name));
        table.provenance = at.clone();
        self.indexes.retain(|(schema, name), index| {
            !(*schema == key.0
                && index.table == key.1
                && (dropped_constraints.contains(name)
                    || index
                        .keys
                        .iter()
                        .any(|k| matches!(k, IndexKey::Column(c) if c == column))))
        });
        self.sequences.retain(|(schema, _), sequence| {
            !(*schema == key.0
                && sequence
                    .owned_by
                    .as_ref()
                    .is_some_and(|(table, owner_column)| *table == key.1 && owner_column == column))
        });
        Ok(())
    }

    /// (referencing table, constraint name, referenced columns) of foreign keys to `key`
    /// from other tables.
    pub(super) fn foreign_keys_referencing(
        &self,
        key: &Qualified,
    ) -> Vec<(Qualified, String, Vec<String>)> {
        let mut found = Vec::new();
        for (table_key, table) in &self.tables {
            if table_key == key {
                continue;
            }
            for constraint in &table.constraints {
                if let Some(reference) = &constraint.references {
                    if reference.schema == key.0 && reference.table == key.1 {
                        found.push((
                            table_key.clone(),
                            constraint.name.clone(),
                            reference.columns.clone(),
                        ));
                    }
                }
            }
        }
        found
    }

    /// `ALTER TABLE parent ATTACH PARTITION child ...`: PostgreSQL gives the partition its own
    /// copy of each primary key and unique constraint of the parent (named for the partition:
    /// `payment_p2022_01_pkey`), unless the partition already has an equal one.
    pub(crate) fn attach_partition(
        &mut self,
        parent: &ObjectName,
        child: &ObjectName,
        at: &Provenance,
        notes: &mut Notes,
    ) -> Result<(), FoldError> {
        let parent = self.qualified(parent)?;
        let child = self.qualified(child)?;
        self.attach_keys(&parent, &child, at, notes)
    }

    /// What attaching `child` to `parent` adds: the parent's key constraints.
    pub(super) fn attach_keys(
        &mut self,
        parent: &Qualified,
        child: &Qualified,
        at: &Provenance,
        notes: &mut Notes,
    ) -> Result<(), FoldError> {
        let parent_table = self.tables.get(parent).ok_or_else(|| FoldError::Missing {
            what: "table".to_string(),
            name: format!("{}.{}", parent.0, parent.1),
        })?;
        let child_table = self.tables.get(child).ok_or_else(|| FoldError::Missing {
            what: "table".to_string(),
            name: format!("{}.{}", child.0, child.1),
        })?;
        let pending: Vec<PendingConstraint> = parent_table
            .constraints
            .iter()
            .filter(|constraint| constraint.kind.has_index())
            .filter(|constraint| {
                !child_table.constraints.iter().any(|existing| {
                    existing.kind == constraint.kind && existing.columns == constraint.columns
                })
            })
            .map(|constraint| PendingConstraint {
                name: None,
                kind: constraint.kind,
                columns: constraint.columns.clone(),
                references: None,
                check: None,
            })
            .collect();
        self.add_constraints(child, pending, at, notes);
        self.touch(child, at);
        Ok(())
    }

    /// Name an identity column's sequence as `SEQUENCE NAME` said (PostgreSQL's default
    /// name was chosen when the identity was added).
    pub(crate) fn rename_identity_sequence(
        &mut self,
        table: &ObjectName,
        column: &str,
        sequence: &ObjectName,
    ) -> Result<(), FoldError> {
        let table = self.qualified(table)?;
        let sequence = self.qualified(sequence)?;
        let current = self
            .sequences
            .iter()
            .find(|((schema, _), found)| {
                *schema == table.0
                    && found
                        .owned_by
                        .as_ref()
                        .is_some_and(|(owner, owned)| *owner == table.1 && owned == column)
            })
            .map(|(key, _)| key.clone())
            .ok_or_else(|| {
                FoldError::Refused(format!(
                    "no identity sequence for {}.{}.{column}",
                    table.0, table.1
                ))
            })?;
        if let Some(found) = self.sequences.remove(&current) {
            self.sequences.insert(sequence, found);
        }
        Ok(())
    }
}

/// A constraint as written; unqualified referenced tables are in `schema`.
pub(super) fn table_constraint(
    constraint: &TableConstraint,
    schema: Option<&str>,
) -> Result<PendingConstraint, FoldError> {
    Ok(match constraint {
        TableConstraint::PrimaryKey(primary) => PendingConstraint {
            name: primary.name.as_ref().map(fold_ident),
            kind: ConstraintType::PrimaryKey,
            columns: index_columns(&primary.columns)?,
            references: None,
            check: None,
        },
        TableConstraint::Unique(unique) => PendingConstraint {
            name: unique.name.as_ref().map(fold_ident),
            kind: ConstraintType::Unique,
            columns: index_columns(&unique.columns)?,
            references: None,
            check: None,
        },
        TableConstraint::ForeignKey(foreign) => PendingConstraint {
            name: foreign.name.as_ref().map(fold_ident),
            kind: ConstraintType::ForeignKey,
            columns: foreign.columns.iter().map(fold_ident).collect(),
            references: Some((
                qualified_in(&foreign.foreign_table, schema)?,
                foreign.referred_columns.iter().map(fold_ident).collect(),
                referential_action(foreign.on_delete),
                referential_action(foreign.on_update),
            )),
            check: None,
        },
        TableConstraint::Check(check) => PendingConstraint {
            name: check.name.as_ref().map(fold_ident),
            kind: ConstraintType::Check,
            columns: distinct(referenced_columns(&check.expr)),
            references: None,
            check: Some((*check.expr).clone()),
        },
        other => {
            return Err(FoldError::NotFolded {
                construct: format!("constraint {other}"),
            })
        }
    })
}

pub(super) fn index_columns(
    columns: &[sqlparser::ast::IndexColumn],
) -> Result<Vec<String>, FoldError> {
    columns
        .iter()
        .map(|column| match &column.column.expr {
            Expr::Identifier(ident) => Ok(fold_ident(ident)),
            other => Err(FoldError::Refused(format!(
                "constraint on expression {other} is not folded"
            ))),
        })
        .collect()
}
