//! The reliability campaign, part 3: a panic while answering a statement costs that statement
//! only. Against the real binary, with the test-only trigger `GROUNDTRUTH_PANIC_ON_SQL`: the
//! client gets SQLSTATE XX000 naming the panic, the same session answers its next statement,
//! another connection is unaffected (also while the panic happens), and the server stays up.
//! A message the wire decoder panics on (found by the frame decoder's fuzz target, `fuzz/`)
//! costs its connection only: the client is told 08P01 and its slot is freed.

use std::time::Duration;

use groundtruth_tests::{connect, fixture, free_port, rows, write_config, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    let port = free_port();
    let mut server =
        Server::serve_with_env(&config, port, &[("GROUNDTRUTH_PANIC_ON_SQL", MARKER)]).await?;
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

/// The fuzz finding `fuzz/artifacts/frontend_frames/crash-0f2a...` (pgwire 0.41.1): a Parse,
/// then a Bind whose parameter-format count (12,032) exceeds the bytes it carries, so pgwire's
/// decoder reads past the message and panics ("advance out of bounds").
const MALFORMED_BIND: &[u8] = b"P\x00\x00\x00\x10\x00SELECT $1\x00\x00\x00\
B\x00\x00\x00\x0c\x00\x00\x2f\x00\x00\x00\x00\x00\
E\x00\x00\x00\x09\x00\x00\x00\x00\x00S\x00\x00\x00\x04";

/// A raw session: the startup packet, then everything up to the first ReadyForQuery. A
/// refusal for want of a slot (53300) is retried for 5 s: the slot of a client that just left
/// is given back asynchronously, while a leaked one never comes back.
async fn raw_session(port: u16) -> anyhow::Result<tokio::net::TcpStream> {
    let mut body = vec![0, 3, 0, 0];
    // Name/value pairs, then the empty name that ends them.
    for field in ["user", "test", "database", "groundtruth", ""] {
        body.extend_from_slice(field.as_bytes());
        body.push(0);
    }
    let mut packet = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    packet.extend(body);
    let started = std::time::Instant::now();
    'attempt: loop {
        let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        socket.write_all(&packet).await?;
        let mut seen = Vec::new();
        while !seen.windows(6).any(|window| window == b"Z\0\0\0\x05I") {
            let mut buffer = [0u8; 4096];
            let read =
                tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buffer)).await??;
            if read == 0 {
                let refused = String::from_utf8_lossy(&seen).contains("C53300");
                anyhow::ensure!(
                    refused && started.elapsed() < Duration::from_secs(5),
                    "closed during startup: {:?}",
                    String::from_utf8_lossy(&seen)
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue 'attempt;
            }
            seen.extend_from_slice(&buffer[..read]);
        }
        return Ok(socket);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_decoder_panics_on_costs_its_connection_only() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // Two slots, one held by the bystander: a new client is served only if the broken
    // connection gave its slot back.
    let config = write_config(
        dir.path(),
        &dir.path().join("store"),
        "[server]\nmax_connections = 2\n",
    )?;
    let port = free_port();
    let mut server = Server::serve(&config, port).await?;
    let bystander = connect(port).await?;
    for round in 0..3 {
        let mut socket = raw_session(port).await?;
        socket.write_all(MALFORMED_BIND).await?;
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer))
            .await
            .map_err(|_| anyhow::anyhow!("round {round}: the connection was not closed"))??;
        let text = String::from_utf8_lossy(&answer);
        // ParseComplete for the Parse, then the error for the Bind.
        assert!(
            answer.starts_with(b"1\0\0\0\x04E")
                && text.contains("C08P01")
                && text.contains("protocol violation"),
            "round {round}: expected a FATAL 08P01 error, got {text:?}"
        );
        // The other session goes on, and the slot is free again for a new one.
        assert_eq!(
            rows(&bystander, "SELECT 40 + 2").await?,
            vec![vec!["42".to_string()]]
        );
        let fresh = connect(port).await?;
        assert_eq!(
            rows(&fresh, "SELECT 'up'").await?,
            vec![vec!["up".to_string()]]
        );
    }
    assert!(server.stop()?.success(), "the server exits cleanly");
    Ok(())
}
