//! Query handlers that rewrite `FOR SYSTEM_TIME AS OF` and named queries, answer `COPY ... TO
//! STDOUT` (see `copy_out`), parse each statement once (see `statement_parser`), run the query
//! hooks, then plan and execute the parsed statement; datafusion-postgres's session service is
//! used only to bind and execute portals of statements this parser prepared.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as PlannedStatement;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::arrow_pg::datatypes::df;
use datafusion_postgres::hooks::QueryHook;
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::{FieldInfo, Response};
use datafusion_postgres::pgwire::api::stmt::QueryParser;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{ClientInfo, ClientPortalStore, Type};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::types::format::FormatOptions;
use datafusion_postgres::{DfSessionService, Parser};
use futures::{Sink, SinkExt};
use groundtruth_cluster::ClusterClient;
use groundtruth_engine::sql::pipeline::{Pipeline, Prepared};

use super::catalog_descriptions::{mentions_descriptions, CatalogDescriptions};
use super::copy_out::CopyOut;
use super::freshness_notice::{self, FreshnessNotices};
use super::json_columns;
use super::query_limits::{self, QueryLimits};
use super::query_memory::QueryBudget;
use crate::ops::metrics::Metrics;
use crate::sqlstate;
use tokio::time::Instant;

/// The statement type datafusion-postgres stores per prepared statement.
pub type PreparedStatement = (String, Option<(Statement, LogicalPlan)>);

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

fn api_error(error: impl std::error::Error + Send + Sync + 'static) -> PgWireError {
    PgWireError::ApiError(Box::new(error))
}

/// The statements a query's text holds, through the statement pipeline (one parse).
struct Statements {
    pipeline: Pipeline,
    descriptions: Arc<CatalogDescriptions>,
}

impl Statements {
    /// `sql` parsed and rewritten (client patterns, named queries, time travel).
    async fn prepare(&self, sql: &str) -> PgWireResult<Vec<Prepared>> {
        prepare_descriptions(sql, &self.descriptions).await?;
        self.pipeline.prepare(sql).map_err(|error| {
            let (code, message) = sqlstate::for_engine(&error);
            sqlstate::user_error(code, message)
        })
    }
}

/// Plan a prepared statement on `context` (no second parse).
async fn plan(context: &SessionContext, statement: Prepared) -> PgWireResult<LogicalPlan> {
    context
        .state()
        .statement_to_plan(PlannedStatement::Statement(Box::new(
            statement.into_statement(),
        )))
        .await
        .map_err(api_error)
}

/// Simple and extended query handling with the time-travel rewrite.
pub struct StatementHandler {
    inner: Arc<DfSessionService>,
    context: Arc<SessionContext>,
    hooks: Vec<Arc<dyn QueryHook>>,
    parser: Arc<TimeTravelParser>,
    notices: Arc<FreshnessNotices>,
    limits: QueryLimits,
    metrics: Arc<Metrics>,
    budget: Option<QueryBudget>,
    cluster: Option<Arc<ClusterClient>>,
}

/// Send the freshness notice for `statements` (as rewritten, so a named query's expansion
/// names the tables it reads), when the session wants notices and the query reads a stale or
/// failed source.
async fn send_notice<C>(
    notices: &FreshnessNotices,
    client: &mut C,
    statements: &[&Statement],
) -> PgWireResult<()>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    if !freshness_notice::enabled(client) {
        return Ok(());
    }
    if let Some(notice) = notices.notice_for(statements).await {
        client.send(notice).await?;
    }
    Ok(())
}

/// What a query handler needs besides the session: the statement pipeline (the engine's,
/// behind the wire's front), the catalog descriptions, the freshness notices, limits and
/// metrics.
pub struct HandlerParts {
    pub pipeline: Pipeline,
    pub descriptions: Arc<CatalogDescriptions>,
    pub notices: Arc<FreshnessNotices>,
    pub limits: QueryLimits,
    pub metrics: Arc<Metrics>,
}

impl StatementHandler {
    /// Queries on `context`, with `hooks` answering the statements they own (in order) before
    /// the rest are planned.
    pub fn new(
        context: Arc<SessionContext>,
        hooks: Vec<Arc<dyn QueryHook>>,
        parts: HandlerParts,
    ) -> Self {
        let inner = Arc::new(DfSessionService::new_with_hooks(
            Arc::clone(&context),
            hooks.clone(),
        ));
        let parser = Arc::new(TimeTravelParser {
            inner: inner.query_parser(),
            statements: Statements {
                pipeline: parts.pipeline,
                descriptions: parts.descriptions,
            },
            context: Arc::clone(&context),
            hooks: hooks.clone(),
        });
        Self {
            inner,
            context,
            hooks,
            parser,
            notices: parts.notices,
            limits: parts.limits,
            metrics: parts.metrics,
            budget: None,
            cluster: None,
        }
    }

