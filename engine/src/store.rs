//! The store: two Delta Lake tables under one object-store URL, and the single writer that
//! commits scrapes to them. The layout and commit protocol are specified in the crate docs.

mod faults;
mod location;
mod retry;
mod rows;
mod vacuum;

use std::collections::{BTreeSet, HashMap};
use std::num::NonZeroU64;
use std::sync::Arc;

use arrow::array::{Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType as ArrowType, TimeUnit};
use chrono::{DateTime, Utc};
use datafusion::catalog::TableProvider;
use datafusion::prelude::SessionContext;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::optimize::OptimizeType;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::protocol::SaveMode;
use deltalake::DeltaTable;
use tokio::sync::Mutex;

pub use faults::{FaultCounters, FaultOp, FaultPlan, FaultSchedule, FaultyStore, FAULTS_ENV};
pub use location::{StoreOptions, StoreTable, StoreUrl};
pub use retry::{ReadRetryPolicy, RetryingStore};
pub use vacuum::VacuumReport;

use crate::error::{EngineError, Result};
use crate::model::{Layer, ResourceKey, ScrapeRecord, ScrapeStatus, VersionRow};
use crate::state::{CurrentVersion, SourceState};
use crate::timeline::{self, TimeIndex};

/// Handle on a store. Cheap to share; commits are serialized internally.
#[derive(Debug)]
pub struct Store {
    url: StoreUrl,
    versions: Mutex<DeltaTable>,
    scrapes: Mutex<DeltaTable>,
    checkpoints: Mutex<DeltaTable>,
    checkpoint_policy: CheckpointPolicy,
    /// Held while deciding and writing checkpoints: two commits that finish together must not
    /// both find a source due and write its checkpoint twice.
    checkpointing: Mutex<()>,
}

/// When a source gets a new state checkpoint (see the crate docs, "State checkpoints").
///
/// After a commit, a source is due when the versions it wrote since its newest checkpoint
/// number at least `max(min_versions, state_ratio × resources alive)`. So the state at any
/// instant is read from one checkpoint plus at most about that many versions (about twice the
/// state at the default ratio of 1), and checkpoints take about as much storage as the versions
/// themselves, whatever the scrape interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckpointPolicy {
    /// Never checkpoint a source that wrote fewer versions than this since its last checkpoint.
    pub min_versions: u64,
    /// Checkpoint once the versions since the last checkpoint reach this multiple of the state.
    pub state_ratio: f64,
}

impl CheckpointPolicy {
    /// Refuse ratios that are negative or not a number.
    pub fn validate(&self) -> Result<()> {
        if self.state_ratio.is_finite() && self.state_ratio >= 0.0 {
            Ok(())
        } else {
            Err(EngineError::Config(format!(
                "checkpoints.state_ratio must be a finite number >= 0, not {}",
                self.state_ratio
            )))
        }
    }
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self {
            min_versions: 1_000,
            state_ratio: 1.0,
        }
    }
}

/// A checkpoint written by [`Store::maybe_checkpoint`] or [`Store::checkpoint`].
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointReport {
    /// The source.
    pub source: String,
    /// The instant whose state it holds: the start of the source's latest scrape then.
    pub at: DateTime<Utc>,
    /// Resources alive at that instant (rows written).
    pub rows: u64,
}

/// What compaction did.
#[derive(Debug, Clone, Default)]
pub struct CompactionReport {
    /// Files rewritten.
    pub files_removed: u64,
    /// Files written.
    pub files_added: u64,
}

