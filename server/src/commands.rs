//! The subcommands of `groundtruth`, one file each (`main.rs` parses the command line and
//! dispatches here), and what they share: opening the store and the engine, building the
//! configured sources, and the shutdown signal.

pub mod backfill;
pub mod cluster;
pub mod ingest;
pub mod mcp;
pub mod query;
pub mod serve;

use std::sync::Arc;

use anyhow::Context;
use groundtruth_engine::session::Engine;
use groundtruth_engine::store::{Store, StoreUrl};
use groundtruth_ingest::config::build_all;
use groundtruth_ingest::scheduler::ScheduledSource;

use crate::config::Config;

pub(crate) async fn open_store(config: &Config) -> anyhow::Result<Arc<Store>> {
    let url = StoreUrl::parse(&config.store)?;
    let store = Store::open(&url, &config.store_options)
        .await
        .with_context(|| format!("opening store {url}"))?
        .with_checkpoint_policy(config.checkpoints);
    Ok(Arc::new(store))
}

pub(crate) fn build_sources(config: &Config) -> anyhow::Result<Vec<ScheduledSource>> {
    let epoch = groundtruth_ingest::source::simulated::demo_epoch(chrono::Utc::now());
    Ok(build_all(&config.sources, epoch)?)
}

/// Resolves at Ctrl-C or SIGTERM. The SIGTERM handler is installed when this is called, not
/// when first awaited, so a process that says it is ready already honours SIGTERM.
pub(crate) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let interrupt = tokio::signal::ctrl_c();
        #[cfg(unix)]
        if let Some(mut terminate) = terminate {
            tokio::select! {
                _ = interrupt => {}
                _ = terminate.recv() => {}
            }
            return;
        }
        let _ = interrupt.await;
    }
}

/// The SQL surface over `store`, with the configured drift rules and the query library
/// installed.
pub(crate) async fn open_engine(
    store: Arc<Store>,
    drift: &groundtruth_engine::drift::DriftSettings,
) -> anyhow::Result<Engine> {
    let library = groundtruth_queries::Library::load()?;
    Ok(Engine::open_with(store, drift)
        .await?
        .with_named_queries(Arc::new(library))
        .await?)
}
