//! The foundation's acceptance tests, against the real binary over the Postgres protocol.

use std::path::Path;
use std::time::Duration;

use groundtruth_tests::{cli, connect, fixture, free_port, rows, write_config, Server};

const PASSWORD_V1: &str = "s3cr3t-fixture-password-v1";
const PASSWORD_V2: &str = "s3cr3t-fixture-password-v2";

fn terraform_source(state: &Path) -> String {
    format!(
        "[[sources]]\ntype = \"terraform_state\"\nname = \"tf\"\npath = {:?}\ninterval = \"1h\"\n",
        state.display().to_string()
    )
}

fn ingest_once(config: &Path) -> std::process::Output {
    cli(config, &["ingest", "--once"]).expect("run ingest")
}

/// Every file under `directory`, recursively, as bytes.
fn all_bytes(directory: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(path) = pending.pop() {
        for entry in std::fs::read_dir(&path).unwrap() {
            let entry = entry.unwrap().path();
            if entry.is_dir() {
                pending.push(entry);
            } else {
                found.push((entry.display().to_string(), std::fs::read(&entry).unwrap()));
            }
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn terraform_history_changes_time_travel_failures_and_secrets() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let state = work.path().join("terraform.tfstate");
    let config = write_config(work.path(), &store, &terraform_source(&state)).unwrap();

    std::fs::copy(fixture("terraform/v1.tfstate"), &state).unwrap();
    let first = ingest_once(&config);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );

    // A truncated state between two good ones: recorded failed, nothing deleted.
    std::fs::copy(fixture("terraform/truncated.tfstate"), &state).unwrap();
    let failed = ingest_once(&config);
    assert_eq!(failed.status.code(), Some(2), "a failed scrape exits 2");
    let stdout = String::from_utf8_lossy(&failed.stdout);
    assert!(
        stdout.contains("failed") && stdout.contains("terraform.tfstate"),
        "{stdout}"
    );

    std::fs::copy(fixture("terraform/v2.tfstate"), &state).unwrap();
    let second = ingest_once(&config);
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );

    let port = free_port();
    let mut server = Server::serve(&config, port).await.unwrap();
    let client = connect(port).await.unwrap();

    let scrapes = rows(
        &client,
        "SELECT status, versions_written, error FROM scrapes ORDER BY started_at",
    )
    .await
    .unwrap();
    assert_eq!(scrapes.len(), 3);
    assert_eq!(scrapes[1][0], "failed");
    assert_eq!(scrapes[1][1], "0");
    assert!(
        scrapes[1][2].contains("terraform.tfstate"),
        "{:?}",
        scrapes[1]
    );
    assert_eq!(scrapes[2][0], "ok");

    // Exactly the modified attributes, nothing removed.
    let changes = rows(
        &client,
        "SELECT id, change, array_to_string(changed_paths, ',') FROM changes(TIMESTAMP '2000-01-01', now()) \
         WHERE change <> 'added' ORDER BY id",
    )
    .await
    .unwrap();
    let summary: Vec<(String, String, String)> = changes
        .into_iter()
        .map(|row| (row[0].clone(), row[1].clone(), row[2].clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "aws_db_instance.orders".to_string(),
                "modified".to_string(),
                "password".to_string()
            ),
            (
                "aws_lambda_function.order_processor".to_string(),
                "modified".to_string(),
                "memory_size".to_string()
            ),
            (
                "aws_sqs_queue.orders".to_string(),
                "modified".to_string(),
                "visibility_timeout_seconds".to_string()
            ),
        ]
    );
    let diff = rows(&client, "SELECT diff FROM changes(TIMESTAMP '2000-01-01', now()) WHERE id = 'aws_sqs_queue.orders' AND change = 'modified'")
        .await
        .unwrap();
    let diff: serde_json::Value = serde_json::from_str(&diff[0][0]).unwrap();
    assert_eq!(
        diff,
        serde_json::json!([{"path": "visibility_timeout_seconds", "old": 30, "new": 60}])
    );

    // As of a time between the two good scrapes: the old version, both ways of asking.
    let between = rows(
        &client,
        "SELECT started_at FROM scrapes WHERE status = 'failed'",
    )
    .await
    .unwrap()[0][0]
        .clone();
    let as_of = format!(
        "SELECT id, attrs->>'visibility_timeout_seconds' FROM resources_at(TIMESTAMP '{between}') WHERE kind = 'aws_sqs_queue' ORDER BY id"
    );
    let system_time = format!(
        "SELECT id, attrs->>'visibility_timeout_seconds' FROM resources FOR SYSTEM_TIME AS OF TIMESTAMP '{between}' WHERE kind = 'aws_sqs_queue' ORDER BY id"
    );
    let old = rows(&client, &as_of).await.unwrap();
    assert_eq!(
        old,
        vec![vec!["aws_sqs_queue.orders".to_string(), "30".to_string()]]
    );
    assert_eq!(rows(&client, &system_time).await.unwrap(), old);
    let full_old = rows(
        &client,
        &format!("SELECT * FROM resources_at(TIMESTAMP '{between}') ORDER BY kind, id"),
    )
    .await
    .unwrap();
    let full_system = rows(
        &client,
        &format!(
            "SELECT * FROM resources FOR SYSTEM_TIME AS OF TIMESTAMP '{between}' ORDER BY kind, id"
        ),
    )
    .await
    .unwrap();
    assert_eq!(full_old, full_system);
    assert!(full_old.len() >= 5, "{full_old:?}");
    let current = rows(&client, "SELECT attrs->>'visibility_timeout_seconds' FROM resources WHERE id = 'aws_sqs_queue.orders'").await.unwrap();
    assert_eq!(current, vec![vec!["60".to_string()]]);
    // The failed scrape deleted nothing: resource counts before and after it match.
    let count_now = rows(&client, "SELECT count(*) FROM resources")
        .await
        .unwrap();
    assert_eq!(count_now[0][0], full_old.len().to_string());

    // Secrets: not in any query result, not in any file of the store.
    let everything = rows(&client, "SELECT attrs, diff FROM resource_versions")
        .await
        .unwrap();
    let text = format!("{everything:?}");
    assert!(
        text.contains("redacted"),
        "the password is stored as a redaction marker"
    );
    for secret in [PASSWORD_V1, PASSWORD_V2] {
        assert!(!text.contains(secret), "secret in query results");
        for (path, bytes) in all_bytes(&store) {
            assert!(!contains(&bytes, secret), "secret found in {path}");
        }
    }
    server.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_carry_sqlstate_and_the_connection_survives() {
    let work = tempfile::tempdir().unwrap();
    let config = write_config(work.path(), &work.path().join("store"), "").unwrap();
    let port = free_port();
    let mut server = Server::serve(&config, port).await.unwrap();
    let client = connect(port).await.unwrap();
    let cases = [
        ("SELECT * FROM no_such_table", "42P01"),
        ("SELEC 1", "42601"),
        ("SELECT no_such_function(1)", "42883"),
        ("SELECT no_such_column FROM resources", "42703"),
        ("CREATE TABLE t (a int)", "25006"),
        ("DROP TABLE resources", "25006"),
        ("INSERT INTO resources (id) VALUES ('x')", "25006"),
        ("COPY resources TO '/tmp/out.csv'", "25006"),
        ("SET datafusion.catalog.information_schema = false", "25006"),
        (
            "WITH gone AS (DELETE FROM scrapes RETURNING *) SELECT * FROM gone",
            "25006",
        ),
        (
            "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
            "42601",
        ),
        ("SELECT * FROM scrapes FOR SYSTEM_TIME AS OF now()", "42601"),
    ];
    for (sql, expected) in cases {
        let error = client.simple_query(sql).await.expect_err(sql);
        let code = error.code().map(|code| code.code().to_string());
        assert_eq!(code.as_deref(), Some(expected), "{sql}: {error:?}");
        // Extended protocol too.
        let error = client.query(sql, &[]).await.expect_err(sql);
        assert_eq!(
            error.code().map(|code| code.code().to_string()).as_deref(),
            Some(expected),
            "{sql} (extended)"
        );
        let alive = rows(&client, "SELECT 1").await.unwrap();
        assert_eq!(alive, vec![vec!["1".to_string()]]);
    }
    // Per-connection settings still work, and the catalog was not switched off for anyone.
    client
        .simple_query("SET search_path = public")
        .await
        .unwrap();
    assert!(!rows(
        &client,
        "SELECT table_name FROM information_schema.tables WHERE table_name = 'resources'"
    )
    .await
    .unwrap()
    .is_empty());
    // Parameters over the extended protocol.
    let typed = client
        .query(
            "SELECT count(*) AS n FROM resources WHERE kind = $1",
            &[&"aws_sqs_queue"],
        )
        .await
        .unwrap();
    assert_eq!(typed[0].get::<_, i64>(0), 0);
    server.stop().unwrap();
}

