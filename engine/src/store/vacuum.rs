//! Deleting the files no snapshot within the retention window can still read.
//!
//! Compaction commits the removal of small files and the addition of large ones, but leaves
//! the small files on disk: a reader that planned against the snapshot before the compaction
//! may still be scanning them. Vacuum deletes a removed file only once its removal is older
//! than the retention, so any reader whose snapshot is younger than that keeps working; files
//! the current snapshot references are never touched.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use deltalake::operations::vacuum::{Clock as DeltaClock, VacuumMode};
use object_store::ObjectStoreExt;

use super::{delta_error, Store, StoreTable};
use crate::error::{EngineError, Result};

/// What [`Store::vacuum`] deleted (or, in a dry run, would delete), per table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VacuumReport {
    /// `(table, paths of the files deleted)`, for `versions`, `scrapes` and `checkpoints`.
    pub tables: Vec<(&'static str, Vec<String>)>,
    /// Whether nothing was actually deleted.
    pub dry_run: bool,
}

impl VacuumReport {
    /// Files deleted over all tables.
    pub fn files_deleted(&self) -> usize {
        self.tables.iter().map(|(_, files)| files.len()).sum()
    }
}

/// Vacuum's idea of "now", injected so tests can age removals without waiting.
#[derive(Debug)]
struct FixedNow(i64);

impl DeltaClock for FixedNow {
    fn current_timestamp_millis(&self) -> i64 {
        self.0
    }
}

impl Store {
    /// Delete the files of every table that a commit removed (compaction) more than
    /// `retention` before `now`. Files still referenced are kept whatever their age, and a
    /// removal younger than `retention` is kept so readers of snapshots taken before it go on.
    pub async fn vacuum(
        &self,
        retention: Duration,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<VacuumReport> {
        let retention = chrono::Duration::from_std(retention).map_err(|_| {
            EngineError::Config(format!("vacuum retention {retention:?} is too long"))
        })?;
        let mut report = VacuumReport {
            tables: Vec::new(),
            dry_run,
        };
        for table in [
            StoreTable::Versions,
            StoreTable::Scrapes,
            StoreTable::Checkpoints,
        ] {
            // Held for the whole vacuum of the table: the writer's next commit waits, so the
            // snapshot vacuum judges by is the newest.
            let mut delta = self.table(table).lock().await;
            delta
                .update_state()
                .await
                .map_err(delta_error(table, "refresh"))?;
            let vacuum = |dry_run: bool| {
                delta
                    .clone()
                    .vacuum()
                    .with_mode(VacuumMode::Lite)
                    .with_retention_period(retention)
                    // The table's own minimum (7 days by default) is a guard for tools that do
                    // not know their readers; the configured retention is this store's decision.
                    .with_enforce_retention_duration(false)
                    .with_clock(Arc::new(FixedNow(now.timestamp_millis())))
                    .with_dry_run(dry_run)
            };
            // Tombstones outlive the files they name, so lite mode lists files an earlier
            // vacuum already deleted (and counts them again). Only files still present count,
            // and a table with none is left without a vacuum commit.
            let (_, planned) = vacuum(true).await.map_err(delta_error(table, "vacuum"))?;
            let files = delta.log_store().object_store(None);
            let mut present = Vec::new();
            for file in planned.files_deleted {
                match files
                    .head(&object_store::path::Path::from(file.as_str()))
                    .await
                {
                    Ok(_) => present.push(file),
                    Err(object_store::Error::NotFound { .. }) => {}
                    Err(source) => {
                        return Err(EngineError::Object {
                            table: table.name(),
                            operation: "vacuum check",
                            path: file,
                            source: Box::new(source),
                        })
                    }
                }
            }
            if !dry_run && !present.is_empty() {
                let (vacuumed, _) = vacuum(false).await.map_err(delta_error(table, "vacuum"))?;
                *delta = vacuumed;
            }
            report.tables.push((table.name(), present));
        }
        Ok(report)
    }
}
