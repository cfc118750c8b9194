//! A table provider whose underlying Delta snapshot can be swapped after each commit, so views
//! and table functions planned once keep reading the newest data.

use std::sync::{Arc, RwLock};

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

/// Delegates every call to the provider installed most recently.
#[derive(Debug)]
pub struct RefreshableTable {
    schema: SchemaRef,
    current: RwLock<Arc<dyn TableProvider>>,
}

impl RefreshableTable {
    /// Wrap `initial`; its schema is the table's schema for the life of the process.
    pub fn new(initial: Arc<dyn TableProvider>) -> Self {
        Self {
            schema: initial.schema(),
            current: RwLock::new(initial),
        }
    }

    /// Install a newer snapshot of the same table.
    pub fn replace(&self, provider: Arc<dyn TableProvider>) {
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = provider;
    }

    /// The table installed now.
    pub fn current(&self) -> Arc<dyn TableProvider> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }
}

#[async_trait]
impl TableProvider for RefreshableTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.current().scan(state, projection, filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.current().supports_filters_pushdown(filters)
    }
}
