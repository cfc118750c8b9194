//! The `sql_migrations` source: a directory of SQL migrations, folded into a declared
//! PostgreSQL schema, as the declared layer.
//!
//! It reads the `.sql` files of a directory in one of the common layouts (Flyway
//! `V1__init.sql` with numeric versions and `R__` repeatables last, golang-migrate
//! `0001_init.up.sql`, diesel `<version>_name/up.sql`, sqlx `<version>_name.sql`, or plain
//! files in lexical order; detected from the names when the layout is `auto`; undo/down files
//! are ignored), splits each file into statements itself, parses them with sqlparser's
//! PostgreSQL dialect and applies them in order to an in-memory catalog
//! ([`fold::Catalog`]). Identity follows [`crate::identity::postgres`], as a live catalog
//! source reports it: kinds `postgres/schema|table|column|index|constraint|view|sequence|
//! extension|type|domain`, ids `public`, `public.orders`, `public.orders.id`,
//! `public.orders_pkey` (indexes are per schema), `public.orders.orders_customer_id_fkey`,
//! `public.open_orders`, `public.orders_id_seq`, `pgcrypto`, `public.mood` (enum and
//! composite types), `public.year` (domains). `SET search_path` (and pg_dump's `set_config`)
//! sends unqualified names to the first existing schema of the path until the file ends;
//! `CREATE TABLE ... PARTITION OF` inherits the parent's columns and CHECKs and is attached
//! like `ATTACH PARTITION`. Implicit names, types, serial defaults and the indexes
//! behind PRIMARY KEY/UNIQUE are produced as PostgreSQL produces them. Every resource carries
//! the `migration.file` (relative path) and `migration.version` of the last migration that
//! touched it; the `public` schema and `plpgsql` extension every database has are labelled
//! `builtin`. Migrations hold no secrets, so nothing is redacted (column defaults and CHECK
//! texts are schema, not data). Statements that cannot be folded (functions, DO blocks,
//! triggers, INSERT/UPDATE, GRANT, COMMENT, ...), statements sqlparser cannot parse, and
//! operations that would fail in PostgreSQL (ALTER of a missing table, ...) become warnings
//! naming `file:line` (a CREATE SEQUENCE whose options sqlparser cannot read is folded by
//! name, with a warning); files ignored by the layout become warnings too. Unreadable,
//! binary, non-UTF-8 or oversized files fail the scrape, naming the file.

mod fold;
mod layout;
mod rewrite;
mod split;

use groundtruth_engine::model::Observation;
use serde::Deserialize;
use sqlparser::ast::ObjectName;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::error::Result;
use crate::input::{has_extension, Input, InputFile};
use crate::source::{read_and_parse, ScrapeContext, Source};

use fold::{statement_kind, Catalog, FoldError, Provenance};
use rewrite::SearchPath;

/// The ALTER TYPE forms folded (the rest, such as OWNER TO, change nothing compared).
#[allow(
    clippy::expect_used,
    reason = "a literal pattern, compiled by every test that folds"
)]
static ALTER_TYPE_FOLDED: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"(?is)^\s*ALTER\s+TYPE\s+\S+\s+(?:ADD\s+VALUE|RENAME\s+(?:VALUE|TO))\b")
        .expect("valid regex")
});

/// How migration files are named and ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationLayout {
    /// Detect the layout from the file names.
    #[default]
    Auto,
    /// Flyway: `V1__create_orders.sql`, `V1.1__add_index.sql`.
    Flyway,
    /// golang-migrate: `0001_create_orders.up.sql` (the `.down.sql` files are ignored).
    GolangMigrate,
    /// diesel: `<version>_name/up.sql` directories.
    Diesel,
    /// sqlx: `<version>_name.sql` (or `.up.sql`).
    Sqlx,
    /// Plain `.sql` files applied in lexical order.
    Plain,
}

/// Settings of the `sql_migrations` source, beside its input's.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SqlMigrationsConfig {
    /// auto (default), flyway, golang_migrate, diesel, sqlx or plain.
    #[serde(default)]
    pub layout: MigrationLayout,
}

