//! Limits per query and per connection, through the real server: a runaway query fails with
//! 53200 at its own budget while a small query on another connection succeeds at the same time;
//! clients that stall in startup or sit idle in a session are disconnected (57P05), freeing
//! their connection slots, while a session that keeps working stays.

use std::time::{Duration, Instant};

use groundtruth_tests::{connect, free_port, write_config, Server};
use tokio::io::AsyncReadExt;
use tokio_postgres::error::SqlState;

async fn serve(server_toml: &str) -> (tempfile::TempDir, Server) {
    let work = tempfile::tempdir().unwrap();
    let config = write_config(
        work.path(),
        &work.path().join("store"),
        &format!("[server]\n{server_toml}"),
    )
    .unwrap();
    let port = free_port();
    let server = Server::serve(&config, port).await.unwrap();
    (work, server)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runaway_query_fails_at_its_budget_while_a_concurrent_small_one_succeeds() {
    // The global pool could hold the runaway's 12 MiB twice over; without budgets it would
    // take all 24 and the small join beside it would fail.
    let (_work, mut server) =
        serve("memory_limit = \"24MiB\"\nquery_memory_limit = \"12MiB\"\n").await;
    let runaway = connect(server.port).await.unwrap();
    let small = connect(server.port).await.unwrap();

    let heavy = tokio::spawn(async move {
        let result = runaway
            .simple_query(
                "SELECT count(*) FROM range(3000000) a JOIN range(3000000) b ON a.value = b.value",
            )
            .await;
        (runaway, result)
    });
    let mut answered = 0;
    let started = Instant::now();
    // Small joins (a few MiB each) on the other connection while the runaway runs, and at
    // least three in any case.
    while !heavy.is_finished() || answered < 3 {
        let count: i64 = small
            .query_one(
                "SELECT count(*) FROM range(100000) a JOIN range(100000) b ON a.value = b.value",
                &[],
            )
            .await
            .expect("the small query must not be starved by the runaway")
            .get(0);
        assert_eq!(count, 100000);
        answered += 1;
        assert!(started.elapsed() < Duration::from_secs(120), "bounded");
    }
    let (runaway, result) = heavy.await.unwrap();
    let error = result.expect_err("the runaway exceeds its budget");
    assert_eq!(error.code(), Some(&SqlState::OUT_OF_MEMORY), "{error}");
    let message = error.as_db_error().expect("a server error").message();
    assert!(message.contains("query memory budget"), "{message}");
    // Both sessions go on.
    let value: i64 = runaway.query_one("SELECT 42", &[]).await.unwrap().get(0);
    assert_eq!(value, 42);
    server.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn stalled_startups_and_idle_sessions_are_closed_and_free_their_slots() {
    let (_work, mut server) =
        serve("max_connections = 2\nstartup_timeout = \"1s\"\nidle_session_timeout = \"2s\"\n")
            .await;
    let port = server.port;
    // The readiness probe's connection may still hold a slot for a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Two clients connect and never send a startup packet: they hold both slots ...
    let mut stalled = Vec::new();
    for _ in 0..2 {
        stalled.push(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap(),
        );
    }
    let refused = connect(port).await.expect_err("both slots are held");
    let refused = refused.downcast_ref::<tokio_postgres::Error>().unwrap();
    assert_eq!(
        refused.code(),
        Some(&SqlState::TOO_MANY_CONNECTIONS),
        "{refused}"
    );
    // ... until the startup timeout closes them.
    let started = Instant::now();
    for mut socket in stalled {
        let mut buffer = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buffer))
            .await
            .expect("closed within the timeout");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );

    // A session that keeps working (gaps shorter than the idle limit) stays open.
    let (working, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=test dbname=groundtruth sslmode=disable"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    let ended = tokio::spawn(connection);
    let mut idle_since = Instant::now();
    for round in 0..4 {
        if round > 0 {
            tokio::time::sleep(Duration::from_millis(1000)).await;
        }
        working.simple_query("SELECT 1").await.unwrap();
        idle_since = Instant::now();
    }
    assert!(!ended.is_finished());

    // Idle longer than the limit: told why (57P05) and disconnected.
    let error = tokio::time::timeout(Duration::from_secs(10), ended)
        .await
        .expect("the idle session is closed")
        .unwrap()
        .expect_err("closed with an error");
    assert!(idle_since.elapsed() >= Duration::from_millis(1500));
    assert_eq!(
        error.code(),
        Some(&SqlState::IDLE_SESSION_TIMEOUT),
        "{error}"
    );
    assert!(working.simple_query("SELECT 1").await.is_err());

    // Both slots are free again.
    let first = connect(port).await.unwrap();
    let second = connect(port).await.unwrap();
    first.simple_query("SELECT 1").await.unwrap();
    second.simple_query("SELECT 1").await.unwrap();
    server.stop().unwrap();
}
