//! The reliability campaign, part 3: a panic while answering a statement costs that statement
//! only. Against the real binary, with the test-only trigger `GROUNDTRUTH_PANIC_ON_SQL`: the
//! client gets SQLSTATE XX000 naming the panic, the same session answers its next statement,
//! another connection is unaffected (also while the panic happens), and the server stays up.

use groundtruth_tests::{connect, fixture, free_port, rows, write_config, Server};

const MARKER: &str = "panic_in_the_handler";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_statement_fails_alone_and_the_session_goes_on() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let config = write_config(
        dir.path(),
        &dir.path().join("store"),
        &format!(
            "[[sources]]\ntype = \"terraform_state\"\nname = \"tf\"\npath = {:?}\n",
            fixture("terraform/v1.tfstate").display().to_string()
        ),
    )?;
    // Inherited by the server process only: this file holds a single test.
    std::env::set_var("GROUNDTRUTH_PANIC_ON_SQL", MARKER);
    let port = free_port();
    let mut server = Server::serve(&config, port).await?;
    let first = connect(port).await?;
    let second = connect(port).await?;

    for round in 0..3 {
        // Simple protocol.
        let error = first
            .simple_query(&format!("SELECT 1 AS {MARKER}"))
            .await
            .expect_err("the statement panics");
        let db = error
            .as_db_error()
            .expect("an error response, not a dropped connection");
        assert_eq!(db.code().code(), "XX000", "{db:?}");
        assert!(db.message().contains("panicked"), "{}", db.message());
        // Extended protocol (prepared statement).
        let error = first
            .query(&format!("SELECT $1::text AS {MARKER}"), &[&"x"])
            .await
            .expect_err("the prepared statement panics");
        assert_eq!(
            error.as_db_error().map(|db| db.code().code()),
            Some("XX000"),
            "{error}"
        );
        // The same session, and another, go on.
        assert_eq!(
            rows(&first, "SELECT 40 + 2").await?,
            vec![vec!["42".to_string()]]
        );
        let count = rows(&second, "SELECT count(*) FROM scrapes").await?;
        assert_eq!(count.len(), 1, "round {round}: {count:?}");
    }
    // Panics on other connections leave the server serving new ones.
    for _ in 0..4 {
        let client = connect(port).await?;
        assert!(client
            .simple_query(&format!("SELECT 1 AS {MARKER}"))
            .await
            .is_err());
    }
    let fresh = connect(port).await?;
    assert_eq!(
        rows(&fresh, "SELECT 'up'").await?,
        vec![vec!["up".to_string()]]
    );
    assert!(
        server.stop()?.success(),
        "the server exits cleanly after the panics"
    );
    Ok(())
}