/// Read-only providers for the tables at one instant, for query sessions.
#[derive(Debug, Clone)]
pub struct StoreSnapshot {
    /// The `versions` table.
    pub versions: Arc<dyn TableProvider>,
    /// The `scrapes` table.
    pub scrapes: Arc<dyn TableProvider>,
    /// The `checkpoints` table.
    pub checkpoints: Arc<dyn TableProvider>,
    /// The Delta log version each table was read at (`None`: no commit yet), in the order
    /// versions, scrapes, checkpoints.
    pub log_versions: [(&'static str, Option<i64>); 3],
}

fn delta_error(
    table: StoreTable,
    operation: &'static str,
) -> impl FnOnce(deltalake::DeltaTableError) -> EngineError {
    move |source| EngineError::Delta {
        table: table.name(),
        operation,
        source: Box::new(source),
    }
}

async fn open_or_create(
    url: &StoreUrl,
    table: StoreTable,
    options: &HashMap<String, String>,
    retries: ReadRetryPolicy,
    faults: Option<&FaultSchedule>,
) -> Result<DeltaTable> {
    let delta = open_table(url.table(table), options, retries, faults)
        .await
        .map_err(delta_error(table, "open"))?;
    if delta.version().is_some() {
        return Ok(delta);
    }
    let (columns, partitions) = match table {
        StoreTable::Versions => (rows::version_columns(), Vec::new()),
        StoreTable::Scrapes => (rows::scrape_columns(), Vec::new()),
        StoreTable::Checkpoints => (
            rows::checkpoint_columns(),
            rows::CHECKPOINT_PARTITIONS.to_vec(),
        ),
    };
    delta
        .create()
        .with_table_name(table.name())
        .with_columns(columns)
        .with_partition_columns(partitions)
        // Concurrent first opens race to write version 0; the loser's Ignore keeps the winner's.
        .with_save_mode(SaveMode::Ignore)
        .await
        .map_err(delta_error(table, "create"))
}

/// Open a table on the object store Delta would use, with Delta above a [`RetryingStore`]
/// (reads retried under `retries`), and that above a [`FaultyStore`] when faults are planned:
/// Delta -> retries -> faults -> local or S3.
async fn open_table(
    table_url: url::Url,
    options: &HashMap<String, String>,
    retries: ReadRetryPolicy,
    faults: Option<&FaultSchedule>,
) -> deltalake::DeltaResult<DeltaTable> {
    let scheme = url::Url::parse(&format!("{}://", table_url.scheme()))
        .map_err(|_| deltalake::DeltaTableError::InvalidTableLocation(table_url.to_string()))?;
    let factory = deltalake::logstore::object_store_factories()
        .get(&scheme)
        .map(|entry| entry.value().clone())
        .ok_or_else(|| deltalake::DeltaTableError::InvalidTableLocation(table_url.to_string()))?;
    let builder = deltalake::DeltaTableBuilder::from_url(table_url.clone())?
        .with_storage_options(options.clone());
    // The options as the builder normalizes them (endpoints without a trailing '/').
    let config = deltalake::logstore::StorageConfig::parse_options(builder.storage_options())?;
    // As Delta's own `logstore_for`: the root store of the URL, then the table's log store.
    let (mut root, _prefix) = factory.parse_url_opts(&table_url, &config)?;
    if let Some(faults) = faults {
        root = Arc::new(faults.wrap(root));
    }
    let root: Arc<dyn object_store::ObjectStore> = Arc::new(RetryingStore::new(root, retries));
    let mut delta = builder.with_storage_backend(root, table_url).build()?;
    // As `try_from_url_with_storage_options`: a location without a table yet is created next.
    match delta.load().await {
        Ok(()) | Err(deltalake::DeltaTableError::NotATable(_)) => Ok(delta),
        Err(error) => Err(error),
    }
}

/// Append one batch to a table as one Delta commit, and keep the new table state.
async fn append(
    table: &Mutex<DeltaTable>,
    which: StoreTable,
    batch: RecordBatch,
    properties: CommitProperties,
) -> Result<()> {
    let mut table = table.lock().await;
    let mut write = table
        .clone()
        .write(vec![batch])
        .with_save_mode(SaveMode::Append)
        .with_commit_properties(properties);
    if which == StoreTable::Checkpoints {
        // Row groups small enough that one checkpoint is decoded by every core at once.
        write = write
            .with_partition_columns(rows::CHECKPOINT_PARTITIONS)
            .with_writer_properties(
                WriterProperties::builder()
                    .set_max_row_group_row_count(Some(CHECKPOINT_ROW_GROUP))
                    .build(),
            );
    }
    let written = write.await.map_err(delta_error(which, "append"))?;
    *table = written;
    Ok(())
}

/// Rows per Parquet row group in checkpoints and compacted versions: small enough for
/// statistics to prune within a file and for scans to split a file across cores.
const CHECKPOINT_ROW_GROUP: usize = 16 * 1024;
const VERSIONS_ROW_GROUP: usize = 64 * 1024;

impl Store {
    /// Open the store at `url`, creating its tables if they do not exist yet.
    ///
    /// Readers use the store as it is; the writer must call [`Store::recover`] before its first
    /// commit.
    pub async fn open(url: &StoreUrl, options: &StoreOptions) -> Result<Self> {
        if let Some(path) = url.local_path() {
            for table in [
                StoreTable::Versions,
                StoreTable::Scrapes,
                StoreTable::Checkpoints,
            ] {
                let directory = path.join(table.name());
                std::fs::create_dir_all(&directory).map_err(|error| {
                    EngineError::InvalidStoreUrl {
                        url: url.to_string(),
                        reason: format!("cannot create directory {}: {error}", directory.display()),
                    }
                })?;
            }
        }
        let storage_options = options.to_storage_options();
        // One schedule for the whole store, so a plan's "N-th write" counts every table's.
        let faults = options.faults.clone().map(|plan| {
            tracing::warn!(?plan, "injecting object-store faults ({FAULTS_ENV})");
            FaultSchedule::new(plan)
        });
        let faults = faults.as_ref();
        let open =
            |table| open_or_create(url, table, &storage_options, options.read_retries, faults);
        let versions = open(StoreTable::Versions).await?;
        let scrapes = open(StoreTable::Scrapes).await?;
        let checkpoints = open(StoreTable::Checkpoints).await?;
        Ok(Store {
            url: url.clone(),
            versions: Mutex::new(versions),
            scrapes: Mutex::new(scrapes),
            checkpoints: Mutex::new(checkpoints),
            checkpoint_policy: CheckpointPolicy::default(),
            checkpointing: Mutex::new(()),
        })
    }

    /// Use `policy` to decide when sources get checkpoints.
    pub fn with_checkpoint_policy(mut self, policy: CheckpointPolicy) -> Self {
        self.checkpoint_policy = policy;
        self
    }

    /// The checkpoint policy in use.
    pub fn checkpoint_policy(&self) -> CheckpointPolicy {
        self.checkpoint_policy
    }

    /// Where the store lives.
    pub fn url(&self) -> &StoreUrl {
        &self.url
    }

    /// Commit scrapes and the versions they produced: versions first, then the scrape records.
    pub async fn commit(&self, records: &[ScrapeRecord], versions: &[VersionRow]) -> Result<()> {
        let scrape_ids: Vec<serde_json::Value> = records
            .iter()
            .map(|record| serde_json::Value::String(record.scrape_id.clone()))
            .collect();
        let metadata = || {
            CommitProperties::default().with_metadata([(
                "groundtruth.scrapes".to_string(),
                serde_json::Value::Array(scrape_ids.clone()),
            )])
        };
        if !versions.is_empty() {
            append(
                &self.versions,
                StoreTable::Versions,
                rows::versions_batch(versions)?,
                metadata(),
            )
            .await?;
        }
        if !records.is_empty() {
            append(
                &self.scrapes,
                StoreTable::Scrapes,
                rows::scrapes_batch(records)?,
                metadata(),
            )
            .await?;
        }
        Ok(())
    }

    /// Pick up commits made by other processes.
    pub async fn refresh(&self) -> Result<()> {
        self.versions
            .lock()
            .await
            .update_state()
            .await
            .map_err(delta_error(StoreTable::Versions, "refresh"))?;
        self.scrapes
            .lock()
            .await
            .update_state()
            .await
            .map_err(delta_error(StoreTable::Scrapes, "refresh"))?;
        self.checkpoints
            .lock()
            .await
            .update_state()
            .await
            .map_err(delta_error(StoreTable::Checkpoints, "refresh"))?;
        Ok(())
    }

    /// The Delta log versions this handle reads, for `versions`, `scrapes` and `checkpoints`
    /// (`None` before a table's first commit); another process reading the same store compares
    /// them with its own to know whether it must refresh before answering.
    pub async fn log_versions(&self) -> [Option<i64>; 3] {
        let mut versions = [None; 3];
        for (slot, table) in versions.iter_mut().zip([
            StoreTable::Versions,
            StoreTable::Scrapes,
            StoreTable::Checkpoints,
        ]) {
            *slot = self
                .table(table)
                .lock()
                .await
                .version()
                .and_then(|version| i64::try_from(version).ok());
        }
        versions
    }

    /// Table providers for the current table versions.
    pub async fn snapshot(&self) -> Result<StoreSnapshot> {
        let (versions, versions_at) = self.provider(StoreTable::Versions).await?;
        let (scrapes, scrapes_at) = self.provider(StoreTable::Scrapes).await?;
        let (checkpoints, checkpoints_at) = self.provider(StoreTable::Checkpoints).await?;
        Ok(StoreSnapshot {
            versions,
            scrapes,
            checkpoints,
            log_versions: [
                (StoreTable::Versions.name(), versions_at),
                (StoreTable::Scrapes.name(), scrapes_at),
                (StoreTable::Checkpoints.name(), checkpoints_at),
            ],
        })
    }

    async fn provider(&self, table: StoreTable) -> Result<(Arc<dyn TableProvider>, Option<i64>)> {
        let delta = self.table(table).lock().await.clone();
        let provider = delta.table_provider().await.map_err(|error| {
            EngineError::query(format!("scanning table {}", table.name()), error)
        })?;
        Ok((
            provider,
            delta
                .version()
                .and_then(|version| i64::try_from(version).ok()),
        ))
    }

    /// Register the store's object store with a query session, so scans can read files.
    pub async fn prepare_session(&self, context: &SessionContext) -> Result<()> {
        let state = context.state();
        self.versions
            .lock()
            .await
            .update_datafusion_session(&state)
            .map_err(delta_error(StoreTable::Versions, "register"))?;
        self.scrapes
            .lock()
            .await
            .update_datafusion_session(&state)
            .map_err(delta_error(StoreTable::Scrapes, "register"))?;
        self.checkpoints
            .lock()
            .await
            .update_datafusion_session(&state)
            .map_err(delta_error(StoreTable::Checkpoints, "register"))?;
        Ok(())
    }

    fn table(&self, table: StoreTable) -> &Mutex<DeltaTable> {
        match table {
            StoreTable::Versions => &self.versions,
            StoreTable::Scrapes => &self.scrapes,
            StoreTable::Checkpoints => &self.checkpoints,
        }
    }

    /// Rewrite the `versions` table's many small files into few large ones. Files are binned
    /// in commit order, so every compacted file still covers a narrow range of `valid_from`
    /// and its statistics (file and row group) prune time windows: the reads of state, which
    /// touch one checkpoint and the versions after it, and `changes`. Delta's optimize commits
    /// the removal of old files and the addition of new ones atomically, so readers see every
    /// version exactly once before, during and after.
    pub async fn compact(&self) -> Result<CompactionReport> {
        let mut table = self.versions.lock().await;
        let target = NonZeroU64::new(128 * 1024 * 1024).unwrap_or(NonZeroU64::MIN);
        let (compacted, metrics) = table
            .clone()
            .optimize()
            .with_type(OptimizeType::Compact)
            .with_target_size(target)
            .with_writer_properties(
                WriterProperties::builder()
                    .set_max_row_group_row_count(Some(VERSIONS_ROW_GROUP))
                    .build(),
            )
            .await
            .map_err(delta_error(StoreTable::Versions, "optimize"))?;
        *table = compacted;
        Ok(CompactionReport {
            files_removed: metrics.num_files_removed,
            files_added: metrics.num_files_added,
        })
    }

    async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let context = SessionContext::new();
        self.prepare_session(&context).await?;
        let snapshot = self.snapshot().await?;
        context
            .register_table("versions", snapshot.versions)
            .map_err(|error| EngineError::query("registering versions", error))?;
        context
            .register_table("scrapes", snapshot.scrapes)
            .map_err(|error| EngineError::query("registering scrapes", error))?;
        let frame = context
            .sql(sql)
            .await
            .map_err(|error| EngineError::query("internal query", error))?;
        frame
            .collect()
            .await
            .map_err(|error| EngineError::query("internal query", error))
    }

    /// Finish a commit interrupted between its two steps: versions whose scrape has no record
    /// get one, so history reads the same as if the process had not stopped.
    ///
    /// Only the single writer may call this: a reader racing a live writer would see a commit
    /// between its two steps and record the scrape twice.
    pub async fn recover(&self) -> Result<()> {
        self.recover_sources(None).await
    }

    /// [`Store::recover`] for the sources one writer owns (`None`: every source). When
    /// several writers (workers) share a store, each owns a disjoint set of sources and must
    /// recover only those: another worker's commit may be between its two steps right now.
    pub async fn recover_sources(&self, owned: Option<&BTreeSet<String>>) -> Result<()> {
        let batches = self
            .query(
                "SELECT v.scrape_id, v.source, min(v.valid_from) AS started_at, count(*) AS versions \
                 FROM versions v LEFT ANTI JOIN scrapes s ON v.scrape_id = s.scrape_id \
                 GROUP BY v.scrape_id, v.source ORDER BY started_at",
            )
            .await?;
        let mut records = Vec::new();
        for batch in &batches {
            let scrape_ids = string_column(batch, "scrape_id")?;
            let sources = string_column(batch, "source")?;
            let started = timestamp_column(batch, "started_at")?;
            let counts = arrow::compute::cast(column(batch, "versions")?, &ArrowType::Int64)
                .map_err(|source| EngineError::Arrow {
                    what: "recovery counts",
                    source,
                })?;
            let counts = counts
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .ok_or_else(|| EngineError::Corrupt("recovery count column".into()))?;
            for row in 0..batch.num_rows() {
                if owned.is_some_and(|owned| !owned.contains(sources.value(row))) {
                    continue;
                }
                let started_at = micros_to_time(started.value(row))?;
                records.push(ScrapeRecord {
                    scrape_id: scrape_ids.value(row).to_string(),
                    source: sources.value(row).to_string(),
                    source_type: "unknown".into(),
                    started_at,
                    finished_at: started_at,
                    status: ScrapeStatus::Ok,
                    resources_seen: -1,
                    versions_written: counts.value(row),
                    error: Some(
                        "recovered on restart: the process stopped after this scrape's versions were committed \
                         and before its record was written"
                            .into(),
                    ),
                    warnings: Vec::new(),
                    interval_seconds: None,
                });
            }
        }
        if !records.is_empty() {
            tracing::warn!(
                count = records.len(),
                "recorded scrapes interrupted by an earlier stop"
            );
            self.commit(&records, &[]).await?;
        }
        Ok(())
    }

    /// Rebuild the writer's index: the latest live version of every resource and the last
    /// successful scrape of every source, from each source's newest checkpoint and the
    /// versions after it (never from all of history).
    pub async fn load_state(&self) -> Result<HashMap<String, SourceState>> {
        let index = self.time_index().await?;
        let context = self.session().await?;
        let snapshot = self.snapshot().await?;
        let state = timeline::state_of(
            &context.state(),
            snapshot.versions,
            snapshot.checkpoints,
            &index.windows(None),
            &["layer", "name", "attrs", "attrs_hash", "labels"],
        )
        .await?;
        let mut sources: HashMap<String, SourceState> = HashMap::new();
        let source = string_column(&state, "source")?;
        let kind = string_column(&state, "kind")?;
        let id = string_column(&state, "id")?;
        let layer = string_column(&state, "layer")?;
        let name = string_column(&state, "name")?;
        let attrs = string_column(&state, "attrs")?;
        let hash = string_column(&state, "attrs_hash")?;
        let labels = string_column(&state, "labels")?;
        for row in 0..state.num_rows() {
            let corrupt = |what: &str| {
                EngineError::Corrupt(format!("{what} of {}/{}", kind.value(row), id.value(row)))
            };
            let version = CurrentVersion {
                layer: Layer::parse(layer.value(row)).ok_or_else(|| corrupt("layer"))?,
                name: (!name.is_null(row)).then(|| name.value(row).to_string()),
                attrs: attrs.value(row).to_string(),
                labels: if labels.is_null(row) {
                    Default::default()
                } else {
                    serde_json::from_str(labels.value(row)).map_err(|_| corrupt("labels"))?
                },
                fingerprint: hash.value(row).to_string(),
            };
            sources
                .entry(source.value(row).to_string())
                .or_default()
                .resources
                .insert(
                    ResourceKey {
                        kind: kind.value(row).to_string(),
                        id: id.value(row).to_string(),
                    },
                    version,
                );
        }
        for name in index.sources() {
            if let Some(last) = index.last_success(name, None) {
                sources.entry(name.to_string()).or_default().last_success =
                    Some(micros_to_time(last)?);
            }
        }
        Ok(sources)
    }

    /// A query session over this store's tables, for the engine's own reads.
    async fn session(&self) -> Result<SessionContext> {
        let context = SessionContext::new();
        self.prepare_session(&context).await?;
        Ok(context)
    }

    /// Every scrape's start and outcome and every checkpoint's instant, per source. The
    /// checkpoints are listed from the Delta log's partition values, without reading a file.
    pub async fn time_index(&self) -> Result<TimeIndex> {
        let batches = self
            .query(
                "SELECT source, started_at, status IN ('ok', 'partial') AS succeeded FROM scrapes",
            )
            .await?;
        let mut scrapes = Vec::new();
        for batch in &batches {
            let source = string_column(batch, "source")?;
            let started = timestamp_column(batch, "started_at")?;
            let succeeded = column(batch, "succeeded")?
                .as_any()
                .downcast_ref::<arrow::array::BooleanArray>()
                .cloned()
                .ok_or_else(|| EngineError::Corrupt("scrape status flag".into()))?;
            for row in 0..batch.num_rows() {
                scrapes.push((
                    source.value(row).to_string(),
                    started.value(row),
                    succeeded.value(row),
                ));
            }
        }
        Ok(TimeIndex::new(scrapes, self.checkpoint_instants().await?))
    }

    /// `(source, instant)` of every checkpoint, with the rows it holds.
    async fn checkpoint_files(&self) -> Result<Vec<(String, i64, u64)>> {
        let table = self.checkpoints.lock().await;
        let snapshot = table
            .snapshot()
            .map_err(delta_error(StoreTable::Checkpoints, "list"))?;
        let mut files = Vec::new();
        for file in snapshot.log_data().iter() {
            let values = file.partition_values_map();
            let source = values.get("source").cloned().flatten();
            let at = values
                .get("checkpoint_at_us")
                .cloned()
                .flatten()
                .and_then(|text| text.parse::<i64>().ok());
            match (source, at) {
                (Some(source), Some(at)) => {
                    files.push((source, at, file.num_records().unwrap_or(0) as u64))
                }
                _ => {
                    return Err(EngineError::Corrupt(format!(
                        "checkpoint file {} lacks its partition values",
                        file.path()
                    )))
                }
            }
        }
        Ok(files)
    }

    async fn checkpoint_instants(&self) -> Result<Vec<(String, i64)>> {
        Ok(self
            .checkpoint_files()
            .await?
            .into_iter()
            .map(|(source, at, _)| (source, at))
            .collect())
    }

    /// Write a checkpoint for every source the policy says is due (call after commits). A
    /// checkpoint is one Delta commit derived only from committed rows, so a crash before it
    /// leaves no trace but unreferenced files, and the next call writes it again.
    pub async fn maybe_checkpoint(&self) -> Result<Vec<CheckpointReport>> {
        let _exclusive = self.checkpointing.lock().await;
        let index = self.time_index().await?;
        let files = self.checkpoint_files().await?;
        let windows = index.windows(None);
        if windows.is_empty() {
            return Ok(Vec::new());
        }
        let context = self.session().await?;
        let snapshot = self.snapshot().await?;
        let counts = timeline::read::run(
            timeline::read::plan_version_counts(&context.state(), snapshot.versions, &windows)
                .await?,
            context.task_ctx(),
        )
        .await?;
        let mut reports = Vec::new();
        for batch in &counts {
            let source = string_column(batch, "source")?;
            let growth = int_column(batch, timeline::read::GROWTH)?;
            let versions = int_column(batch, timeline::read::VERSIONS_WRITTEN)?;
            for row in 0..batch.num_rows() {
                let name = source.value(row);
                let checkpoint = index.checkpoint(name, None);
                let base: u64 = files
                    .iter()
                    .filter(|(file_source, at, _)| file_source == name && Some(*at) == checkpoint)
                    .map(|(_, _, rows)| rows)
                    .sum();
                let resources = (base as i64 + growth.value(row)).max(0) as f64;
                let written = versions.value(row).max(0) as u64;
                let policy = self.checkpoint_policy;
                let threshold = (policy.state_ratio * resources).ceil().max(0.0) as u64;
                if written >= policy.min_versions.max(threshold).max(1) {
                    if let Some(report) = self.checkpoint_with(&index, name).await? {
                        reports.push(report);
                    }
                }
            }
        }
        Ok(reports)
    }

    /// Write a checkpoint of `source` at the start of its latest recorded scrape, due or not.
    /// `None` when the source has no scrape or already has a checkpoint there.
    pub async fn checkpoint(&self, source: &str) -> Result<Option<CheckpointReport>> {
        let _exclusive = self.checkpointing.lock().await;
        let index = self.time_index().await?;
        self.checkpoint_with(&index, source).await
    }

    async fn checkpoint_with(
        &self,
        index: &TimeIndex,
        source: &str,
    ) -> Result<Option<CheckpointReport>> {
        let Some(at) = index.latest_scrape(source) else {
            return Ok(None);
        };
        let Some(mut window) = index
            .windows(Some(at))
            .into_iter()
            .find(|window| window.source == source)
        else {
            return Ok(None);
        };
        if window.checkpoint == Some(at) {
            return Ok(None);
        }
        window.until = Some(at);
        let context = self.session().await?;
        let snapshot = self.snapshot().await?;
        let state = timeline::state_of(
            &context.state(),
            snapshot.versions,
            snapshot.checkpoints,
            std::slice::from_ref(&window),
            &timeline::merge::PAYLOAD_COLUMNS,
        )
        .await?;
        let rows = state.num_rows() as u64;
        let batch = rows::checkpoint_batch(&state, at)?;
        let metadata = CommitProperties::default().with_metadata([(
            "groundtruth.checkpoint".to_string(),
            serde_json::json!({"source": source, "at_us": at}),
        )]);
        append(&self.checkpoints, StoreTable::Checkpoints, batch, metadata).await?;
        Ok(Some(CheckpointReport {
            source: source.to_string(),
            at: micros_to_time(at)?,
            rows,
        }))
    }

    /// Start of the latest scrape of each source, whatever its status.
    pub async fn last_scrape_starts(&self) -> Result<HashMap<String, DateTime<Utc>>> {
        let batches = self
            .query("SELECT source, max(started_at) AS last_start FROM scrapes GROUP BY source")
            .await?;
        let mut starts = HashMap::new();
        for batch in &batches {
            let source = string_column(batch, "source")?;
            let last = timestamp_column(batch, "last_start")?;
            for row in 0..batch.num_rows() {
                starts.insert(
                    source.value(row).to_string(),
                    micros_to_time(last.value(row))?,
                );
            }
        }
        Ok(starts)
    }
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a arrow::array::ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| EngineError::Corrupt(format!("missing column {name}")))
}

