//! A server that is safe to expose, through the real binary and real clients: SCRAM-SHA-256
//! against stored verifiers (psql, tokio-postgres and psycopg), TLS with `sslmode=require` and
//! `verify-full`, refusal to listen beyond loopback without authentication, and the limits
//! (statement time, result rows, query memory, connections), each a clean error with its
//! SQLSTATE after which a second connection still works.

use std::path::{Path, PathBuf};
use std::process::Command;

use groundtruth_tests::{binary, free_port, Server};
use tokio_postgres::error::SqlState;

const PASSWORD: &str = "correct horse battery";

/// A verifier made by the binary itself, as an operator would.
fn verifier(password: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(binary())
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap().trim().to_string();
    assert!(text.starts_with("SCRAM-SHA-256$4096:"), "{text}");
    assert!(!text.contains(password));
    text
}

/// A self-signed certificate for localhost and 127.0.0.1 (openssl CLI).
fn certificate(directory: &Path) -> (PathBuf, PathBuf) {
    let cert = directory.join("server.crt");
    let key = directory.join("server.key");
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    (cert, key)
}

fn write(directory: &Path, server_section: &str) -> PathBuf {
    let path = directory.join("groundtruth.toml");
    std::fs::write(
        &path,
        format!(
            "store = {:?}\n\n[server]\n{server_section}",
            directory.join("store").display().to_string()
        ),
    )
    .unwrap();
    path
}

async fn connect_as(
    port: u16,
    user: &str,
    password: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={port} user={user} password='{password}' dbname=groundtruth sslmode=disable"
        ),
        tokio_postgres::NoTls,
    )
    .await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

fn code(error: &tokio_postgres::Error) -> Option<&SqlState> {
    error.as_db_error().map(|error| error.code())
}

fn psql(connection: &str, sql: &str) -> std::process::Output {
    Command::new("psql")
        .args([
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            connection,
            "-c",
            sql,
        ])
        .env("PGPASSWORD", PASSWORD)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql")
}