/// Subqueries in the select list answer what PostgreSQL answers, over both protocols: the
/// client-compatibility rule that turns catalog queries' correlated subqueries into NULL once
/// turned these counts into NULL too (derived tables, table functions and nested EXISTS).
#[tokio::test(flavor = "multi_thread")]
async fn select_list_subqueries_are_answered_not_nulled() {
    let work = tempfile::tempdir().unwrap();
    let config = write_config(work.path(), &work.path().join("store"), "").unwrap();
    let port = free_port();
    let mut server = Server::serve(&config, port).await.unwrap();
    let client = connect(port).await.unwrap();
    let cases = [
        (
            "SELECT (SELECT count(*) FROM (VALUES (1), (3)) l(id) \
             WHERE NOT EXISTS (SELECT 1 FROM (VALUES (2)) d(id) WHERE d.id = l.id)) AS n",
            vec![vec!["2".to_string()]],
        ),
        (
            "SELECT v.id, (SELECT count(*) FROM (VALUES (1), (1), (3)) w(id) WHERE w.id = v.id) \
             AS n FROM (VALUES (1), (3), (4)) v(id) ORDER BY v.id",
            vec![
                vec!["1".to_string(), "2".to_string()],
                vec!["3".to_string(), "1".to_string()],
                vec!["4".to_string(), "0".to_string()],
            ],
        ),
        (
            "SELECT (SELECT count(*) FROM changes(now() - INTERVAL '1 hour', now()) l \
             WHERE NOT EXISTS (SELECT 1 FROM resources d WHERE d.id = l.id)) AS n",
            vec![vec!["0".to_string()]],
        ),
    ];
    for (sql, expected) in cases {
        assert_eq!(rows(&client, sql).await.unwrap(), expected, "{sql}");
        let extended: Vec<Vec<String>> = client
            .query(sql, &[])
            .await
            .unwrap()
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|column| match row.columns()[column].type_().name() {
                        "int8" => row.get::<_, i64>(column).to_string(),
                        _ => row.get::<_, String>(column),
                    })
                    .collect()
            })
            .collect();
        assert_eq!(extended, expected, "{sql} (extended)");
    }
    server.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_nine_during_ingest_loses_nothing_committed() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    // Fast sources so that commits are in flight when the process is killed.
    let sources = "[[sources]]\ntype = \"host\"\nname = \"host\"\ninterval = \"1s\"\n\n\
                   [[sources]]\ntype = \"simulated\"\nname = \"synthetic_cloud\"\nlayer = \"live\"\nseed = 7\ninterval = \"1s\"\n\n\
                   [[sources]]\ntype = \"simulated\"\nname = \"synthetic_iac\"\nlayer = \"declared\"\nseed = 7\ninterval = \"1s\"\n";
    let config = write_config(work.path(), &store, sources).unwrap();
    for (round, delay) in [700u64, 1300, 2100].into_iter().enumerate() {
        let port = free_port();
        let mut server = Server::serve(&config, port)
            .await
            .unwrap_or_else(|error| panic!("restart {round}: {error}"));
        tokio::time::sleep(Duration::from_millis(delay)).await;
        server.kill_hard();
    }
    let port = free_port();
    let mut server = Server::serve(&config, port).await.unwrap();
    let client = connect(port).await.unwrap();
    let duplicates = rows(
        &client,
        "SELECT count(*) FROM (SELECT source, kind, id, valid_from, count(*) AS copies FROM resource_versions \
         GROUP BY source, kind, id, valid_from HAVING count(*) > 1)",
    )
    .await
    .unwrap();
    assert_eq!(duplicates[0][0], "0", "no version is stored twice");
    let orphans = rows(&client, "SELECT count(*) FROM storage.versions v LEFT ANTI JOIN storage.scrapes s ON v.scrape_id = s.scrape_id")
        .await
        .unwrap();
    assert_eq!(
        orphans[0][0], "0",
        "every committed version has its scrape record"
    );
    let sources = rows(
        &client,
        "SELECT source, scrapes FROM sources ORDER BY source",
    )
    .await
    .unwrap();
    assert_eq!(sources.len(), 3, "{sources:?}");
    let resources = rows(
        &client,
        "SELECT count(*) FROM resources WHERE source = 'synthetic_iac'",
    )
    .await
    .unwrap();
    assert!(
        resources[0][0].parse::<i64>().unwrap() > 10,
        "{resources:?}"
    );
    server.stop().unwrap();
}

