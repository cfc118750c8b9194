//! Groundtruth for AI agents: a Model Context Protocol server (with `rmcp`, the official Rust
//! SDK) over stdio and streamable HTTP, exposing the SQL surface as tools an agent can call
//! without knowing PostgreSQL: `list_tables` / `describe_table` (the engine's descriptions
//! glossary), `list_named_queries` / `run_named_query` (the `queries` library, a JSON Schema
//! per query), `sql` (read-only, through the engine's rewrite and read-only guard, with row and
//! time limits), `resource` (one resource now, at T, and its history) and `drift`. Every result
//! carries a freshness envelope (the instant it is true as of, each involved source's last
//! success, staleness and last error, and a warning line when any is stale or failed); errors
//! carry the SQLSTATE psql would show. Resources: `groundtruth://schema` (every table and
//! column, described) and `groundtruth://queries` (the query catalog).
//!
//! Depends on the engine (the SQL surface, SQLSTATE mapping, clock) and the query library; it
//! knows nothing of the Postgres wire, ingestion or configuration files: the server's
//! composition root builds a [`GroundtruthMcp`] and hands it a transport.

// Library code returns errors; `unwrap`/`expect` only in tests (see the workspace Cargo.toml).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod envelope;
mod error;
mod http;
mod rows;
mod tools;

use std::sync::Arc;
use std::time::Duration;

use groundtruth_engine::clock::Clock;
use groundtruth_engine::session::Engine;
use groundtruth_queries::Library;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

pub use envelope::{read_sources, Envelope, SourceFreshness};
pub use error::{McpError, Result};
pub use http::{serve_http, MCP_PATH};
pub use rows::Rows;
pub use tools::Limits;

/// The schema resource: every table, view and table function with its columns, described.
pub const SCHEMA_URI: &str = "groundtruth://schema";
/// The query catalog resource: every named query with its parameter schema.
pub const QUERIES_URI: &str = "groundtruth://queries";

/// What the server tells an agent when it connects.
const INSTRUCTIONS: &str = "Groundtruth records what infrastructure was declared (IaC) and \
what was actually running, over time. Ask with the tools: drift (declared vs running), \
resource (one resource now, at T, history), run_named_query (ready-made questions; \
list_named_queries), sql (read-only SQL; list_tables and describe_table explain the schema). \
Every result has a `freshness` envelope: `as_of` is the instant the answer describes, \
`sources` each involved source's last successful collection and staleness. When \
`freshness.warning` is set, a source is stale or failing: say so, and do not act on that \
answer as if it were current.";

/// The MCP server over one engine. Cheap to clone (one per HTTP session).
#[derive(Clone)]
pub struct GroundtruthMcp {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    library: Library,
    limits: Limits,
    clock: Arc<dyn Clock>,
    /// Standalone processes re-read the store (another process writes it) at most this often.
    refresh_every: Option<Duration>,
    last_refresh: tokio::sync::Mutex<Option<tokio::time::Instant>>,
}

impl GroundtruthMcp {
    /// A server over `engine` with the query `library`, `limits` per call, and `clock` for
    /// the instant "now" answers are true as of.
    pub fn new(engine: Engine, library: Library, limits: Limits, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(Inner {
                engine,
                library,
                limits,
                clock,
                refresh_every: None,
                last_refresh: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// Re-read the store before a call when the last read is older than `every` (for a
    /// process that does not write the store itself, so answers follow the writer's commits).
    pub fn refreshing(self, every: Duration) -> Self {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            engine: shared.engine.clone(),
            library: shared.library.clone(),
            limits: shared.limits,
            clock: Arc::clone(&shared.clock),
            refresh_every: None,
            last_refresh: tokio::sync::Mutex::new(None),
        });
        Self {
            inner: Arc::new(Inner {
                refresh_every: Some(every),
                ..inner
            }),
        }
    }

    async fn refresh_if_due(&self) {
        let Some(every) = self.inner.refresh_every else {
            return;
        };
        let mut last = self.inner.last_refresh.lock().await;
        if last.is_some_and(|at| at.elapsed() < every) {
            return;
        }
        // A failed refresh keeps the previous snapshot; the envelope still says how old it is.
        if let Err(error) = self.inner.engine.refresh().await {
            tracing::warn!(%error, "refreshing the MCP server's snapshot failed");
        }
        *last = Some(tokio::time::Instant::now());
    }

    fn context(&self) -> tools::Context<'_> {
        tools::Context {
            engine: &self.inner.engine,
            library: &self.inner.library,
            limits: self.inner.limits,
            now: self.inner.clock.now(),
        }
    }

