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
pub(crate) const REMOVED: &str = "removed";
pub(crate) const ADDED: &str = "added";

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

/// A stored row that holds in the merged state.
#[derive(Clone, Copy)]
struct Winner {
    input: usize,
    row: usize,
    first_seen: i64,
    last_changed: i64,
}

/// When the current incarnation of an identity began, as far as the versions alone tell.
#[derive(Clone, Copy)]
enum FirstSeen {
    /// An `added` version: the incarnation began there.
    At(i64),
    /// Only modifications: the base's `first_seen` if the base holds the identity, else the
    /// first of those modifications (a state that never saw it added).
    InheritOr(i64),
}

/// What the versions leave of one identity: `None` when the last one removed it.
type Outcome = Option<(Winner, FirstSeen)>;

type Key<'a> = (&'a str, &'a str, &'a str);
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

fn key_at<'a>(keys: &[&'a StringArray; 3], row: usize) -> Key<'a> {
    (keys[0].value(row), keys[1].value(row), keys[2].value(row))
}

/// The rows that hold after applying `versions` to `base`, in (source, kind, id) order when
/// `ordered`.
///
/// The versions are few next to the base (a checkpoint holds the whole state), so only their
/// identities are hashed; the base is walked once. A base read back from one sorted
/// checkpoint (or the engine's sorted current state) arrives as sorted, non-overlapping
/// batches in any order: they are put back in order by their first keys and merged with the
/// few identities the versions add, so 100k rows are never sorted. Any other base is sorted.
fn winners(base: &[Normalized], versions: &[Normalized], ordered: bool) -> Result<Vec<Winner>> {
    let base_keys: Vec<[&StringArray; 3]> = base
        .iter()
        .map(|batch| {
            Ok([
                strings(&batch.keys[0])?,
                strings(&batch.keys[1])?,
                strings(&batch.keys[2])?,
            ])
        })
        .collect::<Result<_>>()?;
    let version_keys: Vec<[&StringArray; 3]> = versions
        .iter()
        .map(|batch| {
            Ok([
                strings(&batch.keys[0])?,
                strings(&batch.keys[1])?,
                strings(&batch.keys[2])?,
            ])
        })
        .collect::<Result<_>>()?;

    // Versions apply in time order; one identity has at most one version per instant.
    let mut order: Vec<(i64, usize, usize)> = Vec::new();
    for (offset, batch) in versions.iter().enumerate() {
        let valid_from = instants(&batch.instant)?;
        order.extend((0..valid_from.len()).map(|row| (valid_from.value(row), offset, row)));
    }
    order.sort_unstable();
    let mut outcomes: FastMap<Key<'_>, Outcome> = FastMap::default();
    for (valid_from, offset, row) in order {
        let key = key_at(&version_keys[offset], row);
        let winner = Winner {
            input: base.len() + offset,
            row,
            first_seen: valid_from,
            last_changed: valid_from,
        };
        let outcome = match strings(&versions[offset].marker)?.value(row) {
            REMOVED => None,
            ADDED => Some((winner, FirstSeen::At(valid_from))),
            _ => {
                let first_seen = match outcomes.get(&key) {
                    Some(Some((_, first_seen))) => *first_seen,
                    Some(None) => FirstSeen::At(valid_from),
                    None => FirstSeen::InheritOr(valid_from),
                };
                Some((winner, first_seen))
            }
        };
        outcomes.insert(key, outcome);
    }

    // Base batches in key order, when each is sorted and they do not overlap.
    let mut batches: Vec<usize> = (0..base.len()).collect();
    batches.sort_by(|left, right| key_at(&base_keys[*left], 0).cmp(&key_at(&base_keys[*right], 0)));
    let base_sorted = ordered
        && batches.iter().all(|batch| {
            let keys = &base_keys[*batch];
            (1..keys[0].len()).all(|row| key_at(keys, row - 1) < key_at(keys, row))
        })
        && batches.windows(2).all(|pair| {
            let (left, right) = (&base_keys[pair[0]], &base_keys[pair[1]]);
            key_at(left, left[0].len() - 1) < key_at(right, 0)
        });

    let mut held: Vec<Winner> = Vec::with_capacity(
        base.iter().map(|batch| batch.keys[0].len()).sum::<usize>() + outcomes.len(),
    );
    for input in batches {
        let keys = &base_keys[input];
        let last_changed = instants(&base[input].instant)?;
        let first_seen = instants(&base[input].marker)?;
        for row in 0..keys[0].len() {
            let base_first_seen = first_seen.value(row);
            match outcomes.remove(&key_at(keys, row)) {
                None => held.push(Winner {
                    input,
                    row,
                    first_seen: base_first_seen,
                    last_changed: last_changed.value(row),
                }),
                Some(None) => {}
                Some(Some((winner, first_seen))) => held.push(Winner {
                    first_seen: match first_seen {
                        FirstSeen::At(at) => at,
                        FirstSeen::InheritOr(_) => base_first_seen,
                    },
                    ..winner
                }),
            }
        }
    }
    // What remains are identities the base does not hold.
    let mut added: Vec<(Key<'_>, Winner)> = outcomes
        .into_iter()
        .filter_map(|(key, outcome)| {
            outcome.map(|(winner, first_seen)| {
                let first_seen = match first_seen {
                    FirstSeen::At(at) | FirstSeen::InheritOr(at) => at,
                };
                (
                    key,
                    Winner {
                        first_seen,
                        ..winner
                    },
                )
            })
        })
        .collect();
    if !ordered {
        held.extend(added.into_iter().map(|(_, winner)| winner));
        return Ok(held);
    }
    let key_of = |winner: &Winner| -> Key<'_> {
        if winner.input < base.len() {
            key_at(&base_keys[winner.input], winner.row)
        } else {
            key_at(&version_keys[winner.input - base.len()], winner.row)
        }
    };
    added.sort_unstable_by(|left, right| left.0.cmp(&right.0));
    if !base_sorted {
        held.extend(added.into_iter().map(|(_, winner)| winner));
        held.sort_unstable_by(|left, right| key_of(left).cmp(&key_of(right)));
        return Ok(held);
    }
    let mut merged = Vec::with_capacity(held.len() + added.len());
    let mut added = added.into_iter().peekable();
    for winner in held {
        let key = key_of(&winner);
        while let Some((_, next)) = added.next_if(|(added_key, _)| *added_key < key) {
            merged.push(next);
        }
        merged.push(winner);
    }
    merged.extend(added.map(|(_, winner)| winner));
    Ok(merged)
}

