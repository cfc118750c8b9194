//! Runs scrapes and commits what changed: the only writer of a store.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use groundtruth_engine::clock::Clock;
use groundtruth_engine::model::{Coverage, Observation, ScrapeRecord, ScrapeStatus, VersionRow};
use groundtruth_engine::state::{ChangeSet, ScrapeStamp, SourceState};
use groundtruth_engine::store::Store;
use tokio::sync::{broadcast, watch, Mutex};
use tokio_util::sync::CancellationToken;

use crate::error::{IngestError, Result};
use crate::secrets::Redactor;
use crate::source::{ScrapeContext, Source};

/// How one source is run.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// A scrape still running after this is abandoned and recorded as failed.
    pub timeout: Duration,
    /// The schedule interval, recorded so staleness can be judged from the data.
    pub interval: Option<Duration>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(120),
            interval: None,
        }
    }
}

/// One scrape of a history replay: the source, the instant it is recorded at, and the
/// provenance of what it read (the git commit, for a backfill).
#[derive(Debug, Clone)]
pub struct HistoricalRun {
    /// The source to scrape.
    pub source: Arc<dyn Source>,
    /// The instant the scrape is recorded at.
    pub at: DateTime<Utc>,
    /// Provenance JSON attached to every version it writes.
    pub provenance: Option<String>,
}

#[derive(Debug, Default)]
struct WriterState {
    sources: HashMap<String, SourceState>,
    last_started: HashMap<String, DateTime<Utc>>,
    /// A commit failed: part of it may have landed (versions without their scrape record),
    /// so the index is reloaded from the store before anything else is planned against it.
    stale: bool,
}

/// Run one scrape, turning a panic inside the source into a failed scrape: a parser bug must
/// not take down the process or the other sources' schedules.
async fn scrape_contained(source: &dyn Source, context: &ScrapeContext) -> Result<Observation> {
    match std::panic::AssertUnwindSafe(source.scrape(context))
        .catch_unwind()
        .await
    {
        Ok(outcome) => outcome,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|text| text.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            tracing::error!(source = %source.name(), %message, "source panicked; scrape recorded as failed");
            Err(IngestError::Panicked {
                source_name: source.name().into(),
                message,
            })
        }
    }
}

/// Scrapes sources and commits their changes to a store.
#[derive(Debug)]
pub struct Ingestor {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    state: Mutex<WriterState>,
    commits: watch::Sender<u64>,
    scrapes: broadcast::Sender<ScrapeRecord>,
    redactor: Redactor,
}

/// Scrape records buffered per [`Ingestor::subscribe_scrapes`] receiver; a receiver further
/// behind than this misses the oldest (it is told how many).
const SCRAPE_BUFFER: usize = 256;

impl Ingestor {
    /// Become the store's writer: finish any commit a crash interrupted, then load the latest
    /// state of every source.
    pub async fn open(store: Arc<Store>, clock: Arc<dyn Clock>) -> Result<Self> {
        Self::open_worker(store, clock, None).await
    }

    /// [`Ingestor::open`] for one of several writers sharing the store: it finishes only the
    /// interrupted commits of the sources it `owns` (`None`: all), since another worker may be
    /// committing its own right now. Each worker owns a disjoint set of sources.
    pub async fn open_worker(
        store: Arc<Store>,
        clock: Arc<dyn Clock>,
        owns: Option<&BTreeSet<String>>,
    ) -> Result<Self> {
        store.recover_sources(owns).await?;
        let sources = store.load_state().await?;
        let last_started = store.last_scrape_starts().await?;
        Ok(Self {
            store,
            clock,
            state: Mutex::new(WriterState {
                sources,
                last_started,
                stale: false,
            }),
            commits: watch::channel(0).0,
            scrapes: broadcast::channel(SCRAPE_BUFFER).0,
            redactor: Redactor::ephemeral(),
        })
    }

    /// Seal secrets with `redactor` (a kept key) instead of the process-lifetime key
    /// [`Ingestor::open`] starts with. Servers always set one; see [`crate::secrets`].
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// A receiver that changes after every commit (readers refresh on it).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// A receiver of the record of every scrape [`Ingestor::run_once`] commits (outcome,
    /// timing, versions written), so observers such as metrics need not poll the store.
    pub fn subscribe_scrapes(&self) -> broadcast::Receiver<ScrapeRecord> {
        self.scrapes.subscribe()
    }

