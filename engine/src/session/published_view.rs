//! A view that clients see as a table: psql's `\dt` lists only tables, and to a user
//! `resources` is the table they query, whatever the engine computes underneath.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{view::ViewTable, Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

/// A [`ViewTable`] reported as a base table, with a description for the catalog.
#[derive(Debug)]
pub struct PublishedView {
    view: ViewTable,
    description: &'static str,
}

impl PublishedView {
    /// Publish `plan` (defined by `definition`) as a table.
    pub fn new(plan: LogicalPlan, definition: &str, description: &'static str) -> Self {
        Self {
            view: ViewTable::new(plan, Some(definition.to_string())),
            description,
        }
    }

    /// What the table holds, for `\d+` and `obj_description`.
    pub fn description(&self) -> &'static str {
        self.description
    }
}

#[async_trait]
impl TableProvider for PublishedView {
    fn schema(&self) -> SchemaRef {
        self.view.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_table_definition(&self) -> Option<&str> {
        self.view.get_table_definition()
    }

    fn get_logical_plan(&self) -> Option<Cow<'_, LogicalPlan>> {
        self.view.get_logical_plan()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.view.scan(state, projection, filters, limit).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.view.supports_filters_pushdown(filters)
    }
}
