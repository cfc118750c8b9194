//! Query handlers that rewrite `FOR SYSTEM_TIME AS OF` before datafusion-postgres parses the
//! statement, answer `COPY ... TO STDOUT` (see `copy_out`), then delegate everything else to it.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::{FieldInfo, Response};
use datafusion_postgres::pgwire::api::stmt::QueryParser;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{ClientInfo, ClientPortalStore, Type};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::{DfSessionService, Parser};
use futures::{Sink, SinkExt};
use groundtruth_engine::sql::NamedQueries;

use super::catalog_descriptions::{mentions_descriptions, CatalogDescriptions};
use super::client_compatibility;
use super::copy_out::CopyOut;
use super::expression_rewrites;
use super::freshness_notice::{self, FreshnessNotices};
use super::json_columns;
use super::query_limits::{self, QueryLimits};
use super::query_memory::QueryBudget;
use crate::metrics::Metrics;
use crate::sqlstate;
use tokio::time::Instant;

/// The statement type datafusion-postgres stores per prepared statement.
pub type PreparedStatement = (String, Option<(Statement, LogicalPlan)>);

/// The query library `named_query(...)` expands from, if the server has one.
type Library = Option<Arc<dyn NamedQueries>>;

/// `work`, cut off at `deadline` with SQLSTATE 57014.
async fn within<T>(
    deadline: Option<Instant>,
    work: impl std::future::Future<Output = PgWireResult<T>>,
) -> PgWireResult<T> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, work)
            .await
            .unwrap_or_else(|_| Err(query_limits::timed_out())),
        None => work.await,
    }
}

/// Refresh the description index when `sql` may read it through a function.
async fn prepare_descriptions(sql: &str, descriptions: &CatalogDescriptions) -> PgWireResult<()> {
    if mentions_descriptions(sql) {
        descriptions.refresh().await.map_err(|error| {
            sqlstate::user_error("XX000", format!("reading descriptions: {error}"))
        })?;
    }
    Ok(())
}

fn rewrite(sql: &str, library: &Library) -> PgWireResult<String> {
    let compatible = client_compatibility::rewrite(sql);
    let sql = compatible.as_deref().unwrap_or(sql);
    let expressions = expression_rewrites::rewrite(sql);
    let sql = expressions.as_deref().unwrap_or(sql);
    match groundtruth_engine::sql::rewrite(sql, library.as_deref()) {
        Ok(rewritten) => Ok(rewritten.unwrap_or_else(|| sql.to_string())),
        Err(error) => {
            let (code, message) = sqlstate::for_engine(&error);
            Err(sqlstate::user_error(code, message))
        }
    }
}

/// Simple and extended query handling with the time-travel rewrite.
pub struct TimeTravelHandler {
    inner: Arc<DfSessionService>,
    parser: Arc<TimeTravelParser>,
    library: Library,
    descriptions: Arc<CatalogDescriptions>,
    notices: Arc<FreshnessNotices>,
    limits: QueryLimits,
    metrics: Arc<Metrics>,
    budget: Option<QueryBudget>,
}

/// Send the freshness notice for `sql` first, when the session wants notices and the query
/// reads a stale or failed source.
async fn send_notice<C>(notices: &FreshnessNotices, client: &mut C, sql: &str) -> PgWireResult<()>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    if !freshness_notice::enabled(client) {
        return Ok(());
    }
    if let Some(notice) = notices.notice_for(sql).await {
        client.send(notice).await?;
    }
    Ok(())
}

impl TimeTravelHandler {
    /// Wrap datafusion-postgres's session service; `library` expands `named_query(...)`.
    /// `descriptions` answers the catalog's description functions; queries are counted and
    /// timed in `metrics`; `notices` warns of stale or failed sources a query reads.
    pub fn new(
        inner: Arc<DfSessionService>,
        library: Library,
        descriptions: Arc<CatalogDescriptions>,
        notices: Arc<FreshnessNotices>,
        limits: QueryLimits,
        metrics: Arc<Metrics>,
    ) -> Self {
        let parser = Arc::new(TimeTravelParser {
            inner: inner.query_parser(),
            library: library.clone(),
            descriptions: Arc::clone(&descriptions),
        });
        Self {
            inner,
            parser,
            library,
            descriptions,
            notices,
            limits,
            metrics,
            budget: None,
        }
    }

    /// Run each statement with its own memory budget (see `query_memory`).
    pub fn with_query_budget(mut self, budget: QueryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The service one statement runs on.
    fn service(&self) -> Arc<DfSessionService> {
        match &self.budget {
            Some(budget) => budget.service(),
            None => Arc::clone(&self.inner),
        }
    }
}

#[async_trait]
impl SimpleQueryHandler for TimeTravelHandler {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let deadline = self
            .limits
            .timeout_for(client)
            .map(|timeout| Instant::now() + timeout);
        let service = self.service();
        self.metrics
            .observe_query(within(deadline, async {
                let query = rewrite(query, &self.library)?;
                prepare_descriptions(&query, &self.descriptions).await?;
                send_notice(&self.notices, client, &query).await?;
                if let Some(copy) = CopyOut::parse(&query)? {
                    let results =
                        SimpleQueryHandler::do_query(service.as_ref(), client, copy.query())
                            .await?;
                    return results
                        .into_iter()
                        .map(|result| copy.respond(self.limits.apply(result, deadline)))
                        .collect();
                }
                let responses =
                    SimpleQueryHandler::do_query(service.as_ref(), client, &query).await?;
                Ok(responses
                    .into_iter()
                    .map(|response| {
                        json_columns::in_response(self.limits.apply(response, deadline))
                    })
                    .collect())
            }))
            .await
    }
}

#[async_trait]
impl ExtendedQueryHandler for TimeTravelHandler {
    type Statement = PreparedStatement;
    type QueryParser = TimeTravelParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        Arc::clone(&self.parser)
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let deadline = self
            .limits
            .timeout_for(client)
            .map(|timeout| Instant::now() + timeout);
        let service = self.service();
        send_notice(&self.notices, client, &portal.statement.statement.0).await?;
        let response = self
            .metrics
            .observe_query(within(
                deadline,
                ExtendedQueryHandler::do_query(service.as_ref(), client, portal, max_rows),
            ))
            .await?;
        Ok(json_columns::in_response(
            self.limits.apply(response, deadline),
        ))
    }
}

/// datafusion-postgres's parser behind the rewrite.
pub struct TimeTravelParser {
    inner: Arc<Parser>,
    library: Library,
    descriptions: Arc<CatalogDescriptions>,
}

#[async_trait]
impl QueryParser for TimeTravelParser {
    type Statement = PreparedStatement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let sql = rewrite(sql, &self.library)?;
        prepare_descriptions(&sql, &self.descriptions).await?;
        self.inner.parse_sql(client, &sql, types).await
    }

    fn get_parameter_types(&self, statement: &Self::Statement) -> PgWireResult<Vec<Type>> {
        self.inner.get_parameter_types(statement)
    }

    fn get_result_schema(
        &self,
        statement: &Self::Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        self.inner
            .get_result_schema(statement, column_format)
            .map(json_columns::describe)
    }
}
