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

mod drops;
mod error;
mod indexes;
mod names;
mod rendering;
mod resources;
mod tables;
mod types;

use drops::*;
pub(crate) use error::FoldError;
use names::*;
use rendering::*;

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

    fn qualified(&self, name: &ObjectName) -> Result<Qualified, FoldError> {
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
                                Err(message) => notes.push(message.to_string()),
                            }
                        }
                        Ok(())
                    }
                    Ok(_) if alter.if_exists => Ok(()),
                    // PostgreSQL takes ALTER TABLE on sequences and views too (pg_dump writes
                    // `ALTER TABLE seq OWNER TO ...`); nothing of theirs it changes is folded.
                    Ok(key)
                        if self.sequences.contains_key(&key) || self.views.contains_key(&key) =>
                    {
                        Err(FoldError::NotFolded {
                            construct: format!(
                                "ALTER TABLE of the sequence or view {}.{}",
                                key.0, key.1
                            ),
                        })
                    }
                    Ok((schema, table)) => Err(FoldError::Missing {
                        what: "table".to_string(),
                        name: format!("{schema}.{table}"),
                    }),
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
                        notes.push(message.to_string());
                    }
                }
                Ok(())
            }
            Statement::CreateView(create) => (|| {
                let key = self.qualified(&create.name)?;
                if self.views.contains_key(&key) && !create.or_replace {
                    return Err(FoldError::Exists {
                        what: "view".to_string(),
                        name: format!("{}.{}", key.0, key.1),
                    });
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
                        Err(FoldError::Exists {
                            what: "relation".to_string(),
                            name: format!("{}.{}", key.0, key.1),
                        })
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
                    Err(FoldError::Exists {
                        what: "extension".to_string(),
                        name: name.to_string(),
                    })
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
                                Err(FoldError::Exists {
                                    what: "schema".to_string(),
                                    name: name.to_string(),
                                })
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
            other => Err(FoldError::NotFolded {
                construct: statement_kind(&other.to_string()),
            }),
        };
        if let Err(message) = outcome {
            notes.push(message.to_string());
        }
    }

    fn require_schema(&self, schema: &str) -> Result<(), FoldError> {
        if self.schemas.contains_key(schema) {
            Ok(())
        } else {
            Err(FoldError::Missing {
                what: "schema".to_string(),
                name: schema.to_string(),
            })
        }
    }
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
