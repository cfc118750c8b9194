//! A panic while answering a statement (a bug in a rewrite, the planner or a function) costs
//! that statement only: the client gets SQLSTATE XX000 naming the panic, its session and
//! every other connection go on, and the process stays up. Panics are caught around the
//! handler and around the row stream (rows are produced after the handler returns).
//!
//! A panic elsewhere in a connection costs that connection only ([`contain_connection`]):
//! pgwire's message decoder panics on some malformed messages (a `Bind` announcing more
//! parameter formats than it carries, found by `fuzz/`), and a client can send one at will.
//!
//! `GROUNDTRUTH_PANIC_ON_SQL` (tests only, never set in production) makes a statement that
//! contains its text panic in the handler, as a bug would, so the containment can be tested
//! against the real binary.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;

use datafusion_postgres::pgwire;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use pgwire::error::{PgWireError, PgWireResult};

use crate::sqlstate::{codes, user_error};

/// The test-only trigger (see the module docs).
pub const PANIC_ON_SQL_ENV: &str = "GROUNDTRUTH_PANIC_ON_SQL";

/// Panic if the test-only trigger is set and `query` contains it.
pub fn injected_panic(query: &str) {
    static MARKER: OnceLock<Option<String>> = OnceLock::new();
    let marker = MARKER.get_or_init(|| {
        std::env::var(PANIC_ON_SQL_ENV)
            .ok()
            .filter(|marker| !marker.is_empty())
    });
    if let Some(marker) = marker {
        if query.contains(marker.as_str()) {
            panic!("injected panic ({PANIC_ON_SQL_ENV}) on a statement");
        }
    }
}

/// The message a panic was raised with.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

fn panicked(payload: &(dyn std::any::Any + Send)) -> PgWireError {
    let message = panic_text(payload);
    tracing::error!(%message, "a statement panicked; the session goes on");
    user_error(
        codes::INTERNAL,
        format!("internal error: the statement panicked ({message}); the session goes on"),
    )
}

/// Run a statement's handler, turning a panic into an XX000 error.
pub async fn contain<T>(handler: impl Future<Output = PgWireResult<T>>) -> PgWireResult<T> {
    match AssertUnwindSafe(handler).catch_unwind().await {
        Ok(result) => result,
        Err(payload) => Err(panicked(payload.as_ref())),
    }
}

/// Rows of a result: a panic while producing one ends the result with an XX000 error.
pub fn contain_rows<T: Send + 'static>(
    rows: BoxStream<'static, PgWireResult<T>>,
) -> BoxStream<'static, PgWireResult<T>> {
    AssertUnwindSafe(rows)
        .catch_unwind()
        .map(|row| row.unwrap_or_else(|payload| Err(panicked(payload.as_ref()))))
        .boxed()
}

/// Run a whole connection, turning a panic (outside a statement, which [`contain`] already
/// answers) into `Err` with the panic's message, so the caller can tell the client and log it.
pub async fn contain_connection<T>(connection: impl Future<Output = T>) -> Result<T, String> {
    AssertUnwindSafe(connection)
        .catch_unwind()
        .await
        .map_err(|payload| panic_text(payload.as_ref()))
}
