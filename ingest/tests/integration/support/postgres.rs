//! A private PostgreSQL 15 server for tests, and the order migration tools apply the
//! fixture projects in. A module of `support` (see `support.rs`).
//!
//! Needs the PostgreSQL 15 server binaries (`postgresql` package) in
//! `/usr/lib/postgresql/15/bin`; without them the tests fail and say so.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the PostgreSQL 15 server binaries are.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
/// The SQL migration fixture projects.
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/migrations");

/// A private PostgreSQL server in a temporary directory, stopped on drop.
pub struct PostgresServer {
    directory: tempfile::TempDir,
    /// The TCP port it listens on, on 127.0.0.1.
    pub port: u16,
    as_postgres_user: bool,
}

impl PostgresServer {
    /// initdb and start a server on a free port.
    pub fn start() -> PostgresServer {
        let bin = Path::new(PG_BIN);
        assert!(
            bin.join("initdb").exists() && bin.join("pg_ctl").exists(),
            "PostgreSQL 15 server binaries not found in {PG_BIN}: install the `postgresql` \
             package (apt-get install postgresql) to run this test"
        );
        let directory = tempfile::Builder::new()
            .prefix("gt-pg-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        // SAFETY: geteuid has no preconditions and cannot fail.
        #[allow(unsafe_code)]
        let as_postgres_user = unsafe { libc::geteuid() } == 0;
        std::fs::set_permissions(
            directory.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod tempdir");
        if as_postgres_user {
            let status = Command::new("chown")
                .arg("postgres:postgres")
                .arg(directory.path())
                .status()
                .expect("run chown");
            assert!(
                status.success(),
                "chown of {} failed",
                directory.path().display()
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("free port")
            .port();
        let server = PostgresServer {
            directory,
            port,
            as_postgres_user,
        };
        let data = server.directory.path().join("data");
        server.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C.UTF-8".as_ref(),
                "--no-sync".as_ref(),
            ],
        );
        // The superuser connects without a password; every other role must authenticate,
        // so wrong passwords can be tested.
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             host all postgres 127.0.0.1/32 trust\n\
             host all all 127.0.0.1/32 scram-sha-256\n",
        )
        .expect("write pg_hba.conf");
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            server.directory.path().display()
        );
        let log = server.directory.path().join("log");
        server.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-s".as_ref(),
                "-o".as_ref(),
                options.as_ref(),
                "start".as_ref(),
            ],
        );
        server
    }

    fn command(&self, program: &str) -> Command {
        let path = Path::new(PG_BIN).join(program);
        if self.as_postgres_user {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn run(&self, program: &str, arguments: &[&std::ffi::OsStr]) {
        let output = self
            .command(program)
            .args(arguments)
            .output()
            .unwrap_or_else(|error| panic!("cannot run {program}: {error}"));
        let log = std::fs::read_to_string(self.directory.path().join("log")).unwrap_or_default();
        assert!(
            output.status.success(),
            "{program} failed: {}\n{}\nserver log:\n{log}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A client connected as the superuser to `database`.
    pub async fn connect(&self, database: &str) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user=postgres dbname={database}",
                self.port
            ),
            tokio_postgres::NoTls,
        )
        .await
        .unwrap_or_else(|error| panic!("connect to PostgreSQL on port {}: {error}", self.port));
        tokio::spawn(connection);
        client
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let data = self.directory.path().join("data");
        // Best effort: a failed stop must not hide the test's own failure.
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-m", "fast", "-w", "-s", "stop"])
            .output();
    }
}

/// The files a migration tool would run, in its order (written independently of the source:
/// Flyway `V` by numeric version then `R` by name; golang-migrate `.up.sql` by number).
pub fn migration_order(directory: &Path) -> Vec<PathBuf> {
    let mut names: Vec<String> = std::fs::read_dir(directory)
        .expect("fixture directory")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    // `V1_1__x.sql` -> [1, 1]; `000003_x.up.sql` -> [3].
    let version = |name: &str| -> Vec<u64> {
        let head = match name.strip_prefix('V') {
            Some(rest) => rest.split("__").next().unwrap_or(""),
            None => name.split('_').next().unwrap_or(""),
        };
        head.split(['.', '_'])
            .map(|part| part.parse().expect("numeric version"))
            .collect()
    };
    let mut versioned: Vec<&String> = names
        .iter()
        .filter(|name| name.starts_with('V') || name.ends_with(".up.sql"))
        .collect();
    versioned.sort_by_key(|name| version(name));
    let repeatable = names.iter().filter(|name| name.starts_with("R__"));
    versioned
        .into_iter()
        .chain(repeatable)
        .map(|name| directory.join(name))
        .collect()
}

impl PostgresServer {
    /// Create `database` and apply the fixture project `project` to it, in migration order.
    pub async fn create_from_fixture(
        &self,
        database: &str,
        project: &str,
    ) -> tokio_postgres::Client {
        let admin = self.connect("postgres").await;
        admin
            .batch_execute(&format!("CREATE DATABASE {database}"))
            .await
            .expect("create database");
        let client = self.connect(database).await;
        for file in migration_order(&Path::new(FIXTURES).join(project)) {
            let sql = std::fs::read_to_string(&file).expect("read migration");
            client.batch_execute(&sql).await.unwrap_or_else(|error| {
                panic!("PostgreSQL rejected {}: {error:?}", file.display())
            });
        }
        client
    }

    /// A connection string for the superuser on TCP.
    pub fn connection(&self, database: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname={database}",
            self.port
        )
    }
}