    /// Run tool `name` and wrap its answer (or its error) with the freshness envelope.
    pub async fn call(&self, name: &str, arguments: &Map<String, Value>) -> CallToolResult {
        self.refresh_if_due().await;
        let context = self.context();
        let answer = tools::call(&context, name, arguments).await;
        let sources = match read_sources(&self.inner.engine).await {
            Ok(sources) => sources,
            Err(error) => return error_result(&error, None),
        };
        match answer {
            Ok(answer) => {
                let envelope = Envelope::build(answer.as_of, sources, answer.involved.as_ref());
                let warning = envelope.warning.clone();
                let mut body = answer.body;
                body.insert("freshness".into(), json!(envelope));
                let mut result = CallToolResult::structured(Value::Object(body));
                if let Some(warning) = warning {
                    // Hosts that show only text still show the warning first.
                    result.content.insert(0, ContentBlock::text(warning));
                }
                result
            }
            Err(error) => {
                let envelope = Envelope::build(context.now, sources, None);
                error_result(&error, Some(envelope))
            }
        }
    }

    /// The contents of resource `uri`.
    pub async fn read(&self, uri: &str) -> Result<Value> {
        self.refresh_if_due().await;
        let context = self.context();
        match uri {
            SCHEMA_URI => tools::describe_all(&context).await,
            QUERIES_URI => Ok(tools::query_catalog(&context)),
            other => Err(McpError::UnknownResource(other.to_string())),
        }
    }
}

/// A tool error an agent can read: the SQLSTATE, the message, and the envelope when known.
fn error_result(error: &McpError, envelope: Option<Envelope>) -> CallToolResult {
    let (sqlstate, message) = error.sqlstate();
    let mut body = json!({"error": {"sqlstate": sqlstate, "message": message}});
    if let Some(envelope) = envelope {
        body["freshness"] = json!(envelope);
    }
    let mut result = CallToolResult::structured_error(body);
    result.content.insert(
        0,
        ContentBlock::text(format!("ERROR {sqlstate}: {message}")),
    );
    result
}

impl ServerHandler for GroundtruthMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_resources()
                .enable_tools()
                .build(),
        )
        .with_server_info(Implementation::new(
            "groundtruth",
            env!("CARGO_PKG_VERSION"),
        ))
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::definitions(
            &self.inner.library,
        )))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<CallToolResponse, ErrorData> {
        let arguments = request.arguments.unwrap_or_default();
        Ok(self.call(&request.name, &arguments).await.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(vec![
            Resource::new(SCHEMA_URI, "schema")
                .with_description(
                    "Every table, view and table function of the SQL surface, with each \
                     column's type and meaning.",
                )
                .with_mime_type("application/json"),
            Resource::new(QUERIES_URI, "query catalog")
                .with_description(
                    "The named queries: what each answers, a JSON Schema of its parameters, \
                     an example.",
                )
                .with_mime_type("application/json"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<ReadResourceResponse, ErrorData> {
        match self.read(&request.uri).await {
            Ok(value) => Ok(ReadResourceResult::new(vec![ResourceContents::text(
                value.to_string(),
                request.uri,
            )
            .with_mime_type("application/json")])
            .into()),
            Err(error @ McpError::UnknownResource(_)) => {
                Err(ErrorData::resource_not_found(error.to_string(), None))
            }
            Err(error) => Err(ErrorData::internal_error(error.to_string(), None)),
        }
    }
}

/// Serve one MCP session on standard input and output until the client closes it or `cancel`
/// fires. Logs must go to standard error: standard output carries the protocol.
pub async fn serve_stdio(server: GroundtruthMcp, cancel: CancellationToken) -> Result<()> {
    let running = server
        .serve_with_ct(rmcp::transport::stdio(), cancel.child_token())
        .await
        .map_err(|error| McpError::Transport(error.to_string()))?;
    running
        .waiting()
        .await
        .map_err(|error| McpError::Transport(error.to_string()))?;
    Ok(())
}
