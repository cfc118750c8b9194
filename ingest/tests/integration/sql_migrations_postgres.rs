//! The `sql_migrations` source against a real PostgreSQL 15: apply each fixture project's
//! migrations to a private server, read the catalog, and check that the folded declared
//! schema lists exactly the same objects (tables, columns with type/nullability/default/
//! position, indexes with uniqueness/columns/method, constraints, sequences, views,
//! extensions, schemas, enum and composite types, domains with their CHECKs). Each migration
//! file runs in a session of its own, as the source assumes (a `SET search_path` lasts to
//! the end of its file).
//!
//! Needs the PostgreSQL 15 server binaries (`postgresql` package) in
//! `/usr/lib/postgresql/15/bin`; without them the test fails and says so.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{TimeZone, Utc};
use groundtruth_engine::drift::normalize::sql_equivalent;
use groundtruth_engine::model::{Observation, ObservedResource};
use groundtruth_ingest::input::{Input, InputLocation};
use groundtruth_ingest::source::declared::sql_migrations::{MigrationLayout, SqlMigrationsSource};
use groundtruth_ingest::source::{ScrapeContext, Source};
use tokio_util::sync::CancellationToken;

use crate::support::postgres::{migration_order, PostgresServer, FIXTURES};

fn context() -> ScrapeContext {
    ScrapeContext {
        started_at: Utc
            .with_ymd_and_hms(2025, 6, 1, 12, 0, 0)
            .single()
            .expect("valid instant"),
        cancel: CancellationToken::new(),
    }
}

const CATALOG: &[(&str, &str)] = &[
    (
        "schema",
        "SELECT nspname FROM pg_namespace
         WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'",
    ),
    (
        "table",
        "SELECT n.nspname || '.' || c.relname FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p') AND n.nspname NOT LIKE 'pg\\_%'
           AND n.nspname <> 'information_schema'",
    ),
    (
        "column",
        "SELECT concat_ws(' | ', n.nspname || '.' || c.relname || '.' || a.attname,
                format_type(a.atttypid, a.atttypmod),
                CASE WHEN a.attnotnull THEN 'not null' ELSE 'null' END,
                coalesce(pg_get_expr(d.adbin, d.adrelid), '<no default>'),
                a.attnum::text)
         FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p')
           AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'",
    ),
    (
        "index",
        "SELECT concat_ws(' | ', n.nspname || '.' || ic.relname, n.nspname || '.' || t.relname,
                CASE WHEN i.indisunique THEN 'unique' ELSE 'not unique' END,
                (SELECT string_agg(coalesce(a.attname, '<expr>'), ',' ORDER BY k.ord)
                 FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                 LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum),
                am.amname,
                CASE WHEN i.indpred IS NULL THEN 'total' ELSE 'partial' END)
         FROM pg_index i
         JOIN pg_class ic ON ic.oid = i.indexrelid
         JOIN pg_class t ON t.oid = i.indrelid
         JOIN pg_namespace n ON n.oid = ic.relnamespace
         JOIN pg_am am ON am.oid = ic.relam
         WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'",
    ),
    (
        "constraint",
        "SELECT concat_ws(' | ', n.nspname || '.' || t.relname || '.' || con.conname,
                CASE con.contype WHEN 'p' THEN 'primary_key' WHEN 'u' THEN 'unique'
                                 WHEN 'f' THEN 'foreign_key' ELSE 'check' END,
                (SELECT string_agg(a.attname, ',' ORDER BY k.ord)
                 FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum),
                (SELECT rn.nspname || '.' || r.relname FROM pg_class r
                 JOIN pg_namespace rn ON rn.oid = r.relnamespace WHERE r.oid = con.confrelid),
                (SELECT string_agg(a.attname, ',' ORDER BY k.ord)
                 FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum),
                CASE WHEN con.contype = 'f' THEN
                  (CASE con.confdeltype WHEN 'a' THEN 'no action' WHEN 'r' THEN 'restrict'
                     WHEN 'c' THEN 'cascade' WHEN 'n' THEN 'set null' ELSE 'set default' END)
                  || '/' ||
                  (CASE con.confupdtype WHEN 'a' THEN 'no action' WHEN 'r' THEN 'restrict'
                     WHEN 'c' THEN 'cascade' WHEN 'n' THEN 'set null' ELSE 'set default' END)
                END)
         FROM pg_constraint con
         JOIN pg_class t ON t.oid = con.conrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE con.contype IN ('p', 'u', 'f', 'c')
           AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'",
    ),
    (
        "sequence",
        "SELECT n.nspname || '.' || c.relname FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'S' AND n.nspname NOT LIKE 'pg\\_%'",
    ),
    (
        "view",
        "SELECT n.nspname || '.' || c.relname FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('v', 'm') AND n.nspname NOT LIKE 'pg\\_%'
           AND n.nspname <> 'information_schema'",
    ),
    ("extension", "SELECT extname::text FROM pg_extension"),
    (
        "type",
        "SELECT concat_ws(' | ', n.nspname || '.' || t.typname,
                CASE t.typtype WHEN 'e' THEN 'enum' ELSE 'composite' END,
                (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e
                 WHERE e.enumtypid = t.oid),
                (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ','
                                   ORDER BY a.attnum)
                 FROM pg_attribute a
                 WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped))
         FROM pg_type t
         JOIN pg_namespace n ON n.oid = t.typnamespace
         LEFT JOIN pg_class c ON c.oid = t.typrelid
         WHERE (t.typtype = 'e' OR (t.typtype = 'c' AND c.relkind = 'c'))
           AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'",
    ),
    (
        "domain",
        "SELECT concat_ws(' | ', n.nspname || '.' || t.typname,
                format_type(t.typbasetype, t.typtypmod),
                CASE WHEN t.typnotnull THEN 'not null' ELSE 'null' END,
                coalesce(t.typdefault, '<no default>'),
                (SELECT string_agg(con.conname, ',' ORDER BY con.conname) FROM pg_constraint con
                 WHERE con.contypid = t.oid AND con.contype = 'c'))
         FROM pg_type t
         JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE t.typtype = 'd'
           AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'",
    ),
];

