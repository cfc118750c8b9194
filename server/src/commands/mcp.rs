//! `groundtruth mcp`: the MCP server for agents, over standard input/output or HTTP.

use std::net::SocketAddr;
use std::sync::Arc;

use groundtruth_engine::clock::SystemClock;
use groundtruth_engine::session::Engine;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::config::Config;
use crate::pg;

/// The MCP server over `engine`, with the query library and `[mcp]` limits.
pub(crate) fn mcp_server(
    engine: &Engine,
    config: &Config,
) -> anyhow::Result<groundtruth_mcp::GroundtruthMcp> {
    Ok(groundtruth_mcp::GroundtruthMcp::new(
        engine.clone(),
        groundtruth_queries::Library::load()?,
        config.mcp.limits(),
        Arc::new(SystemClock),
    ))
}

/// `groundtruth mcp`: a reader of the store (another process writes it), serving one agent on
/// stdio or many over HTTP, re-reading the store at most once a second before a call.
pub(crate) async fn mcp(
    config: Config,
    http: bool,
    listen: Option<SocketAddr>,
) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let engine = open_engine(store, &config.drift).await?;
    let server = mcp_server(&engine, &config)?.refreshing(std::time::Duration::from_secs(1));
    let cancel = CancellationToken::new();
    let stop = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            cancel.cancel();
        })
    };
    let served = if http {
        let address = listen
            .or(config.mcp.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5434)));
        let listener = pg::bind(address).await?;
        tracing::info!(%address, "serving MCP at http://{address}/mcp");
        groundtruth_mcp::serve_http(listener, server, cancel).await
    } else {
        groundtruth_mcp::serve_stdio(server, cancel).await
    };
    stop.abort();
    Ok(served?)
}
