//! The one place a state is computed from stored rows: a known state (a checkpoint, or the
//! engine's current state) overlaid with the versions written after it.
//!
//! Both inputs arrive as Arrow batches and the result is gathered with `interleave`, so payload
//! columns (attrs above all) are copied once, for the rows that survive, and never parsed.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::compute::{cast, interleave};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::error::{EngineError, Result};

/// Identity columns of every state row.
pub const KEY_COLUMNS: [&str; 3] = ["source", "kind", "id"];

/// Columns a state row can carry besides its identity and its two instants, in stored order.
pub const PAYLOAD_COLUMNS: [&str; 7] = [
    "layer",
    "name",
    "attrs",
    "attrs_hash",
    "labels",
    "provenance",
    "scrape_id",
];

/// Which stored change a version row records (`versions.change`).
const REMOVED: &str = "removed";
const ADDED: &str = "added";

/// The Arrow type of every instant the engine stores.
pub fn instant_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Schema of a merged state with the given payload columns:
/// `source, kind, id, first_seen, last_changed, <payload...>`.
pub fn state_schema(payload: &[&str]) -> SchemaRef {
    let mut fields: Vec<Field> = KEY_COLUMNS
        .iter()
        .map(|name| Field::new(*name, DataType::Utf8, false))
        .collect();
    fields.push(Field::new("first_seen", instant_type(), false));
    fields.push(Field::new("last_changed", instant_type(), false));
    fields.extend(
        payload
            .iter()
            .map(|name| Field::new(*name, DataType::Utf8, *name != "layer")),
    );
    Arc::new(Schema::new(fields))
}

fn column(batch: &RecordBatch, name: &str, to: &DataType) -> Result<ArrayRef> {
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| EngineError::Corrupt(format!("state input lacks column {name}")))?;
    if array.data_type() == to {
        return Ok(Arc::clone(array));
    }
    cast(array, to).map_err(|source| EngineError::Arrow {
        what: "state input column",
        source,
    })
}

fn strings(array: &ArrayRef) -> Result<&StringArray> {
    array
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| EngineError::Corrupt("state key column is not text".into()))
}

fn instants(array: &ArrayRef) -> Result<&TimestampMicrosecondArray> {
    array
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .ok_or_else(|| EngineError::Corrupt("state instant column is not a timestamp".into()))
}

/// One input batch with its columns normalized to the merge's types.
struct Normalized {
    keys: [ArrayRef; 3],
    instant: ArrayRef,
    /// `first_seen` for state rows, `change` for version rows.
    marker: ArrayRef,
    payload: Vec<ArrayRef>,
}

fn normalize(
    batch: &RecordBatch,
    instant: &str,
    marker: (&str, DataType),
    payload: &[&str],
) -> Result<Normalized> {
    let text = DataType::Utf8;
    Ok(Normalized {
        keys: [
            column(batch, KEY_COLUMNS[0], &text)?,
            column(batch, KEY_COLUMNS[1], &text)?,
            column(batch, KEY_COLUMNS[2], &text)?,
        ],
        instant: column(batch, instant, &instant_type())?,
        marker: column(batch, marker.0, &marker.1)?,
        payload: payload
            .iter()
            .map(|name| column(batch, name, &text))
            .collect::<Result<_>>()?,
    })
}

#[derive(Clone, Copy)]
struct Winner {
    input: usize,
    row: usize,
    first_seen: i64,
    last_changed: i64,
}

