//! The operations listener: `GET /metrics` (Prometheus text format) and `GET /health` on
//! `[server] metrics_listen`, a port separate from the Postgres protocol.
//!
//! Why a hand-written HTTP/1.1 responder: two read-only routes, one request per connection,
//! no bodies to read. A server framework (or hyper's server half) would be more code and build
//! time than this file. Each connection answers one request and is closed; a request head that
//! is too big or too slow is dropped.

use std::sync::Arc;
use std::time::Duration;

use groundtruth_engine::session::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::ops::metrics::{read_source_health, Metrics};

/// The longest request head read; operations requests are a line and a few headers.
const MAX_HEAD: usize = 8192;
/// Time allowed to send the request head.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for the store read behind `/health`.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// What the routes read.
#[derive(Clone)]
pub struct Operations {
    /// The registry `/metrics` renders.
    pub metrics: Arc<Metrics>,
    /// The engine `/health` reads the `sources` view through.
    pub engine: Engine,
    /// The server's shutdown token: once cancelled, `/health` says 503.
    pub cancel: CancellationToken,
}

/// Answer requests on `listener` until `operations.cancel` fires.
pub async fn serve(listener: TcpListener, operations: Operations) {
    let mut requests = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = operations.cancel.cancelled() => break,
        };
        match accepted {
            Ok((socket, _)) => {
                let operations = operations.clone();
                requests.spawn(async move {
                    if let Err(error) = answer(socket, &operations).await {
                        tracing::debug!(%error, "metrics request failed");
                    }
                });
            }
            Err(error) => tracing::warn!(%error, "metrics accept failed"),
        }
        while requests.try_join_next().is_some() {}
    }
    // Dropping the set aborts requests still in flight.
}

/// A response: status line, content type, body.
#[derive(Debug, PartialEq)]
struct Reply {
    status: &'static str,
    content_type: &'static str,
    body: String,
}

impl Reply {
    fn text(status: &'static str, body: &str) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{body}\n"),
        }
    }
}

async fn answer(mut socket: TcpStream, operations: &Operations) -> std::io::Result<()> {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut socket)).await {
        Ok(head) => head?,
        Err(_) => return Ok(()),
    };
    let (method, path) = request_line(&head);
    let reply = match (method, path) {
        ("GET" | "HEAD", "/metrics") => Reply {
            status: "200 OK",
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: operations.metrics.render(),
        },
        ("GET" | "HEAD", "/health") => health(operations).await,
        (_, "/metrics" | "/health") => Reply::text("405 Method Not Allowed", "use GET"),
        _ => Reply::text("404 Not Found", "not found: try /metrics or /health"),
    };
    let mut response = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.status,
        reply.content_type,
        reply.body.len()
    );
    if method != "HEAD" {
        response.push_str(&reply.body);
    }
    socket.write_all(response.as_bytes()).await?;
    socket.shutdown().await
}

/// Read until the blank line that ends the request head (or `MAX_HEAD` bytes, or EOF).
async fn read_head(socket: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while head.len() < MAX_HEAD && !head.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = socket.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..read]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// Method and path (without a query string) of a request head; empty when malformed.
fn request_line(head: &str) -> (&str, &str) {
    let mut words = head.lines().next().unwrap_or_default().split_whitespace();
    let method = words.next().unwrap_or_default();
    let target = words.next().unwrap_or_default();
    let path = target.split(['?', '#']).next().unwrap_or_default();
    (method, path)
}

/// 200 with each source's last status and staleness when the server is serving and the store
/// answers; 503 otherwise.
async fn health(operations: &Operations) -> Reply {
    let unavailable = |reason: String| Reply {
        status: "503 Service Unavailable",
        content_type: "application/json",
        body: serde_json::json!({"status": "unavailable", "error": reason}).to_string(),
    };
    if operations.cancel.is_cancelled() {
        return unavailable("shutting down".into());
    }
    let sources =
        match tokio::time::timeout(HEALTH_TIMEOUT, read_source_health(&operations.engine)).await {
            Ok(Ok(sources)) => sources,
            Ok(Err(error)) => return unavailable(error.to_string()),
            Err(_) => {
                return unavailable(format!(
                    "the store did not answer within {HEALTH_TIMEOUT:?}"
                ))
            }
        };
    let sources: serde_json::Map<String, serde_json::Value> = sources
        .into_iter()
        .map(|source| {
            (
                source.source,
                serde_json::json!({"last_status": source.last_status, "stale": source.stale}),
            )
        })
        .collect();
    Reply {
        status: "200 OK",
        content_type: "application/json",
        body: serde_json::json!({"status": "ok", "sources": sources}).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines_are_split_into_method_and_path() {
        assert_eq!(
            request_line("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("GET", "/metrics")
        );
        assert_eq!(
            request_line("HEAD /health HTTP/1.0\r\n\r\n"),
            ("HEAD", "/health")
        );
        assert_eq!(request_line(""), ("", ""));
        assert_eq!(request_line("garbage"), ("garbage", ""));
    }
}
