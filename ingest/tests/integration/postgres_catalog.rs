//! The `postgres_catalog` source against a real PostgreSQL 15 (a private server started by
//! each test): the live catalog of the Flyway fixture matches what `sql_migrations` folds
//! from the same files, a real store records exactly the changes a hand-made DDL change
//! causes, enum and composite types and domains agree with the folded `types_paths`
//! fixture, and bad credentials, refused connections and silent servers fail the scrape in
//! bounded time without leaking the password.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::{TimeZone, Utc};
use groundtruth_engine::clock::SystemClock;
use groundtruth_engine::drift::normalize::equivalent;
use groundtruth_engine::model::{Layer, Observation, ObservedResource};
use groundtruth_engine::session::Engine;
use groundtruth_engine::store::{Store, StoreOptions, StoreUrl};
use groundtruth_ingest::input::{Input, InputLocation};
use groundtruth_ingest::runner::{Ingestor, RunOptions};
use groundtruth_ingest::source::declared::sql_migrations::{MigrationLayout, SqlMigrationsSource};
use groundtruth_ingest::source::live::postgres_catalog::{
    PasswordSource, PostgresCatalogSource, INDEX_USAGE, TABLE_USAGE,
};
use groundtruth_ingest::source::{ScrapeContext, Source};
use serde_json::{json, Value};
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

fn catalog_source(server: &PostgresServer, database: &str) -> PostgresCatalogSource {
    PostgresCatalogSource::new("shop_db", server.connection(database), PasswordSource::None)
}

fn find<'a>(observation: &'a Observation, kind: &str, id: &str) -> &'a ObservedResource {
    observation
        .resources
        .iter()
        .find(|resource| resource.kind == kind && resource.id == id)
        .unwrap_or_else(|| panic!("no {kind} {id}"))
}

/// Attributes only the live side has (documented in the source's module docs).
const LIVE_ONLY: &[(&str, &[&str])] = &[
    ("postgres/index", &["valid", "ready", "definition"]),
    ("postgres/constraint", &["definition", "validated"]),
];

/// Attributes whose text PostgreSQL deparses in its own spelling: compared as present or
/// absent, and printed side by side.
const DEPARSED: &[(&str, &str)] = &[
    ("postgres/constraint", "check"),
    ("postgres/index", "predicate"),
    ("postgres/column", "generated"),
];

fn comparable(resource: &ObservedResource) -> Value {
    let mut attrs = resource.attrs.clone();
    if let Some(object) = attrs.as_object_mut() {
        for (kind, names) in LIVE_ONLY {
            if *kind == resource.kind {
                for name in *names {
                    object.remove(*name);
                }
            }
        }
        // Index expressions are deparsed too (`lower(email::text)`).
        if resource.kind == "postgres/index" {
            let expressions = object.get("expressions").cloned().unwrap_or_default();
            if let Some(Value::Array(columns)) = object.get_mut("columns") {
                for (column, expression) in columns
                    .iter_mut()
                    .zip(expressions.as_array().into_iter().flatten())
                {
                    if expression == true {
                        *column = json!("<deparsed>");
                    }
                }
            }
        }
        for (kind, name) in DEPARSED {
            if *kind == resource.kind {
                if let Some(value) = object.get_mut(*name) {
                    if !value.is_null() {
                        *value = json!("<deparsed>");
                    }
                }
            }
        }
    }
    attrs
}

