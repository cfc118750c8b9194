//! A private moto server (AWS APIs on loopback) for tests, and the test estate seeded into it
//! by `tests/fixtures/aws/seed.py`. A module of `support` (see `support.rs`).
//!
//! Needs the shared test venv (`bash tests/scripts/test_venv.sh` creates it and prints its
//! path; tests find it through `GROUNDTRUTH_TEST_VENV`, default `/tmp/groundtruth-test-venv`).
//! Without it the tests fail and say so: they are never skipped.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The secret planted in the Lambda function's environment (and as the RDS password).
pub const LAMBDA_SECRET: &str = "orders-db-pa55word-planted-7f3a";
/// The secret access key the SDK signs with: must never appear in errors.
pub const SECRET_ACCESS_KEY: &str = "moto-secret-access-key-never-logged";
/// moto's default account.
pub const ACCOUNT: &str = "123456789012";
/// The seed script.
pub const SEED_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/aws/seed.py");

/// The shared test venv, checked.
pub fn venv() -> PathBuf {
    let venv = PathBuf::from(
        std::env::var("GROUNDTRUTH_TEST_VENV")
            .unwrap_or_else(|_| "/tmp/groundtruth-test-venv".to_string()),
    );
    assert!(
        venv.join("bin/moto_server").exists() && venv.join("bin/python").exists(),
        "moto is not installed in {}: run `bash tests/scripts/test_venv.sh` (it creates the \
         venv and prints its path) and set GROUNDTRUTH_TEST_VENV to that path",
        venv.display()
    );
    venv
}

/// Credentials for the SDK's standard chain, from the environment only (no profile files,
/// no instance metadata). The same values in every test, so parallel tests agree.
pub fn use_test_credentials() {
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY);
    std::env::remove_var("AWS_SESSION_TOKEN");
    std::env::remove_var("AWS_PROFILE");
    std::env::remove_var("AWS_ENDPOINT_URL");
    std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/groundtruth-test/config");
    std::env::set_var(
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/groundtruth-test/credentials",
    );
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port()
}

/// A moto server on a free port, killed (by its PID) on drop.
pub struct MotoServer {
    child: Child,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
}

impl MotoServer {
    /// Start moto and wait until it answers.
    pub fn start() -> MotoServer {
        Self::start_with_env(&[])
    }

    /// Start moto with extra environment (`INITIAL_NO_AUTH_ACTION_COUNT=0` turns on its
    /// credential checks).
    pub fn start_with_env(env: &[(&str, &str)]) -> MotoServer {
        use_test_credentials();
        let venv = venv();
        let port = free_port();
        let mut command = Command::new(venv.join("bin/moto_server"));
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("start moto_server");
        let mut server = MotoServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !server.answers() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("moto_server exited early: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not start in 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// The endpoint URL to configure.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let request = "GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200")
    }

    /// Run a phase of the seed script (`seed` or `modify`) against this server.
    pub fn seed(&self, phase: &str) {
        let output = Command::new(venv().join("bin/python"))
            .args([SEED_SCRIPT, &self.endpoint(), phase, LAMBDA_SECRET])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .output()
            .expect("run seed.py");
        assert!(
            output.status.success(),
            "seed.py {phase} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback HTTP proxy in front of moto that can make some requests fail with a 503, like
/// an outage: those whose head or body contains a given text (`/eu-west-1/` matches the SigV4
/// credential scope of one region, `Action=ListStackResources` one query-protocol operation,
/// `AmazonSQS.ListQueueTags` one JSON-protocol operation). Everything else reaches moto.
/// One request per connection.
pub struct RegionFaultProxy {
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    failing: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    throttling: std::sync::Arc<std::sync::Mutex<Throttling>>,
}

/// Requests to answer with AWS's throttling error before letting them through.
#[derive(Default)]
struct Throttling {
    matching: Option<String>,
    remaining: usize,
    answered: usize,
}

impl RegionFaultProxy {
    /// Forward to moto on `upstream_port`.
    pub fn start(upstream_port: u16) -> RegionFaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let failing = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
        let throttling = std::sync::Arc::new(std::sync::Mutex::new(Throttling::default()));
        let shared = std::sync::Arc::clone(&failing);
        let shared_throttling = std::sync::Arc::clone(&throttling);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let failing = std::sync::Arc::clone(&shared);
                let throttling = std::sync::Arc::clone(&shared_throttling);
                std::thread::spawn(move || {
                    let _ = proxy_one(client, upstream_port, &failing, &throttling);
                });
            }
        });
        RegionFaultProxy {
            port,
            failing,
            throttling,
        }
    }

