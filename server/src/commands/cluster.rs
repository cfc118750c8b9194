//! `groundtruth cluster scheduler|executor|sql`: the processes of a Ballista cluster over the
//! configured store, and a client that runs one query on it (see `groundtruth-cluster`).

use std::net::{IpAddr, SocketAddr};

use anyhow::Context;
use groundtruth_cluster::{ExecutorOptions, SchedulerOptions};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::config::Config;

/// Run until Ctrl-C or SIGTERM, then cancel `token`.
fn cancel_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let signal = shutdown_signal();
    let cancel = token.clone();
    tokio::spawn(async move {
        signal.await;
        cancel.cancel();
    });
    token
}

pub(crate) async fn scheduler(config: Config, bind: SocketAddr) -> anyhow::Result<()> {
    let shutdown = cancel_on_signal();
    let engine = Arc::new(open_engine(open_store(&config).await?, &config.drift).await?);
    tracing::info!(%bind, store = %config.store, "Ballista scheduler for groundtruth");
    groundtruth_cluster::run_scheduler(
        engine,
        SchedulerOptions {
            bind,
            external_host: None,
        },
        shutdown,
    )
    .await?;
    Ok(())
}

pub(crate) async fn executor(
    config: Config,
    scheduler: SocketAddr,
    bind: IpAddr,
    port: u16,
    grpc_port: u16,
    concurrent_tasks: Option<usize>,
) -> anyhow::Result<()> {
    let shutdown = cancel_on_signal();
    let engine = Arc::new(open_engine(open_store(&config).await?, &config.drift).await?);
    tracing::info!(%scheduler, port, grpc_port, "Ballista executor for groundtruth");
    groundtruth_cluster::run_executor(
        engine,
        ExecutorOptions {
            bind_host: bind,
            port,
            grpc_port,
            scheduler_host: scheduler.ip().to_string(),
            scheduler_port: scheduler.port(),
            concurrent_tasks,
            work_dir: None,
        },
        shutdown,
    )
    .await?;
    Ok(())
}

pub(crate) async fn sql(config: Config, scheduler: SocketAddr, query: &str) -> anyhow::Result<()> {
    let engine = Arc::new(open_engine(open_store(&config).await?, &config.drift).await?);
    let client = groundtruth_cluster::remote_context(engine, &format!("df://{scheduler}"))
        .await
        .with_context(|| format!("connecting to the scheduler at {scheduler}"))?;
    let batches = client.query(query).await?;
    println!("{}", arrow::util::pretty::pretty_format_batches(&batches)?);
    Ok(())
}
