//! The Postgres-wire front end: pgwire and datafusion-postgres for the protocol, portals and
//! type encoding; the `groundtruth-pg-compat` crate for PostgreSQL-client emulation (catalog,
//! settings, client rules, the statement pipeline's front, SQLSTATEs). Here: the query handler
//! (one parse per statement through the engine's pipeline, hooks, planning the parsed
//! statement), the read-only guard, authentication (trust on loopback, SCRAM-SHA-256
//! verifiers), TLS, per-statement limits and memory budgets, and an accept loop that refuses
//! connections over the limit with SQLSTATE 53300 and stops on a cancellation token.

// PostgreSQL-client emulation lives in its own crate; imported here so the handler's modules
// name it as before.
use groundtruth_pg_compat::{
    catalog_descriptions, catalog_tables, format_function, information_schema, json_columns,
    json_functions, session_settings, statement_parser,
};

mod connection_refusal;
mod copy_out;
mod freshness_notice;
mod panic_containment;
mod query_limits;
mod query_memory;
mod read_only_hook;
mod savepoint_hook;
mod scram_startup;
mod session_timeouts;
mod statement_handler;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use datafusion_postgres::auth::AuthManager;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::hooks::QueryHook;
use datafusion_postgres::pgwire;
use datafusion_postgres::pgwire::api::auth::StartupHandler;
use datafusion_postgres::pgwire::api::cancel::CancelHandler;
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::{ClientInfo, ErrorHandler, PgWireServerHandlers};
use datafusion_postgres::pgwire::error::PgWireError;
use groundtruth_engine::session::Engine;
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::ConnectionManager;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::scram_verifier::Verifier;
use crate::sqlstate;
use catalog_descriptions::{catalog_functions, CatalogDescriptions, DescribedCatalogSchema};
use catalog_tables::CompatibleCatalogSchema;
pub use query_limits::QueryLimits;
pub use statement_handler::{HandlerParts, StatementHandler};

/// Everything the accept loop hands to pgwire for each connection.
pub struct GroundtruthHandlers {
    queries: Arc<StatementHandler>,
    connections: Arc<ConnectionManager>,
    cancel: Arc<DefaultCancelHandler>,
    /// Verifiers by user name when SCRAM is on; `None` means trust.
    users: Option<Arc<scram_startup::Users>>,
    tls: Option<tls::TlsAcceptor>,
    metrics: Arc<crate::ops::metrics::Metrics>,
    startup_timeout: Option<std::time::Duration>,
    idle_session_timeout: Option<std::time::Duration>,
}

/// Accepts any user without a password; the server only binds to loopback addresses
/// until authentication is configured (see the README's security section).
struct TrustStartup {
    connections: Arc<ConnectionManager>,
}

#[async_trait::async_trait]
impl NoopStartupHandler for TrustStartup {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(Arc::clone(&self.connections))
    }
}

/// The startup handler of one connection.
enum Startup {
    Trust(TrustStartup),
    Scram(scram_startup::ScramStartup),
}

#[async_trait::async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: pgwire::messages::PgWireFrontendMessage,
    ) -> pgwire::error::PgWireResult<()>
    where
        C: ClientInfo + futures::Sink<pgwire::messages::PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<pgwire::messages::PgWireBackendMessage>>::Error>,
    {
        match self {
            Self::Trust(trust) => trust.on_startup(client, message).await,
            Self::Scram(scram) => scram.on_startup(client, message).await,
        }
    }
}

