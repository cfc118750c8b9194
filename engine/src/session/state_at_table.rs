//! `resources_at(T)` as a table: the state at T computed from one checkpoint per source and
//! the versions after it, instead of a window over all history. The reads are child plans, so
//! `EXPLAIN ANALYZE` shows what Delta and Parquet statistics pruned.

use std::fmt;
use std::sync::{Arc, RwLock};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{internal_err, plan_err};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    collect, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use tokio::sync::OnceCell;

use crate::timeline::{self, merge, read, TimeIndex};

/// Name under which the unbound state table is planned inside templates (`drift_at`,
/// `identity_links_at`), replaced by a [`StateAtTable`] bound to T at each call.
pub const STATE_AT_PLACEHOLDER: &str = "__state_at";

/// What a state table reads: the time index of the newest refresh and the two tables.
#[derive(Debug)]
pub struct StateSource {
    index: RwLock<Arc<TimeIndex>>,
    versions: Arc<dyn TableProvider>,
    checkpoints: Arc<dyn TableProvider>,
}

impl StateSource {
    /// Over the (refreshable) `versions` and `checkpoints` tables.
    pub fn new(versions: Arc<dyn TableProvider>, checkpoints: Arc<dyn TableProvider>) -> Self {
        Self {
            index: RwLock::new(Arc::new(TimeIndex::default())),
            versions,
            checkpoints,
        }
    }

    /// Install the index of the newest refresh.
    pub fn set_index(&self, index: Arc<TimeIndex>) {
        *self
            .index
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = index;
    }

    /// The index of the newest refresh.
    pub fn index(&self) -> Arc<TimeIndex> {
        Arc::clone(
            &self
                .index
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// The state at `at` (µs). With `shared`, every scan of the returned table (all the
    /// references in one query) serves one computation of the full state.
    pub fn at(self: &Arc<Self>, at: Option<i64>, shared: bool) -> StateAtTable {
        StateAtTable {
            source: Arc::clone(self),
            at,
            index: self.index(),
            shared: shared.then(|| Arc::new(OnceCell::new())),
        }
    }
}

/// The state at one instant, with the columns of `resources`.
pub struct StateAtTable {
    source: Arc<StateSource>,
    at: Option<i64>,
    index: Arc<TimeIndex>,
    shared: Option<Arc<OnceCell<RecordBatch>>>,
}

impl StateAtTable {
    /// The instant (µs) this table is bound to, or `None` for the unbound placeholder; with
    /// [`Self::is_shared`] it says what the table is, so another process (a Ballista
    /// scheduler or executor) can rebuild it over the same store with [`super::Engine::state_at`].
    pub fn instant(&self) -> Option<i64> {
        self.at
    }

    /// Whether every scan of this table serves one computation of the full state.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }
}

impl fmt::Debug for StateAtTable {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("StateAtTable")
            .field("at", &self.at)
            .finish()
    }
}

#[async_trait]
impl TableProvider for StateAtTable {
    fn schema(&self) -> SchemaRef {
        timeline::resources_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(at) = self.at else {
            return plan_err!(
                "{STATE_AT_PLACEHOLDER} is a placeholder and was not bound to an instant"
            );
        };
        let windows = self.index.windows(Some(at));
        // A shared state serves every projection, so it carries every column.
        let payload = if self.shared.is_some() {
            merge::PAYLOAD_COLUMNS.to_vec()
        } else {
            timeline::payload_for(projection)
        };
        let base = read::plan_checkpoints(
            state,
            Arc::clone(&self.source.checkpoints),
            &windows,
            &payload,
        )
        .await
        .map_err(engine_error)?;
        let tail =
            read::plan_versions(state, Arc::clone(&self.source.versions), &windows, &payload)
                .await
                .map_err(engine_error)?;
        let schema = match projection {
            Some(indices) => Arc::new(timeline::resources_schema().project(indices)?),
            None => timeline::resources_schema(),
        };
        Ok(Arc::new(StateMergeExec::new(
            base,
            tail,
            payload,
            Arc::clone(&self.index),
            at,
            projection.cloned(),
            schema,
            self.shared.clone(),
        )))
    }
}

/// Merges a checkpoint read and a versions read into the state at an instant.
#[derive(Debug)]
struct StateMergeExec {
    base: Option<Arc<dyn ExecutionPlan>>,
    tail: Option<Arc<dyn ExecutionPlan>>,
    payload: Vec<&'static str>,
    index: Arc<TimeIndex>,
    at: i64,
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
    shared: Option<Arc<OnceCell<RecordBatch>>>,
    properties: Arc<PlanProperties>,
}

impl StateMergeExec {
    #[expect(
        clippy::too_many_arguments,
        reason = "one constructor for scan and with_new_children"
    )]
    fn new(
        base: Option<Arc<dyn ExecutionPlan>>,
        tail: Option<Arc<dyn ExecutionPlan>>,
        payload: Vec<&'static str>,
        index: Arc<TimeIndex>,
        at: i64,
        projection: Option<Vec<usize>>,
        schema: SchemaRef,
        shared: Option<Arc<OnceCell<RecordBatch>>>,
    ) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Self {
            base,
            tail,
            payload,
            index,
            at,
            projection,
            schema,
            shared,
            properties,
        }
    }
}