    /// The store written to.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Run one scrape of `source` now and commit the result, whatever it is.
    pub async fn run_once(
        &self,
        source: &dyn Source,
        options: RunOptions,
        cancel: &CancellationToken,
    ) -> Result<ScrapeRecord> {
        let started_at = self.next_start(source.name()).await;
        let context = ScrapeContext {
            started_at,
            cancel: cancel.child_token(),
        };
        let outcome = tokio::select! {
            result = tokio::time::timeout(options.timeout, scrape_contained(source, &context)) => match result {
                Ok(outcome) => outcome,
                Err(_) => Err(IngestError::Timeout { source_name: source.name().into(), limit: options.timeout }),
            },
            () = cancel.cancelled() => Err(IngestError::Cancelled { source_name: source.name().into() }),
        };
        context.cancel.cancel();
        let provenance = match (&outcome, source.input()) {
            (Ok(_), Some(input)) => match input.location().local_path() {
                Some(path) => {
                    let path = path.to_path_buf();
                    tokio::task::spawn_blocking(move || crate::git::provenance(&path))
                        .await
                        .ok()
                        .flatten()
                }
                None => None,
            },
            _ => None,
        };
        let finished_at = self.clock.now().max(started_at);
        let mut state = self.state.lock().await;
        self.resync_if_stale(&mut state).await?;
        // Plan against the live index without copying it: `plan` is pure, and the index is only
        // changed once the commit succeeded.
        let current = state.sources.entry(source.name().to_string()).or_default();
        let (record, changes) = plan_scrape(
            &self.redactor,
            current,
            source,
            started_at,
            finished_at,
            outcome,
            options.interval,
            provenance.as_deref(),
        )?;
        let rows = changes
            .as_ref()
            .map(|changes| changes.rows.as_slice())
            .unwrap_or_default();
        if let Err(error) = self.store.commit(std::slice::from_ref(&record), rows).await {
            state.stale = true;
            return Err(error.into());
        }
        if let Some(changes) = changes {
            current.apply(changes, started_at);
        }
        state
            .last_started
            .insert(source.name().to_string(), started_at);
        drop(state);
        self.commits.send_modify(|count| *count += 1);
        self.checkpoint_due_sources().await;
        log_scrape(&record);
        // No receiver is not an error: nobody is observing.
        let _ = self.scrapes.send(record.clone());
        Ok(record)
    }

    /// Scrape each source at each given instant (simulated history) and commit the whole
    /// batch at once. Instants must increase per source; runs at or before a source's latest
    /// scrape are skipped.
    pub async fn run_history(
        &self,
        runs: &[(Arc<dyn Source>, DateTime<Utc>)],
        interval: Option<Duration>,
    ) -> Result<Vec<ScrapeRecord>> {
        let runs: Vec<HistoricalRun> = runs
            .iter()
            .map(|(source, at)| HistoricalRun {
                source: Arc::clone(source),
                at: *at,
                provenance: None,
            })
            .collect();
        self.run_history_with_provenance(&runs, interval).await
    }

    /// The start of the latest scrape recorded for a source.
    pub async fn last_started(&self, source: &str) -> Option<DateTime<Utc>> {
        self.state.lock().await.last_started.get(source).copied()
    }

    /// [`Ingestor::run_history`] with a provenance per run (a backfill's git commits).
    pub async fn run_history_with_provenance(
        &self,
        runs: &[HistoricalRun],
        interval: Option<Duration>,
    ) -> Result<Vec<ScrapeRecord>> {
        let mut state = self.state.lock().await;
        self.resync_if_stale(&mut state).await?;
        let mut working: HashMap<String, SourceState> = HashMap::new();
        let mut records = Vec::with_capacity(runs.len());
        let mut rows: Vec<VersionRow> = Vec::new();
        for run in runs {
            let (source, instant) = (&run.source, &run.at);
            let name = source.name().to_string();
            if state
                .last_started
                .get(&name)
                .is_some_and(|last| last >= instant)
            {
                continue;
            }
            let entry = working
                .entry(name.clone())
                .or_insert_with(|| state.sources.get(&name).cloned().unwrap_or_default());
            let context = ScrapeContext {
                started_at: *instant,
                cancel: CancellationToken::new(),
            };
            let outcome = scrape_contained(source.as_ref(), &context).await;
            let (record, changes) = plan_scrape(
                &self.redactor,
                entry,
                source.as_ref(),
                *instant,
                *instant,
                outcome,
                interval,
                run.provenance.as_deref(),
            )?;
            if let Some(changes) = changes {
                rows.extend(changes.rows.iter().cloned());
                entry.apply(changes, *instant);
            }
            state.last_started.insert(name, *instant);
            records.push(record);
        }
        if let Err(error) = self.store.commit(&records, &rows).await {
            // Nothing was applied to the in-memory index; it is reloaded before the next plan.
            state.stale = true;
            return Err(error.into());
        }
        state.sources.extend(working);
        drop(state);
        self.commits.send_modify(|count| *count += 1);
        self.checkpoint_due_sources().await;
        Ok(records)
    }

