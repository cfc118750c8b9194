//! Conformance of the `sql_migrations` source.

use groundtruth_ingest::source::declared::sql_migrations::{MigrationLayout, SqlMigrationsSource};

#[allow(unused_imports)]
use super::*;

const MIGRATION_FIXTURES: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/migrations");

fn migrations(project: &str) -> impl Fn() -> Box<dyn Source> {
    let path = Path::new(MIGRATION_FIXTURES).join(project);
    move || {
        Box::new(SqlMigrationsSource::new(
            "schema",
            Input::new(InputLocation::Path(path.clone())),
            MigrationLayout::Auto,
        )) as Box<dyn Source>
    }
}

async fn scrape(project: &str) -> Observation {
    migrations(project)()
        .scrape(&context())
        .await
        .expect("fixture folds")
}

fn attrs<'a>(observation: &'a Observation, kind: &str, id: &str) -> &'a serde_json::Value {
    &observation
        .resources
        .iter()
        .find(|resource| resource.kind == kind && resource.id == id)
        .unwrap_or_else(|| panic!("no {kind} {id}"))
        .attrs
}

/// The resources as JSON, in their (kind, id) order.
fn snapshot(observation: &Observation) -> Vec<serde_json::Value> {
    observation
        .resources
        .iter()
        .map(|resource| {
            json!({
                "kind": resource.kind,
                "id": resource.id,
                "name": resource.name,
                "attrs": resource.attrs,
                "labels": resource.labels,
            })
        })
        .collect()
}

#[tokio::test]
async fn sql_migrations_conforms() {
    check_conformance(migrations("flyway"), None).await;
    check_conformance(migrations("golang_migrate"), None).await;
}

#[tokio::test]
async fn sql_migrations_rejects_bad_inputs() {
    check_bad_inputs(
        |input| {
            Box::new(SqlMigrationsSource::new(
                "schema",
                input,
                MigrationLayout::Auto,
            )) as Box<dyn Source>
        },
        "V1__init.sql",
        &BadInput::ANY_FORMAT,
    )
    .await;
}

#[tokio::test]
async fn sql_migrations_flyway_fixture_folds_field_by_field() {
    let observation = scrape("flyway").await;
    // Renamed table, its columns renumbered by attnum (title kept position 3).
    assert_eq!(
        attrs(&observation, "postgres/column", "public.catalog_items.name"),
        &json!({
            "table": "public.catalog_items", "type": "text", "not_null": true,
            "default": null, "position": 3,
        })
    );
    assert_eq!(
        attrs(
            &observation,
            "postgres/column",
            "public.catalog_items.price_cents"
        )["type"],
        "bigint"
    );
    // Dropped column gone, later column keeps its attnum.
    assert!(!observation
        .resources
        .iter()
        .any(|resource| resource.id == "public.orders.note"));
    assert_eq!(
        attrs(&observation, "postgres/column", "public.orders.updated_at")["position"],
        6
    );
    assert_eq!(
        attrs(
            &observation,
            "postgres/index",
            "public.catalog_items_active_sku_idx"
        ),
        &json!({
            "table": "public.catalog_items", "columns": ["sku"], "expressions": [false],
            "unique": false, "predicate": "active", "method": "btree",
        })
    );
    assert_eq!(
        attrs(&observation, "postgres/index", "public.products_lower_idx")["columns"],
        json!(["lower(name)"])
    );
    assert_eq!(
        attrs(
            &observation,
            "postgres/constraint",
            "public.order_items.order_items_product_id_fkey"
        ),
        &json!({
            "table": "public.order_items", "type": "foreign_key", "columns": ["product_id"],
            "references": {
                "table": "public.catalog_items", "columns": ["id"],
                "on_delete": "restrict", "on_update": "cascade",
            },
        })
    );
    // Renamed constraint renames its index too.
    assert!(observation
        .resources
        .iter()
        .any(|resource| resource.kind == "postgres/index"
            && resource.id == "public.invoices_number_unique"));
    // DROP TABLE ... CASCADE took the referencing foreign key, then its table went too.
    assert!(!observation
        .resources
        .iter()
        .any(|resource| resource.id.starts_with("public.wishlist")));
    let view = observation
        .resources
        .iter()
        .find(|resource| resource.id == "reporting.customer_order_counts")
        .expect("repeatable view");
    assert_eq!(view.labels["migration.file"], "R__reporting_views.sql");
    assert_eq!(view.labels["migration.version"], "R");
    assert_eq!(
        attrs(&observation, "postgres/sequence", "public.shipments_id_seq"),
        &json!({ "data_type": "integer", "owned_by": "public.shipments.id" })
    );
    assert_eq!(
        attrs(&observation, "postgres/extension", "citext"),
        &json!({ "schema": "public", "version": null })
    );
    assert_eq!(
        observation.warnings,
        vec![
            "V7__audit_function.sql:1: CREATE OR REPLACE FUNCTION is not folded into the schema",
            "V7__audit_function.sql:11: CREATE TRIGGER is not folded into the schema",
            "V8__seed_statuses.sql:6: INSERT is not folded into the schema",
            "V10__invoice_numbers.sql:1: sequence options not understood (sql parser error: \
             Expected: end of statement, found: INCREMENT at Line: 1, Column: 52); folded \
             without them",
            "V15__backfill.sql:1: UPDATE is not folded into the schema",
            "V15__backfill.sql:3: DO is not folded into the schema",
            "V18__grants.sql:1: COMMENT ON is not folded into the schema",
            "V18__grants.sql:2: GRANT is not folded into the schema",
        ]
    );
    insta::with_settings!({ snapshot_path => "../snapshots" }, {
        insta::assert_json_snapshot!("sql_migrations_flyway", snapshot(&observation));
    });
}