fn normalize_inputs(
    base: &[RecordBatch],
    versions: &[RecordBatch],
    payload: &[&str],
) -> Result<(Vec<Normalized>, Vec<Normalized>)> {
    let base = base
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
    let versions = versions
        .iter()
        .filter(|batch| batch.num_rows() > 0)
        .map(|batch| normalize(batch, "valid_from", ("change", DataType::Utf8), payload))
        .collect::<Result<_>>()?;
    Ok((base, versions))
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
    let (base, versions) = normalize_inputs(base, versions, payload)?;
    let winners = winners(&base, &versions, true)?;
    let inputs: Vec<&Normalized> = base.iter().chain(versions.iter()).collect();
    let indices: Vec<(usize, usize)> = winners
        .iter()
        .map(|winner| (winner.input, winner.row))
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
        TimestampMicrosecondArray::from_iter_values(winners.iter().map(|winner| winner.first_seen))
            .with_timezone("UTC"),
    ));
    columns.push(Arc::new(
        TimestampMicrosecondArray::from_iter_values(
            winners.iter().map(|winner| winner.last_changed),
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

/// How many identities [`merge`] would return, without ordering or copying them (for
/// `count(*)`, which projects no column).
pub fn count(base: &[RecordBatch], versions: &[RecordBatch]) -> Result<usize> {
    let (base, versions) = normalize_inputs(base, versions, &[])?;
    Ok(winners(&base, &versions, false)?.len())
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rand::rngs::StdRng;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};

    use super::*;

    type Row = (String, String, String, i64, i64, String);

    fn state_batch(rows: &[Row]) -> RecordBatch {
        let text = |pick: fn(&Row) -> &str| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(rows.iter().map(pick)))
        };
        let instant = |pick: fn(&Row) -> i64| -> ArrayRef {
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(rows.iter().map(pick))
                    .with_timezone("UTC"),
            )
        };
        RecordBatch::try_new(
            state_schema(&["name"]),
            vec![
                text(|row| &row.0),
                text(|row| &row.1),
                text(|row| &row.2),
                instant(|row| row.3),
                instant(|row| row.4),
                text(|row| &row.5),
            ],
        )
        .unwrap()
    }

    /// Versions: (source, kind, id, valid_from, change, name).
    fn version_batch(rows: &[(String, String, String, i64, &str, String)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("source", DataType::Utf8, false),
            Field::new("kind", DataType::Utf8, false),
            Field::new("id", DataType::Utf8, false),
            Field::new("valid_from", instant_type(), false),
            Field::new("change", DataType::Utf8, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.0))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.1))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.2))),
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.3))
                        .with_timezone("UTC"),
                ),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.4))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.5))),
            ],
        )
        .unwrap()
    }

    fn rows_of(batch: &RecordBatch) -> Vec<Row> {
        use arrow::array::AsArray;
        use arrow::datatypes::TimestampMicrosecondType;
        let text = |index: usize| batch.column(index).as_string::<i32>().clone();
        let instant = |index: usize| {
            batch
                .column(index)
                .as_primitive::<TimestampMicrosecondType>()
                .clone()
        };
        let (source, kind, id, first, last, name) =
            (text(0), text(1), text(2), instant(3), instant(4), text(5));
        (0..batch.num_rows())
            .map(|row| {
                (
                    source.value(row).to_string(),
                    kind.value(row).to_string(),
                    id.value(row).to_string(),
                    first.value(row),
                    last.value(row),
                    name.value(row).to_string(),
                )
            })
            .collect()
    }

    /// Whatever order the base's sorted slices arrive in, and whether or not the base is
    /// sorted at all, the merge equals the definition (versions applied one by one, in time
    /// order, to a map), in key order; and `count` equals its length.
    #[test]
    fn merge_equals_applying_versions_one_by_one() {
        for seed in 0..200u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let key = |rng: &mut StdRng| {
                (
                    format!("s{}", rng.random_range(0..2)),
                    format!("k{}", rng.random_range(0..3)),
                    format!("i{}", rng.random_range(0..30)),
                )
            };
            let mut definition: BTreeMap<(String, String, String), (i64, i64, String)> =
                BTreeMap::new();
            for _ in 0..rng.random_range(0..60) {
                let (source, kind, id) = key(&mut rng);
                let first = rng.random_range(0..50);
                definition.insert((source, kind, id), (first, first + 5, format!("b{first}")));
            }
            let mut base: Vec<Row> = definition
                .iter()
                .map(|((s, k, i), (f, l, n))| (s.clone(), k.clone(), i.clone(), *f, *l, n.clone()))
                .collect();
            let mut versions = Vec::new();
            let mut instants: Vec<i64> = (100..100 + rng.random_range(0..80)).collect();
            instants.shuffle(&mut rng);
            for valid_from in instants {
                let (source, kind, id) = key(&mut rng);
                let change = ["added", "modified", "removed"][rng.random_range(0..3)];
                versions.push((
                    source,
                    kind,
                    id,
                    valid_from,
                    change,
                    format!("v{valid_from}"),
                ));
            }
            let mut in_time = versions.clone();
            in_time.sort_by_key(|version| version.3);
            for (source, kind, id, valid_from, change, name) in in_time {
                let key = (source, kind, id);
                match change {
                    "removed" => {
                        definition.remove(&key);
                    }
                    _ => {
                        let first = match definition.get(&key) {
                            Some((first, _, _)) if change != "added" => *first,
                            _ => valid_from,
                        };
                        definition.insert(key, (first, valid_from, name));
                    }
                }
            }
            let expected: Vec<Row> = definition
                .into_iter()
                .map(|((s, k, i), (f, l, n))| (s, k, i, f, l, n))
                .collect();

            // The base in sorted slices, shuffled; on odd seeds, rows shuffled too.
            if seed % 2 == 1 {
                base.shuffle(&mut rng);
            }
            let mut slices = Vec::new();
            let mut rest = base.as_slice();
            while !rest.is_empty() {
                let take = rng.random_range(1..=rest.len().min(7));
                slices.push(state_batch(&rest[..take]));
                rest = &rest[take..];
            }
            slices.shuffle(&mut rng);
            let versions: Vec<RecordBatch> = versions.chunks(9).map(version_batch).collect();
            let merged = merge(&slices, &versions, &["name"]).unwrap();
            assert_eq!(rows_of(&merged), expected, "seed {seed}");
            assert_eq!(
                count(&slices, &versions).unwrap(),
                expected.len(),
                "seed {seed}"
            );
        }
    }
}
