//! `groundtruth drift --check` for CI pipelines, through the real binary: a declared and a live
//! source (`command` sources printing fixed JSON) that first agree (exit 0), then disagree in
//! every way (a changed attribute, a declared queue not running, a running queue not declared:
//! exit 2 with a readable table naming each, and the same as JSON). `--fail-on` narrows what
//! counts; an unknown status is refused by name.

use std::path::{Path, PathBuf};

use groundtruth_tests::cli;
use serde_json::{json, Value};

/// Two `command` sources reading declared.json and live.json under `work`.
pub fn queue_sources(work: &Path) -> PathBuf {
    let source = |source: &str, layer: &str, file: &str| {
        format!(
            "[[sources]]\ntype = \"command\"\nname = \"{source}\"\ncommand = [\"cat\", {path:?}]\n\
             layer = \"{layer}\"\nkind = \"app/queue\"\nid_pointer = \"/id\"\n\
             attrs_pointer = \"/attrs\"\ninterval = \"1h\"\n\n",
            path = work.join(file).display().to_string(),
        )
    };
    let path = work.join("groundtruth.toml");
    std::fs::write(
        &path,
        format!(
            "store = {:?}\n\n{}{}",
            work.join("store").display().to_string(),
            source("declared-queues", "declared", "declared.json"),
            source("live-queues", "live", "live.json"),
        ),
    )
    .unwrap();
    path
}

fn queues(pairs: &[(&str, u32)]) -> String {
    Value::Array(
        pairs
            .iter()
            .map(|(id, timeout)| json!({"id": id, "attrs": {"visibility_timeout": timeout}}))
            .collect(),
    )
    .to_string()
}

