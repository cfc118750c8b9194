//! The fixture Kubernetes API server (`tests/fixtures/kubernetes/api_server.py`, Python 3
//! stdlib) for tests: started on a free loopback port, driven through its `/fixture/...`
//! controls, killed by PID on drop. A module of `support` (see `support.rs`).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The fixture server script.
pub const SERVER_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/kubernetes/api_server.py"
);
/// Renders manifests as an API server stores them, defaults added, into a data directory.
pub const RENDER_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/kubernetes/render.py"
);
/// The recorded discovery documents and object lists it serves.
pub const API_DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/kubernetes/api"
);

/// A running fixture API server, killed on drop.
pub struct FixtureApiServer {
    child: Child,
    /// The loopback port it listens on.
    pub port: u16,
    /// The bearer token it requires, if any.
    pub token: Option<String>,
}

impl FixtureApiServer {
    /// Start a server requiring `token` (`None`: no authentication, as kubectl sends no
    /// token over plain HTTP).
    pub fn start(token: Option<&str>) -> FixtureApiServer {
        Self::serving(Path::new(API_DATA), token)
    }

    /// Start a server answering from the discovery documents and states under `data`
    /// (laid out as [`API_DATA`] is; `render.py` writes such a directory from manifests).
    pub fn serving(data: &Path, token: Option<&str>) -> FixtureApiServer {
        let mut command = Command::new("python3");
        command.arg(SERVER_SCRIPT).arg("0").arg(data);
        if let Some(token) = token {
            command.arg(token);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start python3 {SERVER_SCRIPT}: {error}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the server's port line");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("fixture API server did not print its port: {line:?}")
            });
        FixtureApiServer {
            child,
            port,
            token: token.map(str::to_string),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A tiny HTTP/1.0 exchange (the tests need no HTTP client crate): the body of the answer.
    fn exchange(&self, method: &str, path: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to fixture");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
        )
        .expect("send control request");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read answer");
        assert!(
            answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"),
            "{method} {path}: {answer}"
        );
        answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default()
    }

    /// POST a `/fixture/...` control.
    pub fn control(&self, path: &str) {
        self.exchange("POST", path);
    }

    /// Serve the recorded state `name` (`base`, `changed`).
    pub fn set_state(&self, name: &str) {
        self.control(&format!("/fixture/state/{name}"));
    }

    /// Make the LISTs of `resource` (a plural: `configmaps`) answer `fault`
    /// (`403`, `500`, `garbage`, `hang`).
    pub fn fail(&self, resource: &str, fault: &str) {
        self.control(&format!("/fixture/fail/{resource}/{fault}"));
    }

    /// The API requests served so far (path and query), in order.
    pub fn requests(&self) -> Vec<String> {
        self.exchange("GET", "/fixture/requests")
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for FixtureApiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The kubectl of the shared test venv (`bash tests/scripts/test_venv.sh`).
pub fn kubectl() -> PathBuf {
    let venv = std::env::var("GROUNDTRUTH_TEST_VENV")
        .unwrap_or_else(|_| "/tmp/groundtruth-test-venv".to_string());
    let path = PathBuf::from(venv).join("bin/kubectl");
    assert!(
        path.exists(),
        "kubectl not found at {}: create the test venv with `bash tests/scripts/test_venv.sh` \
         (or set GROUNDTRUTH_TEST_VENV)",
        path.display()
    );
    path
}