impl GroundtruthHandlers {
    /// Build the handlers over an engine's session, installing the pg_catalog emulation and
    /// the `[server]` security settings and limits; queries and connections are counted in
    /// `metrics`.
    pub fn new(
        engine: &Engine,
        settings: &crate::config::ServerConfig,
        metrics: Arc<crate::ops::metrics::Metrics>,
        cluster: Option<Arc<groundtruth_cluster::ClusterClient>>,
    ) -> Result<Self, crate::ServerError> {
        if let Some(limit) = settings.memory_limit {
            limit_query_memory(engine.context(), limit);
        }
        let users = match settings.auth {
            crate::config::AuthMethod::Trust => None,
            crate::config::AuthMethod::ScramSha256 => Some(Arc::new(
                settings
                    .users
                    .iter()
                    .map(|user| {
                        Verifier::parse(&user.password_verifier)
                            .map(|verifier| (user.name.clone(), verifier))
                            .map_err(|error| {
                                crate::ServerError::Config(format!(
                                    "[[server.users]] '{}': {error}",
                                    user.name
                                ))
                            })
                    })
                    .collect::<Result<scram_startup::Users, _>>()?,
            )),
        };
        let tls = settings.tls.as_ref().map(tls::acceptor).transpose()?;
        let limits = QueryLimits {
            statement_timeout: settings.statement_timeout,
            max_result_rows: settings.max_result_rows,
        };
        let context = Arc::new(engine.context().clone());
        session_settings::apply_defaults(&context)
            .map_err(|error| crate::ServerError::Catalog(error.to_string()))?;
        setup_pg_catalog(
            &context,
            groundtruth_engine::session::CATALOG,
            Arc::new(AuthManager::default()),
        )
        .map_err(|error| crate::ServerError::Catalog(error.to_string()))?;
        // The catalog emulation replaced the session's type planner with its own (`regclass`
        // and friends); `json` goes back in front of it.
        groundtruth_engine::json_type::install(&context);
        let descriptions = Arc::new(CatalogDescriptions::new(context.as_ref().clone()));
        let catalog = context
            .catalog(groundtruth_engine::session::CATALOG)
            .ok_or_else(|| crate::ServerError::Catalog("the catalog is missing".into()))?;
        let stock = catalog
            .schema("pg_catalog")
            .ok_or_else(|| crate::ServerError::Catalog("pg_catalog was not installed".into()))?;
        catalog
            .register_schema(
                "pg_catalog",
                Arc::new(CompatibleCatalogSchema::new(
                    Arc::new(DescribedCatalogSchema::new(
                        stock,
                        Arc::clone(&descriptions),
                    )),
                    context.as_ref().clone(),
                )),
            )
            .map_err(|error| crate::ServerError::Catalog(error.to_string()))?;
        information_schema::install(&context, &catalog)
            .map_err(|error| crate::ServerError::Catalog(error.to_string()))?;
        for function in catalog_functions(&descriptions)
            .into_iter()
            .chain(session_settings::settings_functions())
            .chain([
                json_functions::json_build_object(),
                format_function::format(),
            ])
        {
            context.register_udf(function);
        }
        // The guard runs first: the SET hook would otherwise apply engine settings to the
        // session context that all connections share.
        // Savepoints are answered before the guard, which would refuse them as writes.
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(savepoint_hook::SavepointHook),
            Arc::new(read_only_hook::ReadOnlyHook),
            Arc::new(freshness_notice::FreshnessSettingHook),
            Arc::new(session_settings::ShowSettingsHook),
            Arc::new(CursorStatementHook),
            Arc::new(SetShowHook),
            Arc::new(TransactionStatementHook),
        ];
        let notices = Arc::new(freshness_notice::FreshnessNotices::new(
            context.as_ref().clone(),
        ));
        let connections = Arc::new(ConnectionManager::new());
        let mut queries = StatementHandler::new(
            Arc::clone(&context),
            hooks.clone(),
            HandlerParts {
                pipeline: engine
                    .pipeline()
                    .with_front(Arc::new(statement_parser::WireFront::new())),
                descriptions,
                notices,
                limits,
                metrics: Arc::clone(&metrics),
            },
        );
        if let Some(cluster) = cluster {
            queries = queries.with_cluster(cluster);
        }
        if let Some(budget) = settings.query_memory_limit() {
            queries =
                queries.with_query_budget(query_memory::QueryBudget::new(context, hooks, budget));
        }
        Ok(Self {
            queries: Arc::new(queries),
            cancel: Arc::new(DefaultCancelHandler::new(Arc::clone(&connections))),
            connections,
            users,
            tls,
            metrics,
            startup_timeout: settings.startup_timeout,
            idle_session_timeout: settings.idle_session_timeout,
        })
    }
}

struct SqlStateErrors;

impl ErrorHandler for SqlStateErrors {
    fn on_error<C>(&self, _client: &C, error: &mut PgWireError)
    where
        C: ClientInfo,
    {
        sqlstate::classify(error);
        tracing::debug!(%error, "query error");
    }
}

impl PgWireServerHandlers for GroundtruthHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::clone(&self.queries)
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::clone(&self.queries)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        // pgwire asks once per connection: SCRAM keeps per-connection exchange state.
        let connections = Arc::clone(&self.connections);
        Arc::new(match &self.users {
            None => Startup::Trust(TrustStartup { connections }),
            Some(users) => Startup::Scram(scram_startup::ScramStartup::new(
                Arc::clone(users),
                connections,
            )),
        })
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(SqlStateErrors)
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::clone(&self.cancel)
    }
}