/// Step 5 of the commit protocol under SIGKILL: with a checkpoint after every commit, the
/// process is killed at spread-out moments (inside scrapes, commits and checkpoint writes);
/// afterwards every checkpoint holds exactly the state history defines at its instant, none is
/// written twice, and the current state and an as-of read equal their definitions.
#[tokio::test(flavor = "multi_thread")]
async fn kill_nine_during_checkpoints_leaves_every_checkpoint_exact() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let sources = "[checkpoints]\nmin_versions = 1\nstate_ratio = 0.0\n\n\
                   [[sources]]\ntype = \"simulated\"\nname = \"synthetic_cloud\"\nlayer = \"live\"\nseed = 11\ninterval = \"1s\"\n\n\
                   [[sources]]\ntype = \"simulated\"\nname = \"synthetic_iac\"\nlayer = \"declared\"\nseed = 11\ninterval = \"1s\"\n";
    let config = write_config(work.path(), &store, sources).unwrap();
    let rounds: u64 = std::env::var("GT_KILL_ROUNDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(6);
    for round in 0..rounds {
        let port = free_port();
        let mut server = Server::serve(&config, port)
            .await
            .unwrap_or_else(|error| panic!("restart {round}: {error}"));
        // Spread the kills over a scrape period and a half, in steps that are not a divisor of it.
        tokio::time::sleep(Duration::from_millis(300 + (round * 373) % 1500)).await;
        server.kill_hard();
    }
    // One more run that scrapes after the last kill (diffing against the state it loads), then
    // a server without sources, so that nothing moves while the answers are compared.
    let mut server = Server::serve(&config, free_port()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill_hard();
    let checks = work.path().join("checks");
    std::fs::create_dir_all(&checks).unwrap();
    let quiet = write_config(&checks, &store, "").unwrap();
    let port = free_port();
    let mut server = Server::serve(&quiet, port).await.unwrap();
    let client = connect(port).await.unwrap();
    let misdiffed = rows(
        &client,
        "SELECT count(*) FROM (SELECT change, lag(change) OVER (PARTITION BY source, kind, id ORDER BY valid_from) AS previous
                              FROM storage.versions)
         WHERE (change = 'added' AND previous IS NOT NULL AND previous <> 'removed')
            OR (change <> 'added' AND (previous IS NULL OR previous = 'removed'))",
    )
    .await
    .unwrap();
    assert_eq!(
        misdiffed[0][0], "0",
        "every scrape diffed against the state before it"
    );
    let doubled = rows(
        &client,
        "SELECT count(*) FROM (SELECT source, checkpoint_at_us, kind, id FROM internals.checkpoints \
         GROUP BY source, checkpoint_at_us, kind, id HAVING count(*) > 1)",
    )
    .await
    .unwrap();
    assert_eq!(doubled[0][0], "0", "no checkpoint row is written twice");
    let checkpoints = rows(
        &client,
        "SELECT DISTINCT source, checkpoint_at_us FROM internals.checkpoints ORDER BY 1, 2",
    )
    .await
    .unwrap();
    assert!(checkpoints.len() >= 2, "{checkpoints:?}");
    for checkpoint in &checkpoints {
        let (source, at) = (&checkpoint[0], &checkpoint[1]);
        let naive = format!(
            "SELECT kind, id, attrs_hash, last_changed FROM (
               SELECT kind, id, attrs_hash, change, valid_from AS last_changed,
                      row_number() OVER (PARTITION BY kind, id ORDER BY valid_from DESC) AS recency
               FROM storage.versions WHERE source = '{source}' AND valid_from <= to_timestamp_micros({at}))
             WHERE recency = 1 AND change <> 'removed'"
        );
        let stored = format!(
            "SELECT kind, id, attrs_hash, last_changed FROM internals.checkpoints \
             WHERE source = '{source}' AND checkpoint_at_us = {at}"
        );
        let differences = rows(
            &client,
            &format!(
                "SELECT (SELECT count(*) FROM ({naive} EXCEPT {stored})) + (SELECT count(*) FROM ({stored} EXCEPT {naive}))"
            ),
        )
        .await
        .unwrap();
        assert_eq!(differences[0][0], "0", "checkpoint {source} at {at}");
    }
    let orphans = rows(&client, "SELECT count(*) FROM storage.versions v LEFT ANTI JOIN storage.scrapes s ON v.scrape_id = s.scrape_id")
        .await
        .unwrap();
    assert_eq!(
        orphans[0][0], "0",
        "every committed version has its scrape record"
    );
    let current_differences = rows(
        &client,
        "WITH naive AS (SELECT source, kind, id, attrs_hash FROM (
                SELECT *, row_number() OVER (PARTITION BY source, kind, id ORDER BY valid_from DESC) AS recency
                FROM storage.versions) WHERE recency = 1 AND change <> 'removed'),
              fast AS (SELECT source, kind, id, attrs_hash FROM resources)
         SELECT (SELECT count(*) FROM (SELECT * FROM naive EXCEPT SELECT * FROM fast))
              + (SELECT count(*) FROM (SELECT * FROM fast EXCEPT SELECT * FROM naive))",
    )
    .await
    .unwrap();
    assert_eq!(
        current_differences[0][0], "0",
        "the current state is the latest of every version"
    );
    server.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn port_in_use_and_unwritable_store_fail_clearly() {
    let work = tempfile::tempdir().unwrap();
    let config = write_config(work.path(), &work.path().join("store"), "").unwrap();
    let port = free_port();
    let _server = Server::serve(&config, port).await.unwrap();
    let output = std::process::Command::new(groundtruth_tests::binary())
        .args(["--config", config.to_str().unwrap(), "serve"])
        .env("GROUNDTRUTH_LISTEN", format!("127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains(&format!("cannot listen on 127.0.0.1:{port}")));

    let blocked = work.path().join("file-not-directory");
    std::fs::write(&blocked, "x").unwrap();
    let config = write_config(work.path(), &blocked.join("store"), "").unwrap();
    let output = cli(&config, &["sql", "SELECT 1"]).unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot create directory"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_records_a_corrupt_state_file_and_keeps_serving() {
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("terraform.tfstate");
    std::fs::copy(fixture("terraform/v1.tfstate"), &state).unwrap();
    let source = terraform_source(&state).replace("interval = \"1h\"", "interval = \"1s\"");
    let config = write_config(work.path(), &work.path().join("store"), &source).unwrap();
    let port = free_port();
    let mut server = Server::serve(&config, port).await.unwrap();
    let client = connect(port).await.unwrap();

    let wait_for = |sql: &'static str| {
        let client = &client;
        async move {
            for _ in 0..100 {
                if rows(client, sql).await.unwrap()[0][0] != "0" {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            panic!("timed out waiting for: {sql}");
        }
    };
    wait_for("SELECT count(*) FROM scrapes WHERE status = 'ok'").await;
    let before = rows(&client, "SELECT count(*) FROM resources")
        .await
        .unwrap();

    std::fs::write(&state, b"{\"version\": 4, \"resources\": [").unwrap();
    wait_for("SELECT count(*) FROM scrapes WHERE status = 'failed'").await;
    let failure = rows(
        &client,
        "SELECT last_status, last_error FROM sources WHERE source = 'tf'",
    )
    .await
    .unwrap();
    assert_eq!(failure[0][0], "failed");
    assert!(failure[0][1].contains("terraform.tfstate"), "{failure:?}");
    assert_eq!(
        rows(&client, "SELECT count(*) FROM resources")
            .await
            .unwrap(),
        before,
        "the previous state stands"
    );
    let removed = rows(
        &client,
        "SELECT count(*) FROM changes(TIMESTAMP '2000-01-01', now()) WHERE change = 'removed'",
    )
    .await
    .unwrap();
    assert_eq!(removed[0][0], "0");
    server.stop().unwrap();
}
