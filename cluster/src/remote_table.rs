//! A Groundtruth table on the scheduler: planned against the scheduler's own engine, and
//! scanned by a [`ScanExec`] that each executor re-plans against its own.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties};

use crate::catalog::Surface;
use crate::logical_codec::TableSpec;
use crate::scan_exec::{encode_filters, ScanExec, ScanSpec};

/// A table received by description.
#[derive(Debug)]
pub struct RemoteTable {
    spec: TableSpec,
    schema: SchemaRef,
    surface: Arc<Surface>,
}

impl RemoteTable {
    /// The table `spec` describes, with the schema the client planned it with.
    pub fn new(spec: TableSpec, schema: SchemaRef, surface: Arc<Surface>) -> Self {
        Self {
            spec,
            schema,
            surface,
        }
    }

    /// What it is.
    pub fn spec(&self) -> &TableSpec {
        &self.spec
    }
}

#[async_trait]
impl TableProvider for RemoteTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.surface
            .resolve(&self.spec.identity)?
            .supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.surface.catch_up(self.spec.log_versions).await?;
        let spec = ScanSpec {
            table: self.spec.clone(),
            projection: projection.cloned(),
            filters: encode_filters(filters)?,
            limit,
            target_partitions: state.config().target_partitions(),
            partitions: 0,
        };
        // Planned here once to learn its partitions and schema; each executor plans the same
        // scan again, over the same snapshot, and runs its partitions of it.
        let plan = spec.plan(&self.surface).await?;
        Ok(Arc::new(ScanExec::new(
            ScanSpec {
                partitions: plan.output_partitioning().partition_count(),
                ..spec
            },
            plan.schema(),
            Some(Arc::clone(&self.surface)),
        )))
    }
}