/// Bound the memory all queries may hold together: DataFusion's pool for the shared runtime,
/// keeping the runtime's object stores (the store's registrations).
fn limit_query_memory(context: &datafusion::prelude::SessionContext, limit: usize) {
    use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::execution::session_state::SessionStateBuilder;
    let state = context.state_ref();
    let existing = state.read().clone();
    let pool = TrackConsumersPool::new(
        FairSpillPool::new(limit),
        std::num::NonZeroUsize::new(3).unwrap_or(std::num::NonZeroUsize::MIN),
    );
    let runtime = RuntimeEnvBuilder::from_runtime_env(existing.runtime_env())
        .with_memory_pool(Arc::new(pool))
        .build_arc();
    match runtime {
        Ok(runtime) => {
            *state.write() = SessionStateBuilder::new_from_existing(existing)
                .with_runtime_env(runtime)
                .build();
        }
        Err(error) => tracing::error!(%error, "could not install the memory limit"),
    }
}

/// Bind the listening socket (so "address in use" is reported before anything else starts).
pub async fn bind(address: SocketAddr) -> Result<TcpListener, crate::ServerError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| crate::ServerError::Bind { address, source })
}

/// Run one connection until it ends or crosses `startup_timeout` / `idle_session_timeout`.
async fn serve_connection(
    socket: tokio::net::TcpStream,
    peer: SocketAddr,
    handlers: Arc<GroundtruthHandlers>,
) {
    let tls = handlers.tls.clone();
    let (startup, idle) = (handlers.startup_timeout, handlers.idle_session_timeout);
    // A second handle on the socket, to tell an idle client why it is being disconnected.
    let (socket, alarm) = match socket
        .into_std()
        .and_then(|socket| Ok((socket.try_clone()?, socket)))
        .and_then(|(alarm, socket)| Ok((tokio::net::TcpStream::from_std(socket)?, alarm)))
    {
        Ok(pair) => pair,
        Err(error) => {
            tracing::warn!(%peer, %error, "cannot set up the connection");
            return;
        }
    };
    let activity = session_timeouts::Activity::new();
    let connection = Arc::new(session_timeouts::ConnectionHandlers::new(
        handlers,
        Arc::clone(&activity),
    ));
    let session = panic_containment::contain_connection(pgwire::tokio::process_socket(
        socket, tls, connection,
    ));
    tokio::select! {
        result = session => match result {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::debug!(%peer, %error, "connection ended with an error"),
            Err(panic) => {
                tracing::warn!(%peer, %panic, "closing a connection whose message the protocol decoder could not read");
                // The decoder panicked while reading: nothing of pgwire's is being written.
                close_telling(&alarm, &activity, Some((
                    sqlstate::codes::PROTOCOL_VIOLATION,
                    "terminating connection: the server could not decode a message from \
                     this client (protocol violation)",
                )));
            }
        },
        expired = activity.expired(startup, idle) => match expired {
            session_timeouts::Expired::Startup => {
                tracing::info!(%peer, "closing a connection that did not finish its startup in time (startup_timeout)");
                close_telling(&alarm, &activity, None);
            }
            session_timeouts::Expired::Session => {
                tracing::info!(%peer, "closing an idle session (idle_session_timeout)");
                // No statement running: pgwire is waiting to read, so this message cannot
                // interleave with one of its own.
                close_telling(&alarm, &activity, Some((
                    sqlstate::codes::IDLE_SESSION_TIMEOUT,
                    "terminating connection due to idle-session timeout",
                )));
            }
        },
    }
}

/// Close a connection from beside pgwire (through the second handle on its socket), first
/// telling the client why as a FATAL error when the session is plain text: a TLS stream
/// cannot be written to from outside it.
fn close_telling(
    alarm: &std::net::TcpStream,
    activity: &session_timeouts::Activity,
    reason: Option<(&str, &str)>,
) {
    use std::io::Write;
    if let Some((code, message)) = reason.filter(|_| !activity.is_secure()) {
        let _ = (&*alarm).write_all(&connection_refusal::error_response(code, message));
    }
    let _ = alarm.shutdown(std::net::Shutdown::Both);
}

/// Accept connections until `cancel` fires, then wait for open connections to finish.
pub async fn serve(
    listener: TcpListener,
    handlers: Arc<GroundtruthHandlers>,
    max_connections: usize,
    cancel: CancellationToken,
) {
    let limiter = Arc::new(Semaphore::new(max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = cancel.cancelled() => break,
        };
        let (socket, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&limiter).try_acquire_owned() else {
            tracing::warn!(%peer, "connection refused: too many connections");
            handlers.metrics.connection_refused();
            // Answer in the protocol, so the client shows why; bounded, off the accept loop.
            connections.spawn(connection_refusal::refuse(
                socket,
                sqlstate::codes::TOO_MANY_CONNECTIONS,
                "sorry, too many clients already",
            ));
            continue;
        };
        let open = handlers.metrics.connection_opened();
        let handlers = Arc::clone(&handlers);
        connections.spawn(async move {
            serve_connection(socket, peer, handlers).await;
            drop((permit, open));
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    // Give open queries a moment to finish; connections are then dropped.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}
