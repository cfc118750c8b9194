//! `groundtruth serve`: the Postgres-wire server, and with it (unless `--no-ingest`) the
//! scheduler writing this process's sources, compaction, retention, metrics and alerts.

use std::sync::Arc;

use groundtruth_engine::clock::SystemClock;
use groundtruth_engine::session::Engine;
use groundtruth_engine::store::Store;
use groundtruth_ingest::runner::Ingestor;
use groundtruth_ingest::scheduler::{self, ScheduledSource};
use tokio_util::sync::CancellationToken;

use super::mcp::mcp_server;
use super::*;
use crate::config::Config;
use crate::ops::{http, metrics};
use crate::{alerts, pg, retention, secret_key};

pub(crate) async fn serve(
    config: Config,
    worker: Option<&str>,
    no_ingest: bool,
) -> anyhow::Result<()> {
    // Before the port opens: a client that can connect can also stop the server.
    let shutdown = shutdown_signal();
    let owned = if no_ingest {
        None
    } else {
        Some(config.worker_sources(worker)?)
    };
    let listener = pg::bind(config.server.listen).await?;
    let store = open_store(&config).await?;
    let writer = match owned {
        None => None,
        Some(owned) => {
            Some(open_writer(&config, Arc::clone(&store), owned.as_ref(), worker).await?)
        }
    };
    let engine = open_engine(store, &config.drift).await?;
    run_services(engine, writer, listener, &config, shutdown).await
}

/// What a writing process runs: its ingestor, the sources it owns, and whether it keeps the
/// store tidy (compaction and vacuum: the only writer, or the first `[[workers]]` entry, so
/// two workers never compact at once).
pub(crate) struct Writer {
    pub ingestor: Arc<Ingestor>,
    pub sources: Vec<ScheduledSource>,
    pub maintains: bool,
}

/// Open the writer for the sources `owned` (`None`: all), as worker `worker` if any.
pub(crate) async fn open_writer(
    config: &Config,
    store: Arc<Store>,
    owned: Option<&std::collections::BTreeSet<String>>,
    worker: Option<&str>,
) -> anyhow::Result<Writer> {
    let mut sources = build_sources(config)?;
    if let Some(owned) = owned {
        sources.retain(|scheduled| owned.contains(scheduled.source.name()));
    }
    let ingestor = Arc::new(
        Ingestor::open_worker(store, Arc::new(SystemClock), owned)
            .await?
            .with_redactor(secret_key::load_redactor(&config.secrets)?),
    );
    let maintains = match worker {
        None => true,
        Some(name) => config
            .workers
            .first()
            .is_some_and(|first| first.name == name),
    };
    Ok(Writer {
        ingestor,
        sources,
        maintains,
    })
}