#[tokio::test]
async fn live_catalog_matches_the_folded_migrations() {
    let server = PostgresServer::start();
    server.create_from_fixture("shop", "flyway").await;

    let live = catalog_source(&server, "shop")
        .scrape(&context())
        .await
        .expect("catalog scrape");
    let declared = SqlMigrationsSource::new(
        "shop_schema",
        Input::new(InputLocation::Path(Path::new(FIXTURES).join("flyway"))),
        MigrationLayout::Auto,
    )
    .scrape(&context())
    .await
    .expect("fold");
    assert!(live.warnings.is_empty(), "{:?}", live.warnings);
    assert!(live
        .resources
        .iter()
        .all(|resource| resource.layer == Layer::Live));

    let index_of = |observation: &Observation| -> BTreeMap<(String, String), ObservedResource> {
        observation
            .resources
            .iter()
            .map(|resource| {
                (
                    (resource.kind.clone(), resource.id.clone()),
                    resource.clone(),
                )
            })
            .collect()
    };
    let live_by_key = index_of(&live);
    let declared_by_key = index_of(&declared);

    let mut differences = Vec::new();
    let mut deparsed = Vec::new();
    for kind in [
        "schema",
        "table",
        "column",
        "index",
        "constraint",
        "sequence",
        "view",
        "extension",
    ] {
        let kind = format!("postgres/{kind}");
        let ids = |by_key: &BTreeMap<(String, String), ObservedResource>| -> BTreeSet<String> {
            by_key
                .keys()
                .filter(|(k, _)| *k == kind)
                .map(|(_, id)| id.clone())
                .collect()
        };
        let (live_ids, declared_ids) = (ids(&live_by_key), ids(&declared_by_key));
        for id in live_ids.difference(&declared_ids) {
            differences.push(format!("{kind} {id}: live only"));
        }
        for id in declared_ids.difference(&live_ids) {
            differences.push(format!("{kind} {id}: declared only"));
        }
        if !["postgres/column", "postgres/index", "postgres/constraint"].contains(&kind.as_str()) {
            continue;
        }
        for id in live_ids.intersection(&declared_ids) {
            let key = (kind.clone(), id.clone());
            let (live_resource, declared_resource) = (&live_by_key[&key], &declared_by_key[&key]);
            let (live_attrs, declared_attrs) =
                (comparable(live_resource), comparable(declared_resource));
            if live_attrs != declared_attrs {
                differences.push(format!(
                    "{kind} {id}:\n    live:     {live_attrs}\n    declared: {declared_attrs}"
                ));
            }
            for (deparsed_kind, name) in DEPARSED {
                if *deparsed_kind == kind && !live_resource.attrs[*name].is_null() {
                    deparsed.push(format!(
                        "{kind} {id} {name}: live {} / declared {}",
                        live_resource.attrs[*name], declared_resource.attrs[*name]
                    ));
                }
            }
        }
    }
    println!(
        "deparsed texts (compared as present/absent):\n{}",
        deparsed.join("\n")
    );
    assert!(
        differences.is_empty(),
        "the live catalog differs from the folded migrations:\n{}",
        differences.join("\n")
    );

    // Field by field, including what only the live side knows.
    assert_eq!(
        find(&live, "postgres/index", "public.orders_customer_placed_idx").attrs,
        json!({
            "table": "public.orders",
            "columns": ["customer_id", "placed_at"],
            "expressions": [false, false],
            "unique": false,
            "predicate": null,
            "method": "btree",
            "valid": true,
            "ready": true,
            "definition": "CREATE INDEX orders_customer_placed_idx ON public.orders \
                           USING btree (customer_id, placed_at DESC)",
        })
    );
    assert_eq!(
        find(
            &live,
            "postgres/index",
            "public.catalog_items_active_sku_idx"
        )
        .attrs["predicate"],
        "active"
    );
    assert_eq!(
        find(
            &live,
            "postgres/constraint",
            "public.order_items.order_items_product_id_fkey"
        )
        .attrs,
        json!({
            "table": "public.order_items",
            "type": "foreign_key",
            "columns": ["product_id"],
            "references": {
                "table": "public.catalog_items", "columns": ["id"],
                "on_delete": "restrict", "on_update": "cascade",
            },
            "definition": "FOREIGN KEY (product_id) REFERENCES catalog_items(id) \
                           ON UPDATE CASCADE ON DELETE RESTRICT",
            "validated": true,
        })
    );
    assert_eq!(
        find(&live, "postgres/column", "public.shipments.id").attrs,
        json!({
            "table": "public.shipments", "type": "integer", "not_null": true,
            "default": null, "position": 1, "identity": "always",
        })
    );
    assert_eq!(
        find(&live, "postgres/sequence", "public.invoice_number_seq").attrs,
        json!({
            "data_type": "bigint", "owned_by": null, "start": 1000, "increment": 1,
            "min_value": 1, "max_value": i64::MAX, "cache": 1, "cycle": false,
        })
    );
    assert_eq!(
        find(&live, "postgres/sequence", "public.customers_id_seq").attrs["owned_by"],
        "public.customers.id"
    );
    assert_eq!(
        find(&live, "postgres/extension", "plpgsql")
            .labels
            .get("builtin"),
        Some(&"true".to_string())
    );
    assert_eq!(
        find(&live, "postgres/schema", "public")
            .labels
            .get("builtin"),
        Some(&"true".to_string())
    );

    // Usage counters live in their own resources, one per table and per index, same ids.
    for (kind, usage_kind) in [
        ("postgres/table", TABLE_USAGE),
        ("postgres/index", INDEX_USAGE),
    ] {
        let ids = |wanted: &str| -> Vec<&str> {
            live.resources
                .iter()
                .filter(|resource| resource.kind == wanted)
                .map(|resource| resource.id.as_str())
                .collect()
        };
        assert_eq!(ids(kind), ids(usage_kind), "{usage_kind}");
    }
    let statuses = find(&live, TABLE_USAGE, "public.order_statuses");
    assert_eq!(statuses.attrs["n_live_tup"], 4, "{}", statuses.attrs);
    assert!(statuses.attrs["total_bytes"].as_i64() > Some(0));
    assert!(find(&live, INDEX_USAGE, "public.orders_pkey").attrs["size_bytes"].as_i64() > Some(0));

    // Filters: one schema only, PostgreSQL's own never.
    let reporting = catalog_source(&server, "shop")
        .with_schemas(vec!["reporting".into()], Vec::new())
        .scrape(&context())
        .await
        .expect("filtered scrape");
    let schemas: BTreeSet<&str> = reporting
        .resources
        .iter()
        .filter(|resource| {
            resource.kind.starts_with("postgres/") && resource.kind != "postgres/extension"
        })
        .map(|resource| resource.id.split('.').next().unwrap_or(""))
        .collect();
    assert_eq!(schemas, BTreeSet::from(["reporting"]));
    let excluded = catalog_source(&server, "shop")
        .with_schemas(Vec::new(), vec!["reporting".into()])
        .scrape(&context())
        .await
        .expect("filtered scrape");
    assert!(excluded
        .resources
        .iter()
        .all(|resource| !resource.id.starts_with("reporting")));
    assert!(excluded
        .resources
        .iter()
        .any(|resource| resource.id == "public.orders"));
}

