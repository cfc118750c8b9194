//! Column layout of the two Delta tables, and conversion between rows and Arrow batches.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};
use deltalake::kernel::{DataType, StructField};

use crate::error::{EngineError, Result};
use crate::model::{ScrapeRecord, VersionRow};

/// The column list of `versions`: (name, is timestamp, nullable). Strings unless marked.
const VERSION_COLUMNS: &[(&str, ColumnType, bool)] = &[
    ("source", ColumnType::Text, false),
    ("kind", ColumnType::Text, false),
    ("id", ColumnType::Text, false),
    ("layer", ColumnType::Text, false),
    ("name", ColumnType::Text, true),
    ("attrs", ColumnType::Text, true),
    ("attrs_hash", ColumnType::Text, true),
    ("labels", ColumnType::Text, true),
    ("change", ColumnType::Text, false),
    ("diff", ColumnType::Text, true),
    ("scrape_id", ColumnType::Text, false),
    ("valid_from", ColumnType::Timestamp, false),
    ("change_window_start", ColumnType::Timestamp, true),
    ("provenance", ColumnType::Text, true),
];

/// The column list of `checkpoints`: the state of one source at one instant, one row per
/// resource alive then. `source` and `checkpoint_at_us` are the partition columns, so the Delta
/// log alone lists every checkpoint and a read of one checkpoint opens only its files.
const CHECKPOINT_COLUMNS: &[(&str, ColumnType, bool)] = &[
    ("source", ColumnType::Text, false),
    ("checkpoint_at_us", ColumnType::Integer, false),
    ("kind", ColumnType::Text, false),
    ("id", ColumnType::Text, false),
    ("layer", ColumnType::Text, false),
    ("name", ColumnType::Text, true),
    ("attrs", ColumnType::Text, true),
    ("attrs_hash", ColumnType::Text, true),
    ("labels", ColumnType::Text, true),
    ("provenance", ColumnType::Text, true),
    ("scrape_id", ColumnType::Text, true),
    ("first_seen", ColumnType::Timestamp, false),
    ("last_changed", ColumnType::Timestamp, false),
];

/// Partition columns of `checkpoints`.
pub const CHECKPOINT_PARTITIONS: [&str; 2] = ["source", "checkpoint_at_us"];

const SCRAPE_COLUMNS: &[(&str, ColumnType, bool)] = &[
    ("scrape_id", ColumnType::Text, false),
    ("source", ColumnType::Text, false),
    ("source_type", ColumnType::Text, false),
    ("started_at", ColumnType::Timestamp, false),
    ("finished_at", ColumnType::Timestamp, false),
    ("status", ColumnType::Text, false),
    ("resources_seen", ColumnType::Integer, true),
    ("versions_written", ColumnType::Integer, false),
    ("error", ColumnType::Text, true),
    ("warnings", ColumnType::Text, true),
    ("interval_seconds", ColumnType::Integer, true),
];

#[derive(Clone, Copy)]
enum ColumnType {
    Text,
    Timestamp,
    Integer,
}

fn delta_columns(columns: &[(&str, ColumnType, bool)]) -> Vec<StructField> {
    columns
        .iter()
        .map(|(name, column_type, nullable)| {
            let data_type = match column_type {
                ColumnType::Text => DataType::STRING,
                ColumnType::Timestamp => DataType::TIMESTAMP,
                ColumnType::Integer => DataType::LONG,
            };
            StructField::new(*name, data_type, *nullable)
        })
        .collect()
}

fn arrow_schema(columns: &[(&str, ColumnType, bool)]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, column_type, nullable)| {
                let data_type = match column_type {
                    ColumnType::Text => ArrowType::Utf8,
                    ColumnType::Timestamp => {
                        ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
                    }
                    ColumnType::Integer => ArrowType::Int64,
                };
                Field::new(*name, data_type, *nullable)
            })
            .collect::<Vec<_>>(),
    ))
}

/// Delta schema of `versions`.
pub fn version_columns() -> Vec<StructField> {
    delta_columns(VERSION_COLUMNS)
}

/// Delta schema of `checkpoints`.
pub fn checkpoint_columns() -> Vec<StructField> {
    delta_columns(CHECKPOINT_COLUMNS)
}

/// Arrow schema of `checkpoints` (partition columns included, as the writer takes them).
pub fn checkpoint_schema() -> SchemaRef {
    arrow_schema(CHECKPOINT_COLUMNS)
}