/// Reads a directory of SQL migrations, folded into a declared PostgreSQL schema.
#[derive(Debug, Clone)]
pub struct SqlMigrationsSource {
    name: String,
    input: Input,
    layout: MigrationLayout,
}

impl SqlMigrationsSource {
    /// A source called `name` reading `input`; `layout` is the directory layout (detected when `Auto`).
    pub fn new(name: impl Into<String>, input: Input, layout: MigrationLayout) -> Self {
        Self {
            name: name.into(),
            input,
            layout,
        }
    }
}

fn is_sql(relative: &str) -> bool {
    has_extension(relative, &["sql"])
}

/// Statements that are valid migrations but describe no schema object: warned about without
/// asking sqlparser, which does not know all of them (DO, CREATE TRIGGER ... EXECUTE FUNCTION).
const NOT_SCHEMA: &[&str] = &[
    "DO",
    "INSERT",
    "UPDATE",
    "DELETE",
    "COPY",
    "GRANT",
    "REVOKE",
    "COMMENT ON",
    "SELECT",
    "ANALYZE",
    "VACUUM",
    "CALL",
    "CREATE FUNCTION",
    "CREATE OR REPLACE FUNCTION",
    "CREATE PROCEDURE",
    "CREATE OR REPLACE PROCEDURE",
    "CREATE TRIGGER",
    "CREATE OR REPLACE TRIGGER",
    "CREATE CONSTRAINT",
    "CREATE POLICY",
    "CREATE ROLE",
    "CREATE USER",
    "CREATE RULE",
    "CREATE EVENT TRIGGER",
    "DROP FUNCTION",
    "DROP PROCEDURE",
    "DROP TRIGGER",
    "ALTER FUNCTION",
    "ALTER ROLE",
    "ALTER DEFAULT",
    "SET",
    "RESET",
    "REFRESH MATERIALIZED",
];

/// Apply the files in the layout's order; returns the catalog's resources and the warnings.
fn fold_files(files: &[InputFile], layout: MigrationLayout) -> Result<Observation> {
    let relatives: Vec<&str> = files.iter().map(|file| file.relative.as_str()).collect();
    let plan = layout::plan(layout, &relatives);
    let mut warnings = plan.warnings;
    let mut catalog = Catalog::default();
    let dialect = PostgreSqlDialect {};
    for migration in &plan.migrations {
        let file = &files[migration.file];
        let text = file.text()?;
        let provenance = Provenance {
            file: file.relative.clone(),
            version: migration.version.clone(),
        };
        // Each file is applied in a session of its own, so a SET search_path lasts to its end.
        catalog.reset_search_path();
        for statement in split::split_statements(text) {
            let line = file.line_of_offset(statement.offset);
            let at = format!("{}:{line}", file.relative);
            let kind = statement_kind(statement.text);
            let rewritten = rewrite::rewrite(statement.text);
            match rewritten.search_path {
                Some(SearchPath::Set(schemas)) => {
                    catalog.set_search_path(schemas);
                    continue;
                }
                Some(SearchPath::Default) => {
                    catalog.reset_search_path();
                    continue;
                }
                None => {}
            }
            if NOT_SCHEMA.contains(&kind.as_str())
                || (kind == "ALTER TYPE" && !ALTER_TYPE_FOLDED.is_match(statement.text))
            {
                warnings.push(format!("{at}: {kind} is not folded into the schema"));
                continue;
            }
            if let Some((parent, child)) = &rewritten.attach_partition {
                let mut notes = Vec::new();
                if let Err(message) = parse_name(&dialect, parent).and_then(|parent| {
                    let child = parse_name(&dialect, child)?;
                    catalog.attach_partition(&parent, &child, &provenance, &mut notes)
                }) {
                    notes.push(message.to_string());
                }
                warnings.extend(notes.into_iter().map(|note| format!("{at}: {note}")));
                continue;
            }
            let statement_text = rewritten.text.as_str();
            let parsed = match Parser::parse_sql(&dialect, statement_text) {
                Ok(parsed) => parsed,
                Err(error) if kind == "CREATE SEQUENCE" => {
                    // sqlparser wants the options in one fixed order, PostgreSQL takes any;
                    // the options are not folded, so the name (and type) is enough.
                    match Parser::parse_sql(&dialect, &sequence_head(statement.text)) {
                        Ok(parsed) => {
                            warnings.push(format!(
                                "{at}: sequence options not understood ({error}); folded without them"
                            ));
                            parsed
                        }
                        Err(_) => {
                            warnings.push(format!("{at}: cannot parse {kind} statement: {error}"));
                            continue;
                        }
                    }
                }
                Err(error) => {
                    warnings.push(format!("{at}: cannot parse {kind} statement: {error}"));
                    continue;
                }
            };
            for parsed in &parsed {
                let mut notes = Vec::new();
                catalog.apply(parsed, &provenance, &mut notes);
                if let Some((table, column, sequence)) = &rewritten.identity_sequence_name {
                    if let Err(message) = parse_name(&dialect, table).and_then(|table| {
                        let sequence = parse_name(&dialect, sequence)?;
                        catalog.rename_identity_sequence(&table, column, &sequence)
                    }) {
                        notes.push(message.to_string());
                    }
                }
                if let Some(domain) = &rewritten.domain_not_null {
                    if let Err(message) = parse_name(&dialect, domain)
                        .and_then(|domain| catalog.set_domain_not_null(&domain))
                    {
                        notes.push(message.to_string());
                    }
                }
                warnings.extend(notes.into_iter().map(|note| format!("{at}: {note}")));
            }
        }
    }
    let mut observation = Observation::complete(catalog.resources());
    observation.warnings = warnings;
    Ok(observation)
}