/// Each domain's CHECK expressions in name order, as `pg_get_constraintdef` prints them.
const DOMAIN_CHECKS: &str = "
SELECT n.nspname || '.' || t.typname,
       ARRAY(SELECT substring(pg_get_constraintdef(con.oid, true) FROM '^CHECK \\((.*)\\)$')
             FROM pg_constraint con
             WHERE con.contypid = t.oid AND con.contype = 'c' ORDER BY con.conname)
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype = 'd' AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'";

fn text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn strings(value: &serde_json::Value) -> String {
    value
        .as_array()
        .map(|items| items.iter().map(text).collect::<Vec<_>>().join(","))
        .unwrap_or_default()
}

/// A declared resource in the same one-line form as the catalog query of its kind.
fn declared_line(resource: &ObservedResource) -> Option<(&'static str, String)> {
    let attrs = &resource.attrs;
    let kind = resource.kind.strip_prefix("postgres/")?;
    let line = match kind {
        "column" => format!(
            "{} | {} | {} | {} | {}",
            resource.id,
            text(&attrs["type"]),
            if attrs["not_null"] == true {
                "not null"
            } else {
                "null"
            },
            attrs["default"].as_str().unwrap_or("<no default>"),
            attrs["position"]
        ),
        "index" => {
            let expressions = attrs["expressions"].as_array().cloned().unwrap_or_default();
            let columns: Vec<String> = attrs["columns"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .zip(expressions)
                .map(|(column, expression)| {
                    if expression == true {
                        "<expr>".to_string()
                    } else {
                        text(column)
                    }
                })
                .collect();
            format!(
                "{} | {} | {} | {} | {} | {}",
                resource.id,
                text(&attrs["table"]),
                if attrs["unique"] == true {
                    "unique"
                } else {
                    "not unique"
                },
                columns.join(","),
                text(&attrs["method"]),
                if attrs["predicate"].is_null() {
                    "total"
                } else {
                    "partial"
                }
            )
        }
        "constraint" => {
            let mut parts = vec![resource.id.clone(), text(&attrs["type"])];
            let columns = strings(&attrs["columns"]);
            if !columns.is_empty() {
                parts.push(columns);
            }
            if let Some(reference) = attrs.get("references") {
                parts.push(text(&reference["table"]));
                parts.push(strings(&reference["columns"]));
                parts.push(format!(
                    "{}/{}",
                    text(&reference["on_delete"]),
                    text(&reference["on_update"])
                ));
            }
            parts.join(" | ")
        }
        "type" => {
            let mut parts = vec![resource.id.clone(), text(&attrs["category"])];
            if attrs["category"] == "enum" {
                parts.push(strings(&attrs["labels"]));
            } else {
                let names = attrs["attributes"].as_array().cloned().unwrap_or_default();
                let types = attrs["attribute_types"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                parts.push(
                    names
                        .iter()
                        .zip(&types)
                        .map(|(name, data_type)| format!("{} {}", text(name), text(data_type)))
                        .collect::<Vec<_>>()
                        .join(","),
                );
            }
            parts.join(" | ")
        }
        "domain" => {
            let mut parts = vec![
                resource.id.clone(),
                text(&attrs["data_type"]),
                if attrs["not_null"] == true {
                    "not null"
                } else {
                    "null"
                }
                .to_string(),
                attrs["default"]
                    .as_str()
                    .unwrap_or("<no default>")
                    .to_string(),
            ];
            let constraints = strings(&attrs["constraints"]);
            if !constraints.is_empty() {
                parts.push(constraints);
            }
            parts.join(" | ")
        }
        _ => resource.id.clone(),
    };
    let kind = CATALOG.iter().find(|(name, _)| *name == kind)?.0;
    Some((kind, line))
}

async fn check_against_postgres(server: &PostgresServer, project: &str, layout: MigrationLayout) {
    let directory = Path::new(FIXTURES).join(project);
    let admin = server.connect("postgres").await;
    admin
        .batch_execute(&format!("CREATE DATABASE {project}"))
        .await
        .expect("create database");
    for file in migration_order(&directory) {
        let sql = std::fs::read_to_string(&file).expect("read migration");
        server
            .connect(project)
            .await
            .batch_execute(&sql)
            .await
            .unwrap_or_else(|error| panic!("PostgreSQL rejected {}: {error:?}", file.display()));
    }

    let source = SqlMigrationsSource::new(
        project,
        Input::new(InputLocation::Path(directory.clone())),
        layout,
    );
    let observation: Observation = source.scrape(&context()).await.expect("scrape");
    let client = server.connect(project).await;
    let mut differences = Vec::new();
    for (kind, query) in CATALOG {
        let live: BTreeSet<String> = client
            .query(*query, &[])
            .await
            .unwrap_or_else(|error| panic!("catalog query for {kind}: {error:?}"))
            .iter()
            .map(|row| row.get::<_, String>(0))
            .collect();
        let declared: BTreeSet<String> = observation
            .resources
            .iter()
            .filter_map(declared_line)
            .filter(|(declared_kind, _)| declared_kind == kind)
            .map(|(_, line)| line)
            .collect();
        for missing in live.difference(&declared) {
            differences.push(format!("{kind}: in PostgreSQL only: {missing}"));
        }
        for extra in declared.difference(&live) {
            differences.push(format!("{kind}: declared only:      {extra}"));
        }
    }
    for row in client
        .query(DOMAIN_CHECKS, &[])
        .await
        .expect("domain checks")
    {
        let id: String = row.get(0);
        let live: Vec<String> = row.get(1);
        let declared: Vec<String> = observation
            .resources
            .iter()
            .find(|resource| resource.kind == "postgres/domain" && resource.id == id)
            .map(|resource| {
                resource.attrs["check"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(text)
                    .collect()
            })
            .unwrap_or_default();
        let same = declared.len() == live.len()
            && declared
                .iter()
                .zip(&live)
                .all(|(declared, live)| sql_equivalent(declared, live));
        if !same {
            differences.push(format!(
                "domain checks of {id}: PostgreSQL {live:?}, declared {declared:?}"
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{project}: the folded schema differs from PostgreSQL's catalog:\n{}\n(warnings: {:#?})",
        differences.join("\n"),
        observation.warnings
    );
}

#[tokio::test]
async fn folded_schemas_match_postgres_catalog() {
    let server = PostgresServer::start();
    check_against_postgres(&server, "flyway", MigrationLayout::Auto).await;
    check_against_postgres(&server, "golang_migrate", MigrationLayout::GolangMigrate).await;
    check_against_postgres(&server, "types_paths", MigrationLayout::Flyway).await;
}
