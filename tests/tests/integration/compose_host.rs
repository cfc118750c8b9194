//! A compose file declares a service publishing a port; the host source sees a real process
//! listening on that port; `identity_links` pairs them (rule `compose_published_port`) and the
//! socket names the process that serves the service. A service whose port nobody listens on
//! stays unlinked.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use groundtruth_tests::{cli, connect, free_port, rows, write_config, Server};

/// A listener process the test owns, killed on drop.
struct Listener(Child);

impl Listener {
    fn start(port: u16) -> Self {
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m http.server");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the listener did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self(child)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compose_service_links_to_the_host_process_listening_on_its_published_port() {
    let served_port = free_port();
    let idle_port = free_port();
    let _listener = Listener::start(served_port);

    let work = tempfile::tempdir().unwrap();
    let compose = work.path().join("compose.yaml");
    std::fs::write(
        &compose,
        format!(
            "name: shop\nservices:\n  web:\n    image: nginx:1.27\n    ports:\n      - \"127.0.0.1:{served_port}:80\"\n  \
             admin:\n    image: admin:2\n    ports:\n      - \"{idle_port}:9000/tcp\"\n"
        ),
    )
    .unwrap();
    let sources = format!(
        r#"[[sources]]
type = "compose"
name = "stack"
path = {compose:?}

[[sources]]
type = "host"
name = "this-host"
proc_root = "/proc"
"#,
        compose = compose.display().to_string(),
    );
    let config = write_config(work.path(), &work.path().join("store"), &sources).unwrap();
    let output = cli(&config, &["ingest", "--once"]).unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("stack: ok (") && text.contains("this-host: ok ("),
        "{text}"
    );

    let port = free_port();
    let mut serving = Server::serve(&config, port).await.unwrap();
    let client = connect(port).await.unwrap();
    let links = rows(
        &client,
        "SELECT k.declared_id, k.live_kind, k.live_id, k.rule, l.attrs->>'comm'
         FROM identity_links k
         JOIN resources l ON l.source = k.live_source AND l.kind = k.live_kind AND l.id = k.live_id
         WHERE k.declared_kind = 'compose/service' ORDER BY k.declared_id",
    )
    .await
    .unwrap();
    assert_eq!(
        links,
        vec![vec![
            "shop/web".to_string(),
            "listen_socket".to_string(),
            format!("tcp:127.0.0.1:{served_port}"),
            "compose_published_port".to_string(),
            "python3".to_string(),
        ]],
        "only the service whose port is listened on is linked, to the socket of its process"
    );
    // Linked services are judged like any link across kinds: present, attributes not compared.
    let drift = rows(
        &client,
        "SELECT status, declared_id, attributes_compared FROM drift WHERE declared_kind = 'compose/service'",
    )
    .await
    .unwrap();
    assert_eq!(
        drift,
        vec![vec![
            "in_sync".to_string(),
            "shop/web".to_string(),
            "f".to_string()
        ]]
    );
    drop(client);
    serving.stop().unwrap();
}
