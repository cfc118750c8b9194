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
