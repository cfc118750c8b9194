//! `groundtruth backfill`: replay the git history of a declared source's path into the store.

use std::sync::Arc;

use anyhow::Context;
use groundtruth_engine::clock::SystemClock;
use groundtruth_ingest::runner::Ingestor;

use super::*;
use crate::config::Config;
use crate::secret_key;

/// Parse `--since`: a date (midnight UTC) or an RFC 3339 instant.
pub(crate) fn parse_since(text: &str) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(instant) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(instant.with_timezone(&chrono::Utc));
    }
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").with_context(|| {
        format!("invalid --since '{text}' (use YYYY-MM-DD or an RFC 3339 time)")
    })?;
    Ok(date.and_time(chrono::NaiveTime::MIN).and_utc())
}

pub(crate) async fn backfill(
    config: Config,
    name: &str,
    since: Option<&str>,
) -> anyhow::Result<()> {
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
