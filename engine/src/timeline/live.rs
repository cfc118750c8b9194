//! The current state of every source, kept in memory by the engine: loaded once from each
//! source's newest checkpoint and the versions after it, then advanced at every refresh with
//! only the versions committed since the previous refresh.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::provider_as_source;
use datafusion::functions_aggregate::expr_fn::min;
use datafusion::logical_expr::{col, LogicalPlanBuilder};

use super::merge::{self, PAYLOAD_COLUMNS};
use super::read::{self, SourceWindow};
use super::{instant_column, text_column, KindsSeen, TimeIndex};
use crate::error::{EngineError, Result};

#[derive(Debug, Clone)]
struct SourceState {
    /// Merged state rows of the source, all payload columns, ordered by (kind, id).
    rows: RecordBatch,
    /// Every version of the source with `valid_from` at or before this instant is in `rows`.
    applied: i64,
}

/// The current state of every source and the kinds each has reported.
#[derive(Debug, Clone, Default)]
pub struct LiveState {
    sources: BTreeMap<String, SourceState>,
    kinds: Option<KindsSeen>,
    combined: Option<RecordBatch>,
}

impl LiveState {
    /// Bring the state up to the newest committed versions. Sources seen for the first time
    /// start from their newest checkpoint; known sources read only versions after the last
    /// applied instant. Returns whether anything changed.
    pub async fn advance(
        &mut self,
        session: &dyn Session,
        versions: Arc<dyn TableProvider>,
        checkpoints: Arc<dyn TableProvider>,
        index: &TimeIndex,
    ) -> Result<bool> {
        if self.kinds.is_none() {
            self.kinds = Some(load_kinds(session, Arc::clone(&versions)).await?);
        }
        // Known sources continue from what they applied; new ones start from their checkpoint.
        let windows: Vec<SourceWindow> = index
            .windows(None)
            .into_iter()
            .map(|window| match self.sources.get(&window.source) {
                Some(known) => SourceWindow {
                    checkpoint: None,
                    after: Some(known.applied),
                    ..window
                },
                None => window,
            })
            .collect();
        let fresh: Vec<&SourceWindow> = windows
            .iter()
            .filter(|window| !self.sources.contains_key(&window.source))
            .collect();
        let payload = PAYLOAD_COLUMNS.to_vec();
        let context = session.task_ctx();
        let base_plan = read::plan_checkpoints(session, checkpoints, &windows, &payload).await?;
        let tail_plan = read::plan_versions(session, versions, &windows, &payload).await?;
        let (checkpoint_rows, tail) = futures::try_join!(
            read::run(base_plan, Arc::clone(&context)),
            read::run(tail_plan, context)
        )?;
        let tail: Vec<RecordBatch> = tail
            .into_iter()
            .filter(|batch| batch.num_rows() > 0)
            .collect();
        if tail.is_empty() && fresh.is_empty() {
            return Ok(false);
        }
        if let Some(kinds) = self.kinds.as_mut() {
            kinds.observe_batches(&tail)?;
        }

        // Which sources the new versions touch, and up to when.
        let mut newest: BTreeMap<String, i64> = BTreeMap::new();
        for batch in &tail {
            let sources = text_column(batch, "source")?;
            let valid_from = instant_column(batch, "valid_from")?;
            for row in 0..batch.num_rows() {
                let entry = newest
                    .entry(sources.value(row).to_string())
                    .or_insert(i64::MIN);
                *entry = (*entry).max(valid_from.value(row));
            }
        }
        let mut base: Vec<RecordBatch> = checkpoint_rows;
        for (source, known) in &self.sources {
            if newest.contains_key(source) {
                base.push(known.rows.clone());
            }
        }
        let merged = merge::merge(&base, &tail, &payload)?;
        let touched: Vec<String> = newest
            .keys()
            .cloned()
            .chain(fresh.iter().map(|window| window.source.clone()))
            .collect();
        let sources = text_column(&merged, "source")?;
        for source in touched {
            let start = partition_start(&sources, &source);
            let end = partition_start_after(&sources, &source);
            let applied = newest.get(&source).copied().into_iter().chain(
                windows
                    .iter()
                    .find(|window| window.source == source)
                    .and_then(|window| window.after),
            );
            let applied = applied
                .chain(self.sources.get(&source).map(|known| known.applied))
                .max()
                .unwrap_or(i64::MIN);
            self.sources.insert(
                source,
                SourceState {
                    rows: merged.slice(start, end - start),
                    applied,
                },
            );
        }
        self.combined = None;
        Ok(true)
    }

    /// Every source's current rows in one batch, ordered by (source, kind, id).
    pub fn rows(&mut self) -> Result<RecordBatch> {
        if let Some(rows) = &self.combined {
            return Ok(rows.clone());
        }
        let schema = merge::state_schema(&PAYLOAD_COLUMNS);
        let batches: Vec<&RecordBatch> = self.sources.values().map(|state| &state.rows).collect();
        let rows = arrow::compute::concat_batches(&schema, batches).map_err(|source| {
            EngineError::Arrow {
                what: "current state",
                source,
            }
        })?;
        self.combined = Some(rows.clone());
        Ok(rows)
    }

    /// The kinds every source has reported, and since when.
    pub fn kinds(&self) -> KindsSeen {
        self.kinds.clone().unwrap_or_default()
    }
}

/// First row of `source` in a column ordered by source.
fn partition_start(sources: &arrow::array::StringArray, source: &str) -> usize {
    partition_point(sources, |value| value < source)
}

/// First row after the rows of `source`.
fn partition_start_after(sources: &arrow::array::StringArray, source: &str) -> usize {
    partition_point(sources, |value| value <= source)
}

fn partition_point(sources: &arrow::array::StringArray, before: impl Fn(&str) -> bool) -> usize {
    let (mut low, mut high) = (0, sources.len());
    while low < high {
        let middle = (low + high) / 2;
        if before(sources.value(middle)) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    low
}

/// Every (source, layer, kind) in the versions with its first `valid_from`: one aggregate over
/// four narrow columns, run once per process.
async fn load_kinds(session: &dyn Session, versions: Arc<dyn TableProvider>) -> Result<KindsSeen> {
    let logical = LogicalPlanBuilder::scan("versions", provider_as_source(versions), None)
        .and_then(|builder| {
            builder.aggregate(
                vec![col("source"), col("layer"), col("kind")],
                vec![min(col("valid_from")).alias("valid_from")],
            )
        })
        .and_then(LogicalPlanBuilder::build)
        .map_err(|error| EngineError::query("planning the kinds seen", error))?;
    let plan = session
        .create_physical_plan(&logical)
        .await
        .map_err(|error| EngineError::query("planning the kinds seen", error))?;
    let batches = read::run(Some(plan), session.task_ctx()).await?;
    let mut kinds = KindsSeen::default();
    kinds.observe_batches(&batches)?;
    Ok(kinds)
}