/// Delta schema of `scrapes`.
pub fn scrape_columns() -> Vec<StructField> {
    delta_columns(SCRAPE_COLUMNS)
}

fn text<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

fn timestamps(values: impl Iterator<Item = Option<DateTime<Utc>>>) -> ArrayRef {
    Arc::new(
        values
            .map(|value| value.map(|instant| instant.timestamp_micros()))
            .collect::<TimestampMicrosecondArray>()
            .with_timezone("UTC"),
    )
}

/// Arrow batch of version rows in the `versions` layout.
pub fn versions_batch(rows: &[VersionRow]) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = vec![
        text(rows.iter().map(|row| Some(row.source.as_str()))),
        text(rows.iter().map(|row| Some(row.kind.as_str()))),
        text(rows.iter().map(|row| Some(row.id.as_str()))),
        text(rows.iter().map(|row| Some(row.layer.as_str()))),
        text(rows.iter().map(|row| row.name.as_deref())),
        text(rows.iter().map(|row| row.attrs.as_deref())),
        text(rows.iter().map(|row| row.attrs_hash.as_deref())),
        text(rows.iter().map(|row| row.labels.as_deref())),
        text(rows.iter().map(|row| Some(row.change.as_str()))),
        text(rows.iter().map(|row| row.diff.as_deref())),
        text(rows.iter().map(|row| Some(row.scrape_id.as_str()))),
        timestamps(rows.iter().map(|row| Some(row.valid_from))),
        timestamps(rows.iter().map(|row| row.change_window_start)),
        text(rows.iter().map(|row| row.provenance.as_deref())),
    ];
    RecordBatch::try_new(arrow_schema(VERSION_COLUMNS), columns).map_err(|source| {
        EngineError::Arrow {
            what: "versions batch",
            source,
        }
    })
}

/// Arrow batch of scrape records in the `scrapes` layout.
pub fn scrapes_batch(records: &[ScrapeRecord]) -> Result<RecordBatch> {
    let warnings: Vec<Option<String>> = records
        .iter()
        .map(|record| {
            (!record.warnings.is_empty())
                .then(|| serde_json::to_string(&record.warnings))
                .transpose()
        })
        .collect::<Result<_, _>>()
        .map_err(|source| EngineError::Json {
            what: "scrape warnings",
            source,
        })?;
    let columns: Vec<ArrayRef> = vec![
        text(records.iter().map(|record| Some(record.scrape_id.as_str()))),
        text(records.iter().map(|record| Some(record.source.as_str()))),
        text(
            records
                .iter()
                .map(|record| Some(record.source_type.as_str())),
        ),
        timestamps(records.iter().map(|record| Some(record.started_at))),
        timestamps(records.iter().map(|record| Some(record.finished_at))),
        text(records.iter().map(|record| Some(record.status.as_str()))),
        Arc::new(
            records
                .iter()
                .map(|record| Some(record.resources_seen))
                .collect::<Int64Array>(),
        ),
        Arc::new(
            records
                .iter()
                .map(|record| Some(record.versions_written))
                .collect::<Int64Array>(),
        ),
        text(records.iter().map(|record| record.error.as_deref())),
        text(warnings.iter().map(Option::as_deref)),
        Arc::new(
            records
                .iter()
                .map(|record| record.interval_seconds)
                .collect::<Int64Array>(),
        ),
    ];
    RecordBatch::try_new(arrow_schema(SCRAPE_COLUMNS), columns).map_err(|source| {
        EngineError::Arrow {
            what: "scrapes batch",
            source,
        }
    })
}

/// A merged state (see `timeline::merge`, all payload columns) as checkpoint rows taken at
/// `at_us`, in the `checkpoints` layout.
pub fn checkpoint_batch(state: &RecordBatch, at_us: i64) -> Result<RecordBatch> {
    let schema = checkpoint_schema();
    let columns = schema
        .fields()
        .iter()
        .map(|field| match field.name().as_str() {
            "checkpoint_at_us" => {
                Ok(Arc::new(Int64Array::from_value(at_us, state.num_rows())) as ArrayRef)
            }
            name => state
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| EngineError::Corrupt(format!("checkpoint state lacks {name}"))),
        })
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new(schema, columns).map_err(|source| EngineError::Arrow {
        what: "checkpoint batch",
        source,
    })
}
