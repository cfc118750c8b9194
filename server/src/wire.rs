//! The Postgres-wire front end: datafusion-postgres for protocol, catalog emulation and type
//! encoding; Groundtruth adds the time-travel rewrite, the read-only guard, SQLSTATE mapping,
//! and an accept loop that stops on a cancellation token.

mod catalog_descriptions;
mod catalog_tables;
mod client_compatibility;
mod copy_out;
mod expression_rewrites;
mod format_function;
mod information_schema;
mod json_functions;
mod read_only_hook;
mod savepoint_hook;
mod session_settings;
mod time_travel_handler;

use std::net::SocketAddr;
use std::sync::Arc;

use datafusion_postgres::auth::AuthManager;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::hooks::cursor::CursorStatementHook;
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::hooks::QueryHook;
use datafusion_postgres::pgwire::api::auth::StartupHandler;
use datafusion_postgres::pgwire::api::cancel::CancelHandler;
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::{ClientInfo, ErrorHandler, PgWireServerHandlers};
use datafusion_postgres::pgwire::error::PgWireError;
use datafusion_postgres::{pgwire, DfSessionService};
use groundtruth_engine::session::Engine;
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::ConnectionManager;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::sqlstate;
use catalog_descriptions::{catalog_functions, CatalogDescriptions, DescribedCatalogSchema};
use catalog_tables::CompatibleCatalogSchema;
pub use time_travel_handler::TimeTravelHandler;

/// Everything the accept loop hands to pgwire for each connection.
pub struct GroundtruthHandlers {
    queries: Arc<TimeTravelHandler>,
    startup: Arc<TrustStartup>,
    cancel: Arc<DefaultCancelHandler>,
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

impl GroundtruthHandlers {
    /// Build the handlers over an engine's session, installing the pg_catalog emulation.
    pub fn new(engine: &Engine) -> Result<Self, crate::ServerError> {
        let context = Arc::new(engine.context().clone());
        session_settings::apply_defaults(&context)
            .map_err(|error| crate::ServerError::Catalog(error.to_string()))?;
        setup_pg_catalog(
            &context,
            groundtruth_engine::session::CATALOG,
            Arc::new(AuthManager::default()),
        )
        .map_err(|error| crate::ServerError::Catalog(error.to_string()))?;
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
            Arc::new(session_settings::ShowSettingsHook),
            Arc::new(CursorStatementHook),
            Arc::new(SetShowHook),
            Arc::new(TransactionStatementHook),
        ];
        let session = Arc::new(DfSessionService::new_with_hooks(context, hooks));
        let connections = Arc::new(ConnectionManager::new());
        Ok(Self {
            queries: Arc::new(TimeTravelHandler::new(
                session,
                engine.named_queries(),
                descriptions,
            )),
            startup: Arc::new(TrustStartup {
                connections: Arc::clone(&connections),
            }),
            cancel: Arc::new(DefaultCancelHandler::new(connections)),
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
        Arc::clone(&self.startup)
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        Arc::new(SqlStateErrors)
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::clone(&self.cancel)
    }
}

/// Bind the listening socket (so "address in use" is reported before anything else starts).
pub async fn bind(address: SocketAddr) -> Result<TcpListener, crate::ServerError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| crate::ServerError::Bind { address, source })
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
            drop(socket);
            continue;
        };
        let handlers = Arc::clone(&handlers);
        connections.spawn(async move {
            if let Err(error) = pgwire::tokio::process_socket(socket, None, handlers).await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            drop(permit);
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