#[tokio::test(flavor = "multi_thread")]
async fn scram_and_tls_with_psql_tokio_postgres_and_psycopg() {
    let work = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(work.path());
    let config = write(
        work.path(),
        &format!(
            "auth = \"scram-sha-256\"\n\n[[server.users]]\nname = \"ops\"\npassword_verifier = \"{}\"\n\n\
             [server.tls]\ncert = {:?}\nkey = {:?}\n",
            verifier(PASSWORD),
            cert.display().to_string(),
            key.display().to_string()
        ),
    );
    let port = free_port();
    let mut server = Server::serve(&config, port).await.unwrap();

    // The right password, then a wrong one and an unknown user: both 28P01, same message shape.
    let client = connect_as(port, "ops", PASSWORD).await.unwrap();
    let one: i64 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    let wrong = connect_as(port, "ops", "battery staple").await.unwrap_err();
    assert_eq!(code(&wrong), Some(&SqlState::INVALID_PASSWORD), "{wrong}");
    let unknown = connect_as(port, "mallory", PASSWORD).await.unwrap_err();
    assert_eq!(
        code(&unknown),
        Some(&SqlState::INVALID_PASSWORD),
        "{unknown}"
    );
    // Failed logins do not disturb an open session.
    let two: i64 = client.query_one("SELECT 2", &[]).await.unwrap().get(0);
    assert_eq!(two, 2);

    // psql over TLS: required, then verified against the certificate and host name.
    let required = psql(
        &format!("host=127.0.0.1 port={port} user=ops dbname=groundtruth sslmode=require"),
        "SELECT count(*) FROM sources",
    );
    assert!(
        required.status.success(),
        "{}",
        String::from_utf8_lossy(&required.stderr)
    );
    let verified = psql(
        &format!(
            "host=localhost port={port} user=ops dbname=groundtruth sslmode=verify-full sslrootcert={}",
            cert.display()
        ),
        "SELECT 'verified'",
    );
    assert_eq!(
        String::from_utf8_lossy(&verified.stdout).trim(),
        "verified",
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    // A client that verifies against another authority refuses the server.
    let other = work.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let (other_cert, _) = certificate(&other);
    let mismatch = psql(
        &format!(
            "host=localhost port={port} user=ops dbname=groundtruth sslmode=verify-full sslrootcert={}",
            other_cert.display()
        ),
        "SELECT 1",
    );
    assert!(!mismatch.status.success());

    // psycopg (libpq underneath, through Python): TLS and SCRAM, with a server-side parameter.
    let script = format!(
        "import psycopg\n\
         with psycopg.connect(host='localhost', port={port}, user='ops', password={PASSWORD:?}, \
         dbname='groundtruth', sslmode='verify-full', sslrootcert={:?}) as conn:\n\
         \x20   print(conn.info.pgconn.ssl_in_use, conn.execute('SELECT %s::text', ['over tls']).fetchone()[0])\n",
        cert.display().to_string()
    );
    let python = Command::new(groundtruth_tests::test_python())
        .args(["-c", &script])
        .output()
        .expect("python");
    assert_eq!(
        String::from_utf8_lossy(&python.stdout).trim(),
        "True over tls",
        "{}",
        String::from_utf8_lossy(&python.stderr)
    );
    server.stop().unwrap();
}

#[test]
fn exposing_the_server_without_authentication_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let config = write(work.path(), "listen = \"0.0.0.0:0\"\n");
    let mut child = Command::new(binary())
        .args(["--config"])
        .arg(&config)
        .arg("serve")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started on 0.0.0.0 without authentication");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(
        error.contains("refusing to listen on 0.0.0.0:0 without authentication"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_limit_is_a_clean_error_with_its_sqlstate_and_others_keep_working() {
    let work = tempfile::tempdir().unwrap();
    let config = write(
        work.path(),
        "max_connections = 2\nmax_result_rows = 1000\nstatement_timeout = \"3s\"\nmemory_limit = \"4MiB\"\n",
    );
    let port = free_port();
    let mut server = Server::serve(&config, port).await.unwrap();
    // The readiness probe's connection may still hold a slot for a moment.
    let first = admitted(port, "a").await;
    let second = admitted(port, "b").await;

    // Too many rows: 54000, and only once the result really exceeds the limit.
    let rows = first
        .query("SELECT value FROM range(1000)", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1000);
    let error = first
        .simple_query("SELECT value FROM range(1001)")
        .await
        .unwrap_err();
    assert_eq!(
        code(&error),
        Some(&SqlState::PROGRAM_LIMIT_EXCEEDED),
        "{error}"
    );
    still_works(&first).await;

    // The server's statement timeout, then a client's shorter one: 57014.
    let started = std::time::Instant::now();
    let error = first
        .simple_query("SELECT count(*) FROM range(100000000000)")
        .await
        .unwrap_err();
    assert_eq!(code(&error), Some(&SqlState::QUERY_CANCELED), "{error}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    second
        .simple_query("SET statement_timeout = '200ms'")
        .await
        .unwrap();
    let error = second
        .query("SELECT count(*) FROM range(100000000000)", &[])
        .await
        .unwrap_err();
    assert_eq!(code(&error), Some(&SqlState::QUERY_CANCELED), "{error}");
    still_works(&second).await;

    // A cancel request (its own connection, with the backend key) stops a running query: 57014.
    let cancel = second.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        cancel.cancel_query(tokio_postgres::NoTls).await
    });
    let started = std::time::Instant::now();
    let error = second
        .simple_query("SELECT count(*) FROM range(100000000000)")
        .await
        .unwrap_err();
    canceller.await.unwrap().unwrap();
    assert_eq!(code(&error), Some(&SqlState::QUERY_CANCELED), "{error}");
    assert!(
        started.elapsed() < std::time::Duration::from_millis(2500),
        "canceled by the request, not by the 3 s statement timeout: {:?}",
        started.elapsed()
    );
    still_works(&second).await;

    // A query that needs more memory than the pool: 53200; the session goes on.
    let error = first
        .simple_query(
            "SELECT count(*) FROM range(3000000) a JOIN range(3000000) b ON a.value = b.value",
        )
        .await
        .unwrap_err();
    assert_eq!(code(&error), Some(&SqlState::OUT_OF_MEMORY), "{error}");
    still_works(&first).await;

    // A third connection is refused with 53300; the two open ones keep working, and once one
    // closes a new one gets in.
    let refused = connect_as(port, "c", "").await.unwrap_err();
    assert_eq!(
        code(&refused),
        Some(&SqlState::TOO_MANY_CONNECTIONS),
        "{refused}"
    );
    still_works(&second).await;
    drop(first);
    still_works(&admitted(port, "d").await).await;
    server.stop().unwrap();
}

/// The session answers a plain query.
async fn still_works(client: &tokio_postgres::Client) {
    let value: i64 = client.query_one("SELECT 42", &[]).await.unwrap().get(0);
    assert_eq!(value, 42);
}

/// A connection, once a slot is free (within five seconds).
async fn admitted(port: u16, user: &str) -> tokio_postgres::Client {
    for _ in 0..50 {
        if let Ok(client) = connect_as(port, user, "").await {
            return client;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no connection slot freed up within five seconds");
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_and_stalled_clients_lose_only_their_own_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let work = tempfile::tempdir().unwrap();
    let config = write(work.path(), "max_connections = 8\n");
    let port = free_port();
    let mut server = Server::serve(&config, port).await.unwrap();
    let client = admitted(port, "steady").await;

    // Garbage instead of a startup packet: an absurd length, then noise. The server closes that
    // connection (EOF, or an error response first).
    let mut garbage = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    garbage
        .write_all(&[0x7f, 0xff, 0xff, 0xff, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3])
        .await
        .unwrap();
    let mut buffer = vec![0_u8; 1024];
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match garbage.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the garbage connection was not closed");

    // A client that stops halfway through its startup packet, and one that stops halfway
    // through a query message after logging in: both only hold their own connection.
    let mut stalled = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stalled.write_all(&[0, 0, 0, 40, 0, 3, 0]).await.unwrap();
    let half_query = b"Q\x00\x00\x01\x00SELECT";
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut startup = Vec::new();
    startup.extend_from_slice(&196_608_u32.to_be_bytes());
    startup.extend_from_slice(b"user\0raw\0database\0groundtruth\0\0");
    let length = u32::try_from(startup.len() + 4).unwrap();
    raw.write_all(&length.to_be_bytes()).await.unwrap();
    raw.write_all(&startup).await.unwrap();
    raw.write_all(half_query).await.unwrap();

    // A truncated Bind after login: the frame decoder of pgwire 0.41.1 panics on it (found by
    // fuzz/run.sh). The panic ends that connection's task only.
    let mut truncated = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    truncated.write_all(&length.to_be_bytes()).await.unwrap();
    truncated.write_all(&startup).await.unwrap();
    truncated
        .write_all(b"P\x00\x00\x00\x10\x00SELECHT $1\x00\x00\x00B\x00\x00\x00\x0c\x00\x00\x01\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match truncated.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the connection with a truncated Bind was not closed"
    );

    for round in 0..3 {
        let value: i64 = client
            .query_one("SELECT count(*) FROM range(10)", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(value, 10, "round {round}");
        still_works(&admitted(port, "newcomer").await).await;
    }
    drop(stalled);
    drop(raw);
    server.stop().unwrap();
}
