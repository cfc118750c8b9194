//! The streamable HTTP transport on a loopback address: rmcp's tower service, served by
//! hyper's HTTP/1 half at `/mcp`. There is no authentication, so only loopback addresses are
//! accepted (as the wire's `trust` mode); rmcp also checks the `Host` header against loopback
//! names, which stops DNS rebinding from a browser.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower_service::Service;

use crate::error::{McpError, Result};
use crate::GroundtruthMcp;

/// The path clients connect to: `http://127.0.0.1:PORT/mcp`.
pub const MCP_PATH: &str = "/mcp";

/// Serve MCP over streamable HTTP on `listener` until `cancel` fires.
pub async fn serve_http(
    listener: TcpListener,
    server: GroundtruthMcp,
    cancel: CancellationToken,
) -> Result<()> {
    let address = listener
        .local_addr()
        .map_err(|error| McpError::Transport(error.to_string()))?;
    if !address.ip().is_loopback() {
        return Err(McpError::Listen {
            address,
            message: "the MCP HTTP transport has no authentication; listen on a loopback \
                      address (127.0.0.1 or ::1)"
                .into(),
        });
    }
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default().with_cancellation_token(cancel.child_token()),
    );
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = cancel.cancelled() => break,
        };
        let (stream, _) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "MCP accept failed");
                continue;
            }
        };
        let service = service.clone();
        let cancel = cancel.clone();
        connections.spawn(async move {
            let route = hyper::service::service_fn(move |request: Request<Incoming>| {
                let mut service = service.clone();
                async move {
                    if request.uri().path() != MCP_PATH {
                        let body = Full::new(Bytes::from(format!(
                            "not found: MCP is served at {MCP_PATH}\n"
                        )))
                        .map_err(|never| match never {})
                        .boxed();
                        let mut response = Response::new(body);
                        *response.status_mut() = StatusCode::NOT_FOUND;
                        return Ok::<_, Infallible>(response);
                    }
                    service.call(request).await
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), route);
            tokio::select! {
                served = connection => {
                    if let Err(error) = served {
                        tracing::debug!(%error, "MCP connection ended with an error");
                    }
                }
                // Open event streams would hold a graceful shutdown forever; drop them.
                () = cancel.cancelled() => {}
            }
        });
        while connections.try_join_next().is_some() {}
    }
    connections.shutdown().await;
    Ok(())
}