    /// Answer the next `count` requests containing `text` with a JSON-protocol
    /// `ThrottlingException` (HTTP 400), as AWS does when a caller exceeds its rate.
    pub fn throttle(&self, text: &str, count: usize) {
        *self.throttling.lock().expect("lock") = Throttling {
            matching: Some(text.to_string()),
            remaining: count,
            answered: 0,
        };
    }

    /// How many throttling errors were answered since the last [`Self::throttle`].
    pub fn throttled(&self) -> usize {
        self.throttling.lock().expect("lock").answered
    }

    /// The endpoint URL to configure.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Make requests signed for `region` fail from now on (`None`: forward everything).
    pub fn fail_region(&self, region: Option<&str>) {
        self.fail_requests_containing(region.map(|region| format!("/{region}/")).as_deref());
    }

    /// Make requests containing `text` fail from now on (`None`: forward everything).
    pub fn fail_requests_containing(&self, text: Option<&str>) {
        *self.failing.lock().expect("lock") = text.map(str::to_string);
    }
}

fn proxy_one(
    mut client: TcpStream,
    upstream_port: u16,
    failing: &std::sync::Mutex<Option<String>>,
    throttling: &std::sync::Mutex<Throttling>,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut length = 0usize;
    let mut lines = Vec::new();
    let failing = failing.lock().expect("lock").clone();
    for line in head.split("\r\n").filter(|line| !line.is_empty()) {
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if !lower.starts_with("connection:") {
            lines.push(line.to_string());
        }
    }
    let mut body = vec![0u8; length];
    client.read_exact(&mut body)?;
    let fails = failing
        .is_some_and(|text| head.contains(&text) || String::from_utf8_lossy(&body).contains(&text));
    let throttled = {
        let mut throttling = throttling.lock().expect("lock");
        let matches = throttling.matching.as_deref().is_some_and(|text| {
            head.contains(text) || String::from_utf8_lossy(&body).contains(text)
        });
        if matches && throttling.remaining > 0 {
            throttling.remaining -= 1;
            throttling.answered += 1;
            true
        } else {
            false
        }
    };
    if throttled {
        let body =
            r#"{"__type":"com.amazonaws.sqs#ThrottlingException","message":"Rate exceeded"}"#;
        write!(
            client,
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-query-error: ThrottlingException;Sender\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        return Ok(());
    }
    if fails {
        let message = "service unavailable (test fault)";
        write!(
            client,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{message}",
            message.len()
        )?;
        return Ok(());
    }
    let mut upstream = TcpStream::connect(("127.0.0.1", upstream_port))?;
    upstream
        .write_all(format!("{}\r\nConnection: close\r\n\r\n", lines.join("\r\n")).as_bytes())?;
    upstream.write_all(&body)?;
    let mut response = Vec::new();
    upstream.read_to_end(&mut response)?;
    client.write_all(&response)?;
    Ok(())
}

/// A server that accepts connections and never answers.
pub fn silent_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

/// A server answering every request with 200 and a body that is neither XML nor JSON.
pub fn garbage_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buffer = [0u8; 65536];
                let _ = stream.read(&mut buffer);
                let body = "%%% definitely not XML or JSON %%%";
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}