/// Enum and composite types and domains read from the catalog agree, attribute by attribute
/// as drift compares them, with what `sql_migrations` folds from the same files (search_path,
/// PARTITION OF, ALTER TYPE, DROP TYPE/DOMAIN); the implicit row and array types of the
/// fixture's tables are not reported.
#[tokio::test]
async fn live_types_and_domains_match_the_folded_migrations() {
    let server = PostgresServer::start();
    server
        .connect("postgres")
        .await
        .batch_execute("CREATE DATABASE typed")
        .await
        .expect("create database");
    let directory = Path::new(FIXTURES).join("types_paths");
    // One session per file, as the source assumes.
    for file in migration_order(&directory) {
        let sql = std::fs::read_to_string(&file).expect("read migration");
        server
            .connect("typed")
            .await
            .batch_execute(&sql)
            .await
            .unwrap_or_else(|error| panic!("PostgreSQL rejected {}: {error:?}", file.display()));
    }
    let live = catalog_source(&server, "typed")
        .scrape(&context())
        .await
        .expect("catalog scrape");
    let declared = SqlMigrationsSource::new(
        "typed_schema",
        Input::new(InputLocation::Path(directory)),
        MigrationLayout::Flyway,
    )
    .scrape(&context())
    .await
    .expect("fold");
    let of_kind = |observation: &Observation, kind: &str| -> BTreeMap<String, Value> {
        observation
            .resources
            .iter()
            .filter(|resource| resource.kind == kind)
            .map(|resource| (resource.id.clone(), resource.attrs.clone()))
            .collect()
    };
    for kind in ["postgres/type", "postgres/domain"] {
        let (live_resources, declared_resources) = (of_kind(&live, kind), of_kind(&declared, kind));
        assert_eq!(
            live_resources.keys().collect::<Vec<_>>(),
            declared_resources.keys().collect::<Vec<_>>(),
            "{kind} ids"
        );
        for (id, declared_attrs) in &declared_resources {
            let live_attrs = &live_resources[id];
            for (name, value) in declared_attrs.as_object().expect("object") {
                assert!(
                    equivalent(kind, std::slice::from_ref(name), value, &live_attrs[name]),
                    "{kind} {id} {name}: declared {value}, live {}",
                    live_attrs[name]
                );
            }
        }
    }
    assert_eq!(
        of_kind(&live, "postgres/type")["public.mood"]["labels"],
        json!(["blue", "ok", "happy", "ecstatic"])
    );
    assert_eq!(
        of_kind(&live, "postgres/type")["public.address"]["attribute_types"],
        json!(["character varying(80)", "integer", "text[]"])
    );
    let code = &of_kind(&live, "postgres/domain")["public.code"];
    assert_eq!(code["not_null"], true);
    assert_eq!(code["default"], "'none'::character varying");
    assert_eq!(
        code["definitions"],
        json!(["CHECK (VALUE::text <> ''::text)"])
    );
}

