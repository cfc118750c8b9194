//! The live layer end to end, through the real binary: a real PostgreSQL built from the
//! migrations fixture, declared (`sql_migrations`) and live (`postgres_catalog`) sources of the
//! same schema in one store, and a `command` source. Declared and live identities line up, a
//! change made by hand shows as exactly that change and as a declared/live difference, and
//! the database password read from a file is stored nowhere.

use std::path::Path;
use std::process::Command;

use groundtruth_tests::{binary, connect, fixture, free_port, rows, write_config, Server};

use crate::support::postgres;

/// The live source's password, read from a file only the test user can read.
const PASSWORD: &str = "live-e2e-pg-password-7Hq";

fn ingest_once(config: &Path) -> String {
    let output = Command::new(binary())
        .arg("--config")
        .arg(config)
        .args(["ingest", "--once"])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run groundtruth ingest");
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "ingest failed: {printed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    printed
}

/// Ids of `kind` that one source has and the other lacks.
async fn only_in(
    client: &tokio_postgres::Client,
    kind: &str,
    present: &str,
    absent: &str,
) -> Vec<String> {
    let mut ids: Vec<String> = rows(
        client,
        &format!(
            "SELECT id FROM resources WHERE source = '{present}' AND kind = '{kind}' \
             EXCEPT SELECT id FROM resources WHERE source = '{absent}' AND kind = '{kind}'"
        ),
    )
    .await
    .unwrap()
    .into_iter()
    .map(|row| row[0].clone())
    .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn declared_and_live_schemas_line_up_and_hand_changes_show_exactly() {
    let database = postgres::PostgresServer::start();
    let shop = database.create_from_fixture("shop", "flyway").await;
    shop.batch_execute(&format!(
        "CREATE ROLE groundtruth LOGIN PASSWORD '{PASSWORD}'; \
         GRANT pg_read_all_stats TO groundtruth;"
    ))
    .await
    .expect("create the read-only role");

    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let password_file = work.path().join("shop-db-password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    std::fs::set_permissions(
        &password_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let sources = format!(
        r#"[[sources]]
type = "sql_migrations"
name = "declared_schema"
path = {migrations:?}
interval = "1h"

[[sources]]
type = "postgres_catalog"
name = "live_schema"
connection = "host=127.0.0.1 port={port} user=groundtruth dbname=shop"
password_file = {password_file:?}
interval = "1h"

[[sources]]
type = "command"
name = "pods"
command = ["cat", {pods:?}]
kind = "k8s/core/Pod"
id_template = "{{/metadata/namespace}}/{{/metadata/name}}"
name_pointer = "/metadata/name"
exclude_pointers = ["/status", "/metadata/resourceVersion"]
redact_pointers = ["/spec/containers/*/env/*/value"]
interval = "1h"
"#,
        migrations = fixture("migrations/flyway").display().to_string(),
        port = database.port,
        password_file = password_file.display().to_string(),
        pods = fixture("command/kubectl-get-pods.json")
            .display()
            .to_string(),
    );
    let config = write_config(work.path(), &store, &sources).unwrap();

    let first = ingest_once(&config);
    for name in ["declared_schema", "live_schema", "pods"] {
        assert!(
            first
                .lines()
                .any(|line| line.starts_with(&format!("{name}: ok ("))),
            "{name}: {first}"
        );
    }

    // A hotfix nobody wrote back: an index created and a column dropped by hand.
    shop.batch_execute(
        "CREATE INDEX customers_full_name_idx ON customers (full_name); \
         ALTER TABLE invoices DROP COLUMN amount;",
    )
    .await
    .expect("hand-made DDL");
    let second = ingest_once(&config);
    assert!(second.contains("live_schema: ok ("), "{second}");

    let port = free_port();
    let mut server = Server::serve(&config, port).await.unwrap();
    let client = connect(port).await.unwrap();

    // Before the hotfix, declared and live agreed on every table, column and index.
    let since = rows(
        &client,
        "SELECT min(started_at) FROM scrapes WHERE source = 'live_schema'",
    )
    .await
    .unwrap()[0][0]
        .clone();
    for kind in ["postgres/table", "postgres/column", "postgres/index"] {
        for (present, absent) in [
            ("declared_schema", "live_schema"),
            ("live_schema", "declared_schema"),
        ] {
            let differing = rows(
                &client,
                &format!(
                    "SELECT id FROM resources_at(TIMESTAMPTZ '{since}') \
                     WHERE source = '{present}' AND kind = '{kind}' \
                     EXCEPT SELECT id FROM resources_at(TIMESTAMPTZ '{since}') \
                     WHERE source = '{absent}' AND kind = '{kind}'"
                ),
            )
            .await
            .unwrap();
            assert!(
                differing.is_empty(),
                "{kind} in {present} only, before the hotfix: {differing:?}"
            );
        }
    }

    // Now: exactly the hand-made index is live-only, exactly the dropped column declared-only.
    assert_eq!(
        only_in(&client, "postgres/index", "live_schema", "declared_schema").await,
        vec!["public.customers_full_name_idx".to_string()]
    );
    assert_eq!(
        only_in(&client, "postgres/column", "declared_schema", "live_schema").await,
        vec!["public.invoices.amount".to_string()]
    );
    assert!(
        only_in(&client, "postgres/column", "live_schema", "declared_schema")
            .await
            .is_empty()
    );

    // The live source's history holds exactly those two configuration changes.
    let changes = rows(
        &client,
        &format!(
            "SELECT kind, id, change FROM changes(TIMESTAMPTZ '{since}', now()) \
             WHERE source = 'live_schema' AND kind NOT LIKE '%_usage' ORDER BY kind, id"
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        changes,
        vec![
            vec![
                "postgres/column".to_string(),
                "public.invoices.amount".to_string(),
                "removed".to_string()
            ],
            vec![
                "postgres/index".to_string(),
                "public.customers_full_name_idx".to_string(),
                "added".to_string()
            ],
        ]
    );

    // The drift view says the same, and nothing else: every other table, column, index,
    // constraint, view, sequence and extension is linked by identity and in sync, attribute
    // by attribute (types, nullability, defaults, definitions).
    let drift = rows(
        &client,
        "SELECT status, kind, id, declared_source, live_source FROM drift \
         WHERE status <> 'in_sync' ORDER BY status, kind, id",
    )
    .await
    .unwrap();
    assert_eq!(
        drift,
        vec![
            vec![
                "missing".to_string(),
                "postgres/column".to_string(),
                "public.invoices.amount".to_string(),
                "declared_schema".to_string(),
                "NULL".to_string()
            ],
            vec![
                "unmanaged".to_string(),
                "postgres/index".to_string(),
                "public.customers_full_name_idx".to_string(),
                "NULL".to_string(),
                "live_schema".to_string()
            ],
        ]
    );
    let in_sync = rows(
        &client,
        "SELECT count(*) FROM drift WHERE status = 'in_sync' AND kind = 'postgres/table'",
    )
    .await
    .unwrap();
    let tables = rows(
        &client,
        "SELECT count(*) FROM resources WHERE source = 'live_schema' AND kind = 'postgres/table'",
    )
    .await
    .unwrap();
    assert_eq!(in_sync, tables, "every live table is linked and in sync");
    // Before the hotfix, the schema was in sync.
    let before = rows(
        &client,
        &format!("SELECT status, id, differences, stale_reason FROM drift_at(TIMESTAMPTZ '{since}') WHERE status <> 'in_sync'"),
    )
    .await
    .unwrap();
    assert!(before.is_empty(), "{before:?}");
    // drift_history dates both from the scrape that first saw them, and both are ongoing.
    let second_scrape = rows(
        &client,
        "SELECT CAST(started_at AS VARCHAR) AS started FROM scrapes \
         WHERE source = 'live_schema' ORDER BY started",
    )
    .await
    .unwrap()[1][0]
        .clone();
    let history = rows(
        &client,
        "SELECT status, kind, id, CAST(onset AS VARCHAR) AS onset_text, ongoing \
         FROM drift_history WHERE kind LIKE 'postgres/%' ORDER BY status, kind, id",
    )
    .await
    .unwrap();
    let onset = second_scrape;
    assert_eq!(
        history,
        vec![
            vec![
                "missing".to_string(),
                "postgres/column".to_string(),
                "public.invoices.amount".to_string(),
                onset.clone(),
                "t".to_string()
            ],
            vec![
                "unmanaged".to_string(),
                "postgres/index".to_string(),
                "public.customers_full_name_idx".to_string(),
                onset,
                "t".to_string()
            ],
        ]
    );
    // `drift` and `drift_at(now())` are one definition over two inputs: they agree.
    let now_view = rows(
        &client,
        "SELECT status, kind, id FROM drift EXCEPT SELECT status, kind, id FROM drift_at(now())",
    )
    .await
    .unwrap();
    assert!(now_view.is_empty(), "{now_view:?}");
    let as_of_now = rows(
        &client,
        "SELECT status, kind, id FROM drift_at(now()) EXCEPT SELECT status, kind, id FROM drift",
    )
    .await
    .unwrap();
    assert!(as_of_now.is_empty(), "{as_of_now:?}");

    let pods = rows(
        &client,
        "SELECT id, layer FROM resources WHERE source = 'pods' ORDER BY id",
    )
    .await
    .unwrap();
    assert_eq!(
        pods.iter().map(|row| row[0].as_str()).collect::<Vec<_>>(),
        vec![
            "kube-system/coredns-76f75df574-8kq2w",
            "shop/checkout-7d9f8b6c5-x2x9q",
            "shop/debug-psql",
            "shop/orders-5c6b9d7f8-m4p7t"
        ]
    );
    assert!(pods.iter().all(|row| row[1] == "live"));
    drop(client);
    server.stop().unwrap();

    let mut pending = vec![store.clone()];
    while let Some(directory) = pending.pop() {
        for entry in std::fs::read_dir(&directory).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !bytes
                        .windows(PASSWORD.len())
                        .any(|window| window == PASSWORD.as_bytes()),
                    "the database password is stored in {}",
                    path.display()
                );
            }
        }
    }
}
