//! Shared harness for Groundtruth's integration tests: run the real `groundtruth` binary on a
//! free loopback port, connect with tokio-postgres, and stop it by PID.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// The `groundtruth` binary: `GROUNDTRUTH_BIN`, or the workspace's debug build.
pub fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("GROUNDTRUTH_BIN") {
        return PathBuf::from(path);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/groundtruth");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p groundtruth-server` first (tests/run.sh does)",
        path.display()
    );
    path
}

/// Path of a file under tests/fixtures.
pub fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(relative)
}

/// The Python of the test virtualenv (tests/scripts/test_venv.sh): `GROUNDTRUTH_TEST_VENV`,
/// or the script's default location.
pub fn test_python() -> PathBuf {
    let venv = std::env::var("GROUNDTRUTH_TEST_VENV")
        .unwrap_or_else(|_| "/tmp/groundtruth-test-venv".to_string());
    Path::new(&venv).join("bin/python")
}

/// Path of a file under tests/clients.
pub fn client_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("clients")
        .join(name)
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// Run the CLI with a config file and return its output.
pub fn cli(config: &Path, args: &[&str]) -> anyhow::Result<Output> {
    Command::new(binary())
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .context("running groundtruth")
}

/// A running `groundtruth serve` (or `demo`) process.
pub struct Server {
    child: Child,
    /// Port it serves on.
    pub port: u16,
}

impl Server {
    /// Start `groundtruth --config CONFIG serve` and wait until it accepts connections.
    pub async fn serve(config: &Path, port: u16) -> anyhow::Result<Self> {
        Self::serve_with_env(config, port, &[]).await
    }

    /// [`Server::serve`] with extra environment variables for the server process only (the
    /// test process is shared by every integration test, so its own environment stays put).
    pub async fn serve_with_env(
        config: &Path,
        port: u16,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let child = Command::new(binary())
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env("GROUNDTRUTH_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting groundtruth serve")?;
        let mut server = Server { child, port };
        server.wait_ready(Duration::from_secs(60)).await?;
        Ok(server)
    }

    async fn wait_ready(&mut self, limit: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait()? {
                bail!("groundtruth exited early with {status}");
            }
            match connect(self.port).await {
                Ok(_) => return Ok(()),
                // Any answer but an I/O failure (a refused connection) means the server is
                // up: an authentication error or a password request included.
                Err(error)
                    if error
                        .downcast_ref::<tokio_postgres::Error>()
                        .is_some_and(|error| {
                            std::error::Error::source(error)
                                .is_none_or(|source| !source.is::<std::io::Error>())
                        }) =>
                {
                    return Ok(())
                }
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("groundtruth did not accept connections within {limit:?}")
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        // std can only SIGKILL a child; SIGTERM goes through the `kill` command.
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()?;
        Ok(self.child.wait()?)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill_hard();
        }
    }
}

/// Connect with tokio-postgres; the connection task is spawned on the current runtime.
pub async fn connect(port: u16) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(
        // The servers under test may offer TLS; these checks speak plain text.
        &format!("host=127.0.0.1 port={port} user=test dbname=groundtruth sslmode=disable"),
        tokio_postgres::NoTls,
    )
    .await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Write a config file for a store and sources (TOML snippets).
pub fn write_config(directory: &Path, store: &Path, sources_toml: &str) -> anyhow::Result<PathBuf> {
    let path = directory.join("groundtruth.toml");
    std::fs::write(
        &path,
        format!(
            "store = {:?}\n\n{sources_toml}",
            store.display().to_string()
        ),
    )?;
    Ok(path)
}

/// All rows of a simple query as strings (NULL as "NULL"), for assertions.
pub async fn rows(client: &tokio_postgres::Client, sql: &str) -> anyhow::Result<Vec<Vec<String>>> {
    let messages = client
        .simple_query(sql)
        .await
        .with_context(|| sql.to_string())?;
    Ok(messages
        .into_iter()
        .filter_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|index| row.get(index).unwrap_or("NULL").to_string())
                    .collect(),
            ),
            _ => None,
        })
        .collect())
}

/// Every file below `directory`, recursively (a store's Delta logs and Parquet files).
pub fn files_under(directory: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(path) = pending.pop() {
        for entry in std::fs::read_dir(&path).expect("readable directory") {
            let entry = entry.expect("readable entry").path();
            if entry.is_dir() {
                pending.push(entry);
            } else {
                found.push(entry);
            }
        }
    }
    found
}
