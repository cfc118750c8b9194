//! The state of a store at an instant, computed from a bounded amount of stored data.
//!
//! A state is the newest checkpoint of each source at or before the instant, overlaid with
//! that source's versions after the checkpoint and up to the instant ([`merge::merge`]). The
//! engine keeps in memory only what is small: per source, the start and outcome of every scrape
//! and the instants of its checkpoints ([`TimeIndex`]), the kinds each source has reported
//! ([`KindsSeen`]), and the current state itself ([`live::LiveState`]), which each refresh
//! advances with the versions committed since the last one.

pub mod live;
pub mod merge;
pub mod read;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};

use crate::error::{EngineError, Result};
use crate::json_type;
use read::SourceWindow;

/// Per source, the start of every recorded scrape (with whether it succeeded: ok or partial)
/// and the instants of its checkpoints, all in µs since the epoch and sorted.
#[derive(Debug, Clone, Default)]
pub struct TimeIndex {
    scrapes: BTreeMap<String, Vec<(i64, bool)>>,
    checkpoints: BTreeMap<String, Vec<i64>>,
}

impl TimeIndex {
    /// Build the index from `(source, started_at, succeeded)` scrape rows and
    /// `(source, checkpoint_at)` checkpoint instants, in any order.
    pub fn new(
        scrapes: impl IntoIterator<Item = (String, i64, bool)>,
        checkpoints: impl IntoIterator<Item = (String, i64)>,
    ) -> Self {
        let mut index = TimeIndex::default();
        for (source, started, succeeded) in scrapes {
            index
                .scrapes
                .entry(source)
                .or_default()
                .push((started, succeeded));
        }
        for (source, at) in checkpoints {
            index.checkpoints.entry(source).or_default().push(at);
        }
        index
            .scrapes
            .values_mut()
            .for_each(|starts| starts.sort_unstable());
        index.checkpoints.values_mut().for_each(|instants| {
            instants.sort_unstable();
            instants.dedup();
        });
        index
    }

    /// Every source with a scrape record.
    pub fn sources(&self) -> impl Iterator<Item = &str> {
        self.scrapes.keys().map(String::as_str)
    }

    /// Start of the last successful scrape of `source` at or before `until` (or ever).
    pub fn last_success(&self, source: &str, until: Option<i64>) -> Option<i64> {
        self.scrapes.get(source).and_then(|starts| {
            let end = match until {
                Some(until) => starts.partition_point(|(start, _)| *start <= until),
                None => starts.len(),
            };
            starts[..end]
                .iter()
                .rev()
                .find(|(_, succeeded)| *succeeded)
                .map(|(start, _)| *start)
        })
    }

    /// Start of the first recorded scrape of `source`.
    pub fn first_scrape(&self, source: &str) -> Option<i64> {
        self.scrapes
            .get(source)
            .and_then(|starts| starts.first())
            .map(|(start, _)| *start)
    }

    /// Start of the latest recorded scrape of `source`.
    pub fn latest_scrape(&self, source: &str) -> Option<i64> {
        self.scrapes
            .get(source)
            .and_then(|starts| starts.last())
            .map(|(start, _)| *start)
    }

    /// The newest checkpoint of `source` at or before `at` (or the newest of all).
    pub fn checkpoint(&self, source: &str, at: Option<i64>) -> Option<i64> {
        self.checkpoints.get(source).and_then(|instants| {
            let end = match at {
                Some(at) => instants.partition_point(|instant| *instant <= at),
                None => instants.len(),
            };
            end.checked_sub(1).map(|last| instants[last])
        })
    }

    /// Every checkpoint instant of `source`.
    pub fn checkpoints(&self, source: &str) -> &[i64] {
        self.checkpoints.get(source).map_or(&[], Vec::as_slice)
    }

    /// What to read for the state at `at` (or now): per source, its newest checkpoint at or
    /// before then and the versions after it. A source without such a checkpoint is read from
    /// its first scrape, which no version of it precedes.
    pub fn windows(&self, at: Option<i64>) -> Vec<SourceWindow> {
        self.sources()
            .filter_map(|source| {
                let first = self.first_scrape(source)?;
                if at.is_some_and(|at| at < first) {
                    return None;
                }
                let checkpoint = self.checkpoint(source, at);
                Some(SourceWindow {
                    source: source.to_string(),
                    checkpoint,
                    after: Some(checkpoint.unwrap_or(first - 1)),
                    until: at,
                })
            })
            .collect()
    }
}

/// Per (source, layer, kind), the first instant a version of that kind was written: which
/// kinds a live source watches, at any instant, without reading history.
#[derive(Debug, Clone, Default)]
pub struct KindsSeen {
    first: BTreeMap<(String, String, String), i64>,
}

impl KindsSeen {
    /// Record that `(source, layer, kind)` had a version at `at`.
    pub fn observe(&mut self, source: &str, layer: &str, kind: &str, at: i64) {
        let key = (source.to_string(), layer.to_string(), kind.to_string());
        let first = self.first.entry(key).or_insert(at);
        *first = (*first).min(at);
    }

    /// Record every version row of `batches` (`source`, `layer`, `kind`, `valid_from`).
    pub fn observe_batches(&mut self, batches: &[RecordBatch]) -> Result<()> {
        for batch in batches {
            let source = text_column(batch, "source")?;
            let layer = text_column(batch, "layer")?;
            let kind = text_column(batch, "kind")?;
            let at = instant_column(batch, "valid_from")?;
            for row in 0..batch.num_rows() {
                self.observe(
                    source.value(row),
                    layer.value(row),
                    kind.value(row),
                    at.value(row),
                );
            }
        }
        Ok(())
    }

