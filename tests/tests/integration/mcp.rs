//! The MCP server through a real MCP client: the official Python SDK (PyPI `mcp`, in the test
//! virtualenv) runs tests/clients/mcp_check.py against `groundtruth mcp` over stdio (the client
//! launches the server, as agent hosts do) and over streamable HTTP, listing and calling every
//! tool and reading both resources. The store has a fresh Terraform source with history and a
//! source whose only scrape failed, so the freshness envelope must warn exactly when an answer
//! rests on the failed source; bad SQL must come back with its SQLSTATE and writes refused.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use groundtruth_tests::{
    binary, cli, client_script, fixture, free_port, test_python, write_config,
};

/// Terraform state `tf` ingested at two versions, and `broken`, whose file never existed.
fn store(directory: &Path) -> PathBuf {
    let state = directory.join("terraform.tfstate");
    let sources = format!(
        "[[sources]]\ntype = \"terraform_state\"\nname = \"tf\"\npath = {:?}\ninterval = \"1h\"\n\n\
         [[sources]]\ntype = \"terraform_state\"\nname = \"broken\"\npath = {:?}\ninterval = \"1h\"\n",
        state.display().to_string(),
        directory.join("missing.tfstate").display().to_string()
    );
    let config = write_config(directory, &directory.join("store"), &sources).unwrap();
    for version in ["terraform/v1.tfstate", "terraform/v2.tfstate"] {
        std::fs::copy(fixture(version), &state).unwrap();
        let output = cli(&config, &["ingest", "--once"]).unwrap();
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(
            printed.contains("tf: ok") && printed.contains("broken: failed"),
            "{printed}"
        );
    }
    config
}

fn client(arguments: &[&str]) -> Output {
    Command::new(test_python())
        .arg(client_script("mcp_check.py"))
        .args(arguments)
        .output()
        .expect("running the MCP client (is the test virtualenv built? tests/scripts/test_venv.sh)")
}

fn assert_passed(output: &Output) {
    assert!(
        output.status.success(),
        "MCP client failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    print!("{}", String::from_utf8_lossy(&output.stdout));
}

/// `groundtruth mcp --http`, stopped by PID when dropped.
struct HttpServer(Child);

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_http(config: &Path, port: u16) -> HttpServer {
    let child = Command::new(binary())
        .arg("--config")
        .arg(config)
        .args(["mcp", "--http", "--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("starting groundtruth mcp --http");
    let mut server = HttpServer(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            server.0.try_wait().unwrap().is_none(),
            "groundtruth mcp exited early"
        );
        assert!(Instant::now() < deadline, "MCP HTTP did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

#[test]
fn an_mcp_client_calls_every_tool_over_stdio_and_http() {
    let work = tempfile::tempdir().unwrap();
    let config = store(work.path());
    let config_text = config.display().to_string();
    let binary_text = binary().display().to_string();

    assert_passed(&client(&["stdio", &binary_text, &config_text, "fixture"]));

    let port = free_port();
    let _server = start_http(&config, port);
    assert_passed(&client(&[
        "http",
        &format!("http://127.0.0.1:{port}/mcp"),
        "fixture",
    ]));

    // Only /mcp speaks MCP.
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    socket
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    socket.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 404"), "{reply}");
}

#[test]
fn the_http_transport_refuses_non_loopback_addresses() {
    let work = tempfile::tempdir().unwrap();
    let config = write_config(work.path(), &work.path().join("store"), "").unwrap();
    let output = Command::new(binary())
        .arg("--config")
        .arg(&config)
        .args(["mcp", "--http", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && message.contains("loopback"),
        "{message}"
    );
}

/// psql's output and notices (standard error) for `sql` on `port`.
fn psql(port: u16, sql: &[&str]) -> (String, String) {
    let mut command = Command::new("psql");
    command
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .arg(format!(
            "host=127.0.0.1 port={port} user=agent dbname=groundtruth sslmode=disable"
        ));
    for statement in sql {
        command.args(["-c", statement]);
    }
    let output = command.output().expect("psql");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn psql_shows_freshness_as_a_notice_and_a_view() {
    let work = tempfile::tempdir().unwrap();
    let config = store(work.path());
    let port = free_port();
    let mut server = groundtruth_tests::Server::serve(&config, port)
        .await
        .unwrap();

    let notice = "WARNING:  answer may be out of date: source 'broken' failed its last scrape";
    let (rows, notices) = psql(port, &["SELECT count(*) FROM resources"]);
    assert!(rows.trim().parse::<u32>().unwrap() > 0, "{rows}");
    assert!(notices.contains(notice), "{notices}");
    // Only the sources a query names by literal count; a catalog query gets no notice.
    let (_, notices) = psql(
        port,
        &["SELECT count(*) FROM resources WHERE source = 'tf'"],
    );
    assert!(!notices.contains("WARNING"), "{notices}");
    let (_, notices) = psql(port, &["SELECT count(*) FROM query_catalog"]);
    assert!(!notices.contains("WARNING"), "{notices}");
    // The session setting turns notices off, and SHOW reports it.
    let (shown, notices) = psql(
        port,
        &[
            "SET groundtruth.freshness_notices = off",
            "SELECT count(*) FROM drift",
            "SHOW groundtruth.freshness_notices",
        ],
    );
    assert!(!notices.contains("WARNING"), "{notices}");
    assert!(shown.trim_end().ends_with("off"), "{shown}");

    // The same envelope as a view.
    let (rows, _) = psql(
        port,
        &["SELECT source, last_status, stale, warning IS NOT NULL FROM freshness ORDER BY source"],
    );
    assert_eq!(rows.trim(), "broken|failed|t|t\ntf|ok|f|f", "{rows}");
    server.stop().unwrap();
}
