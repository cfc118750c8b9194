//! Backfill: replay the git history of a declared source's path, so "what was declared at T"
//! can be answered for times before Groundtruth was installed.
//!
//! For every commit that touched the path (oldest first, optionally since a date), the path is
//! written out as it was at that commit into a temporary directory (`git archive`), a copy of
//! the source is pointed at it, and the scrape is recorded at the commit's time with the
//! commit as provenance. Commits are committed to the store in batches, so a long history does
//! not sit in memory.
//!
//! Rules that keep history trustworthy:
//! - Scrape instants must increase per source, so commits at or before the source's latest
//!   recorded scrape are skipped and counted: run a backfill before the first scheduled scrape
//!   (or under a new source name) to get the whole history. Commits sharing a commit time are
//!   spaced one microsecond apart.
//! - A commit that deleted the path reads as an empty directory: for a directory source its
//!   resources are recorded as removed; a single-file source records a failed scrape and
//!   deletes nothing.
//! - A commit whose files do not parse records a failed scrape (with the parser's error), as
//!   a scheduled scrape would; the previous commit's state stands.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::SourceConfig;
use crate::error::{IngestError, Result};
use crate::git::{self, Commit};
use crate::input::InputLocation;
use crate::runner::{HistoricalRun, Ingestor};
use crate::source::Source;

/// Commits replayed per store commit.
const COMMITS_PER_BATCH: usize = 25;

/// What a backfill did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackfillReport {
    /// Commits that touched the path (after `since`).
    pub commits_found: usize,
    /// Scrapes recorded (one per replayed commit).
    pub scrapes_written: usize,
    /// Of those, scrapes that failed (the commit's files did not parse).
    pub scrapes_failed: usize,
    /// Versions written in all.
    pub versions_written: usize,
    /// Commits skipped because the source already has a scrape at or after their time.
    pub skipped_already_covered: usize,
}

/// Replay the git history of `config`'s path into the store. `progress` is called with
/// (commits done, commits to do) after each batch.
pub async fn backfill(
    ingestor: &Ingestor,
    config: &SourceConfig,
    since: Option<DateTime<Utc>>,
    mut progress: impl FnMut(usize, usize),
) -> Result<BackfillReport> {
    let name = config.name().to_string();
    let Some(path) = config.location().and_then(InputLocation::local_path) else {
        return Err(IngestError::Config(format!(
            "source '{name}' does not read local files; backfill needs a path inside a git repository"
        )));
    };
    let path = path.to_path_buf();
    let (located, commits) = tokio::task::spawn_blocking(move || {
        let located = git::locate(&path).ok_or_else(|| IngestError::Invalid {
            path: path.clone(),
            message: "not inside a git work tree (or git is not installed)".to_string(),
        })?;
        let commits = git::commits(&located, since)?;
        Ok::<_, IngestError>((located, commits))
    })
    .await
    .map_err(|error| IngestError::Config(format!("backfill task failed: {error}")))??;

    let mut report = BackfillReport {
        commits_found: commits.len(),
        ..BackfillReport::default()
    };
    let latest = ingestor.last_started(&name).await;
    let mut instants = Vec::with_capacity(commits.len());
    let mut previous: Option<DateTime<Utc>> = None;
    for commit in commits {
        let mut at = commit.committed_at;
        if let Some(previous) = previous {
            if at <= previous {
                at = previous + chrono::Duration::microseconds(1);
            }
        }
        previous = Some(at);
        if latest.is_some_and(|latest| at <= latest) {
            report.skipped_already_covered += 1;
            continue;
        }
        instants.push((commit, at));
    }

    let total = instants.len();
    let mut done = 0;
    progress(done, total);
    for batch in instants.chunks(COMMITS_PER_BATCH) {
        // The checkouts must outlive the scrapes of the batch.
        let mut checkouts = Vec::with_capacity(batch.len());
        let mut runs = Vec::with_capacity(batch.len());
        for (commit, at) in batch {
            let checkout = tempfile::Builder::new()
                .prefix("groundtruth-backfill-")
                .tempdir()
                .map_err(|error| IngestError::Read {
                    path: std::env::temp_dir(),
                    source: error,
                })?;
            let landed = materialize(&located, commit, checkout.path()).await?;
            let source = source_at(config, landed)?;
            runs.push(HistoricalRun {
                source,
                at: *at,
                provenance: Some(commit.provenance(&located.relative, false)),
            });
            checkouts.push(checkout);
        }
        let records = ingestor.run_history_with_provenance(&runs, None).await?;
        report.scrapes_written += records.len();
        report.scrapes_failed += records
            .iter()
            .filter(|record| record.status == groundtruth_engine::model::ScrapeStatus::Failed)
            .count();
        report.versions_written += records
            .iter()
            .map(|record| usize::try_from(record.versions_written).unwrap_or(0))
            .sum::<usize>();
        done += batch.len();
        progress(done, total);
        drop(checkouts);
    }
    Ok(report)
}

/// Write the path as of `commit` under `destination`; an empty directory when the commit
/// deleted it.
async fn materialize(
    located: &git::GitPath,
    commit: &Commit,
    destination: &std::path::Path,
) -> Result<std::path::PathBuf> {
    let located = located.clone();
    let id = commit.id.clone();
    let destination = destination.to_path_buf();
    tokio::task::spawn_blocking(move || match git::checkout(&located, &id, &destination)? {
        Some(landed) => Ok(landed),
        None => {
            let empty = destination.join(&located.relative);
            std::fs::create_dir_all(&empty).map_err(|error| IngestError::Read {
                path: empty.clone(),
                source: error,
            })?;
            Ok(empty)
        }
    })
    .await
    .map_err(|error| IngestError::Config(format!("checkout task failed: {error}")))?
}

fn source_at(config: &SourceConfig, landed: std::path::PathBuf) -> Result<Arc<dyn Source>> {
    let moved = config
        .with_location(InputLocation::Path(landed))
        .ok_or_else(|| {
            IngestError::Config(format!(
                "source '{}' does not read files; it cannot be backfilled",
                config.name()
            ))
        })?;
    // File sources do not use the epoch (only the simulator does).
    Ok(moved.build_source(Utc::now()))
}