    /// `source, layer, kind, first_seen` rows, ordered.
    pub fn batch(&self) -> Result<RecordBatch> {
        let text = |pick: fn(&(String, String, String)) -> &str| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(self.first.keys().map(pick)))
        };
        RecordBatch::try_new(
            Self::schema(),
            vec![
                text(|key| &key.0),
                text(|key| &key.1),
                text(|key| &key.2),
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(self.first.values().copied())
                        .with_timezone("UTC"),
                ),
            ],
        )
        .map_err(|source| EngineError::Arrow {
            what: "kinds seen",
            source,
        })
    }

    /// Schema of [`KindsSeen::batch`].
    pub fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("source", DataType::Utf8, false),
            Field::new("layer", DataType::Utf8, false),
            Field::new("kind", DataType::Utf8, false),
            Field::new("first_seen", merge::instant_type(), false),
        ]))
    }
}

/// Columns of `resources` and `resources_at(T)`, in published order.
pub const RESOURCE_COLUMNS: [&str; 12] = [
    "source",
    "kind",
    "id",
    "layer",
    "name",
    "attrs",
    "attrs_hash",
    "labels",
    "first_seen",
    "last_changed",
    "observed_at",
    "provenance",
];

/// Schema of `resources` and `resources_at(T)`.
pub fn resources_schema() -> SchemaRef {
    let fields: Vec<Field> = RESOURCE_COLUMNS
        .iter()
        .map(|name| match *name {
            "first_seen" | "last_changed" => Field::new(*name, merge::instant_type(), false),
            "observed_at" => Field::new(*name, merge::instant_type(), true),
            "source" | "kind" | "id" | "layer" => Field::new(*name, DataType::Utf8, false),
            "attrs" | "labels" => json_type::json_field(name, DataType::Utf8),
            _ => Field::new(*name, DataType::Utf8, true),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// The state columns needed to produce the published columns at `projection` (all when
/// `None`): the payload part, since keys and instants are always there.
pub fn payload_for(projection: Option<&Vec<usize>>) -> Vec<&'static str> {
    let wanted: BTreeSet<&str> = match projection {
        Some(indices) => indices
            .iter()
            .map(|index| RESOURCE_COLUMNS[*index])
            .collect(),
        None => RESOURCE_COLUMNS.iter().copied().collect(),
    };
    merge::PAYLOAD_COLUMNS
        .iter()
        .copied()
        .filter(|name| wanted.contains(name))
        .collect()
}

/// A merged state as `resources` rows (projected), with `observed_at` from `index` as of
/// `until` (or now).
pub fn publish(
    state: &RecordBatch,
    index: &TimeIndex,
    until: Option<i64>,
    projection: Option<&Vec<usize>>,
) -> Result<RecordBatch> {
    let full: Vec<usize> = (0..RESOURCE_COLUMNS.len()).collect();
    let indices = projection.unwrap_or(&full);
    let schema = resources_schema();
    let projected = Arc::new(
        schema
            .project(indices)
            .map_err(|source| EngineError::Arrow {
                what: "resources projection",
                source,
            })?,
    );
    let mut columns = Vec::with_capacity(indices.len());
    for index_position in indices {
        let name = RESOURCE_COLUMNS[*index_position];
        let column = if name == "observed_at" {
            let sources = text_column(state, "source")?;
            let mut cache: Option<(String, Option<i64>)> = None;
            let values = (0..sources.len()).map(|row| {
                let source = sources.value(row);
                match &cache {
                    Some((cached, value)) if cached == source => *value,
                    _ => {
                        let value = index.last_success(source, until);
                        cache = Some((source.to_string(), value));
                        value
                    }
                }
            });
            Arc::new(TimestampMicrosecondArray::from_iter(values).with_timezone("UTC")) as ArrayRef
        } else {
            Arc::clone(
                state.column_by_name(name).ok_or_else(|| {
                    EngineError::Corrupt(format!("merged state lacks column {name}"))
                })?,
            )
        };
        columns.push(column);
    }
    RecordBatch::try_new_with_options(
        projected,
        columns,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(state.num_rows())),
    )
    .map_err(|source| EngineError::Arrow {
        what: "resources rows",
        source,
    })
}

/// The state for `windows`, read through `session` from the two tables and merged.
pub async fn state_of(
    session: &dyn Session,
    versions: Arc<dyn TableProvider>,
    checkpoints: Arc<dyn TableProvider>,
    windows: &[SourceWindow],
    payload: &[&str],
) -> Result<RecordBatch> {
    let base_plan = read::plan_checkpoints(session, checkpoints, windows, payload).await?;
    let tail_plan = read::plan_versions(session, versions, windows, payload).await?;
    let context = session.task_ctx();
    let (base, tail) = futures::try_join!(
        read::run(base_plan, Arc::clone(&context)),
        read::run(tail_plan, context)
    )?;
    merge::merge(&base, &tail, payload)
}

/// A text column as `StringArray`, whatever string encoding the scan produced.
pub(crate) fn text_column(batch: &RecordBatch, name: &str) -> Result<StringArray> {
    crate::store::string_column(batch, name)
}

/// A timestamp column as UTC microseconds.
pub(crate) fn instant_column(batch: &RecordBatch, name: &str) -> Result<TimestampMicrosecondArray> {
    crate::store::timestamp_column(batch, name)
}
