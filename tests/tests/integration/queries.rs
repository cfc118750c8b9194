//! The query library through the real binary: `groundtruth query NAME --param k=v` and
//! `named_query(...)` over the Postgres protocol (simple and extended) give the same answers,
//! bad parameters are refused by name, and `query_catalog` lists the library.

use std::path::Path;

use groundtruth_tests::{cli, connect, fixture, free_port, rows, write_config, Server};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Two Terraform states ingested one after the other: three resources modified in between.
fn store_with_history(directory: &Path) -> std::path::PathBuf {
    let state = directory.join("terraform.tfstate");
    let sources = format!(
        "[[sources]]\ntype = \"terraform_state\"\nname = \"tf\"\npath = {:?}\ninterval = \"1h\"\n",
        state.display().to_string()
    );
    let config = write_config(directory, &directory.join("store"), &sources).unwrap();
    for version in ["terraform/v1.tfstate", "terraform/v2.tfstate"] {
        std::fs::copy(fixture(version), &state).unwrap();
        let output = cli(&config, &["ingest", "--once"]).unwrap();
        assert!(output.status.success(), "{}", stdout(&output));
    }
    config
}

#[tokio::test(flavor = "multi_thread")]
async fn named_queries_run_from_the_cli_and_over_the_wire() {
    let work = tempfile::tempdir().unwrap();
    let config = store_with_history(work.path());

    // The CLI: parameters checked and quoted, the rendered query run.
    let output = cli(
        &config,
        &[
            "query",
            "changes_in_source",
            "--param",
            "source=tf",
            "--param",
            "since=2000-01-01",
        ],
    )
    .unwrap();
    let printed = stdout(&output);
    assert!(output.status.success(), "{printed}");
    for modified in [
        "aws_db_instance.orders",
        "aws_lambda_function.order_processor",
        "aws_sqs_queue.orders",
    ] {
        assert!(
            printed
                .lines()
                .any(|line| line.contains(modified) && line.contains("modified")),
            "{modified} missing from:\n{printed}"
        );
    }

    let bad = cli(
        &config,
        &[
            "query",
            "changes_in_source",
            "--param",
            "source=tf",
            "--param",
            "since=last tuesday",
        ],
    )
    .unwrap();
    assert!(!bad.status.success());
    let message = String::from_utf8_lossy(&bad.stderr);
    assert!(
        message.contains("parameter 'since' must be a timestamp"),
        "{message}"
    );
    let missing = cli(&config, &["query", "changes_in_source"]).unwrap();
    assert!(String::from_utf8_lossy(&missing.stderr).contains("parameter 'source' is required"));
    let unknown = cli(&config, &["query", "no_such_query"]).unwrap();
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no named query 'no_such_query'"));
    let listed = stdout(&cli(&config, &["query", "--list"]).unwrap());
    assert!(listed.contains("stale_sources"), "{listed}");

    // Over the wire: the same answer from the simple protocol and from a prepared statement
    // whose parameter feeds the named query.
    let port = free_port();
    let mut server = Server::serve(&config, port).await.unwrap();
    let client = connect(port).await.unwrap();
    let simple = rows(
        &client,
        "SELECT id FROM named_query('changes_in_source', source => 'tf', \
         since => TIMESTAMP '2000-01-01 00:00:00') WHERE change = 'modified' ORDER BY id",
    )
    .await
    .unwrap();
    let simple: Vec<String> = simple.into_iter().map(|row| row[0].clone()).collect();
    assert_eq!(
        simple,
        vec![
            "aws_db_instance.orders",
            "aws_lambda_function.order_processor",
            "aws_sqs_queue.orders"
        ]
    );
    let prepared: Vec<String> = client
        .query(
            "SELECT id FROM named_query('changes_in_source', source => $1, \
             since => TIMESTAMP '2000-01-01 00:00:00') WHERE change = 'modified' ORDER BY id",
            &[&"tf"],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<_, String>(0))
        .collect();
    assert_eq!(prepared, simple);

    let error = client
        .simple_query("SELECT * FROM named_query('changes_in_source')")
        .await
        .unwrap_err();
    let database_error = error.as_db_error().expect("a database error");
    assert_eq!(database_error.code().code(), "42601");
    assert!(
        database_error
            .message()
            .contains("parameter 'source' is required"),
        "{}",
        database_error.message()
    );
    // The connection is still usable, and the catalog describes the library.
    let catalog = rows(
        &client,
        "SELECT count(*) FROM query_catalog WHERE strpos(example, name) > 0",
    )
    .await
    .unwrap();
    assert!(catalog[0][0].parse::<u32>().unwrap() >= 8, "{catalog:?}");

    drop(client);
    server.stop().unwrap();
}
