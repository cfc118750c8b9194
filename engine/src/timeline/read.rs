//! Reads of the stored rows a state is built from, bounded in time so that Delta and Parquet
//! statistics prune everything else: one checkpoint per source (a partition, found in the
//! Delta log) and the versions of each source in a window of `valid_from`.

use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::provider_as_source;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{col, lit, Expr, LogicalPlanBuilder};
use datafusion::physical_plan::{collect, ExecutionPlan};

use super::merge::{KEY_COLUMNS, PAYLOAD_COLUMNS};
use crate::error::{EngineError, Result};

/// What to read for one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceWindow {
    /// The source.
    pub source: String,
    /// The checkpoint to start from (its instant in µs since the epoch), if any.
    pub checkpoint: Option<i64>,
    /// Versions strictly after this instant (µs); `None`: from the first.
    pub after: Option<i64>,
    /// Versions at or before this instant (µs); `None`: up to the newest.
    pub until: Option<i64>,
}

fn instant(micros: i64) -> Expr {
    lit(ScalarValue::TimestampMicrosecond(
        Some(micros),
        Some("UTC".into()),
    ))
}

fn any_of(terms: Vec<Expr>) -> Option<Expr> {
    terms.into_iter().reduce(Expr::or)
}

/// `source = s AND after < valid_from <= until` for every window, OR-ed.
fn versions_filter(windows: &[SourceWindow]) -> Option<Expr> {
    any_of(
        windows
            .iter()
            .map(|window| {
                let mut term = col("source").eq(lit(window.source.clone()));
                if let Some(after) = window.after {
                    term = term.and(col("valid_from").gt(instant(after)));
                }
                if let Some(until) = window.until {
                    term = term.and(col("valid_from").lt_eq(instant(until)));
                }
                term
            })
            .collect(),
    )
}

/// `source = s AND checkpoint_at_us = c` for every window that starts from a checkpoint.
fn checkpoints_filter(windows: &[SourceWindow]) -> Option<Expr> {
    any_of(
        windows
            .iter()
            .filter_map(|window| {
                window.checkpoint.map(|at| {
                    col("source")
                        .eq(lit(window.source.clone()))
                        .and(col("checkpoint_at_us").eq(lit(at)))
                })
            })
            .collect(),
    )
}

fn payload_columns(payload: &[&str]) -> Result<()> {
    match payload.iter().find(|name| !PAYLOAD_COLUMNS.contains(name)) {
        Some(unknown) => Err(EngineError::Corrupt(format!(
            "{unknown} is not a state column"
        ))),
        None => Ok(()),
    }
}

async fn plan(
    session: &dyn Session,
    name: &str,
    table: Arc<dyn TableProvider>,
    filter: Expr,
    columns: Vec<&str>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let logical = LogicalPlanBuilder::scan(name, provider_as_source(table), None)
        .and_then(|builder| builder.filter(filter))
        .and_then(|builder| builder.project(columns.into_iter().map(col)))
        .and_then(LogicalPlanBuilder::build)
        .map_err(|error| EngineError::query(format!("planning a read of {name}"), error))?;
    session
        .create_physical_plan(&logical)
        .await
        .map_err(|error| EngineError::query(format!("planning a read of {name}"), error))
}

/// The plan reading the version rows in `windows` (`source, kind, id, valid_from, change` and
/// `payload`), or `None` when there is nothing to read.
pub async fn plan_versions(
    session: &dyn Session,
    versions: Arc<dyn TableProvider>,
    windows: &[SourceWindow],
    payload: &[&str],
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    payload_columns(payload)?;
    let Some(filter) = versions_filter(windows) else {
        return Ok(None);
    };
    let mut columns: Vec<&str> = KEY_COLUMNS.to_vec();
    columns.extend(["valid_from", "change"]);
    columns.extend(payload);
    plan(session, "versions", versions, filter, columns)
        .await
        .map(Some)
}

/// Name of the per-source count of versions in [`plan_version_counts`].
pub const VERSIONS_WRITTEN: &str = "versions";
/// Name of the per-source net count of identities added (`added` minus `removed`).
pub const GROWTH: &str = "growth";

/// The plan counting, per source, the version rows in `windows` and their growth (one row per
/// source: `source`, [`VERSIONS_WRITTEN`], [`GROWTH`]), or `None` when there is nothing to
/// read. The checkpoint policy asks this after every commit, so only `source`, `change` and
/// `valid_from` are read.
pub async fn plan_version_counts(
    session: &dyn Session,
    versions: Arc<dyn TableProvider>,
    windows: &[SourceWindow],
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    use datafusion::functions_aggregate::expr_fn::{count, sum};
    use datafusion::logical_expr::when;
    let Some(filter) = versions_filter(windows) else {
        return Ok(None);
    };
    let planning = |error| EngineError::query("planning a count of versions", error);
    let change = || col("change");
    let growth = when(change().eq(lit(super::merge::ADDED)), lit(1i64))
        .when(change().eq(lit(super::merge::REMOVED)), lit(-1i64))
        .otherwise(lit(0i64))
        .map_err(planning)?;
    let logical = LogicalPlanBuilder::scan("versions", provider_as_source(versions), None)
        .and_then(|builder| builder.filter(filter))
        .and_then(|builder| {
            builder.aggregate(
                vec![col("source")],
                vec![
                    count(lit(1i64)).alias(VERSIONS_WRITTEN),
                    sum(growth).alias(GROWTH),
                ],
            )
        })
        .and_then(LogicalPlanBuilder::build)
        .map_err(planning)?;
    session
        .create_physical_plan(&logical)
        .await
        .map(Some)
        .map_err(planning)
}

/// The plan reading the checkpoint rows the windows start from (`source, kind, id, first_seen,
/// last_changed` and `payload`), or `None` when no window starts from a checkpoint.
pub async fn plan_checkpoints(
    session: &dyn Session,
    checkpoints: Arc<dyn TableProvider>,
    windows: &[SourceWindow],
    payload: &[&str],
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    payload_columns(payload)?;
    let Some(filter) = checkpoints_filter(windows) else {
        return Ok(None);
    };
    let mut columns: Vec<&str> = KEY_COLUMNS.to_vec();
    columns.extend(["first_seen", "last_changed"]);
    columns.extend(payload);
    plan(session, "checkpoints", checkpoints, filter, columns)
        .await
        .map(Some)
}

/// Run a read planned above.
pub async fn run(
    plan: Option<Arc<dyn ExecutionPlan>>,
    context: Arc<TaskContext>,
) -> Result<Vec<RecordBatch>> {
    match plan {
        None => Ok(Vec::new()),
        Some(plan) => collect(plan, context)
            .await
            .map_err(|error| EngineError::query("reading stored state", error)),
    }
}