/// A column as plain UTF-8, whichever string encoding the scan produced.
pub(crate) fn string_column(batch: &RecordBatch, name: &str) -> Result<StringArray> {
    let cast = arrow::compute::cast(column(batch, name)?, &ArrowType::Utf8).map_err(|source| {
        EngineError::Arrow {
            what: "string column",
            source,
        }
    })?;
    cast.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| EngineError::Corrupt(format!("column {name} is not text")))
}

/// A column as UTC microsecond timestamps.
pub(crate) fn timestamp_column(
    batch: &RecordBatch,
    name: &str,
) -> Result<TimestampMicrosecondArray> {
    let cast = arrow::compute::cast(
        column(batch, name)?,
        &ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    )
    .map_err(|source| EngineError::Arrow {
        what: "timestamp column",
        source,
    })?;
    cast.as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .cloned()
        .ok_or_else(|| EngineError::Corrupt(format!("column {name} is not a timestamp")))
}

fn int_column(batch: &RecordBatch, name: &str) -> Result<arrow::array::Int64Array> {
    let cast = arrow::compute::cast(column(batch, name)?, &ArrowType::Int64).map_err(|source| {
        EngineError::Arrow {
            what: "integer column",
            source,
        }
    })?;
    cast.as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .cloned()
        .ok_or_else(|| EngineError::Corrupt(format!("column {name} is not an integer")))
}

fn micros_to_time(micros: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| EngineError::Corrupt(format!("timestamp {micros} out of range")))
}
