//! `groundtruth`: the composition root. It wires the engine (storage and SQL), ingest (sources
//! and scheduler) and the Postgres-wire server together behind one command-line tool.

mod alerts;
mod config;
mod demo;
mod drift_check;
mod http;
mod metrics;
mod retention;
mod scram_verifier;
mod secret_key;
pub use groundtruth_pg_compat::sqlstate;
mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use groundtruth_engine::clock::SystemClock;
use groundtruth_engine::model::ScrapeStatus;
use groundtruth_engine::session::Engine;
use groundtruth_engine::store::{Store, StoreUrl};
use groundtruth_ingest::config::build_all;
use groundtruth_ingest::runner::{Ingestor, RunOptions};
use groundtruth_ingest::scheduler::{self, ScheduledSource};
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// Errors of the server crate.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration file or an override is wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// The listening address is unavailable.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// pg_catalog emulation could not be installed.
    #[error("installing pg_catalog: {0}")]
    Catalog(String),
    /// The store could not be read (the health check, seeding metrics).
    #[error("reading the store: {0}")]
    Store(String),
}

#[derive(Debug, Parser)]
#[command(
    name = "groundtruth",
    version,
    about = "What was declared and what was running, over time, in SQL"
)]
struct Cli {
    /// Configuration file (TOML); see server/groundtruth.example.toml.
    #[arg(long, short, global = true, env = "GROUNDTRUTH_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the scheduler and the Postgres-wire server.
    Serve {
        /// Write only the sources of this `[[workers]]` entry (required when workers are
        /// declared, unless --no-ingest).
        #[arg(long, conflicts_with = "no_ingest")]
        worker: Option<String>,
        /// Serve queries only (a replica): write nothing, and follow the commits of the
        /// processes that do, every `[server] refresh_every`.
        #[arg(long)]
        no_ingest: bool,
    },
    /// Run sources now and commit what changed.
    Ingest {
        /// Run each source once, then exit.
        #[arg(long)]
        once: bool,
        /// Only this source.
        #[arg(long)]
        source: Option<String>,
        /// Write only the sources of this `[[workers]]` entry (required when workers are
        /// declared).
        #[arg(long)]
        worker: Option<String>,
    },
    /// Replay the git history of a declared source's path into the store, so "what was
    /// declared at T" works for times before Groundtruth was installed.
    Backfill {
        /// The source to backfill (its path must lie in a git work tree).
        #[arg(long)]
        source: String,
        /// Only commits at or after this date (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        since: Option<String>,
    },
    /// Run a named query from the library (`--list` shows them) and print the result.
    Query {
        /// The query's name.
        #[arg(required_unless_present = "list")]
        name: Option<String>,
        /// A parameter, `name=value` (repeatable).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// List the queries with their parameters instead.
        #[arg(long)]
        list: bool,
    },
    /// Run a query against the store and print the result.
    Sql {
        /// The SQL text.
        query: String,
    },
    /// Show where declared and running disagree now; with --check, exit 2 when drift of the
    /// --fail-on statuses exists (0 when none), for CI pipelines.
    Drift {
        /// Exit 2 when drift exists (like `terraform plan -detailed-exitcode`).
        #[arg(long)]
        check: bool,
        /// Statuses that count as drift: missing, unmanaged, changed, stale.
        #[arg(long, value_name = "STATUSES", default_value = drift_check::DEFAULT_FAIL_ON)]
        fail_on: String,
        /// table (for people) or json.
        #[arg(long, value_enum, default_value = "table")]
        format: drift_check::Format,
    },
    /// Serve the MCP server for AI agents: on standard input/output (what agent hosts launch),
    /// or with --http over streamable HTTP at http://ADDRESS/mcp.
    Mcp {
        /// Serve streamable HTTP instead of stdio.
        #[arg(long)]
        http: bool,
        /// HTTP address (default: `[mcp] listen`, else 127.0.0.1:5434); loopback only.
        #[arg(long, requires = "http")]
        listen: Option<SocketAddr>,
    },
    /// Rewrite small history files into large, clustered ones.
    Compact,
    /// Delete the files compaction removed more than `[retention] vacuum_after` ago (queries on
    /// snapshots younger than that keep working; referenced files are never deleted).
    Vacuum {
        /// Only list what would be deleted.
        #[arg(long)]
        dry_run: bool,
        /// Override `[retention] vacuum_after` (e.g. 24h, 7d).
        #[arg(long, value_name = "DURATION")]
        older_than: Option<String>,
    },
    /// Replace the key secret markers are sealed with (`[secrets] key_file`). The next scrape
    /// of each source records its secret markers as changed; restart a running server.
    RotateSecretKey,
    /// Read a password on standard input and print its SCRAM-SHA-256 verifier, for
    /// `password_verifier` in `[[server.users]]` (the password itself is never stored).
    HashPassword,
    /// Simulate 30 days of a synthetic estate, collect this host live, and serve it.
    Demo {
        /// Store directory for the demo (rebuilt on every run).
        #[arg(long, default_value = "./groundtruth-demo")]
        store: PathBuf,
        /// Address to serve on.
        #[arg(long, default_value = "127.0.0.1:5433")]
        listen: SocketAddr,
        /// Days of history to simulate.
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
}

/// Dependencies whose debug logs echo the text they parse (SQL migrations, statements, query
/// results): they may hold secrets, so they stay at `warn` whatever `RUST_LOG` asks.
const QUIET_DEPENDENCIES: &[&str] = &["sqlparser", "datafusion_sql", "pgwire", "tokio_postgres"];

/// `RUST_LOG` (default: info for Groundtruth, warn elsewhere), with the parsers that echo
/// their input held at `warn`.
fn log_filter() -> tracing_subscriber::EnvFilter {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "warn,groundtruth=info,groundtruth_server=info,groundtruth_ingest=info,groundtruth_engine=info",
        )
    });
    for dependency in QUIET_DEPENDENCIES {
        if let Ok(directive) = format!("{dependency}=warn").parse() {
            filter = filter.add_directive(directive);
        }
    }
    filter
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve { worker, no_ingest } => serve(config, worker.as_deref(), no_ingest)
            .await
            .map(|()| std::process::ExitCode::SUCCESS),
        Command::Ingest {
            once,
            source,
            worker,
        } => ingest(config, once, source, worker.as_deref()).await,
        Command::Backfill { source, since } => backfill(config, &source, since.as_deref())
            .await
            .map(|()| std::process::ExitCode::SUCCESS),
        Command::Query { name, params, list } => named_query(config, name, &params, list)
            .await
            .map(|()| std::process::ExitCode::SUCCESS),
        Command::Sql { query } => sql(config, &query)
            .await
            .map(|()| std::process::ExitCode::SUCCESS),
        Command::Drift {
            check,
            fail_on,
            format,
        } => {
            let fail_on = drift_check::parse_statuses(&fail_on)
                .map_err(|error| anyhow::anyhow!("--fail-on: {error}"))?;
            let store = open_store(&config).await?;
            let engine = open_engine(store, &config.drift).await?;
            drift_check::run(&engine, &fail_on, check, format).await
        }
        Command::Mcp { http, listen } => mcp(config, http, listen)
            .await
            .map(|()| std::process::ExitCode::SUCCESS),
        Command::Compact => {
            let store = open_store(&config).await?;
            let report = store.compact().await?;
            println!(
                "compacted: {} files rewritten into {}",
                report.files_removed, report.files_added
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Vacuum {
            dry_run,
            older_than,
        } => {
            let retention = match older_than {
                Some(text) => groundtruth_ingest::config::parse_duration(&text)?,
                None => config.retention.vacuum_after,
            };
            let store = open_store(&config).await?;
            let report = store.vacuum(retention, chrono::Utc::now(), dry_run).await?;
            let verb = if dry_run { "would delete" } else { "deleted" };
            for (table, files) in &report.tables {
                println!("{table}: {verb} {} files", files.len());
            }
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::RotateSecretKey => {
            let (old, new) = secret_key::rotate(&config.secrets)?;
            println!(
                "secret key {}: {} -> {new}; restart the writer (serve or ingest): the next \
                 scrape of each source records its secret markers as changed",
                config.secrets.key_file.display(),
                old.as_deref().unwrap_or("(none)")
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::HashPassword => {
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']);
            anyhow::ensure!(!password.is_empty(), "empty password on standard input");
            let salt: [u8; scram_verifier::SALT_LENGTH] = rand::random();
            println!(
                "{}",
                scram_verifier::Verifier::from_password(
                    password,
                    &salt,
                    scram_verifier::DEFAULT_ITERATIONS
                )
            );
            Ok(std::process::ExitCode::SUCCESS)
        }
        Command::Demo {
            store,
            listen,
            days,
        } => demo::run(&store, listen, days, &config.drift)
            .await
            .map(|()| std::process::ExitCode::SUCCESS),
    }
}

async fn open_store(config: &Config) -> anyhow::Result<Arc<Store>> {
    let url = StoreUrl::parse(&config.store)?;
    let store = Store::open(&url, &config.store_options)
        .await
        .with_context(|| format!("opening store {url}"))?
        .with_checkpoint_policy(config.checkpoints);
    Ok(Arc::new(store))
}

fn build_sources(config: &Config) -> anyhow::Result<Vec<ScheduledSource>> {
    let epoch = groundtruth_ingest::source::simulated::demo_epoch(chrono::Utc::now());
    Ok(build_all(&config.sources, epoch)?)
}

async fn serve(config: Config, worker: Option<&str>, no_ingest: bool) -> anyhow::Result<()> {
    // Before the port opens: a client that can connect can also stop the server.
    let shutdown = shutdown_signal();
    let owned = if no_ingest {
        None
    } else {
        Some(config.worker_sources(worker)?)
    };
    let listener = wire::bind(config.server.listen).await?;
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
async fn open_writer(
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
        Some(address) => Some(wire::bind(address).await?),
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
    let handlers = Arc::new(wire::GroundtruthHandlers::new(
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
    let server = tokio::spawn(wire::serve(
        listener,
        handlers,
        config.server.max_connections,
        cancel.clone(),
    ));
    let mcp = match config.mcp.listen {
        Some(address) => {
            let listener = wire::bind(address).await?;
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

/// The MCP server over `engine`, with the query library and `[mcp]` limits.
fn mcp_server(engine: &Engine, config: &Config) -> anyhow::Result<groundtruth_mcp::GroundtruthMcp> {
    Ok(groundtruth_mcp::GroundtruthMcp::new(
        engine.clone(),
        groundtruth_queries::Library::load()?,
        config.mcp.limits(),
        Arc::new(SystemClock),
    ))
}

/// `groundtruth mcp`: a reader of the store (another process writes it), serving one agent on
/// stdio or many over HTTP, re-reading the store at most once a second before a call.
async fn mcp(config: Config, http: bool, listen: Option<SocketAddr>) -> anyhow::Result<()> {
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
        let listener = wire::bind(address).await?;
        tracing::info!(%address, "serving MCP at http://{address}/mcp");
        groundtruth_mcp::serve_http(listener, server, cancel).await
    } else {
        groundtruth_mcp::serve_stdio(server, cancel).await
    };
    stop.abort();
    Ok(served?)
}

/// Show every configured source in the metrics, with the last success the store remembers.
async fn seed_metrics(metrics: &metrics::Metrics, engine: &Engine, sources: &[ScheduledSource]) {
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
async fn observe_scrapes(
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
async fn compact_periodically(ingestor: Arc<Ingestor>, engine: Engine, cancel: CancellationToken) {
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

/// Resolves at Ctrl-C or SIGTERM. The SIGTERM handler is installed when this is called, not
/// when first awaited, so a process that says it is ready already honours SIGTERM.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
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

async fn ingest(
    config: Config,
    once: bool,
    only: Option<String>,
    worker: Option<&str>,
) -> anyhow::Result<std::process::ExitCode> {
    let owned = config.worker_sources(worker)?;
    let store = open_store(&config).await?;
    let Writer {
        ingestor,
        mut sources,
        ..
    } = open_writer(&config, store, owned.as_ref(), worker).await?;
    if let Some(name) = &only {
        sources.retain(|scheduled| scheduled.source.name() == name);
        anyhow::ensure!(
            !sources.is_empty(),
            "no source named '{name}' in the configuration{}",
            worker
                .map(|worker| format!(" owned by worker '{worker}'"))
                .unwrap_or_default()
        );
    }
    if !once {
        let cancel = CancellationToken::new();
        let scheduler = tokio::spawn(scheduler::run(
            ingestor,
            sources,
            config.scheduler.max_concurrent,
            cancel.clone(),
        ));
        shutdown_signal().await;
        cancel.cancel();
        let _ = scheduler.await;
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let mut failed = false;
    for scheduled in &sources {
        let options = RunOptions {
            timeout: scheduled.timeout,
            interval: Some(scheduled.interval),
        };
        let record = ingestor
            .run_once(
                scheduled.source.as_ref(),
                options,
                &CancellationToken::new(),
            )
            .await?;
        println!(
            "{}: {} ({} resources seen, {} versions written){}",
            record.source,
            record.status.as_str(),
            record.resources_seen,
            record.versions_written,
            record
                .error
                .as_deref()
                .map(|error| format!(": {error}"))
                .unwrap_or_default()
        );
        failed |= record.status == ScrapeStatus::Failed;
    }
    Ok(if failed {
        std::process::ExitCode::from(2)
    } else {
        std::process::ExitCode::SUCCESS
    })
}

/// Parse `--since`: a date (midnight UTC) or an RFC 3339 instant.
fn parse_since(text: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(instant) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(instant.with_timezone(&chrono::Utc));
    }
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").with_context(|| {
        format!("invalid --since '{text}' (use YYYY-MM-DD or an RFC 3339 time)")
    })?;
    Ok(date.and_time(chrono::NaiveTime::MIN).and_utc())
}

async fn backfill(config: Config, name: &str, since: Option<&str>) -> anyhow::Result<()> {
    let since = since.map(parse_since).transpose()?;
    let source = config
        .sources
        .iter()
        .find(|source| source.name() == name)
        .with_context(|| format!("no source named '{name}' in the configuration"))?;
    let store = open_store(&config).await?;
    // Backfill writes only this source, so it finishes only this source's interrupted commits
    // (a worker may be committing others right now).
    let owned = std::collections::BTreeSet::from([name.to_string()]);
    let ingestor = Ingestor::open_worker(store, Arc::new(SystemClock), Some(&owned))
        .await?
        .with_redactor(secret_key::load_redactor(&config.secrets)?);
    let progress = indicatif::ProgressBar::new(0).with_message(format!("backfilling {name}"));
    progress.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} commits ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = groundtruth_ingest::backfill::backfill(&ingestor, source, since, |done, total| {
        progress.set_length(total as u64);
        progress.set_position(done as u64);
    })
    .await?;
    progress.finish_and_clear();
    println!(
        "{name}: {} commits found, {} replayed ({} failed to parse), {} versions written",
        report.commits_found,
        report.scrapes_written,
        report.scrapes_failed,
        report.versions_written
    );
    if report.skipped_already_covered > 0 {
        println!(
            "{name}: {} commits skipped: the source already has scrapes at or after their time \
             (backfill before the first scheduled scrape, or under a new source name)",
            report.skipped_already_covered
        );
    }
    Ok(())
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

async fn sql(config: Config, query: &str) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let engine = open_engine(store, &config.drift).await?;
    for frame in engine.sql(query).await? {
        let batches = frame.collect().await.context("executing")?;
        println!("{}", arrow::util::pretty::pretty_format_batches(&batches)?);
    }
    Ok(())
}

async fn named_query(
    config: Config,
    name: Option<String>,
    params: &[String],
    list: bool,
) -> anyhow::Result<()> {
    let library = groundtruth_queries::Library::load()?;
    if list {
        for query in library.queries() {
            println!("{}\n  {}", query.name, query.description);
            for line in query.parameter_summary().lines() {
                println!("  --param {line}");
            }
            println!();
        }
        return Ok(());
    }
    let name = name.context("a query name is required (see `groundtruth query --list`)")?;
    let mut values = std::collections::BTreeMap::new();
    for param in params {
        let (key, value) = param
            .split_once('=')
            .with_context(|| format!("--param '{param}' is not NAME=VALUE"))?;
        values.insert(key.trim().to_string(), value.to_string());
    }
    let query = library.get(&name)?.render(&values)?;
    sql(config, &query).await
}
