//! `groundtruth ingest`: run sources now (or on their schedule) and commit what changed.

use groundtruth_engine::model::ScrapeStatus;
use groundtruth_ingest::runner::RunOptions;
use groundtruth_ingest::scheduler::{self};
use tokio_util::sync::CancellationToken;

use super::serve::{open_writer, Writer};
use super::*;
use crate::config::Config;

pub(crate) async fn ingest(
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