/// The state obtained by applying `versions` (rows of `versions`: source, kind, id, valid_from,
/// change and the payload columns) in `valid_from` order to `base` (state rows: source, kind,
/// id, first_seen, last_changed and the payload columns).
///
/// The caller chooses which versions apply (those after the base's instant, up to the instant
/// wanted). A `removed` version deletes the resource; an `added` one starts a new incarnation
/// (`first_seen` = its `valid_from`); any other change keeps `first_seen`. `last_changed` is
/// the `valid_from` of the version that wins. Rows come out ordered by (source, kind, id).
pub fn merge(
    base: &[RecordBatch],
    versions: &[RecordBatch],
    payload: &[&str],
) -> Result<RecordBatch> {
    let base: Vec<Normalized> = base
        .iter()
        .filter(|batch| batch.num_rows() > 0)
        .map(|batch| {
            normalize(
                batch,
                "last_changed",
                ("first_seen", instant_type()),
                payload,
            )
        })
        .collect::<Result<_>>()?;
    let versions: Vec<Normalized> = versions
        .iter()
        .filter(|batch| batch.num_rows() > 0)
        .map(|batch| normalize(batch, "valid_from", ("change", DataType::Utf8), payload))
        .collect::<Result<_>>()?;
    let inputs: Vec<&Normalized> = base.iter().chain(versions.iter()).collect();

    let mut state: HashMap<(&str, &str, &str), Winner> = HashMap::new();
    for (input, batch) in base.iter().enumerate() {
        let [source, kind, id] = [
            strings(&batch.keys[0])?,
            strings(&batch.keys[1])?,
            strings(&batch.keys[2])?,
        ];
        let last_changed = instants(&batch.instant)?;
        let first_seen = instants(&batch.marker)?;
        for row in 0..source.len() {
            state.insert(
                (source.value(row), kind.value(row), id.value(row)),
                Winner {
                    input,
                    row,
                    first_seen: first_seen.value(row),
                    last_changed: last_changed.value(row),
                },
            );
        }
    }

    // Versions apply in time order; one identity has at most one version per instant.
    let mut order: Vec<(i64, usize, usize)> = Vec::new();
    for (offset, batch) in versions.iter().enumerate() {
        let valid_from = instants(&batch.instant)?;
        order.extend(
            (0..valid_from.len()).map(|row| (valid_from.value(row), base.len() + offset, row)),
        );
    }
    order.sort_unstable();
    for (valid_from, input, row) in order {
        let batch = inputs[input];
        let key = (
            strings(&batch.keys[0])?.value(row),
            strings(&batch.keys[1])?.value(row),
            strings(&batch.keys[2])?.value(row),
        );
        match strings(&batch.marker)?.value(row) {
            REMOVED => {
                state.remove(&key);
            }
            change => {
                let first_seen = match state.get(&key) {
                    Some(previous) if change != ADDED => previous.first_seen,
                    _ => valid_from,
                };
                state.insert(
                    key,
                    Winner {
                        input,
                        row,
                        first_seen,
                        last_changed: valid_from,
                    },
                );
            }
        }
    }

    let mut winners: Vec<((&str, &str, &str), Winner)> = state.into_iter().collect();
    winners.sort_unstable_by(|left, right| left.0.cmp(&right.0));
    let indices: Vec<(usize, usize)> = winners
        .iter()
        .map(|(_, winner)| (winner.input, winner.row))
        .collect();
    let gather = |pick: &dyn Fn(&Normalized) -> &ArrayRef| -> Result<ArrayRef> {
        if inputs.is_empty() {
            return Ok(arrow::array::new_empty_array(&DataType::Utf8));
        }
        let arrays: Vec<&dyn Array> = inputs.iter().map(|input| pick(input).as_ref()).collect();
        interleave(&arrays, &indices).map_err(|source| EngineError::Arrow {
            what: "merged state",
            source,
        })
    };
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(5 + payload.len());
    for position in 0..3 {
        columns.push(gather(&|input: &Normalized| &input.keys[position])?);
    }
    columns.push(Arc::new(
        TimestampMicrosecondArray::from_iter_values(
            winners.iter().map(|(_, winner)| winner.first_seen),
        )
        .with_timezone("UTC"),
    ));
    columns.push(Arc::new(
        TimestampMicrosecondArray::from_iter_values(
            winners.iter().map(|(_, winner)| winner.last_changed),
        )
        .with_timezone("UTC"),
    ));
    for position in 0..payload.len() {
        columns.push(gather(&|input: &Normalized| &input.payload[position])?);
    }
    RecordBatch::try_new(state_schema(payload), columns).map_err(|source| EngineError::Arrow {
        what: "merged state",
        source,
    })
}

/// Split `batch` into at most `parts` batches of consecutive rows (for parallel scans).
pub fn split(batch: &RecordBatch, parts: usize) -> Vec<RecordBatch> {
    let rows = batch.num_rows();
    if rows == 0 {
        return vec![batch.clone()];
    }
    let parts = parts.max(1).min(rows);
    let size = rows.div_ceil(parts).max(1);
    (0..rows)
        .step_by(size)
        .map(|start| batch.slice(start, size.min(rows - start)))
        .collect()
}
