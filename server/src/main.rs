//! `groundtruth`: the composition root. It wires the engine (storage and SQL), ingest (sources
//! and scheduler) and the Postgres-wire server together behind one command-line tool.

// Library code returns errors (`unwrap`/`expect` only in tests) and documents what it exports
// (see the workspace Cargo.toml).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, missing_docs)
)]

mod alerts;
mod commands;
mod config;
mod demo;
mod drift_check;
mod error;
mod retention;
mod scram_verifier;
mod secret_key;
pub use error::ServerError;
pub use groundtruth_pg_compat::sqlstate;
mod ops;
mod pg;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::Config;

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
    /// The processes of a Ballista cluster over the store, for history-wide queries: a
    /// scheduler, executors, and a one-query client.
    Cluster {
        #[command(subcommand)]
        role: ClusterRole,
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
#[derive(Debug, Subcommand)]
enum ClusterRole {
    /// The Ballista scheduler: takes queries from clients and `serve --cluster`, plans them
    /// and hands their stages to executors.
    Scheduler {
        /// The gRPC address to listen on.
        #[arg(long, default_value = "127.0.0.1:50050")]
        bind: SocketAddr,
    },
    /// A Ballista executor: runs query stages, reading the store itself.
    Executor {
        /// The scheduler's address.
        #[arg(long, default_value = "127.0.0.1:50050")]
        scheduler: SocketAddr,
        /// The address to bind (and to advertise to the scheduler).
        #[arg(long, default_value = "127.0.0.1")]
        bind: std::net::IpAddr,
        /// The Arrow Flight port other executors and clients fetch results from.
        #[arg(long, default_value_t = 50051)]
        port: u16,
        /// The gRPC port the scheduler sends tasks to.
        #[arg(long, default_value_t = 50052)]
        grpc_port: u16,
        /// Tasks run at once (default: the cores).
        #[arg(long)]
        concurrent_tasks: Option<usize>,
    },
    /// Run one query on the cluster and print the result.
    Sql {
        /// The scheduler's address.
        #[arg(long, default_value = "127.0.0.1:50050")]
        scheduler: SocketAddr,
        /// The SQL text.
        query: String,
    },
}

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

/// The stack of every thread the process starts that does not choose its own (tokio's
/// workers and blocking pool, the runtimes Ballista's scheduler and executors build).
/// Turning a plan into protobuf and back recurses through every level of the plan, and
/// `drift_at(T)`'s has hundreds of nodes, dozens of levels deep: on a debug build a Ballista
/// scheduler overflowed std's default 2 MiB and aborted (4 MiB was enough); this leaves room
/// for configured link rules. (Child processes inherit the variable; only Rust programs read
/// it.)
const THREAD_STACK_BYTES: usize = 16 * 1024 * 1024;

fn main() -> std::process::ExitCode {
    // std reads RUST_MIN_STACK once, when the first thread starts, and Ballista's runtimes
    // take no stack size from us: so it is set here, before any thread exists. An operator's
    // own value wins.
    if std::env::var_os("RUST_MIN_STACK").is_none() {
        std::env::set_var("RUST_MIN_STACK", THREAD_STACK_BYTES.to_string());
    }
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(async_main()),
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn async_main() -> std::process::ExitCode {
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
        Command::Serve { worker, no_ingest } => {
            commands::serve::serve(config, worker.as_deref(), no_ingest)
                .await
                .map(|()| std::process::ExitCode::SUCCESS)
        }
        Command::Cluster { role } => match role {
            ClusterRole::Scheduler { bind } => commands::cluster::scheduler(config, bind).await,
            ClusterRole::Executor {
                scheduler,
                bind,
                port,
                grpc_port,
                concurrent_tasks,
            } => {
                commands::cluster::executor(
                    config,
                    scheduler,
                    bind,
                    port,
                    grpc_port,
                    concurrent_tasks,
                )
                .await
            }
            ClusterRole::Sql { scheduler, query } => {
                commands::cluster::sql(config, scheduler, &query).await
            }
        }
        .map(|()| std::process::ExitCode::SUCCESS),
        Command::Ingest {
            once,
            source,
            worker,
        } => commands::ingest::ingest(config, once, source, worker.as_deref()).await,
        Command::Backfill { source, since } => {
            commands::backfill::backfill(config, &source, since.as_deref())
                .await
                .map(|()| std::process::ExitCode::SUCCESS)
        }
        Command::Query { name, params, list } => {
            commands::query::named_query(config, name, &params, list)
                .await
                .map(|()| std::process::ExitCode::SUCCESS)
        }
        Command::Sql { query } => commands::query::sql(config, &query)
            .await
            .map(|()| std::process::ExitCode::SUCCESS),
        Command::Drift {
            check,
            fail_on,
            format,
        } => {
            let fail_on = drift_check::parse_statuses(&fail_on)
                .map_err(|error| anyhow::anyhow!("--fail-on: {error}"))?;
            let store = commands::open_store(&config).await?;
            let engine = commands::open_engine(store, &config.drift).await?;
            drift_check::run(&engine, &fail_on, check, format).await
        }
        Command::Mcp { http, listen } => commands::mcp::mcp(config, http, listen)
            .await
            .map(|()| std::process::ExitCode::SUCCESS),
        Command::Compact => {
            let store = commands::open_store(&config).await?;
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
            let store = commands::open_store(&config).await?;
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