/// Serve queries (and, with a `writer`, run its scheduler) until Ctrl-C or SIGTERM, then stop
/// in order: stop accepting, let in-flight scrapes end (they are cancelled), exit. Without a
/// writer the process is a replica: it follows other processes' commits every
/// `[server] refresh_every`.
pub(crate) async fn run_services(
    engine: Engine,
    writer: Option<Writer>,
    listener: tokio::net::TcpListener,
    config: &Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let no_sources = Vec::new();
    let sources = writer
        .as_ref()
        .map_or(&no_sources, |writer| &writer.sources);
    let operations_listener = match config.server.metrics_listen {
        Some(address) => Some(pg::bind(address).await?),
        None => None,
    };
    let cancel = CancellationToken::new();
    let metrics = Arc::new(metrics::Metrics::default());
    // Before the wire handlers, so `alert_deliveries` is in the catalog they see.
    let alerter = if config.alerts.is_empty() {
        None
    } else {
        Some(
            alerts::Alerter::start(config.alerts.clone(), engine.clone(), Arc::new(SystemClock))
                .await?,
        )
    };
    let handlers = Arc::new(pg::GroundtruthHandlers::new(
        &engine,
        &config.server,
        Arc::clone(&metrics),
    )?);
    let address = listener.local_addr()?;
    tracing::info!(%address, sources = sources.len(), "serving");
    let operations = match operations_listener {
        Some(operations_listener) => {
            seed_metrics(&metrics, &engine, sources).await;
            tracing::info!(address = %operations_listener.local_addr()?, "serving /metrics and /health");
            Some(tokio::spawn(http::serve(
                operations_listener,
                http::Operations {
                    metrics: Arc::clone(&metrics),
                    engine: engine.clone(),
                    cancel: cancel.clone(),
                },
            )))
        }
        None => None,
    };
    let observer = writer.as_ref().map(|writer| {
        tokio::spawn(observe_scrapes(
            writer.ingestor.subscribe_scrapes(),
            Arc::clone(&metrics),
            cancel.clone(),
        ))
    });

    // Counts refreshes, so the alerter checks drift once the engine shows a commit.
    let (refreshed, refreshes) = tokio::sync::watch::channel(0_u64);
    let refresher = {
        let engine = engine.clone();
        let mut commits = writer.as_ref().map(|writer| writer.ingestor.subscribe());
        let every = config.server.refresh_every;
        let cancel = cancel.clone();
        tokio::spawn(async move {
            loop {
                // A writer refreshes after each of its commits; a replica polls the store.
                match commits.as_mut() {
                    Some(commits) => tokio::select! {
                        changed = commits.changed() => if changed.is_err() { return },
                        () = cancel.cancelled() => return,
                    },
                    None => tokio::select! {
                        () = tokio::time::sleep(every) => {}
                        () = cancel.cancelled() => return,
                    },
                }
                match engine.refresh().await {
                    Ok(()) => refreshed.send_modify(|count| *count += 1),
                    Err(error) => {
                        tracing::error!(%error, "refreshing the query session failed; serving the previous snapshot")
                    }
                }
            }
        })
    };
    let alerting =
        alerter.map(|alerter| tokio::spawn(alerts::run(alerter, refreshes, cancel.clone())));
    let mut writing = Vec::new();
    if let Some(writer) = writer {
        writing.push(tokio::spawn(scheduler::run(
            Arc::clone(&writer.ingestor),
            writer.sources,
            config.scheduler.max_concurrent,
            cancel.clone(),
        )));
        if writer.maintains {
            writing.push(tokio::spawn(compact_periodically(
                Arc::clone(&writer.ingestor),
                engine.clone(),
                cancel.clone(),
            )));
            if let Some(every) = config.retention.vacuum_every {
                writing.push(tokio::spawn(retention::vacuum_periodically(
                    Arc::clone(writer.ingestor.store()),
                    every,
                    config.retention.vacuum_after,
                    cancel.clone(),
                )));
            }
        }
    }
    let server = tokio::spawn(pg::serve(
        listener,
        handlers,
        config.server.max_connections,
        cancel.clone(),
    ));
    let mcp = match config.mcp.listen {
        Some(address) => {
            let listener = pg::bind(address).await?;
            tracing::info!(%address, "serving MCP at /mcp");
            Some(tokio::spawn(groundtruth_mcp::serve_http(
                listener,
                mcp_server(&engine, config)?,
                cancel.clone(),
            )))
        }
        None => None,
    };

    shutdown.await;
    tracing::info!("shutting down");
    cancel.cancel();
    let _ = server.await;
    for task in writing {
        let _ = task.await;
    }
    let _ = refresher.await;
    if let Some(observer) = observer {
        let _ = observer.await;
    }
    if let Some(operations) = operations {
        let _ = operations.await;
    }
    if let Some(alerting) = alerting {
        let _ = alerting.await;
    }
    if let Some(mcp) = mcp {
        if let Ok(Err(error)) = mcp.await {
            tracing::error!(%error, "the MCP server stopped");
        }
    }
    Ok(())
}

/// Show every configured source in the metrics, with the last success the store remembers.
pub(crate) async fn seed_metrics(
    metrics: &metrics::Metrics,
    engine: &Engine,
    sources: &[ScheduledSource],
) {
    for scheduled in sources {
        metrics.register_source(scheduled.source.name());
    }
    match metrics::read_source_health(engine).await {
        Ok(health) => {
            for source in health {
                if let Some(at) = source.last_success {
                    metrics.seed_last_success(&source.source, at);
                }
            }
        }
        Err(error) => tracing::warn!(%error, "cannot seed last-success metrics from the store"),
    }
}

/// Feed every committed scrape's record into the metrics until `cancel` fires.
pub(crate) async fn observe_scrapes(
    mut records: tokio::sync::broadcast::Receiver<groundtruth_engine::model::ScrapeRecord>,
    metrics: Arc<metrics::Metrics>,
    cancel: CancellationToken,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        let received = tokio::select! {
            received = records.recv() => received,
            () = cancel.cancelled() => return,
        };
        match received {
            Ok(record) => metrics.scrape_finished(&record),
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "scrape metrics fell behind; some scrapes are not counted"
                )
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Compact the history once an hour, so scrape-sized files do not pile up.
pub(crate) async fn compact_periodically(
    ingestor: Arc<Ingestor>,
    engine: Engine,
    cancel: CancellationToken,
) {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(3600);
    loop {
        tokio::select! {
            () = tokio::time::sleep(EVERY) => {}
            () = cancel.cancelled() => return,
        }
        match ingestor.store().compact().await {
            Ok(report) => {
                tracing::info!(
                    removed = report.files_removed,
                    added = report.files_added,
                    "compacted history"
                );
                if let Err(error) = engine.refresh().await {
                    tracing::error!(%error, "refresh after compaction failed");
                }
            }
            Err(error) => tracing::error!(%error, "compaction failed; will retry"),
        }
    }
}
