//! Idle-in-startup and idle-in-session timeouts, so stalled clients do not hold connection
//! slots (`max_connections`).
//!
//! Each connection gets [`ConnectionHandlers`]: the shared handlers, plus an [`Activity`] that
//! the startup handler moves from "starting" to "idle" once the client is ready for queries,
//! and that the query handlers hold "busy" from the start of a statement until its last row
//! has been sent (the rows stream after the handler returns, so the guard rides the row
//! stream). [`Activity::expired`] resolves when the current phase has lasted too long; the
//! accept loop then ends the connection. An idle session is told why first, as PostgreSQL
//! does (FATAL 57P05), when the connection is plain text.

use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion_postgres::pgwire;
use futures::{Sink, StreamExt};
use pgwire::api::auth::StartupHandler;
use pgwire::api::cancel::CancelHandler;
use pgwire::api::portal::Portal;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{QueryResponse, Response};
use pgwire::api::store::PortalStore;
use pgwire::api::{
    ClientInfo, ClientPortalStore, ErrorHandler, PgWireConnectionState, PgWireServerHandlers,
};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tokio::sync::watch;
use tokio::time::Instant;

use super::panic_containment;
use super::statement_handler::{PreparedStatement, TimeTravelParser};
use super::GroundtruthHandlers;

/// What a connection is doing, and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Accepted, startup (TLS, authentication) not finished.
    Starting(Instant),
    /// Ready for queries, none running.
    Idle(Instant),
    /// Running a statement or sending its rows.
    Busy,
}

/// Which limit a connection crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// Startup took longer than `startup_timeout`.
    Startup,
    /// Idle between statements longer than `idle_session_timeout`.
    Session,
}

/// One connection's phase, shared by its handlers and the accept loop's watchdog.
#[derive(Debug)]
pub struct Activity {
    phase: watch::Sender<Phase>,
    secure: AtomicBool,
}

impl Activity {
    /// A connection accepted now.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            phase: watch::channel(Phase::Starting(Instant::now())).0,
            secure: AtomicBool::new(false),
        })
    }

    /// Whether the connection negotiated TLS (known once startup finished).
    pub fn is_secure(&self) -> bool {
        self.secure.load(Ordering::Relaxed)
    }

    fn ready(&self, secure: bool) {
        self.secure.store(secure, Ordering::Relaxed);
        self.phase.send_if_modified(|phase| match phase {
            Phase::Starting(_) => {
                *phase = Phase::Idle(Instant::now());
                true
            }
            _ => false,
        });
    }

    fn busy(self: &Arc<Self>) -> BusyGuard {
        self.phase.send_replace(Phase::Busy);
        BusyGuard(Arc::clone(self))
    }

    /// Resolves when the connection has been starting longer than `startup` or idle longer
    /// than `idle` (`None`: no limit); never otherwise.
    pub async fn expired(&self, startup: Option<Duration>, idle: Option<Duration>) -> Expired {
        let mut phases = self.phase.subscribe();
        loop {
            let phase = *phases.borrow_and_update();
            let deadline = match phase {
                Phase::Starting(since) => startup.map(|limit| (since + limit, Expired::Startup)),
                Phase::Idle(since) => idle.map(|limit| (since + limit, Expired::Session)),
                Phase::Busy => None,
            };
            let changed = async {
                if phases.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            match deadline {
                Some((deadline, expired)) => tokio::select! {
                    () = tokio::time::sleep_until(deadline) => return expired,
                    () = changed => {}
                },
                None => changed.await,
            }
        }
    }
}

/// Holds a connection busy; dropping it starts the idle clock.
struct BusyGuard(Arc<Activity>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.phase.send_replace(Phase::Idle(Instant::now()));
    }
}

/// `response` with `guard` held until its rows are all sent (or the stream is dropped).
fn hold_until_sent<G: Send + Sync + 'static>(response: Response, guard: G) -> Response {
    let Response::Query(query) = response else {
        return response;
    };
    let command_tag = query.command_tag().to_string();
    let schema = query.row_schema();
    let rows = panic_containment::contain_rows(query.data_rows).map(move |row| {
        let _held = &guard;
        row
    });
    let mut held = QueryResponse::new(schema, rows);
    held.set_command_tag(&command_tag);
    Response::Query(held)
}

/// The shared handlers, seen through one connection's [`Activity`].
pub struct ConnectionHandlers {
    shared: Arc<GroundtruthHandlers>,
    activity: Arc<Activity>,
}

impl ConnectionHandlers {
    /// Handlers for one connection.
    pub fn new(shared: Arc<GroundtruthHandlers>, activity: Arc<Activity>) -> Self {
        Self { shared, activity }
    }
}

impl PgWireServerHandlers for ConnectionHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::new(ActiveQueries {
            activity: Arc::clone(&self.activity),
            shared: Arc::clone(&self.shared),
        })
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::new(ActiveQueries {
            activity: Arc::clone(&self.activity),
            shared: Arc::clone(&self.shared),
        })
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::new(ActiveStartup {
            inner: self.shared.startup_handler(),
            activity: Arc::clone(&self.activity),
        })
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        self.shared.error_handler()
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.shared.cancel_handler()
    }
}

struct ActiveStartup<S> {
    inner: Arc<S>,
    activity: Arc<Activity>,
}

#[async_trait]
impl<S: StartupHandler> StartupHandler for ActiveStartup<S> {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let result = self.inner.on_startup(client, message).await;
        if matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            self.activity.ready(client.is_secure());
        }
        result
    }
}

struct ActiveQueries {
    activity: Arc<Activity>,
    shared: Arc<GroundtruthHandlers>,
}

#[async_trait]
impl SimpleQueryHandler for ActiveQueries {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let guard = self.activity.busy();
        let responses = panic_containment::contain(async {
            panic_containment::injected_panic(query);
            SimpleQueryHandler::do_query(self.shared.queries.as_ref(), client, query).await
        })
        .await?;
        // Rows of every response stream in turn; the idle clock starts after the last.
        let guard = Arc::new(guard);
        Ok(responses
            .into_iter()
            .map(|response| hold_until_sent(response, Arc::clone(&guard)))
            .collect())
    }
}

#[async_trait]
impl ExtendedQueryHandler for ActiveQueries {
    type Statement = PreparedStatement;
    type QueryParser = TimeTravelParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.shared.queries.query_parser()
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
        let guard = self.activity.busy();
        let response = panic_containment::contain(async {
            panic_containment::injected_panic(&portal.statement.statement.0);
            ExtendedQueryHandler::do_query(self.shared.queries.as_ref(), client, portal, max_rows)
                .await
        })
        .await?;
        Ok(hold_until_sent(response, guard))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn phases_expire_only_when_their_limit_is_crossed() {
        let limit = Some(Duration::from_millis(100));
        // Starting: the startup limit applies.
        let activity = Activity::new();
        let expired =
            tokio::time::timeout(Duration::from_secs(5), activity.expired(limit, None)).await;
        assert_eq!(expired, Ok(Expired::Startup));

        let activity = Activity::new();
        activity.ready(false);
        // Busy for longer than the idle limit: not idle.
        let guard = activity.busy();
        let waited =
            tokio::time::timeout(Duration::from_millis(300), activity.expired(None, limit)).await;
        assert!(waited.is_err(), "a busy session is not idle");
        drop(guard);
        let started = Instant::now();
        let expired = activity.expired(None, limit).await;
        assert_eq!(expired, Expired::Session);
        assert!(started.elapsed() >= Duration::from_millis(100));
    }
}
