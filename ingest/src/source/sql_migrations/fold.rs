//! Folding parsed DDL into a declared schema, the way PostgreSQL would apply it: implicit
//! names as PostgreSQL chooses them, types in `format_type` spelling, defaults as
//! `pg_get_expr` prints them, dependent objects dropped with their table or column.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use groundtruth_engine::model::{Layer, ObservedResource};
use serde_json::{json, Value};
use sqlparser::ast::{
    AlterColumnOperation, AlterIndexOperation, AlterTableOperation, AlterType,
    AlterTypeAddValuePosition, AlterTypeOperation, ColumnDef, ColumnOption, CreateDomain,
    CreateIndex, CreateTable, DataType, DropBehavior, Expr, GeneratedAs, Ident, ObjectName,
    ObjectNamePart, ObjectType, ReferentialAction, RenameTableNameKind, SchemaName, Statement,
    TableConstraint, UnaryOperator, UserDefinedTypeRepresentation, Value as SqlValue,
};

use crate::identity::{postgres, postgres_identifier};

/// PostgreSQL's identifier limit (NAMEDATALEN - 1 bytes).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// Where a statement came from; becomes the `migration.*` labels of what it touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Provenance {
    pub file: String,
    pub version: String,
}

#[derive(Debug, Clone)]
struct Column {
    name: String,
    data_type: String,
    not_null: bool,
    default: Option<String>,
    identity: Option<&'static str>,
    generated: Option<String>,
    position: usize,
    provenance: Provenance,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConstraintType {
    PrimaryKey,
    Unique,
    ForeignKey,
    Check,
}

impl ConstraintType {
    fn as_str(self) -> &'static str {
        match self {
            ConstraintType::PrimaryKey => "primary_key",
            ConstraintType::Unique => "unique",
            ConstraintType::ForeignKey => "foreign_key",
            ConstraintType::Check => "check",
        }
    }

    fn has_index(self) -> bool {
        matches!(self, ConstraintType::PrimaryKey | ConstraintType::Unique)
    }
}

#[derive(Debug, Clone)]
struct Reference {
    schema: String,
    table: String,
    columns: Vec<String>,
    on_delete: &'static str,
    on_update: &'static str,
}

#[derive(Debug, Clone)]
struct Constraint {
    name: String,
    kind: ConstraintType,
    columns: Vec<String>,
    references: Option<Reference>,
    check: Option<Expr>,
    provenance: Provenance,
}

#[derive(Debug, Clone)]
struct Table {
    columns: Vec<Column>,
    constraints: Vec<Constraint>,
    /// attnum of the next column: dropped columns leave gaps, as in `pg_attribute`.
    next_position: usize,
    provenance: Provenance,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum IndexKey {
    Column(String),
    Expression(Box<Expr>),
}

#[derive(Debug, Clone)]
struct Index {
    table: String,
    keys: Vec<IndexKey>,
    unique: bool,
    predicate: Option<Expr>,
    method: String,
    provenance: Provenance,
}

#[derive(Debug, Clone)]
struct View {
    /// The schema unqualified names in the query resolved to when it was created.
    schema: Option<String>,
    /// Kept parsed so renames of the tables it reads show in its definition, as in
    /// `pg_get_viewdef`.
    query: Box<sqlparser::ast::Query>,
    materialized: bool,
    provenance: Provenance,
}

#[derive(Debug, Clone)]
struct Sequence {
    data_type: String,
    /// (table, column) in the same schema, for serial and identity columns.
    owned_by: Option<(String, String)>,
    provenance: Provenance,
}

#[derive(Debug, Clone)]
struct Extension {
    schema: Option<String>,
    version: Option<String>,
    provenance: Option<Provenance>,
}

/// What a `CREATE TYPE` made: an enum's labels or a composite's attributes, in order.
#[derive(Debug, Clone)]
enum TypeDefinition {
    Enum(Vec<String>),
    /// (name, type in `format_type` spelling)
    Composite(Vec<(String, String)>),
}

#[derive(Debug, Clone)]
struct UserType {
    definition: TypeDefinition,
    provenance: Provenance,
}

#[derive(Debug, Clone)]
struct Domain {
    base_type: String,
    not_null: bool,
    default: Option<String>,
    /// (constraint name, expression); PostgreSQL checks them in name order.
    checks: Vec<(String, Expr)>,
    provenance: Provenance,
}

type Qualified = (String, String);

/// The search path of a fresh session (`"$user"` names no schema a migration makes).
const DEFAULT_SEARCH_PATH: &[&str] = &["public"];

/// The declared schema built by applying migrations in order.
#[derive(Debug, Clone)]
pub(crate) struct Catalog {
    schemas: BTreeMap<String, Option<Provenance>>,
    tables: BTreeMap<Qualified, Table>,
    indexes: BTreeMap<Qualified, Index>,
    views: BTreeMap<Qualified, View>,
    sequences: BTreeMap<Qualified, Sequence>,
    extensions: BTreeMap<String, Extension>,
    types: BTreeMap<Qualified, UserType>,
    domains: BTreeMap<Qualified, Domain>,
    /// The session's `search_path`: unqualified names go to its first existing schema.
    search_path: Vec<String>,
}

impl Default for Catalog {
    /// A fresh database: the `public` schema and the `plpgsql` extension always exist.
    fn default() -> Self {
        let mut catalog = Catalog {
            schemas: BTreeMap::new(),
            tables: BTreeMap::new(),
            indexes: BTreeMap::new(),
            views: BTreeMap::new(),
            sequences: BTreeMap::new(),
            extensions: BTreeMap::new(),
            types: BTreeMap::new(),
            domains: BTreeMap::new(),
            search_path: Vec::new(),
        };
        catalog.reset_search_path();
        catalog.schemas.insert("public".to_string(), None);
        catalog.extensions.insert(
            "plpgsql".to_string(),
            Extension {
                schema: Some("pg_catalog".to_string()),
                version: None,
                provenance: None,
            },
        );
        catalog
    }
}

/// Messages about parts of a statement that could not be folded.
pub(crate) type Notes = Vec<String>;

/// A column constraint or table constraint, before names are chosen.
struct PendingConstraint {
    name: Option<String>,
    kind: ConstraintType,
    columns: Vec<String>,
    references: Option<(Qualified, Vec<String>, &'static str, &'static str)>,
    check: Option<Expr>,
}

fn fold_ident(ident: &Ident) -> String {
    truncate_identifier(postgres_identifier(
        &ident.value,
        ident.quote_style.is_some(),
    ))
}

fn truncate_identifier(mut name: String) -> String {
    if name.len() > MAX_IDENTIFIER_BYTES {
        let mut end = MAX_IDENTIFIER_BYTES;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    name
}

fn name_parts(name: &ObjectName) -> Result<Vec<String>, String> {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) => Ok(fold_ident(ident)),
            ObjectNamePart::Function(_) => Err(format!("unsupported name {name}")),
        })
        .collect()
}