    /// After a failed commit, reload the index from what the store holds: finish the commit
    /// if its versions landed without their record ([`Store::recover`]), then rebuild every
    /// source's latest state, so the next scrape diffs against what was really committed (not
    /// against the state before a commit that half-landed, which would write its versions
    /// twice). Fails, and stays stale, while the store cannot be read.
    async fn resync_if_stale(&self, state: &mut WriterState) -> Result<()> {
        if !state.stale {
            return Ok(());
        }
        self.store.refresh().await?;
        self.store.recover().await?;
        state.sources = self.store.load_state().await?;
        state.last_started = self.store.last_scrape_starts().await?;
        state.stale = false;
        tracing::info!("writer index reloaded from the store after a failed commit");
        Ok(())
    }

    /// Step 5 of the commit protocol: checkpoint the sources that are due. A failure is
    /// logged and retried after the next commit: the versions are committed, and a missing
    /// checkpoint only makes reads of the state longer.
    async fn checkpoint_due_sources(&self) {
        match self.store.maybe_checkpoint().await {
            Ok(reports) => {
                for report in reports {
                    tracing::info!(source = %report.source, at = %report.at, rows = report.rows, "state checkpoint written");
                }
            }
            Err(error) => {
                tracing::warn!(%error, "state checkpoint failed; retried after the next commit")
            }
        }
    }

    /// Valid-from instants must strictly increase per source, even if the clock stalls or
    /// steps back, so versions of one resource are totally ordered.
    async fn next_start(&self, source: &str) -> DateTime<Utc> {
        let now = self.clock.now();
        let state = self.state.lock().await;
        match state.last_started.get(source) {
            Some(last) if *last >= now => *last + chrono::Duration::microseconds(1),
            _ => now,
        }
    }
}

/// Turn a scrape outcome into its record and, unless it failed, the change set to commit
/// (callers apply it to the index once the commit succeeded). Everything recorded passes
/// through `redactor` first: nothing a source returns reaches the store unsealed.
#[allow(clippy::too_many_arguments)]
fn plan_scrape(
    redactor: &Redactor,
    state: &SourceState,
    source: &dyn Source,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    outcome: Result<Observation>,
    interval: Option<Duration>,
    provenance: Option<&str>,
) -> Result<(ScrapeRecord, Option<ChangeSet>)> {
    let scrape_id = format!(
        "{}-{}",
        started_at.format("%Y%m%dT%H%M%S%.6fZ"),
        source.name()
    );
    let mut record = ScrapeRecord {
        scrape_id: scrape_id.clone(),
        source: source.name().to_string(),
        source_type: source.source_type().to_string(),
        started_at,
        finished_at,
        status: ScrapeStatus::Failed,
        resources_seen: 0,
        versions_written: 0,
        error: None,
        warnings: Vec::new(),
        interval_seconds: interval.map(|interval| interval.as_secs() as i64),
    };
    let mut observation = match outcome {
        Ok(observation) => observation,
        Err(error) => {
            // A failed scrape writes no versions: the previous state stands. Its error may
            // quote the input (a command's stderr, a parse error's line).
            record.error = Some(redactor.seal_text(&error.to_string()));
            return Ok((record, None));
        }
    };
    redactor.seal_observation(&mut observation);
    let stamp = ScrapeStamp {
        source: source.name(),
        scrape_id: &scrape_id,
        started_at,
        provenance,
    };
    let changes = state.plan(&stamp, &observation).map_err(|error| {
        IngestError::Config(format!(
            "serializing resources of {}: {error}",
            source.name()
        ))
    })?;
    record.resources_seen = observation.resources.len() as i64;
    record.versions_written = changes.rows.len() as i64;
    record.warnings = observation.warnings.clone();
    record.warnings.extend(
        changes
            .warnings
            .iter()
            .map(|warning| redactor.seal_text(warning)),
    );
    match &observation.coverage {
        Coverage::Complete => record.status = ScrapeStatus::Ok,
        Coverage::Partial { failures, .. } => {
            record.status = ScrapeStatus::Partial;
            record.error = Some(failures.join("; "));
        }
    }
    Ok((record, Some(changes)))
}

fn log_scrape(record: &ScrapeRecord) {
    match record.status {
        ScrapeStatus::Ok => {
            tracing::info!(source = %record.source, seen = record.resources_seen, written = record.versions_written, "scrape ok")
        }
        ScrapeStatus::Partial => {
            tracing::warn!(source = %record.source, error = ?record.error, "scrape partial")
        }
        ScrapeStatus::Failed => {
            tracing::warn!(source = %record.source, error = ?record.error, "scrape failed")
        }
    }
}
