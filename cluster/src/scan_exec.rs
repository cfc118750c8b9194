//! The scan of a Groundtruth table in a distributed plan: a leaf that carries what to scan and
//! plans the real scan (Delta files, the in-memory state, the state at T) in the process that
//! runs it, over that process's engine.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::common::internal_err;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionState;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties,
};
use datafusion_proto::bytes::Serializeable;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

use crate::catalog::Surface;
use crate::error::plan_error;
use crate::logical_codec::TableSpec;

/// What a [`ScanExec`] scans: the arguments of the table's `scan`, and the shape the scheduler
/// planned.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanSpec {
    /// The table and the snapshot to read at least.
    pub table: TableSpec,
    /// The columns.
    pub projection: Option<Vec<usize>>,
    /// The filters offered to the table, each as DataFusion protobuf.
    pub filters: Vec<Vec<u8>>,
    /// The row limit.
    pub limit: Option<usize>,
    /// The session's target partitions when planned, so every process splits files alike.
    pub target_partitions: usize,
    /// The output partitions of the scan as the scheduler planned it.
    pub partitions: usize,
}

/// Serialise scan filters.
pub(crate) fn encode_filters(filters: &[Expr]) -> Result<Vec<Vec<u8>>> {
    filters
        .iter()
        .map(|filter| filter.to_bytes().map(|bytes| bytes.to_vec()))
        .collect()
}

impl ScanSpec {
    /// Plan the real scan over `surface`'s engine (catching up to the snapshot first).
    pub async fn plan(&self, surface: &Surface) -> Result<Arc<dyn ExecutionPlan>> {
        surface.catch_up(self.table.log_versions).await?;
        let provider = surface.resolve(&self.table.identity)?;
        let context = surface.engine().context();
        let task = context.task_ctx();
        let filters = self
            .filters
            .iter()
            .map(|bytes| Expr::from_bytes_with_ctx(bytes, &task))
            .collect::<Result<Vec<_>>>()?;
        let state = session(context.state(), self.target_partitions);
        provider
            .scan(&state, self.projection.as_ref(), &filters, self.limit)
            .await
    }
}

fn session(state: SessionState, target_partitions: usize) -> SessionState {
    let config = state
        .config()
        .clone()
        .with_target_partitions(target_partitions.max(1))
        // The catalog list is the engine's own: building must not replace its catalog.
        .with_create_default_catalog_and_schema(false);
    SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .build()
}

/// A leaf of a distributed plan reading one Groundtruth table.
#[derive(Debug)]
pub struct ScanExec {
    spec: ScanSpec,
    schema: SchemaRef,
    surface: Option<Arc<Surface>>,
    properties: Arc<PlanProperties>,
}

impl ScanExec {
    /// A scan of `spec` producing `schema`; `surface` is the engine that runs it (none in a
    /// process that only forwards plans).
    pub fn new(spec: ScanSpec, schema: SchemaRef, surface: Option<Arc<Surface>>) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(spec.partitions.max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Self {
            spec,
            schema,
            surface,
            properties,
        }
    }

    /// What it scans.
    pub fn spec(&self) -> &ScanSpec {
        &self.spec
    }
}

impl DisplayAs for ScanExec {
    fn fmt_as(
        &self,
        _format: DisplayFormatType,
        formatter: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        write!(
            formatter,
            "GroundtruthScanExec: table={}, partitions={}",
            self.spec.table.identity, self.spec.partitions
        )
    }
}

impl ExecutionPlan for ScanExec {
    fn name(&self) -> &str {
        "GroundtruthScanExec"
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
        Vec::new()
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            internal_err!(
                "GroundtruthScanExec is a leaf, given {} children",
                children.len()
            )
        }
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let Some(surface) = self.surface.clone() else {
            return Err(plan_error(
                "groundtruth cluster: a table scan reached a process with no engine over the store",
            ));
        };
        let spec = self.spec.clone();
        let stream = futures::stream::once(async move {
            let plan = spec.plan(&surface).await?;
            let partitions = plan.output_partitioning().partition_count();
            if partitions != spec.partitions.max(1) {
                return Err(DataFusionError::Execution(format!(
                    "groundtruth cluster: {} planned in {partitions} partitions here but {} on the scheduler (do all processes read the same store and configuration?)",
                    spec.table.identity, spec.partitions
                )));
            }
            // The store's object store is registered with the engine's runtime, not with
            // Ballista's, so the scan runs in the engine's context.
            plan.execute(partition, surface.engine().context().task_ctx())
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        )))
    }
}