/// `schema.name`, `name` (in `schema`, the first existing schema of the search path) or
/// `database.schema.name`.
fn qualified_in(name: &ObjectName, schema: Option<&str>) -> Result<Qualified, String> {
    let parts = name_parts(name)?;
    match parts.as_slice() {
        [name] => match schema {
            Some(schema) => Ok((schema.to_string(), name.clone())),
            None => Err(format!(
                "no schema has been selected for {name} (the search_path is empty)"
            )),
        },
        [.., schema, name] => Ok((schema.clone(), name.clone())),
        [] => Err("empty name".to_string()),
    }
}

fn last_part(name: &ObjectName) -> Result<String, String> {
    name_parts(name)?
        .pop()
        .ok_or_else(|| "empty name".to_string())
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
fn name_addition(columns: &[String]) -> String {
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

fn referential_action(action: Option<ReferentialAction>) -> &'static str {
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
fn cast_type_name(normalized: &str) -> String {
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

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn string_literal(expr: &Expr) -> Option<&str> {
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
fn default_text(expr: &Expr, column_type: &str) -> String {
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
fn referenced_columns(expr: &Expr) -> Vec<String> {
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
fn distinct(columns: Vec<String>) -> Vec<String> {
    columns.into_iter().fold(Vec::new(), |mut unique, column| {
        if !unique.contains(&column) {
            unique.push(column);
        }
        unique
    })
}

fn serial_type(data_type: &DataType) -> Option<&'static str> {
    match data_type.to_string().to_ascii_lowercase().as_str() {
        "serial" | "serial4" => Some("integer"),
        "bigserial" | "serial8" => Some("bigint"),
        "smallserial" | "serial2" => Some("smallint"),
        _ => None,
    }
}

fn index_key(expr: &Expr) -> IndexKey {
    match expr {
        Expr::Identifier(ident) => IndexKey::Column(fold_ident(ident)),
        other => IndexKey::Expression(Box::new(other.clone())),
    }
}

/// The name an index key contributes to an implicit index name (`FigureIndexColname`).
fn index_key_name(key: &IndexKey, expr: &Expr) -> String {
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

impl Catalog {
    /// `SET search_path`: schemas in order (`"$user"` and missing schemas are skipped when
    /// resolving, as PostgreSQL does).
    pub(crate) fn set_search_path(&mut self, schemas: Vec<String>) {
        self.search_path = schemas;
    }

    /// Back to a fresh session's path: each migration file starts a new session.
    pub(crate) fn reset_search_path(&mut self) {
        self.search_path = DEFAULT_SEARCH_PATH.iter().map(|s| s.to_string()).collect();
    }

    /// Where unqualified names go: the first schema of the search path that exists.
    fn default_schema(&self) -> Option<&str> {
        self.search_path
            .iter()
            .find(|schema| self.schemas.contains_key(*schema))
            .map(String::as_str)
    }

    fn qualified(&self, name: &ObjectName) -> Result<Qualified, String> {
        qualified_in(name, self.default_schema())
    }

    /// Whether `schema.name` is taken in `pg_type`: user types, domains, and the row types
    /// of tables, views and sequences.
    fn type_exists(&self, schema: &str, name: &str) -> bool {
        let key = (schema.to_string(), name.to_string());
        self.types.contains_key(&key)
            || self.domains.contains_key(&key)
            || self.tables.contains_key(&key)
            || self.views.contains_key(&key)
            || self.sequences.contains_key(&key)
    }

    fn relation_exists(&self, schema: &str, name: &str) -> bool {
        let key = (schema.to_string(), name.to_string());
        self.tables.contains_key(&key)
            || self.indexes.contains_key(&key)
            || self.views.contains_key(&key)
            || self.sequences.contains_key(&key)
    }

    fn constraint_exists(&self, schema: &str, name: &str) -> bool {
        self.tables
            .iter()
            .filter(|((table_schema, _), _)| table_schema == schema)
            .any(|(_, table)| table.constraints.iter().any(|c| c.name == name))
            || self
                .domains
                .iter()
                .filter(|((domain_schema, _), _)| domain_schema == schema)
                .any(|(_, domain)| domain.checks.iter().any(|(c, _)| c == name))
    }

    /// A type as `format_type` prints it for a reader whose search path is the default one:
    /// an unqualified user type or domain found through this session's search path is
    /// qualified with its schema unless that is `public`.
    fn column_type(&self, data_type: &DataType) -> String {
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

    /// `ChooseRelationName`: the first of `label`, `label1`, `label2`, ... that is free.
    fn choose_relation_name(
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
    fn choose_constraint_name(
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

    /// Apply one statement. Parts that cannot be folded are described in `notes`.
    pub(crate) fn apply(&mut self, statement: &Statement, at: &Provenance, notes: &mut Notes) {
        let outcome = match statement {
            Statement::CreateTable(create) => self.create_table(create, at, notes),
            Statement::AlterTable(alter) => {
                let key = self.qualified(&alter.name);
                match key {
                    Ok(key) if self.tables.contains_key(&key) => {
                        let mut key = key;
                        for operation in &alter.operations {
                            match self.alter_table(&key, operation, at, notes) {
                                Ok(Some(renamed)) => key = renamed,
                                Ok(None) => {}
                                Err(message) => notes.push(message),
                            }
                        }
                        Ok(())
                    }
                    Ok(_) if alter.if_exists => Ok(()),
                    // PostgreSQL takes ALTER TABLE on sequences and views too (pg_dump writes
                    // `ALTER TABLE seq OWNER TO ...`); nothing of theirs it changes is folded.
                    Ok(key) if self.sequences.contains_key(&key) || self.views.contains_key(&key) => {
                        Err(format!(
                            "ALTER TABLE of the sequence or view {}.{} is not folded into the schema",
                            key.0, key.1
                        ))
                    }
                    Ok((schema, table)) => Err(format!("table {schema}.{table} does not exist")),
                    Err(message) => Err(message),
                }
            }
            Statement::CreateIndex(create) => self.create_index(create, at),
            Statement::AlterIndex { name, operation } => match operation {
                AlterIndexOperation::RenameIndex { index_name } => {
                    self.rename_index(name, index_name, at)
                }
            },
            Statement::Drop {
                object_type,
                if_exists,
                names,
                cascade,
                ..
            } => {
                for name in names {
                    if let Err(message) = self.drop(*object_type, name, *if_exists, *cascade, at) {
                        notes.push(message);
                    }
                }
                Ok(())
            }
            Statement::CreateView(create) => (|| {
                let key = self.qualified(&create.name)?;
                if self.views.contains_key(&key) && !create.or_replace {
                    return Err(format!("view {}.{} already exists", key.0, key.1));
                }
                self.require_schema(&key.0)?;
                self.views.insert(
                    key,
                    View {
                        schema: self.default_schema().map(str::to_string),
                        query: create.query.clone(),
                        materialized: create.materialized,
                        provenance: at.clone(),
                    },
                );
                Ok(())
            })(),
            Statement::CreateSequence {
                if_not_exists,
                name,
                data_type,
                owned_by,
                ..
            } => (|| {
                let key = self.qualified(name)?;
                if self.relation_exists(&key.0, &key.1) {
                    return if *if_not_exists {
                        Ok(())
                    } else {
                        Err(format!("relation {}.{} already exists", key.0, key.1))
                    };
                }
                self.require_schema(&key.0)?;
                let owned_by = match owned_by {
                    Some(owner) => {
                        let parts = name_parts(owner)?;
                        match parts.as_slice() {
                            [.., table, column] => Some((table.clone(), column.clone())),
                            _ => None,
                        }
                    }
                    None => None,
                };
                self.sequences.insert(
                    key,
                    Sequence {
                        data_type: data_type
                            .as_ref()
                            .map_or("bigint".to_string(), |t| normalize_type(&t.to_string())),
                        owned_by,
                        provenance: at.clone(),
                    },
                );
                Ok(())
            })(),
            Statement::CreateExtension(create) => {
                let name = fold_ident(&create.name);
                if self.extensions.contains_key(&name) && !create.if_not_exists {
                    Err(format!("extension {name} already exists"))
                } else {
                    if let std::collections::btree_map::Entry::Vacant(entry) =
                        self.extensions.entry(name)
                    {
                        entry.insert(Extension {
                            schema: Some(
                                create
                                    .schema
                                    .as_ref()
                                    .map_or("public".to_string(), fold_ident),
                            ),
                            version: create.version.as_ref().map(|v| v.value.clone()),
                            provenance: Some(at.clone()),
                        });
                    }
                    Ok(())
                }
            }
            Statement::DropExtension(drop) => {
                for name in &drop.names {
                    let name = fold_ident(name);
                    if self.extensions.remove(&name).is_none() && !drop.if_exists {
                        notes.push(format!("extension {name} does not exist"));
                    }
                }
                Ok(())
            }
            Statement::CreateSchema {
                schema_name,
                if_not_exists,
                ..
            } => match schema_name {
                SchemaName::Simple(name) | SchemaName::NamedAuthorization(name, _) => {
                    match last_part(name) {
                        Ok(name) if self.schemas.contains_key(&name) => {
                            if *if_not_exists {
                                Ok(())
                            } else {
                                Err(format!("schema {name} already exists"))
                            }
                        }
                        Ok(name) => {
                            self.schemas.insert(name, Some(at.clone()));
                            Ok(())
                        }
                        Err(message) => Err(message),
                    }
                }
                SchemaName::UnnamedAuthorization(role) => {
                    self.schemas.insert(fold_ident(role), Some(at.clone()));
                    Ok(())
                }
            },
            Statement::CreateType {
                name,
                representation,
            } => self.create_type(name, representation.as_ref(), at),
            Statement::CreateDomain(create) => self.create_domain(create, at, notes),
            Statement::AlterType(alter) => self.alter_type(alter, at),
            Statement::DropDomain(drop) => self.drop_type(
                &drop.name,
                true,
                drop.if_exists,
                matches!(drop.drop_behavior, Some(DropBehavior::Cascade)),
                at,
            ),
            Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. } => Ok(()),
            other => Err(format!(
                "{} is not folded into the schema",
                statement_kind(&other.to_string())
            )),
        };
        if let Err(message) = outcome {
            notes.push(message);
        }
    }

    fn require_schema(&self, schema: &str) -> Result<(), String> {
        if self.schemas.contains_key(schema) {
            Ok(())
        } else {
            Err(format!("schema {schema} does not exist"))
        }
    }

    fn create_table(
        &mut self,
        create: &CreateTable,
        at: &Provenance,
        notes: &mut Notes,
    ) -> Result<(), String> {
        let key = self.qualified(&create.name)?;
        if self.relation_exists(&key.0, &key.1) {
            return if create.if_not_exists {
                Ok(())
            } else {
                Err(format!("relation {}.{} already exists", key.0, key.1))
            };
        }
        self.require_schema(&key.0)?;
        if let Some(parent) = &create.partition_of {
            return self.create_partition(&key, parent, create, at, notes);
        }
        if create.query.is_some() {
            return Err(format!(
                "CREATE TABLE {}.{} AS is not folded into the schema",
                key.0, key.1
            ));
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
                Err(message) => notes.push(message),
            }
        }
        self.add_constraints(&key, pending, at, notes);
        Ok(())
    }

    /// `CREATE TABLE child PARTITION OF parent FOR VALUES ...`: the parent's columns (types,
    /// NOT NULL, defaults, generated expressions; positions without the parent's gaps) and
    /// CHECK constraints are inherited, then the partition is attached as by ATTACH PARTITION.
    fn create_partition(
        &mut self,
        key: &Qualified,
        parent: &ObjectName,
        create: &CreateTable,
        at: &Provenance,
        notes: &mut Notes,
    ) -> Result<(), String> {
        let parent = self.qualified(parent)?;
        let parent_table = self
            .tables
            .get(&parent)
            .ok_or_else(|| format!("table {}.{} does not exist", parent.0, parent.1))?;
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
    fn add_column(
        &mut self,
        key: &Qualified,
        definition: &ColumnDef,
        at: &Provenance,
    ) -> Result<Vec<PendingConstraint>, String> {
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
                    return Err(format!(
                        "column option {other} of {}.{}.{name} is not folded",
                        key.0, key.1
                    ))
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
        let table = self
            .tables
            .get_mut(key)
            .ok_or_else(|| format!("table {}.{} does not exist", key.0, key.1))?;
        if table.columns.iter().any(|existing| existing.name == name) {
            return Err(format!(
                "column {name} of {}.{} already exists",
                key.0, key.1
            ));
        }
        column.position = table.next_position;
        table.next_position += 1;
        table.columns.push(column);
        table.provenance = at.clone();
        Ok(pending)
    }

    /// Name and add constraints in PostgreSQL's order: CHECKs, then the primary key, then
    /// UNIQUE constraints (each with its index), then foreign keys.
    fn add_constraints(
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
                notes.push(message);
            }
        }
    }

    fn add_constraint(
        &mut self,
        key: &Qualified,
        pending: PendingConstraint,
        at: &Provenance,
    ) -> Result<(), String> {
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
            return Err(format!("relation {schema}.{name} already exists"));
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
                            format!(
                                "{name}: referenced table {}.{} has no primary key",
                                referenced.0, referenced.1
                            )
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
        let table = self
            .tables
            .get_mut(key)
            .ok_or_else(|| format!("table {schema}.{table_name} does not exist"))?;
        if table.constraints.iter().any(|c| c.name == name) {
            return Err(format!(
                "constraint {name} of {schema}.{table_name} already exists"
            ));
        }
        for column in &pending.columns {
            if !table.columns.iter().any(|c| &c.name == column) {
                return Err(format!(
                    "constraint {name}: column {column} of {schema}.{table_name} does not exist"
                ));
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
    fn alter_table(
        &mut self,
        key: &Qualified,
        operation: &AlterTableOperation,
        at: &Provenance,
        notes: &mut Notes,
    ) -> Result<Option<Qualified>, String> {
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
                        Err(format!(
                            "constraint {name} of {schema}.{table_name} does not exist"
                        ))
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
                    return Err(format!(
                        "column {new} of {schema}.{table_name} already exists"
                    ));
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
                    return Err(format!("relation {schema}.{new_name} already exists"));
                }
                let mut table = self
                    .tables
                    .remove(key)
                    .ok_or_else(|| format!("table {schema}.{table_name} does not exist"))?;
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
                    .ok_or_else(|| {
                        format!("constraint {old} of {schema}.{table_name} does not exist")
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
            other => Err(format!(
                "ALTER TABLE {schema}.{table_name} {other} is not folded into the schema"
            )),
        }
    }

    fn touch(&mut self, key: &Qualified, at: &Provenance) {
        if let Some(table) = self.tables.get_mut(key) {
            table.provenance = at.clone();
        }
    }

    fn table_mut(&mut self, key: &Qualified) -> Result<&mut Table, String> {
        self.tables
            .get_mut(key)
            .ok_or_else(|| format!("table {}.{} does not exist", key.0, key.1))
    }

    fn column(&self, key: &Qualified, name: &str) -> Option<&Column> {
        self.tables
            .get(key)
            .and_then(|table| table.columns.iter().find(|c| c.name == name))
    }

    fn column_mut(&mut self, key: &Qualified, name: &str) -> Result<&mut Column, String> {
        self.table_mut(key)?
            .columns
            .iter_mut()
            .find(|c| c.name == name)
            .ok_or_else(|| format!("column {name} of {}.{} does not exist", key.0, key.1))
    }

    fn rename_column_references(&mut self, key: &Qualified, old: &str, new: &str) {
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
    fn drop_column(
        &mut self,
        key: &Qualified,
        column: &str,
        cascade: bool,
        at: &Provenance,
    ) -> Result<(), String> {
        let referenced_by: Vec<String> = self
            .foreign_keys_referencing(key)
            .into_iter()
            .filter(|(_, _, columns)| columns.iter().any(|c| c == column))
            .map(|(table, name, _)| format!("{}.{}.{}", table.0, table.1, name))
            .collect();
        if !referenced_by.is_empty() && !cascade {
            return Err(format!(
                "cannot drop column {column} of {}.{}: {} depend on it (use CASCADE)",
                key.0,
                key.1,
                referenced_by.join(", ")
            ));
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
    fn foreign_keys_referencing(&self, key: &Qualified) -> Vec<(Qualified, String, Vec<String>)> {
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

    fn create_index(&mut self, create: &CreateIndex, at: &Provenance) -> Result<(), String> {
        let table_key = self.qualified(&create.table_name)?;
        let materialized_view = self
            .views
            .get(&table_key)
            .is_some_and(|view| view.materialized);
        if !self.tables.contains_key(&table_key) && !materialized_view {
            return Err(format!(
                "table {}.{} does not exist",
                table_key.0, table_key.1
            ));
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
                Err(format!("relation {}.{name} already exists", table_key.0))
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

    /// `ALTER TABLE parent ATTACH PARTITION child ...`: PostgreSQL gives the partition its own
    /// copy of each primary key and unique constraint of the parent (named for the partition:
    /// `payment_p2022_01_pkey`), unless the partition already has an equal one.
    pub(crate) fn attach_partition(
        &mut self,
        parent: &ObjectName,
        child: &ObjectName,
        at: &Provenance,
        notes: &mut Notes,
    ) -> Result<(), String> {
        let parent = self.qualified(parent)?;
        let child = self.qualified(child)?;
        self.attach_keys(&parent, &child, at, notes)
    }

    /// What attaching `child` to `parent` adds: the parent's key constraints.
    fn attach_keys(
        &mut self,
        parent: &Qualified,
        child: &Qualified,
        at: &Provenance,
        notes: &mut Notes,
    ) -> Result<(), String> {
        let parent_table = self
            .tables
            .get(parent)
            .ok_or_else(|| format!("table {}.{} does not exist", parent.0, parent.1))?;
        let child_table = self
            .tables
            .get(child)
            .ok_or_else(|| format!("table {}.{} does not exist", child.0, child.1))?;
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
    ) -> Result<(), String> {
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
            .ok_or_else(|| format!("no identity sequence for {}.{}.{column}", table.0, table.1))?;
        let found = self.sequences.remove(&current).expect("found above");
        self.sequences.insert(sequence, found);
        Ok(())
    }

    /// ALTER INDEX ... RENAME TO; a constraint's index renames the constraint too.
    fn rename_index(
        &mut self,
        name: &ObjectName,
        new_name: &ObjectName,
        at: &Provenance,
    ) -> Result<(), String> {
        let key = self.qualified(name)?;
        let new = last_part(new_name)?;
        if self.relation_exists(&key.0, &new) {
            return Err(format!("relation {}.{new} already exists", key.0));
        }
        let mut index = self
            .indexes
            .remove(&key)
            .ok_or_else(|| format!("index {}.{} does not exist", key.0, key.1))?;
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

    fn drop(
        &mut self,
        object_type: ObjectType,
        name: &ObjectName,
        if_exists: bool,
        cascade: bool,
        at: &Provenance,
    ) -> Result<(), String> {
        let missing = |what: &str, label: String| {
            if if_exists {
                Ok(())
            } else {
                Err(format!("{what} {label} does not exist"))
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
                            return Err(format!(
                                "cannot drop index {}.{}: constraint {} requires it",
                                key.0, key.1, key.1
                            ));
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
                    return Err(format!(
                        "cannot drop schema {schema}: it is not empty (use CASCADE)"
                    ));
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
            other => Err(format!("DROP {other} is not folded into the schema")),
        }
    }

    fn create_type(
        &mut self,
        name: &ObjectName,
        representation: Option<&UserDefinedTypeRepresentation>,
        at: &Provenance,
    ) -> Result<(), String> {
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
                return Err(format!(
                    "CREATE TYPE {}.{} (range, base or shell type) is not folded into the schema",
                    key.0, key.1
                ))
            }
        };
        if self.type_exists(&key.0, &key.1) {
            return Err(format!("type {}.{} already exists", key.0, key.1));
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

    fn create_domain(
        &mut self,
        create: &CreateDomain,
        at: &Provenance,
        notes: &mut Notes,
    ) -> Result<(), String> {
        let key = self.qualified(&create.name)?;
        if self.type_exists(&key.0, &key.1) {
            return Err(format!("type {}.{} already exists", key.0, key.1));
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
    pub(crate) fn set_domain_not_null(&mut self, name: &ObjectName) -> Result<(), String> {
        let key = self.qualified(name)?;
        let domain = self
            .domains
            .get_mut(&key)
            .ok_or_else(|| format!("domain {}.{} does not exist", key.0, key.1))?;
        domain.not_null = true;
        Ok(())
    }

    fn alter_type(&mut self, alter: &AlterType, at: &Provenance) -> Result<(), String> {
        let key = self.qualified(&alter.name)?;
        let Some(user_type) = self.types.get_mut(&key) else {
            return Err(format!("type {}.{} does not exist", key.0, key.1));
        };
        user_type.provenance = at.clone();
        match &alter.operation {
            AlterTypeOperation::AddValue(add) => {
                let TypeDefinition::Enum(labels) = &mut user_type.definition else {
                    return Err(format!("{}.{} is not an enum", key.0, key.1));
                };
                let value = add.value.value.clone();
                if labels.contains(&value) {
                    return if add.if_not_exists {
                        Ok(())
                    } else {
                        Err(format!(
                            "enum label \"{value}\" already exists in {}.{}",
                            key.0, key.1
                        ))
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
                                format!(
                                    "\"{}\" is not an existing enum label of {}.{}",
                                    neighbour.value, key.0, key.1
                                )
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
                    return Err(format!("{}.{} is not an enum", key.0, key.1));
                };
                if labels.contains(&rename.to.value) {
                    return Err(format!(
                        "enum label \"{}\" already exists in {}.{}",
                        rename.to.value, key.0, key.1
                    ));
                }
                let label = labels
                    .iter_mut()
                    .find(|label| **label == rename.from.value)
                    .ok_or_else(|| {
                        format!(
                            "\"{}\" is not an existing enum label of {}.{}",
                            rename.from.value, key.0, key.1
                        )
                    })?;
                *label = rename.to.value.clone();
                Ok(())
            }
            AlterTypeOperation::Rename(rename) => {
                let new_name = fold_ident(&rename.new_name);
                if self.type_exists(&key.0, &new_name) {
                    return Err(format!("type {}.{new_name} already exists", key.0));
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
    fn type_spellings(key: &Qualified) -> Vec<String> {
        let qualified = format!("{}.{}", key.0, key.1);
        if key.0 == "public" {
            vec![key.1.clone(), qualified]
        } else {
            vec![qualified]
        }
    }

    /// Columns, composite attributes and domains of type `key` (or an array of it): renamed
    /// to `renamed`, or listed when `renamed` is None. Returns (table, column) of columns.
    fn retype_columns(
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
    fn drop_type(
        &mut self,
        name: &ObjectName,
        domain: bool,
        if_exists: bool,
        cascade: bool,
        at: &Provenance,
    ) -> Result<(), String> {
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
                Err(format!("{what} {}.{} does not exist", key.0, key.1))
            };
        }
        let users = self.retype_columns(&key, None);
        if !users.is_empty() && !cascade {
            let (table, column) = &users[0];
            return Err(format!(
                "cannot drop {what} {}.{}: column {}.{}.{column} depends on it (use CASCADE)",
                key.0, key.1, table.0, table.1
            ));
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

    /// Views reading `key`, directly or through other views.
    fn dependent_views(&self, key: &Qualified) -> Vec<Qualified> {
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
    fn drop_dependent_views(&mut self, key: &Qualified, cascade: bool) -> Result<(), String> {
        let views = self.dependent_views(key);
        if views.is_empty() {
            return Ok(());
        }
        if !cascade {
            let names: Vec<String> = views
                .iter()
                .map(|(schema, name)| format!("view {schema}.{name}"))
                .collect();
            return Err(format!(
                "cannot drop {}.{}: {} depend on it (use CASCADE)",
                key.0,
                key.1,
                names.join(", ")
            ));
        }
        for view in views {
            self.views.remove(&view);
        }
        Ok(())
    }

    fn drop_table(&mut self, key: &Qualified, cascade: bool) -> Result<(), String> {
        self.drop_dependent_views(key, cascade)?;
        let referencing = self.foreign_keys_referencing(key);
        if !referencing.is_empty() && !cascade {
            let names: Vec<String> = referencing
                .iter()
                .map(|(table, name, _)| format!("{}.{}.{}", table.0, table.1, name))
                .collect();
            return Err(format!(
                "cannot drop table {}.{}: {} depend on it (use CASCADE)",
                key.0,
                key.1,
                names.join(", ")
            ));
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

    /// The schema as resources, sorted by (kind, id).
    pub(crate) fn resources(&self) -> Vec<ObservedResource> {
        let mut resources = Vec::new();
        let labelled =
            |resource: ObservedResource, provenance: Option<&Provenance>| match provenance {
                Some(provenance) => resource
                    .with_label("migration.file", provenance.file.clone())
                    .with_label("migration.version", provenance.version.clone()),
                None => resource.with_label("builtin", "true"),
            };
        for (schema, provenance) in &self.schemas {
            resources.push(labelled(
                ObservedResource::new(postgres::SCHEMA, schema.clone(), Layer::Declared, json!({}))
                    .with_name(schema.clone()),
                provenance.as_ref(),
            ));
        }
        for ((schema, name), table) in &self.tables {
            let qualified_table = format!("{schema}.{name}");
            resources.push(labelled(
                ObservedResource::new(
                    postgres::TABLE,
                    qualified_table.clone(),
                    Layer::Declared,
                    json!({ "schema": schema }),
                )
                .with_name(name.clone()),
                Some(&table.provenance),
            ));
            for column in &table.columns {
                let mut attrs = json!({
                    "table": qualified_table,
                    "type": column.data_type,
                    "not_null": column.not_null,
                    "default": column.default,
                    "position": column.position,
                });
                if let Some(identity) = column.identity {
                    attrs["identity"] = json!(identity);
                }
                if let Some(generated) = &column.generated {
                    attrs["generated"] = json!(generated);
                }
                resources.push(labelled(
                    ObservedResource::new(
                        postgres::COLUMN,
                        format!("{qualified_table}.{}", column.name),
                        Layer::Declared,
                        attrs,
                    )
                    .with_name(column.name.clone()),
                    Some(&column.provenance),
                ));
            }
            for constraint in &table.constraints {
                let mut attrs = json!({
                    "table": qualified_table,
                    "type": constraint.kind.as_str(),
                    "columns": constraint.columns,
                });
                if let Some(reference) = &constraint.references {
                    attrs["references"] = json!({
                        "table": format!("{}.{}", reference.schema, reference.table),
                        "columns": reference.columns,
                        "on_delete": reference.on_delete,
                        "on_update": reference.on_update,
                    });
                }
                if let Some(check) = &constraint.check {
                    attrs["check"] = json!(check.to_string());
                }
                resources.push(labelled(
                    ObservedResource::new(
                        postgres::CONSTRAINT,
                        format!("{qualified_table}.{}", constraint.name),
                        Layer::Declared,
                        attrs,
                    )
                    .with_name(constraint.name.clone()),
                    Some(&constraint.provenance),
                ));
            }
        }
        for ((schema, name), index) in &self.indexes {
            let columns: Vec<Value> = index
                .keys
                .iter()
                .map(|key| match key {
                    IndexKey::Column(name) => json!(name),
                    IndexKey::Expression(expr) => json!(expr.to_string()),
                })
                .collect();
            let expressions: Vec<bool> = index
                .keys
                .iter()
                .map(|key| matches!(key, IndexKey::Expression(_)))
                .collect();
            resources.push(labelled(
                ObservedResource::new(
                    postgres::INDEX,
                    format!("{schema}.{name}"),
                    Layer::Declared,
                    json!({
                        "table": format!("{schema}.{}", index.table),
                        "columns": columns,
                        "expressions": expressions,
                        "unique": index.unique,
                        "predicate": index.predicate.as_ref().map(Expr::to_string),
                        "method": index.method,
                    }),
                )
                .with_name(name.clone()),
                Some(&index.provenance),
            ));
        }
        for ((schema, name), view) in &self.views {
            resources.push(labelled(
                ObservedResource::new(
                    postgres::VIEW,
                    format!("{schema}.{name}"),
                    Layer::Declared,
                    json!({
                        "definition": view.query.to_string(),
                        "materialized": view.materialized,
                    }),
                )
                .with_name(name.clone()),
                Some(&view.provenance),
            ));
        }
        for ((schema, name), sequence) in &self.sequences {
            resources.push(labelled(
                ObservedResource::new(
                    postgres::SEQUENCE,
                    format!("{schema}.{name}"),
                    Layer::Declared,
                    json!({
                        "data_type": sequence.data_type,
                        "owned_by": sequence
                            .owned_by
                            .as_ref()
                            .map(|(table, column)| format!("{schema}.{table}.{column}")),
                    }),
                )
                .with_name(name.clone()),
                Some(&sequence.provenance),
            ));
        }
        for ((schema, name), user_type) in &self.types {
            let attrs = match &user_type.definition {
                TypeDefinition::Enum(labels) => json!({ "category": "enum", "labels": labels }),
                TypeDefinition::Composite(attributes) => json!({
                    "category": "composite",
                    "attributes": attributes.iter().map(|(name, _)| name).collect::<Vec<_>>(),
                    "attribute_types": attributes.iter().map(|(_, t)| t).collect::<Vec<_>>(),
                }),
            };
            resources.push(labelled(
                ObservedResource::new(
                    postgres::TYPE,
                    format!("{schema}.{name}"),
                    Layer::Declared,
                    attrs,
                )
                .with_name(name.clone()),
                Some(&user_type.provenance),
            ));
        }
        for ((schema, name), domain) in &self.domains {
            resources.push(labelled(
                ObservedResource::new(
                    postgres::DOMAIN,
                    format!("{schema}.{name}"),
                    Layer::Declared,
                    json!({
                        "data_type": domain.base_type,
                        "not_null": domain.not_null,
                        "default": domain.default,
                        "constraints": domain.checks.iter().map(|(name, _)| name).collect::<Vec<_>>(),
                        "check": domain.checks.iter().map(|(_, expr)| expr.to_string()).collect::<Vec<_>>(),
                    }),
                )
                .with_name(name.clone()),
                Some(&domain.provenance),
            ));
        }
        for (name, extension) in &self.extensions {
            resources.push(labelled(
                ObservedResource::new(
                    postgres::EXTENSION,
                    name.clone(),
                    Layer::Declared,
                    json!({ "schema": extension.schema, "version": extension.version }),
                )
                .with_name(name.clone()),
                extension.provenance.as_ref(),
            ));
        }
        resources.sort_by_key(ObservedResource::key);
        resources
    }
}

/// Whether a view's query reads `relation` (unqualified names resolve to `schema`, the
/// creation schema when the view was made).
fn reads_relation(
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
fn rename_relation(
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
fn rename_in_expression(expr: &mut Expr, old: &str, new: &str) {
    let _ = sqlparser::ast::visit_expressions_mut(expr, |expr| {
        if let Expr::Identifier(ident) = expr {
            if fold_ident(ident) == old {
                *ident = Ident::new(new);
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

fn index_columns(columns: &[sqlparser::ast::IndexColumn]) -> Result<Vec<String>, String> {
    columns
        .iter()
        .map(|column| match &column.column.expr {
            Expr::Identifier(ident) => Ok(fold_ident(ident)),
            other => Err(format!("constraint on expression {other} is not folded")),
        })
        .collect()
}

/// A constraint as written; unqualified referenced tables are in `schema`.
fn table_constraint(
    constraint: &TableConstraint,
    schema: Option<&str>,
) -> Result<PendingConstraint, String> {
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
        other => return Err(format!("constraint {other} is not folded into the schema")),
    })
}

/// The leading keywords of a statement (`CREATE FUNCTION`, `INSERT`, `DO`), for warnings.
pub(crate) fn statement_kind(text: &str) -> String {
    let words: Vec<String> = text
        .split_whitespace()
        .take(6)
        .map(|word| word.to_ascii_uppercase())
        .take_while(|word| word.chars().all(|c| c.is_ascii_alphabetic()))
        .collect();
    let mut kind: Vec<&str> = Vec::new();
    for word in &words {
        kind.push(word);
        let continues = matches!(
            word.as_str(),
            "CREATE"
                | "ALTER"
                | "DROP"
                | "OR"
                | "REPLACE"
                | "UNIQUE"
                | "MATERIALIZED"
                | "CONSTRAINT"
                | "TEMP"
                | "TEMPORARY"
                | "EVENT"
        ) || (kind.len() == 1 && matches!(word.as_str(), "COMMENT" | "REFRESH"));
        if !continues {
            break;
        }
    }
    if kind.is_empty() {
        "statement".to_string()
    } else {
        kind.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;

    use super::*;

    /// Fold statements sqlparser reads as they are; returns the resources and the notes.
    fn fold(catalog: &mut Catalog, sql: &str) -> Notes {
        let at = Provenance {
            file: "V1__t.sql".to_string(),
            version: "1".to_string(),
        };
        let mut notes = Vec::new();
        for statement in Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("parses") {
            catalog.apply(&statement, &at, &mut notes);
        }
        notes
    }

    fn attrs(catalog: &Catalog, kind: &str, id: &str) -> Option<Value> {
        catalog
            .resources()
            .into_iter()
            .find(|resource| resource.kind == kind && resource.id == id)
            .map(|resource| resource.attrs)
    }

    #[test]
    fn enum_and_composite_types_fold_with_alter_and_drop() {
        let mut catalog = Catalog::default();
        let notes = fold(
            &mut catalog,
            "CREATE TYPE mood AS ENUM ('sad', 'happy');
             ALTER TYPE mood ADD VALUE 'ok' BEFORE 'happy';
             ALTER TYPE mood ADD VALUE 'ecstatic' AFTER 'happy';
             ALTER TYPE mood ADD VALUE 'meh';
             ALTER TYPE mood ADD VALUE IF NOT EXISTS 'sad';
             ALTER TYPE mood RENAME VALUE 'sad' TO 'blue';
             CREATE TYPE Address AS (Street varchar(80), zip int, tags text[]);
             CREATE TABLE people (id int, feeling mood, home address);
             ALTER TYPE mood ADD VALUE 'sad' BEFORE 'nope';
             DROP TYPE address;",
        );
        assert_eq!(
            notes,
            vec![
                "\"nope\" is not an existing enum label of public.mood",
                "cannot drop type public.address: column public.people.home depends on it (use CASCADE)",
            ]
        );
        assert_eq!(
            attrs(&catalog, postgres::TYPE, "public.mood"),
            Some(json!({
                "category": "enum",
                "labels": ["blue", "ok", "happy", "ecstatic", "meh"],
            }))
        );
        assert_eq!(
            attrs(&catalog, postgres::TYPE, "public.address"),
            Some(json!({
                "category": "composite",
                "attributes": ["street", "zip", "tags"],
                "attribute_types": ["character varying(80)", "integer", "text[]"],
            }))
        );
        let notes = fold(
            &mut catalog,
            "ALTER TYPE mood RENAME TO feeling; DROP TYPE address CASCADE; DROP TYPE IF EXISTS gone;",
        );
        assert_eq!(notes, Vec::<String>::new());
        assert_eq!(attrs(&catalog, postgres::TYPE, "public.address"), None);
        assert_eq!(
            attrs(&catalog, postgres::COLUMN, "public.people.home"),
            None
        );
        assert_eq!(
            attrs(&catalog, postgres::COLUMN, "public.people.feeling").map(|a| a["type"].clone()),
            Some(json!("feeling"))
        );
        assert_eq!(
            fold(&mut catalog, "CREATE TYPE people AS ENUM ('x');"),
            vec!["type public.people already exists"]
        );
    }

    #[test]
    fn domains_fold_with_defaults_and_named_checks() {
        let mut catalog = Catalog::default();
        let notes = fold(
            &mut catalog,
            "CREATE SCHEMA app;
             CREATE DOMAIN app.year AS int DEFAULT 2000
               CHECK (VALUE >= 1901) CONSTRAINT a_first CHECK (VALUE <= 2155) CHECK (VALUE <> 1999);
             CREATE DOMAIN code AS varchar(8) DEFAULT 'x';
             CREATE TABLE app.t (y app.year, c code);
             DROP DOMAIN code;",
        );
        assert_eq!(
            notes,
            vec!["cannot drop domain public.code: column app.t.c depends on it (use CASCADE)"]
        );
        assert_eq!(
            attrs(&catalog, postgres::DOMAIN, "app.year"),
            Some(json!({
                "data_type": "integer",
                "not_null": false,
                "default": "2000",
                "constraints": ["a_first", "year_check", "year_check1"],
                "check": ["VALUE <= 2155", "VALUE >= 1901", "VALUE <> 1999"],
            }))
        );
        assert_eq!(
            attrs(&catalog, postgres::DOMAIN, "public.code").map(|a| a["default"].clone()),
            Some(json!("'x'::character varying"))
        );
        assert_eq!(
            fold(&mut catalog, "DROP DOMAIN code CASCADE;"),
            Vec::<String>::new()
        );
        assert_eq!(attrs(&catalog, postgres::COLUMN, "app.t.c"), None);
        assert_eq!(attrs(&catalog, postgres::DOMAIN, "public.code"), None);
    }

    #[test]
    fn search_path_decides_where_unqualified_names_go() {
        let mut catalog = Catalog::default();
        fold(&mut catalog, "CREATE SCHEMA app;");
        catalog.set_search_path(vec!["$user".to_string(), "app".to_string()]);
        let notes = fold(
            &mut catalog,
            "CREATE TYPE state AS ENUM ('on', 'off');
             CREATE TABLE parent (id int PRIMARY KEY);
             CREATE TABLE child (parent_id int REFERENCES parent, s state, ss state[]);
             CREATE VIEW v AS SELECT id FROM parent;",
        );
        assert_eq!(notes, Vec::<String>::new());
        catalog.reset_search_path();
        let column = attrs(&catalog, postgres::COLUMN, "app.child.s").expect("column in app");
        assert_eq!(column["type"], "app.state");
        assert_eq!(
            attrs(&catalog, postgres::COLUMN, "app.child.ss").map(|a| a["type"].clone()),
            Some(json!("app.state[]"))
        );
        assert_eq!(
            attrs(
                &catalog,
                postgres::CONSTRAINT,
                "app.child.child_parent_id_fkey"
            )
            .map(|a| a["references"]["table"].clone()),
            Some(json!("app.parent"))
        );
        // The view still reads app.parent after the path changed back.
        assert_eq!(
            fold(&mut catalog, "DROP TABLE app.parent;"),
            vec!["cannot drop app.parent: view app.v depend on it (use CASCADE)"]
        );
        catalog.set_search_path(Vec::new());
        assert_eq!(
            fold(&mut catalog, "CREATE TABLE t (id int);"),
            vec!["no schema has been selected for t (the search_path is empty)"]
        );
        catalog.set_search_path(vec!["missing".to_string(), "public".to_string()]);
        assert_eq!(
            fold(&mut catalog, "CREATE TABLE t (id int);"),
            Vec::<String>::new()
        );
        assert!(attrs(&catalog, postgres::TABLE, "public.t").is_some());
    }

    #[test]
    fn partitions_created_of_a_parent_inherit_columns_and_keys() {
        let mut catalog = Catalog::default();
        let notes = fold(
            &mut catalog,
            "CREATE TABLE events (id int NOT NULL, gone int, at date NOT NULL DEFAULT '2024-01-01',
                                  amount numeric CHECK (amount > 0),
                                  PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
             ALTER TABLE events DROP COLUMN gone;
             CREATE TABLE events_2024 PARTITION OF events
               FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
             CREATE TABLE orphan PARTITION OF nothing FOR VALUES IN (1);",
        );
        assert_eq!(notes, vec!["table public.nothing does not exist"]);
        let column = attrs(&catalog, postgres::COLUMN, "public.events_2024.at").expect("column");
        assert_eq!(column["position"], 2);
        assert_eq!(column["not_null"], true);
        assert_eq!(column["default"], "'2024-01-01'::date");
        assert_eq!(
            attrs(&catalog, postgres::COLUMN, "public.events.at").map(|a| a["position"].clone()),
            Some(json!(3))
        );
        assert!(attrs(
            &catalog,
            postgres::CONSTRAINT,
            "public.events_2024.events_amount_check"
        )
        .is_some());
        assert_eq!(
            attrs(
                &catalog,
                postgres::CONSTRAINT,
                "public.events_2024.events_2024_pkey"
            )
            .map(|a| a["columns"].clone()),
            Some(json!(["id", "at"]))
        );
        assert!(attrs(&catalog, postgres::INDEX, "public.events_2024_pkey").is_some());
        assert_eq!(attrs(&catalog, postgres::TABLE, "public.orphan"), None);
    }

    #[test]
    fn implicit_names_follow_postgres() {
        assert_eq!(make_object_name("orders", None, "pkey"), "orders_pkey");
        assert_eq!(
            make_object_name("orders", Some("customer_id"), "fkey"),
            "orders_customer_id_fkey"
        );
        let long_table = "a".repeat(40);
        let long_column = "b".repeat(40);
        let name = make_object_name(&long_table, Some(&long_column), "key");
        assert_eq!(name.len(), 63);
        assert_eq!(name, format!("{}_{}_key", "a".repeat(29), "b".repeat(29)));
        let name = make_object_name(&"t".repeat(70), Some("id"), "seq");
        assert_eq!(name, format!("{}_id_seq", "t".repeat(56)));
    }

    #[test]
    fn types_use_format_type_spelling() {
        for (written, canonical) in [
            ("INT", "integer"),
            ("int4", "integer"),
            ("INT8", "bigint"),
            ("VARCHAR(20)", "character varying(20)"),
            ("CHARACTER VARYING", "character varying"),
            ("TIMESTAMPTZ", "timestamp with time zone"),
            ("TIMESTAMP", "timestamp without time zone"),
            ("TIMESTAMP(3) WITH TIME ZONE", "timestamp(3) with time zone"),
            ("BOOL", "boolean"),
            ("FLOAT8", "double precision"),
            ("DECIMAL(10, 2)", "numeric(10,2)"),
            ("TEXT[]", "text[]"),
            ("char(3)", "character(3)"),
            ("jsonb", "jsonb"),
        ] {
            assert_eq!(normalize_type(written), canonical, "{written}");
        }
    }

    #[test]
    fn statement_kinds_name_the_statement() {
        assert_eq!(
            statement_kind("create or replace function f()"),
            "CREATE OR REPLACE FUNCTION"
        );
        assert_eq!(statement_kind("INSERT INTO x VALUES (1)"), "INSERT");
        assert_eq!(statement_kind("DO $$ BEGIN END $$"), "DO");
        assert_eq!(statement_kind("COMMENT ON TABLE x IS 'y'"), "COMMENT ON");
    }
}