/// Every row of a query, each column formatted as text.
async fn rows(engine: &Engine, sql: &str) -> BTreeSet<Vec<String>> {
    let batches = engine
        .query(sql)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
    let mut rows = BTreeSet::new();
    for batch in &batches {
        let formatters: Vec<ArrayFormatter> = batch
            .columns()
            .iter()
            .map(|column| {
                ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())
                    .expect("formatter")
            })
            .collect();
        for row in 0..batch.num_rows() {
            rows.insert(
                formatters
                    .iter()
                    .map(|formatter| formatter.value(row).to_string())
                    .collect(),
            );
        }
    }
    rows
}

fn row(kind: &str, id: &str, change: &str) -> Vec<String> {
    vec![kind.to_string(), id.to_string(), change.to_string()]
}

#[tokio::test]
async fn store_records_exactly_the_ddl_changes() {
    let server = PostgresServer::start();
    let client = server.create_from_fixture("shop", "flyway").await;
    let directory = tempfile::tempdir().expect("tempdir");
    let url = StoreUrl::parse(directory.path().to_str().expect("utf-8 path")).expect("url");
    let store = Arc::new(
        Store::open(&url, &StoreOptions::default())
            .await
            .expect("open store"),
    );
    let ingestor = Ingestor::open(Arc::clone(&store), Arc::new(SystemClock))
        .await
        .expect("ingestor");
    let source = catalog_source(&server, "shop");
    let cancel = CancellationToken::new();
    let first = ingestor
        .run_once(&source, RunOptions::default(), &cancel)
        .await
        .expect("first ingest");
    assert!(first.error.is_none(), "{:?}", first.error);

    // The partial index on `active` depends on the column: PostgreSQL drops it with it.
    client
        .batch_execute(
            "CREATE INDEX customers_full_name_idx ON customers (full_name);
             ALTER TABLE catalog_items DROP COLUMN active;",
        )
        .await
        .expect("ddl");
    let second = ingestor
        .run_once(&source, RunOptions::default(), &cancel)
        .await
        .expect("second ingest");
    assert!(second.error.is_none(), "{:?}", second.error);

    let engine = Engine::open(Arc::clone(&store)).await.expect("engine");
    let since = first.started_at.format("%Y-%m-%d %H:%M:%S%.6f");
    let changes = rows(
        &engine,
        &format!(
            "SELECT kind, id, change FROM changes(TIMESTAMP '{since}', now()) \
             WHERE source = 'shop_db'"
        ),
    )
    .await;
    let (usage, configuration): (BTreeSet<Vec<String>>, BTreeSet<Vec<String>>) = changes
        .into_iter()
        .partition(|row| row[0].ends_with("_usage"));
    assert_eq!(
        configuration,
        BTreeSet::from([
            row("postgres/index", "public.customers_full_name_idx", "added"),
            row("postgres/column", "public.catalog_items.active", "removed"),
            row(
                "postgres/index",
                "public.catalog_items_active_sku_idx",
                "removed"
            ),
        ])
    );
    // Counters and sizes of tables may move with the DDL (and with statistics flushed late);
    // index usage follows the indexes exactly.
    let (table_usage, index_usage): (BTreeSet<Vec<String>>, BTreeSet<Vec<String>>) =
        usage.into_iter().partition(|row| row[0] == TABLE_USAGE);
    assert_eq!(
        index_usage,
        BTreeSet::from([
            row(INDEX_USAGE, "public.customers_full_name_idx", "added"),
            row(
                INDEX_USAGE,
                "public.catalog_items_active_sku_idx",
                "removed"
            ),
        ])
    );
    assert!(
        table_usage.iter().all(|row| row[2] == "modified"),
        "{table_usage:?}"
    );

    // Usage is queryable like any resource.
    assert_eq!(
        rows(
            &engine,
            "SELECT id, attrs->>'idx_scan' FROM resources \
             WHERE kind = 'postgres/index_usage' AND id = 'public.customers_full_name_idx'",
        )
        .await,
        BTreeSet::from([vec![
            "public.customers_full_name_idx".to_string(),
            "0".to_string()
        ]])
    );

    // Drift: the declared schema (the same migrations) against the live one, joined on
    // (kind, id).
    let declared = SqlMigrationsSource::new(
        "shop_schema",
        Input::new(InputLocation::Path(Path::new(FIXTURES).join("flyway"))),
        MigrationLayout::Auto,
    );
    ingestor
        .run_once(&declared, RunOptions::default(), &cancel)
        .await
        .expect("declared ingest");
    engine.refresh().await.expect("refresh");
    let missing_live = rows(
        &engine,
        "SELECT d.kind, d.id FROM resources d \
         LEFT JOIN resources l ON l.source = 'shop_db' AND l.kind = d.kind AND l.id = d.id \
         WHERE d.source = 'shop_schema' AND l.id IS NULL",
    )
    .await;
    assert_eq!(
        missing_live,
        BTreeSet::from([
            vec![
                "postgres/column".to_string(),
                "public.catalog_items.active".to_string()
            ],
            vec![
                "postgres/index".to_string(),
                "public.catalog_items_active_sku_idx".to_string()
            ],
        ])
    );
}