#[tokio::test]
async fn sql_migrations_golang_migrate_fixture_is_detected_and_folded() {
    let observation = scrape("golang_migrate").await;
    assert_eq!(
        observation.warnings,
        vec!["000003_create_roles.up.sql:10: INSERT is not folded into the schema".to_string(),]
    );
    let session = observation
        .resources
        .iter()
        .find(|resource| resource.id == "public.user_sessions.client_ip")
        .expect("renamed column of renamed table");
    assert_eq!(
        session.labels["migration.file"],
        "000007_rename_sessions.up.sql"
    );
    assert_eq!(session.labels["migration.version"], "000007");
    assert_eq!(
        attrs(&observation, "postgres/column", "public.audit_log.id"),
        &json!({
            "table": "public.audit_log", "type": "bigint", "not_null": true,
            "default": null, "position": 1, "identity": "by default",
        })
    );
    insta::with_settings!({ snapshot_path => "../snapshots" }, {
        insta::assert_json_snapshot!("sql_migrations_golang_migrate", snapshot(&observation));
    });
}

#[tokio::test]
async fn sql_migrations_unparseable_statements_become_warnings() {
    let directory = tempfile::tempdir().expect("tempdir");
    fs::write(
        directory.path().join("V1__init.sql"),
        "CREATE TABLE accounts (id int PRIMARY KEY);\n\
         CREATE TABLE broken (id int,, name text);\n\
         -- the rest of the file still folds\n\
         CREATE TABLE ledger (\n  id bigserial PRIMARY KEY,\n  account_id int REFERENCES accounts\n);\n\
         ALTER TABLE missing ADD COLUMN x int;\n",
    )
    .expect("write");
    let observation = SqlMigrationsSource::new(
        "schema",
        Input::new(InputLocation::Path(directory.path().to_path_buf())),
        MigrationLayout::Auto,
    )
    .scrape(&context())
    .await
    .expect("a bad statement is not a failed scrape");
    assert_eq!(observation.warnings.len(), 2, "{:?}", observation.warnings);
    assert!(
        observation.warnings[0].starts_with("V1__init.sql:2: cannot parse CREATE TABLE statement:"),
        "{}",
        observation.warnings[0]
    );
    assert_eq!(
        observation.warnings[1],
        "V1__init.sql:8: table public.missing does not exist"
    );
    let tables: Vec<&str> = observation
        .resources
        .iter()
        .filter(|resource| resource.kind == "postgres/table")
        .map(|resource| resource.id.as_str())
        .collect();
    assert_eq!(tables, vec!["public.accounts", "public.ledger"]);
    assert_eq!(
        attrs(
            &observation,
            "postgres/constraint",
            "public.ledger.ledger_account_id_fkey"
        )["references"]["columns"],
        json!(["id"])
    );
}