/// A (possibly qualified, possibly quoted) name as sqlparser reads it.
fn parse_name(
    dialect: &PostgreSqlDialect,
    text: &str,
) -> std::result::Result<ObjectName, FoldError> {
    Parser::new(dialect)
        .try_with_sql(text)
        .and_then(|mut parser| parser.parse_object_name(false))
        .map_err(|error| FoldError::Refused(format!("cannot read the name {text}: {error}")))
}

/// `CREATE SEQUENCE [IF NOT EXISTS] name [AS type]` of a CREATE SEQUENCE statement.
fn sequence_head(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut length = 3;
    if words.len() > 5 && words[2].eq_ignore_ascii_case("if") {
        length = 6;
    }
    if words
        .get(length)
        .is_some_and(|word| word.eq_ignore_ascii_case("as"))
    {
        length += 2;
    }
    words[..length.min(words.len())].join(" ")
}

#[async_trait::async_trait]
impl Source for SqlMigrationsSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn source_type(&self) -> &'static str {
        "sql_migrations"
    }

    fn input(&self) -> Option<&Input> {
        Some(&self.input)
    }

    async fn scrape(&self, context: &ScrapeContext) -> Result<Observation> {
        let layout = self.layout;
        read_and_parse(&self.name, &self.input, is_sql, context, move |files| {
            fold_files(&files, layout)
        })
        .await
    }

    fn parse_content(&self, files: Vec<InputFile>) -> Option<Result<Observation>> {
        Some(fold_files(&files, self.layout))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn file(relative: &str, text: &str) -> InputFile {
        InputFile {
            path: PathBuf::from("/migrations").join(relative),
            relative: relative.to_string(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    fn attrs<'a>(observation: &'a Observation, kind: &str, id: &str) -> &'a serde_json::Value {
        &observation
            .resources
            .iter()
            .find(|resource| resource.kind == kind && resource.id == id)
            .unwrap_or_else(|| panic!("no {kind} {id}"))
            .attrs
    }

    fn ids(observation: &Observation, kind: &str) -> Vec<String> {
        observation
            .resources
            .iter()
            .filter(|resource| resource.kind == kind)
            .map(|resource| resource.id.clone())
            .collect()
    }

    #[test]
    fn search_path_lasts_to_the_end_of_its_file_and_domains_keep_not_null() {
        let files = vec![
            file(
                "V1__app.sql",
                "CREATE SCHEMA app;\nSET search_path TO app, public;\n\
                 CREATE DOMAIN code AS text NOT NULL CHECK (VALUE <> '');\n\
                 CREATE TYPE state AS ENUM ('on');\nALTER TYPE state OWNER TO admin;\n\
                 CREATE TABLE t (c code);",
            ),
            file("V2__public.sql", "CREATE TABLE t (id int);"),
            file(
                "V3__dump.sql",
                "SELECT pg_catalog.set_config('search_path', '', false);\n\
                 CREATE TABLE app.u (id int);\nCREATE TABLE v (id int);",
            ),
        ];
        let observation = fold_files(&files, MigrationLayout::Auto).expect("folds");
        assert_eq!(
            observation.warnings,
            vec![
                "V1__app.sql:5: ALTER TYPE is not folded into the schema",
                "V3__dump.sql:3: no schema has been selected for v (the search_path is empty)",
            ]
        );
        assert_eq!(
            ids(&observation, "postgres/table"),
            vec!["app.t", "app.u", "public.t"]
        );
        let domain = attrs(&observation, "postgres/domain", "app.code");
        assert_eq!(domain["not_null"], true);
        assert_eq!(domain["check"], serde_json::json!(["VALUE <> ''"]));
        assert_eq!(
            attrs(&observation, "postgres/column", "app.t.c")["type"],
            "app.code"
        );
        assert_eq!(ids(&observation, "postgres/type"), vec!["app.state"]);
    }

    #[test]
    fn diesel_and_sqlx_projects_fold_in_version_order() {
        let diesel = vec![
            file("2024-01-01-000000_users/down.sql", "DROP TABLE users;"),
            file(
                "2024-01-01-000000_users/up.sql",
                "CREATE TABLE users (id serial PRIMARY KEY);",
            ),
            file(
                "2024-02-01-000000_rename/up.sql",
                "ALTER TABLE users RENAME TO members;",
            ),
            file("2024-02-01-000000_rename/metadata.sql", "SELECT 1;"),
        ];
        let observation = fold_files(&diesel, MigrationLayout::Auto).expect("folds");
        assert_eq!(ids(&observation, "postgres/table"), vec!["public.members"]);
        assert_eq!(
            observation.warnings,
            vec!["2024-02-01-000000_rename/metadata.sql: ignored: not a diesel migration (<version>_<name>/up.sql)"]
        );

        let sqlx = vec![
            file(
                "20240201000000_index.sql",
                "CREATE INDEX ON accounts (owner);",
            ),
            file(
                "20240101000000_accounts.sql",
                "CREATE TABLE accounts (owner text);",
            ),
        ];
        let observation = fold_files(&sqlx, MigrationLayout::Auto).expect("folds");
        assert_eq!(observation.warnings, Vec::<String>::new());
        assert_eq!(
            ids(&observation, "postgres/index"),
            vec!["public.accounts_owner_idx"]
        );

        let plain = vec![
            file("a.sql", "CREATE SCHEMA app; CREATE TABLE app.t (id int);"),
            file("b.sql", "DROP SCHEMA app;"),
        ];
        let observation = fold_files(&plain, MigrationLayout::Plain).expect("folds");
        assert_eq!(
            observation.warnings,
            vec!["b.sql:1: cannot drop schema app: it is not empty (use CASCADE)"]
        );
        assert_eq!(ids(&observation, "postgres/table"), vec!["app.t"]);
    }

    #[test]
    fn views_follow_table_renames_and_block_or_cascade_drops() {
        let files = vec![
            file(
                "V1__a.sql",
                "CREATE TABLE items (id int);\nCREATE VIEW all_items AS SELECT id FROM items;\n\
                 CREATE VIEW item_ids AS SELECT id FROM all_items;",
            ),
            file(
                "V2__b.sql",
                "ALTER TABLE items RENAME TO products;\nDROP TABLE products;",
            ),
            file("V3__c.sql", "DROP TABLE products CASCADE;"),
        ];
        let observation = fold_files(&files, MigrationLayout::Auto).expect("folds");
        assert_eq!(
            observation.warnings,
            vec!["V2__b.sql:2: cannot drop public.products: view public.all_items, view public.item_ids depend on it (use CASCADE)"]
        );
        assert_eq!(ids(&observation, "postgres/view"), Vec::<String>::new());
        assert_eq!(ids(&observation, "postgres/table"), Vec::<String>::new());

        let renamed = fold_files(&files[..2], MigrationLayout::Auto).expect("folds");
        assert_eq!(
            attrs(&renamed, "postgres/view", "public.all_items")["definition"],
            "SELECT id FROM products"
        );
    }

    #[test]
    fn folds_a_small_schema_with_postgres_names() {
        let files = vec![
            file(
                "V1__init.sql",
                "CREATE TABLE Customers (id serial PRIMARY KEY, email varchar(200) NOT NULL UNIQUE);\n\
                 CREATE TABLE orders (\n  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n  \
                 customer_id int REFERENCES customers ON DELETE CASCADE,\n  \
                 total numeric(10,2) DEFAULT 0 CHECK (total >= 0),\n  status text DEFAULT 'new'\n);\n\
                 CREATE INDEX ON orders (lower(status)) WHERE status <> 'done';\n",
            ),
            file(
                "V2__rename.sql",
                "ALTER TABLE orders RENAME COLUMN status TO state;\nALTER TABLE orders RENAME TO purchases;\n\
                 ALTER TABLE purchases DROP COLUMN total;\n",
            ),
        ];
        let observation = fold_files(&files, MigrationLayout::Auto).expect("folds");
        assert_eq!(observation.warnings, Vec::<String>::new());
        assert_eq!(
            ids(&observation, "postgres/index"),
            vec![
                "public.customers_email_key",
                "public.customers_pkey",
                "public.orders_lower_idx",
                "public.orders_pkey",
            ]
        );
        assert_eq!(
            ids(&observation, "postgres/constraint"),
            vec![
                "public.customers.customers_email_key",
                "public.customers.customers_pkey",
                "public.purchases.orders_customer_id_fkey",
                "public.purchases.orders_pkey",
            ]
        );
        assert_eq!(
            ids(&observation, "postgres/sequence"),
            vec!["public.customers_id_seq", "public.orders_id_seq"]
        );
        assert_eq!(
            attrs(&observation, "postgres/column", "public.customers.id"),
            &serde_json::json!({
                "table": "public.customers", "type": "integer", "not_null": true,
                "default": "nextval('customers_id_seq'::regclass)", "position": 1,
            })
        );
        assert_eq!(
            attrs(&observation, "postgres/column", "public.purchases.state"),
            &serde_json::json!({
                "table": "public.purchases", "type": "text", "not_null": false,
                "default": "'new'::text", "position": 4,
            })
        );
        assert_eq!(
            attrs(
                &observation,
                "postgres/constraint",
                "public.purchases.orders_customer_id_fkey"
            )["references"],
            serde_json::json!({
                "table": "public.customers", "columns": ["id"],
                "on_delete": "cascade", "on_update": "no action",
            })
        );
        let index = attrs(&observation, "postgres/index", "public.orders_lower_idx");
        assert_eq!(index["table"], "public.purchases");
        assert_eq!(index["columns"], serde_json::json!(["lower(state)"]));
        let provenance = observation
            .resources
            .iter()
            .find(|resource| resource.id == "public.purchases")
            .expect("table");
        assert_eq!(provenance.labels["migration.file"], "V2__rename.sql");
        assert_eq!(provenance.labels["migration.version"], "2");
    }
}
