//! `groundtruth demo`: 30 days of a synthetic estate, this host collected live, served on
//! 127.0.0.1:5433, with queries to try.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use groundtruth_engine::clock::SystemClock;
use groundtruth_engine::drift::DriftSettings;
use groundtruth_engine::model::Layer;
use groundtruth_engine::store::{Store, StoreOptions, StoreUrl};
use groundtruth_ingest::runner::Ingestor;
use groundtruth_ingest::scheduler::ScheduledSource;
use groundtruth_ingest::source::live::host::HostSource;
use groundtruth_ingest::source::simulated::{demo_epoch, SimulatedEstate, SimulatedSource};
use groundtruth_ingest::source::Source;

use crate::config::Config;

/// A file marking a directory as a demo store, so the demo never deletes anything else.
const MARKER: &str = ".groundtruth-demo";
const SEED: u64 = 42;
const SERVICES: usize = 8;

/// Build the demo store and serve it until interrupted, judging drift with the `[drift]` rules
/// of the configuration file, if one was given.
pub async fn run(
    directory: &Path,
    listen: SocketAddr,
    days: u32,
    drift: &DriftSettings,
) -> anyhow::Result<()> {
    let listener = crate::pg::bind(listen).await?;
    prepare_directory(directory)?;
    let url = StoreUrl::parse(&directory.to_string_lossy())?;
    let store = Arc::new(Store::open(&url, &StoreOptions::default()).await?);
    let ingestor = Arc::new(Ingestor::open(Arc::clone(&store), Arc::new(SystemClock)).await?);

    let now = Utc::now();
    let epoch = demo_epoch(now).max(now - chrono::Duration::days(i64::from(days)));
    let estate = Arc::new(SimulatedEstate::new(SEED, epoch, SERVICES));
    let declared: Arc<dyn Source> = Arc::new(SimulatedSource::new(
        "synthetic_iac",
        Layer::Declared,
        Arc::clone(&estate),
    ));
    let live: Arc<dyn Source> = Arc::new(SimulatedSource::new(
        "synthetic_cloud",
        Layer::Live,
        Arc::clone(&estate),
    ));

    let hours = (now - epoch).num_hours().max(1);
    let progress = indicatif::ProgressBar::new(hours as u64).with_message("simulating history");
    progress.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} hours ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    // One commit per simulated day keeps the number of Delta commits small.
    let mut hour = 0;
    while hour < hours {
        let end = (hour + 24).min(hours);
        let mut runs = Vec::new();
        for step in hour..end {
            let instant = epoch + chrono::Duration::hours(step);
            runs.push((Arc::clone(&declared), instant));
            runs.push((Arc::clone(&live), instant));
        }
        ingestor
            .run_history(&runs, Some(Duration::from_secs(3600)))
            .await
            .context("writing simulated history")?;
        progress.inc((end - hour) as u64);
        hour = end;
    }
    progress.finish_with_message("simulated history");

    let engine = crate::commands::open_engine(Arc::clone(&store), drift).await?;
    let sources = vec![
        ScheduledSource {
            source: declared,
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
        },
        ScheduledSource {
            source: live,
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
        },
        ScheduledSource {
            source: Arc::new(HostSource::new("this_host", "/proc")),
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
        },
    ];
    // SIGTERM is honoured from before the banner says the demo is ready.
    let shutdown = crate::commands::shutdown_signal();
    print_instructions(listener.local_addr()?);
    let mut config = Config::default();
    config.server.listen = listen;
    let writer = crate::commands::serve::Writer {
        ingestor,
        sources,
        maintains: true,
    };
    crate::commands::serve::run_services(engine, Some(writer), listener, &config, shutdown).await
}

fn prepare_directory(directory: &Path) -> anyhow::Result<()> {
    if directory.exists() {
        anyhow::ensure!(
            directory.join(MARKER).exists() || std::fs::read_dir(directory)?.next().is_none(),
            "{} exists and is not a demo store; choose another --store",
            directory.display()
        );
        std::fs::remove_dir_all(directory)
            .with_context(|| format!("removing old demo store {}", directory.display()))?;
    }
    std::fs::create_dir_all(directory)
        .with_context(|| format!("creating {}", directory.display()))?;
    std::fs::write(
        directory.join(MARKER),
        "demo store: deleted and rebuilt by `groundtruth demo`\n",
    )
    .with_context(|| format!("writing to {}", directory.display()))?;
    Ok(())
}

fn print_instructions(address: SocketAddr) {
    let psql = format!(
        "psql -h {} -p {} -U demo groundtruth",
        address.ip(),
        address.port()
    );
    println!(
        "\nGroundtruth demo is serving on {address} (synthetic data: sources synthetic_iac and synthetic_cloud; live: this_host).\n\
         Try:\n\
         \x20 {psql} -c \"SELECT source, last_status, last_success_at, stale FROM sources\"\n\
         \x20 {psql} -c \"SELECT kind, id, attrs->>'memory_size' AS memory FROM resources FOR SYSTEM_TIME AS OF now() - INTERVAL '1 day' WHERE kind = 'aws_lambda_function'\"\n\
         \x20 {psql} -c \"SELECT source, kind, id, change, changed_paths FROM changes(now() - INTERVAL '1 day', now())\"\n\
         \x20 {psql} -c \"SELECT kind, id, valid_from, valid_to FROM resource_versions WHERE kind = 'postgres_index' ORDER BY valid_from\"\n\
         Press Ctrl-C to stop.\n"
    );
}