#[tokio::test]
async fn bad_credentials_refused_and_silent_servers_fail_in_bounded_time() {
    let server = PostgresServer::start();
    let admin = server.connect("postgres").await;
    admin
        .batch_execute("CREATE ROLE app LOGIN PASSWORD 'correct-horse-battery'")
        .await
        .expect("create role");
    admin
        .batch_execute("CREATE DATABASE shop OWNER app")
        .await
        .expect("create database");
    let connection = format!("host=127.0.0.1 port={} user=app dbname=shop", server.port);

    // The right password from a file works; the wrong one from the environment fails.
    let secrets = tempfile::tempdir().expect("tempdir");
    let password_file = secrets.path().join("db");
    std::fs::write(&password_file, "correct-horse-battery\n").expect("write secret");
    let good =
        PostgresCatalogSource::new("shop_db", &connection, PasswordSource::File(password_file))
            .scrape(&context())
            .await
            .expect("right password");
    assert!(good
        .resources
        .iter()
        .any(|resource| resource.id == "public"));

    let wrong_password = "wr0ng-pa55word-x";
    std::env::set_var("GT_TEST_SHOP_DB_PASSWORD", wrong_password);
    let error = PostgresCatalogSource::new(
        "shop_db",
        &connection,
        PasswordSource::Env("GT_TEST_SHOP_DB_PASSWORD".into()),
    )
    .scrape(&context())
    .await
    .expect_err("wrong password")
    .to_string();
    println!("{error}");
    assert!(
        error.starts_with(&format!(
            "postgres://app@127.0.0.1:{}/shop: cannot connect: ",
            server.port
        )),
        "{error}"
    );
    assert!(
        error.contains("password authentication failed for user \"app\""),
        "{error}"
    );
    assert!(!error.contains(wrong_password), "{error}");

    // Unknown database.
    let error = catalog_source(&server, "no_such_db")
        .scrape(&context())
        .await
        .expect_err("unknown database")
        .to_string();
    assert!(
        error.contains("database \"no_such_db\" does not exist"),
        "{error}"
    );

    // Nothing listens: refused at once.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let error = PostgresCatalogSource::new(
        "shop_db",
        format!("host=127.0.0.1 port={closed_port} user=app dbname=shop"),
        PasswordSource::Env("GT_TEST_SHOP_DB_PASSWORD".into()),
    )
    .scrape(&context())
    .await
    .expect_err("refused")
    .to_string();
    println!("{error}");
    assert!(error.contains("cannot connect"), "{error}");
    assert!(error.to_lowercase().contains("refused"), "{error}");
    assert!(!error.contains(wrong_password), "{error}");

    // A server that accepts TCP and never answers: fails within the connect timeout.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_port = listener.local_addr().expect("address").port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = Instant::now();
    let error = PostgresCatalogSource::new(
        "shop_db",
        format!("host=127.0.0.1 port={silent_port} user=app dbname=shop"),
        PasswordSource::None,
    )
    .with_timeouts(Duration::from_secs(1), Duration::from_secs(1))
    .scrape(&context())
    .await
    .expect_err("silent server")
    .to_string();
    let elapsed = started.elapsed();
    silent.abort();
    assert_eq!(
        error,
        format!(
            "postgres://app@127.0.0.1:{silent_port}/shop: cannot connect: no answer within 1 s"
        )
    );
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[tokio::test]
async fn a_catalog_query_stuck_behind_a_lock_is_cancelled_by_the_statement_timeout() {
    let server = PostgresServer::start();
    let admin = server.connect("postgres").await;
    admin
        .batch_execute("CREATE DATABASE locked")
        .await
        .expect("create database");
    let migrating = server.connect("locked").await;
    // A migration holding an ACCESS EXCLUSIVE lock blocks the table's size functions.
    migrating
        .batch_execute("CREATE TABLE orders (id int PRIMARY KEY)")
        .await
        .expect("create table");
    migrating
        .batch_execute("BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE;")
        .await
        .expect("lock");
    let started = Instant::now();
    let error = catalog_source(&server, "locked")
        .with_timeouts(Duration::from_secs(5), Duration::from_secs(1))
        .scrape(&context())
        .await
        .expect_err("timed out")
        .to_string();
    let elapsed = started.elapsed();
    assert_eq!(
        error,
        format!(
            "postgres://postgres@127.0.0.1:{}/locked: reading tables: ERROR: canceling statement \
             due to statement timeout (57014)",
            server.port
        )
    );
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    migrating.batch_execute("COMMIT").await.expect("unlock");
    let observation = catalog_source(&server, "locked")
        .scrape(&context())
        .await
        .expect("scrape after the lock is released");
    assert!(observation
        .resources
        .iter()
        .any(|resource| resource.id == "public.orders_pkey"));
}