/// Write both sides and ingest them.
fn observe(work: &Path, config: &Path, declared: &[(&str, u32)], live: &[(&str, u32)]) {
    std::fs::write(work.join("declared.json"), queues(declared)).unwrap();
    std::fs::write(work.join("live.json"), queues(live)).unwrap();
    let output = cli(config, &["ingest", "--once"]).unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn drift(config: &Path, arguments: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["drift"];
    all.extend_from_slice(arguments);
    let output = cli(config, &all).unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn drift_check_exits_non_zero_only_when_drift_exists() {
    let work = tempfile::tempdir().unwrap();
    let config = queue_sources(work.path());
    observe(
        work.path(),
        &config,
        &[("orders", 30), ("billing", 30)],
        &[("orders", 30), ("billing", 30)],
    );
    let (code, stdout, _) = drift(&config, &["--check"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("No drift (missing, unmanaged, changed)"),
        "{stdout}"
    );

    observe(
        work.path(),
        &config,
        &[("orders", 30), ("billing", 30)],
        &[("orders", 60), ("reports", 30)],
    );
    let (code, stdout, _) = drift(&config, &["--check"]);
    assert_eq!(code, Some(2), "{stdout}");
    let line = |status: &str, id: &str| {
        stdout
            .lines()
            .find(|line| line.starts_with(status) && line.contains(id))
            .unwrap_or_else(|| panic!("no {status} row for {id}:\n{stdout}"))
            .to_string()
    };
    assert!(
        stdout.lines().next().unwrap().starts_with("STATUS"),
        "{stdout}"
    );
    assert!(
        line("changed", "orders").contains("visibility_timeout: 30 -> 60"),
        "{stdout}"
    );
    assert!(
        line("missing", "billing").contains("declared-queues"),
        "{stdout}"
    );
    assert!(
        line("unmanaged", "reports").contains("live-queues"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Drift: 3 resource(s) (1 changed, 1 missing, 1 unmanaged)"),
        "{stdout}"
    );

    // Without --check the table is printed and the exit code stays 0.
    let (code, plain, _) = drift(&config, &[]);
    assert_eq!(
        (code, plain.lines().count()),
        (Some(0), stdout.lines().count())
    );

    let (code, json, _) = drift(
        &config,
        &["--check", "--fail-on", "unmanaged", "--format", "json"],
    );
    assert_eq!(code, Some(2), "{json}");
    let document: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(document["fail_on"], json!(["unmanaged"]));
    assert_eq!(document["drift_found"], json!(true));
    let ids: Vec<&str> = document["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["reports"], "{json}");
    assert!(document["freshness"]["as_of"].is_string(), "{json}");

    let (code, stdout, _) = drift(&config, &["--check", "--fail-on", "stale"]);
    assert_eq!(code, Some(0), "{stdout}");
    let (code, _, stderr) = drift(&config, &["--check", "--fail-on", "missing,drifting"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("unknown drift status 'drifting'"),
        "{stderr}"
    );
}

/// A webhook receiver on loopback: records each request body; answers 500 to the first
/// request (to prove retries) and 200 to the others.
fn receiver() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = std::sync::Arc::clone(&received);
    std::thread::spawn(move || {
        for (index, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let status = if index == 0 {
                "500 Internal Server Error"
            } else {
                recorded
                    .lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                "200 OK"
            };
            let _ = stream.write_all(
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    (port, received)
}

#[tokio::test(flavor = "multi_thread")]
async fn alerts_fire_once_per_drift_onset_and_resolution() {
    use groundtruth_tests::{connect, free_port, rows, Server};

    let work = tempfile::tempdir().unwrap();
    let config = queue_sources(work.path());
    let (hook, received) = receiver();
    // Scrape every second; alert on changed queues only.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("interval = \"1h\"", "interval = \"1s\"");
    std::fs::write(
        &config,
        format!(
            "{text}[[alerts]]\nname = \"ops\"\nurl = \"http://127.0.0.1:{hook}/hook\"\n\
             statuses = [\"changed\"]\nkinds = [\"app/*\"]\nmax_attempts = 3\ntimeout = \"5s\"\n"
        ),
    )
    .unwrap();
    let both = |declared: &[(&str, u32)], live: &[(&str, u32)]| {
        std::fs::write(work.path().join("declared.json"), queues(declared)).unwrap();
        std::fs::write(work.path().join("live.json"), queues(live)).unwrap();
    };
    both(&[("orders", 30)], &[("orders", 30)]);
    let port = free_port();
    let mut server = Server::serve(&config, port).await.unwrap();
    let client = connect(port).await.unwrap();
    let wait_for = |count: usize| {
        let received = std::sync::Arc::clone(&received);
        async move {
            for _ in 0..150 {
                if received.lock().unwrap().len() >= count {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!(
                "{count} alerts expected, got {:?}",
                received.lock().unwrap()
            );
        }
    };

    // Drift starts: orders changes live, and an unmanaged queue appears (not alerted: the
    // alert watches changed only).
    both(&[("orders", 30)], &[("orders", 60), ("reports", 30)]);
    wait_for(1).await;
    // Drift resolves.
    both(&[("orders", 30)], &[("orders", 30), ("reports", 30)]);
    wait_for(2).await;
    // Several more scrapes: nothing fires twice.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let events = received.lock().unwrap().clone();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        (
            events[0]["event"].as_str(),
            events[0]["id"].as_str(),
            events[0]["status"].as_str()
        ),
        (Some("onset"), Some("orders"), Some("changed"))
    );
    assert_eq!(
        events[0]["differences_at_onset"][0]["path"],
        json!("visibility_timeout")
    );
    assert_eq!(
        (events[1]["event"].as_str(), events[1]["onset"].as_str()),
        (Some("resolved"), events[0]["onset"].as_str())
    );
    assert!(events[1]["resolved_at"].is_string(), "{events:?}");

    // The record: the onset took two tries (the receiver refused the first), the resolution one.
    let deliveries = rows(
        &client,
        "SELECT alert, event, id, status, attempts, delivered, http_status, error IS NULL \
         FROM alert_deliveries ORDER BY attempted_at",
    )
    .await
    .unwrap();
    assert_eq!(
        deliveries,
        vec![
            vec!["ops", "onset", "orders", "changed", "2", "t", "200", "t"],
            vec!["ops", "resolved", "orders", "changed", "1", "t", "200", "t"],
        ]
    );
    server.stop().unwrap();
}
