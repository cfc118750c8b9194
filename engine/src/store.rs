//! The store: two Delta Lake tables under one object-store URL, and the single writer that
//! commits scrapes to them. The layout and commit protocol are specified in the crate docs.

mod location;
mod rows;

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::Arc;

use arrow::array::{Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType as ArrowType, TimeUnit};
use chrono::{DateTime, Utc};
use datafusion::catalog::TableProvider;
use datafusion::prelude::SessionContext;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::optimize::OptimizeType;
use deltalake::protocol::SaveMode;
use deltalake::DeltaTable;
use tokio::sync::Mutex;

pub use location::{StoreOptions, StoreTable, StoreUrl};

use crate::error::{EngineError, Result};
use crate::model::{Layer, ResourceKey, ScrapeRecord, ScrapeStatus, VersionRow};
use crate::state::{CurrentVersion, SourceState};

/// Handle on a store. Cheap to share; commits are serialized internally.
#[derive(Debug)]
pub struct Store {
    url: StoreUrl,
    versions: Mutex<DeltaTable>,
    scrapes: Mutex<DeltaTable>,
}

/// What compaction did.
#[derive(Debug, Clone, Default)]
pub struct CompactionReport {
    /// Files rewritten.
    pub files_removed: u64,
    /// Files written.
    pub files_added: u64,
}

/// Read-only providers for both tables at one instant, for query sessions.
#[derive(Debug, Clone)]
pub struct StoreSnapshot {
    /// The `versions` table.
    pub versions: Arc<dyn TableProvider>,
    /// The `scrapes` table.
    pub scrapes: Arc<dyn TableProvider>,
}

fn delta_error(
    table: StoreTable,
    operation: &'static str,
) -> impl FnOnce(deltalake::DeltaTableError) -> EngineError {
    move |source| EngineError::Delta {
        table: table.name(),
        operation,
        source,
    }
}

async fn open_or_create(
    url: &StoreUrl,
    table: StoreTable,
    options: &HashMap<String, String>,
) -> Result<DeltaTable> {
    let table_url = url.table(table);
    let delta = DeltaTable::try_from_url_with_storage_options(table_url, options.clone())
        .await
        .map_err(delta_error(table, "open"))?;
    if delta.version().is_some() {
        return Ok(delta);
    }
    let columns = match table {
        StoreTable::Versions => rows::version_columns(),
        StoreTable::Scrapes => rows::scrape_columns(),
    };
    delta
        .create()
        .with_table_name(table.name())
        .with_columns(columns)
        // Concurrent first opens race to write version 0; the loser's Ignore keeps the winner's.
        .with_save_mode(SaveMode::Ignore)
        .await
        .map_err(delta_error(table, "create"))
}

/// Append one batch to a table as one Delta commit, and keep the new table state.
async fn append(
    table: &Mutex<DeltaTable>,
    which: StoreTable,
    batch: RecordBatch,
    properties: CommitProperties,
) -> Result<()> {
    let mut table = table.lock().await;
    let written = table
        .clone()
        .write(vec![batch])
        .with_save_mode(SaveMode::Append)
        .with_commit_properties(properties)
        .await
        .map_err(delta_error(which, "append"))?;
    *table = written;
    Ok(())
}

impl Store {
    /// Open the store at `url`, creating its tables if they do not exist yet.
    ///
    /// Readers use the store as it is; the writer must call [`Store::recover`] before its first
    /// commit.
    pub async fn open(url: &StoreUrl, options: &StoreOptions) -> Result<Self> {
        if let Some(path) = url.local_path() {
            for table in [StoreTable::Versions, StoreTable::Scrapes] {
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
        let versions = open_or_create(url, StoreTable::Versions, &storage_options).await?;
        let scrapes = open_or_create(url, StoreTable::Scrapes, &storage_options).await?;
        Ok(Store {
            url: url.clone(),
            versions: Mutex::new(versions),
            scrapes: Mutex::new(scrapes),
        })
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
        Ok(())
    }

    /// Table providers for the current table versions.
    pub async fn snapshot(&self) -> Result<StoreSnapshot> {
        let versions = self.provider(StoreTable::Versions).await?;
        let scrapes = self.provider(StoreTable::Scrapes).await?;
        Ok(StoreSnapshot { versions, scrapes })
    }

    async fn provider(&self, table: StoreTable) -> Result<Arc<dyn TableProvider>> {
        let delta = match table {
            StoreTable::Versions => self.versions.lock().await.clone(),
            StoreTable::Scrapes => self.scrapes.lock().await.clone(),
        };
        delta
            .table_provider()
            .await
            .map_err(|error| EngineError::query(format!("scanning table {}", table.name()), error))
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
        Ok(())
    }

    /// Rewrite the `versions` table's many small files into few large ones, Z-ordered on
    /// (id, valid_from) so file statistics prune both per-resource history and time windows.
    /// Delta's optimize commits the removal of old files and the addition of new ones
    /// atomically, so readers see every version exactly once before, during and after.
    pub async fn compact(&self) -> Result<CompactionReport> {
        let mut table = self.versions.lock().await;
        let target = NonZeroU64::new(128 * 1024 * 1024).unwrap_or(NonZeroU64::MIN);
        let (compacted, metrics) = table
            .clone()
            .optimize()
            .with_type(OptimizeType::ZOrder(vec!["id".into(), "valid_from".into()]))
            .with_target_size(target)
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
    /// successful scrape of every source.
    pub async fn load_state(&self) -> Result<HashMap<String, SourceState>> {
        let mut sources: HashMap<String, SourceState> = HashMap::new();
        let latest = self
            .query(
                "SELECT source, kind, id, layer, name, attrs, attrs_hash, labels FROM ( \
                   SELECT *, row_number() OVER (PARTITION BY source, kind, id ORDER BY valid_from DESC) AS position \
                   FROM versions) WHERE position = 1 AND change <> 'removed'",
            )
            .await?;
        for batch in &latest {
            let source = string_column(batch, "source")?;
            let kind = string_column(batch, "kind")?;
            let id = string_column(batch, "id")?;
            let layer = string_column(batch, "layer")?;
            let name = string_column(batch, "name")?;
            let attrs = string_column(batch, "attrs")?;
            let hash = string_column(batch, "attrs_hash")?;
            let labels = string_column(batch, "labels")?;
            for row in 0..batch.num_rows() {
                let corrupt = |what: &str| {
                    EngineError::Corrupt(format!("{what} of {}/{}", kind.value(row), id.value(row)))
                };
                let version = CurrentVersion {
                    layer: Layer::parse(layer.value(row)).ok_or_else(|| corrupt("layer"))?,
                    name: (!name.is_null(row)).then(|| name.value(row).to_string()),
                    attrs: serde_json::from_str(attrs.value(row)).map_err(|_| corrupt("attrs"))?,
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
        }
        let successes = self
            .query("SELECT source, max(started_at) AS last_success FROM scrapes WHERE status IN ('ok', 'partial') GROUP BY source")
            .await?;
        for batch in &successes {
            let source = string_column(batch, "source")?;
            let last = timestamp_column(batch, "last_success")?;
            for row in 0..batch.num_rows() {
                sources
                    .entry(source.value(row).to_string())
                    .or_default()
                    .last_success = Some(micros_to_time(last.value(row))?);
            }
        }
        Ok(sources)
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

fn micros_to_time(micros: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| EngineError::Corrupt(format!("timestamp {micros} out of range")))
}
