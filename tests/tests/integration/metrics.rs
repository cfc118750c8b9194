//! `/metrics` and `/health` on `[server] metrics_listen`, against the real binary: scrape,
//! query and connection metrics move, health reports each source, and the listener stops with
//! the server.

use std::path::Path;
use std::time::{Duration, Instant};

use groundtruth_tests::{cli, connect, fixture, free_port, rows, write_config, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// GET `path` over plain HTTP/1.1: (status code, body).
async fn get(port: u16, path: &str) -> anyhow::Result<(u16, String)> {
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    socket
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .await?;
    let mut response = String::new();
    socket.read_to_string(&mut response).await?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("no header end in {response:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no status in {head:?}"))?;
    Ok((status, body.to_string()))
}

/// The value of the sample `series` (name with labels, exactly as rendered).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Poll /metrics until `series` satisfies `accept`, returning the last text.
async fn wait_for(port: u16, series: &str, accept: impl Fn(f64) -> bool) -> String {
    let start = Instant::now();
    loop {
        let (status, text) = get(port, "/metrics").await.unwrap();
        assert_eq!(status, 200);
        if sample(&text, series).is_some_and(&accept) {
            return text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{series} never reached the expected value:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn config(work: &Path, metrics_port: u16) -> std::path::PathBuf {
    let state = work.join("terraform.tfstate");
    std::fs::copy(fixture("terraform/v1.tfstate"), &state).unwrap();
    let toml = format!(
        "[server]\nmax_connections = 2\nmetrics_listen = \"127.0.0.1:{metrics_port}\"\n\n\
         [[sources]]\ntype = \"terraform_state\"\nname = \"tf\"\npath = {:?}\ninterval = \"1h\"\n",
        state.display().to_string()
    );
    write_config(work, &work.join("store"), &toml).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_and_health_over_http() {
    let work = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    let config = config(work.path(), metrics_port);
    let ingest = cli(&config, &["ingest", "--once"]).unwrap();
    assert!(
        ingest.status.success(),
        "{}",
        String::from_utf8_lossy(&ingest.stderr)
    );

    let port = free_port();
    let mut server = Server::serve(&config, port).await.unwrap();
    let before = Instant::now();

    // Seeded from the store at start, then the scheduler's first scrape is counted.
    let text = wait_for(
        metrics_port,
        "groundtruth_scrapes_total{source=\"tf\",status=\"ok\"}",
        |count| count >= 1.0,
    )
    .await;
    let last_success = sample(
        &text,
        "groundtruth_source_last_success_timestamp_seconds{source=\"tf\"}",
    )
    .unwrap_or_else(|| panic!("no last success for tf:\n{text}"));
    let now = chrono::Utc::now().timestamp() as f64;
    assert!(
        (now - last_success).abs() < 120.0,
        "{last_success} vs {now}"
    );
    assert_eq!(
        sample(
            &text,
            "groundtruth_scrape_duration_seconds_count{source=\"tf\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert!(text.contains("groundtruth_versions_written_total{source=\"tf\"} "));
    assert!(text.contains("# TYPE groundtruth_query_duration_seconds histogram"));

    // The readiness probe's connection has closed: none open.
    wait_for(metrics_port, "groundtruth_connections_open", |open| {
        open == 0.0
    })
    .await;
    let queries_before = sample(&text, "groundtruth_queries_total{outcome=\"ok\"}").unwrap();

    let first = connect(port).await.unwrap();
    let second = connect(port).await.unwrap();
    let count = rows(&first, "SELECT count(*) FROM resources")
        .await
        .unwrap();
    assert_ne!(count[0][0], "0");
    rows(&second, "SELECT source, stale FROM sources")
        .await
        .unwrap();
    first
        .query(
            "SELECT id FROM resources WHERE kind = $1",
            &[&"aws_sqs_queue"],
        )
        .await
        .unwrap();
    assert!(rows(&first, "SELECT * FROM no_such_table").await.is_err());
    // max_connections = 2: a third is refused.
    assert!(
        connect(port).await.is_err(),
        "a third connection was accepted"
    );

    let (status, text) = get(metrics_port, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    let queries = sample(&text, "groundtruth_queries_total{outcome=\"ok\"}").unwrap();
    assert!(
        queries >= queries_before + 3.0,
        "{queries_before} -> {queries}\n{text}"
    );
    assert!(sample(&text, "groundtruth_queries_total{outcome=\"error\"}").unwrap() >= 1.0);
    assert!(sample(&text, "groundtruth_query_duration_seconds_count").unwrap() >= queries);
    assert_eq!(
        sample(&text, "groundtruth_connections_open"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "groundtruth_connections_refused_total"),
        Some(1.0),
        "{text}"
    );

    drop((first, second));
    wait_for(metrics_port, "groundtruth_connections_open", |open| {
        open == 0.0
    })
    .await;

    let (status, body) = get(metrics_port, "/health").await.unwrap();
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        health,
        serde_json::json!({"status": "ok", "sources": {"tf": {"last_status": "ok", "stale": false}}})
    );
    assert_eq!(get(metrics_port, "/nope").await.unwrap().0, 404);
    assert!(before.elapsed() < Duration::from_secs(60));

    // The listener stops with the server.
    assert!(server.stop().unwrap().success());
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", metrics_port))
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn no_http_listener_unless_configured() {
    let work = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    let config = config(work.path(), metrics_port);
    // The same config without metrics_listen.
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace(
        &format!("metrics_listen = \"127.0.0.1:{metrics_port}\"\n"),
        "",
    );
    std::fs::write(&config, text).unwrap();
    let port = free_port();
    let mut server = Server::serve(&config, port).await.unwrap();
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", metrics_port))
        .await
        .is_err());
    server.stop().unwrap();
}