    /// Run each statement with its own memory budget (see `query_memory`).
    pub fn with_query_budget(mut self, budget: QueryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Hand history-wide statements to a Ballista cluster (see [`ClusterClient::accepts`]).
    pub fn with_cluster(mut self, cluster: Arc<ClusterClient>) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// The session one statement runs on.
    fn context(&self) -> Arc<SessionContext> {
        match &self.budget {
            Some(budget) => budget.context(),
            None => Arc::clone(&self.context),
        }
    }

    /// The service one portal runs on.
    fn service(&self) -> Arc<DfSessionService> {
        match &self.budget {
            Some(budget) => budget.service(),
            None => Arc::clone(&self.inner),
        }
    }

    /// Answer each statement: by the first hook that owns it, else planned and executed.
    async fn run<C>(
        &self,
        context: &SessionContext,
        client: &mut C,
        statements: Vec<Prepared>,
    ) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(statements.len());
        'statement: for statement in statements {
            for hook in &self.hooks {
                if let Some(response) = hook
                    .handle_simple_query(statement.statement(), context, client)
                    .await
                {
                    responses.push(response?);
                    continue 'statement;
                }
            }
            let plan = plan(context, statement).await?;
            let frame = match &self.cluster {
                Some(cluster) if cluster.accepts(&plan) => {
                    cluster.execute(plan).await.map_err(api_error)?
                }
                _ => context
                    .execute_logical_plan(plan)
                    .await
                    .map_err(api_error)?,
            };
            let format = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
            let schema = frame.schema().as_arrow().clone();
            let response = Response::Query(
                df::encode_dataframe(frame, &Format::UnifiedText, Some(format)).await?,
            );
            responses.push(json_columns::in_response(response, &schema));
        }
        Ok(responses)
    }
}

#[async_trait]
impl SimpleQueryHandler for StatementHandler {
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
        let context = self.context();
        self.metrics
            .observe_query(within(deadline, async {
                let statements = self.parser.statements.prepare(query).await?;
                let parsed: Vec<&Statement> = statements.iter().map(Prepared::statement).collect();
                send_notice(&self.notices, client, &parsed).await?;
                if let [statement] = statements.as_slice() {
                    if let Some(copy) = CopyOut::from_statement(statement.statement())? {
                        let query = statement.part(|_| copy.query().clone());
                        let results = self.run(&context, client, vec![query]).await?;
                        return results
                            .into_iter()
                            .map(|result| copy.respond(self.limits.apply(result, deadline)))
                            .collect();
                    }
                }
                let responses = self.run(&context, client, statements).await?;
                Ok(responses
                    .into_iter()
                    .map(|response| self.limits.apply(response, deadline))
                    .collect())
            }))
            .await
    }
}

#[async_trait]
impl ExtendedQueryHandler for StatementHandler {
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
        if let Some((statement, _)) = &portal.statement.statement.1 {
            send_notice(&self.notices, client, &[statement]).await?;
        }
        let response = self
            .metrics
            .observe_query(within(
                deadline,
                ExtendedQueryHandler::do_query(service.as_ref(), client, portal, max_rows),
            ))
            .await?;
        let response = self.limits.apply(response, deadline);
        Ok(match &portal.statement.statement.1 {
            Some((_, plan)) => json_columns::in_response(response, plan.schema().as_arrow()),
            None => response,
        })
    }
}

/// Prepares statements with the same rewrites and parser as simple queries; datafusion-postgres's
/// parser answers parameter types and result schemas from the plan.
pub struct TimeTravelParser {
    inner: Arc<Parser>,
    statements: Statements,
    context: Arc<SessionContext>,
    hooks: Vec<Arc<dyn QueryHook>>,
}

#[async_trait]
impl QueryParser for TimeTravelParser {
    type Statement = PreparedStatement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let statements = self.statements.prepare(sql).await?;
        let Some(prepared) = statements.into_iter().next() else {
            return Ok(None);
        };
        // The text is kept for logs and clients that ask for it; it is never parsed again.
        let text = prepared.statement().to_string();
        let statement = prepared.statement().clone();
        for hook in &self.hooks {
            if let Some(plan) = hook
                .handle_extended_parse_query(&statement, &self.context, client)
                .await
            {
                return Ok(Some((text, Some((statement, plan?)))));
            }
        }
        let plan = plan(&self.context, prepared).await?;
        Ok(Some((text, Some((statement, plan)))))
    }

    fn get_parameter_types(&self, statement: &Self::Statement) -> PgWireResult<Vec<Type>> {
        self.inner.get_parameter_types(statement)
    }

    fn get_result_schema(
        &self,
        statement: &Self::Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let fields = self.inner.get_result_schema(statement, column_format)?;
        Ok(match &statement.1 {
            Some((_, plan)) => json_columns::describe(fields, plan.schema().as_arrow()),
            None => fields,
        })
    }
}