impl DisplayAs for StateMergeExec {
    fn fmt_as(
        &self,
        _format: DisplayFormatType,
        formatter: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        write!(
            formatter,
            "StateMergeExec: at={}, sources={}, payload=[{}]{}",
            self.at,
            self.index.sources().count(),
            self.payload.join(", "),
            if self.shared.is_some() {
                ", shared"
            } else {
                ""
            }
        )
    }
}

async fn read_inputs(
    base: Option<Arc<dyn ExecutionPlan>>,
    tail: Option<Arc<dyn ExecutionPlan>>,
    context: Arc<TaskContext>,
) -> Result<(Vec<RecordBatch>, Vec<RecordBatch>)> {
    let read = |plan: Option<Arc<dyn ExecutionPlan>>, context: Arc<TaskContext>| async move {
        match plan {
            Some(plan) => collect(plan, context).await,
            None => Ok(Vec::new()),
        }
    };
    futures::try_join!(read(base, Arc::clone(&context)), read(tail, context))
}

fn engine_error(error: crate::error::EngineError) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

async fn run_merge(
    base: Option<Arc<dyn ExecutionPlan>>,
    tail: Option<Arc<dyn ExecutionPlan>>,
    payload: Vec<&'static str>,
    context: Arc<TaskContext>,
) -> Result<RecordBatch> {
    let (base, tail) = read_inputs(base, tail, context).await?;
    merge::merge(&base, &tail, &payload).map_err(engine_error)
}

/// Rows without columns, as many as the state holds: what `count(*)` asks for.
async fn run_count(
    base: Option<Arc<dyn ExecutionPlan>>,
    tail: Option<Arc<dyn ExecutionPlan>>,
    schema: SchemaRef,
    context: Arc<TaskContext>,
) -> Result<RecordBatch> {
    let (base, tail) = read_inputs(base, tail, context).await?;
    let rows = merge::count(&base, &tail).map_err(engine_error)?;
    Ok(RecordBatch::try_new_with_options(
        schema,
        Vec::new(),
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(rows)),
    )?)
}

impl ExecutionPlan for StateMergeExec {
    fn name(&self) -> &str {
        "StateMergeExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        self.base.iter().chain(self.tail.iter()).collect()
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let expected = self.base.is_some() as usize + self.tail.is_some() as usize;
        if children.len() != expected {
            return internal_err!(
                "StateMergeExec takes {expected} children, got {}",
                children.len()
            );
        }
        let mut children = children.into_iter();
        let base = self.base.as_ref().and_then(|_| children.next());
        let tail = self.tail.as_ref().and_then(|_| children.next());
        Ok(Arc::new(StateMergeExec::new(
            base,
            tail,
            self.payload.clone(),
            Arc::clone(&self.index),
            self.at,
            self.projection.clone(),
            Arc::clone(&self.schema),
            self.shared.clone(),
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return internal_err!("StateMergeExec has one partition, asked for {partition}");
        }
        let (base, tail, payload) = (self.base.clone(), self.tail.clone(), self.payload.clone());
        let (shared, index, at, projection) = (
            self.shared.clone(),
            Arc::clone(&self.index),
            self.at,
            self.projection.clone(),
        );
        let counting = shared.is_none() && projection.as_ref().is_some_and(Vec::is_empty);
        let schema = Arc::clone(&self.schema);
        let output = futures::stream::once(async move {
            if counting {
                return run_count(base, tail, schema, context).await;
            }
            let state = match shared {
                Some(cell) => cell
                    .get_or_try_init(|| run_merge(base, tail, payload, context))
                    .await?
                    .clone(),
                None => run_merge(base, tail, payload, context).await?,
            };
            timeline::publish(&state, &index, Some(at), projection.as_ref()).map_err(engine_error)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            output,
        )))
    }
}
