//! Reading small query answers back out of Arrow batches.

use anyhow::{Context, Result};
use arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::DataType;

use crate::drift::StatusCounts;

/// Rows in `batches`.
pub fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// A `(status, count)` answer as a map, e.g. of `SELECT status, count(*) ... GROUP BY status`.
pub fn status_counts(batches: &[RecordBatch]) -> Result<StatusCounts> {
    let mut counts = StatusCounts::new();
    for batch in batches {
        let status = arrow::compute::cast(batch.column(0), &DataType::Utf8)?;
        let status = status
            .as_any()
            .downcast_ref::<StringArray>()
            .context("status column")?;
        let count = arrow::compute::cast(batch.column(1), &DataType::Int64)?;
        let count = count
            .as_any()
            .downcast_ref::<Int64Array>()
            .context("count column")?;
        for row in 0..batch.num_rows() {
            let key = if status.is_null(row) {
                "NULL".to_string()
            } else {
                status.value(row).to_string()
            };
            *counts.entry(key).or_default() += count.value(row) as u64;
        }
    }
    Ok(counts)
}

/// `counts` without its zero entries (a GROUP BY has no row for an absent status).
pub fn nonzero(counts: &StatusCounts) -> StatusCounts {
    counts
        .iter()
        .filter(|(_, count)| **count > 0)
        .map(|(status, count)| (status.clone(), *count))
        .collect()
}

/// The text of an `EXPLAIN [ANALYZE]` answer: every column of every row, one per line.
pub fn plan_text(batches: &[RecordBatch]) -> Result<String> {
    let mut text = String::new();
    for batch in batches {
        let columns = batch
            .columns()
            .iter()
            .map(|column| arrow::compute::cast(column, &DataType::Utf8))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            for column in &columns {
                let column = column
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .context("plan text")?;
                text.push_str(column.value(row));
                text.push('\n');
            }
        }
    }
    Ok(text)
}
