//! Per-statement time and result-size limits, enforced on the row stream itself.
//!
//! datafusion-postgres applies `statement_timeout` only while a statement is planned; the rows
//! are computed later, while pgwire drains the response stream. So the limits wrap that
//! stream: the deadline covers planning and execution together (it starts when the statement
//! arrives), and a result that grows past the row cap is cut with an error rather than sent
//! whole. Dropping the stream cancels the DataFusion plan behind it, so a cut query stops
//! consuming CPU and memory at once.

use std::time::Duration;

use datafusion_postgres::pgwire::api::results::{QueryResponse, Response, SendableRowStream};
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::error::PgWireError;
use futures::StreamExt;
use tokio::time::Instant;

use crate::sqlstate;

/// The client metadata key where datafusion-postgres's SET hook stores `statement_timeout`
/// (milliseconds; absent or `0` when the client set none).
const CLIENT_STATEMENT_TIMEOUT: &str = "statement_timeout_ms";

/// Limits every statement gets (from `[server]`); a client's own `SET statement_timeout`
/// may only shorten the time limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryLimits {
    /// Longest a statement may run, planning and execution together.
    pub statement_timeout: Option<Duration>,
    /// Most rows one result may have.
    pub max_result_rows: Option<u64>,
}

impl QueryLimits {
    /// The time limit for a statement from `client`: the shorter of the server's and the
    /// client's.
    pub fn timeout_for<C: ClientInfo>(&self, client: &C) -> Option<Duration> {
        let client_timeout = client
            .metadata()
            .get(CLIENT_STATEMENT_TIMEOUT)
            .and_then(|millis| millis.parse::<u64>().ok())
            .filter(|millis| *millis > 0)
            .map(Duration::from_millis);
        match (self.statement_timeout, client_timeout) {
            (Some(server), Some(client)) => Some(server.min(client)),
            (server, client) => server.or(client),
        }
    }

    /// `response` with its rows cut off at `deadline` and at the row cap.
    pub fn apply(&self, response: Response, deadline: Option<Instant>) -> Response {
        let Response::Query(query) = response else {
            return response;
        };
        if deadline.is_none() && self.max_result_rows.is_none() {
            return Response::Query(query);
        }
        let max_rows = self.max_result_rows;
        let command_tag = query.command_tag().to_string();
        let schema = query.row_schema();
        let state = LimitedRows {
            rows: query.data_rows,
            sent: 0,
            done: false,
        };
        let limited = futures::stream::unfold(state, move |mut state| async move {
            if state.done {
                return None;
            }
            let next = match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, state.rows.next())
                    .await
                    .unwrap_or_else(|_| Some(Err(timed_out()))),
                None => state.rows.next().await,
            };
            let item = match next? {
                Ok(_) if max_rows.is_some_and(|max| state.sent >= max) => {
                    Err(too_many_rows(state.sent))
                }
                Ok(row) => {
                    state.sent += 1;
                    Ok(row)
                }
                Err(error) => Err(error),
            };
            // After an error the response is over: pgwire sends it and stops reading.
            state.done = item.is_err();
            Some((item, state))
        });
        let mut limited = QueryResponse::new(schema, limited);
        limited.set_command_tag(&command_tag);
        Response::Query(limited)
    }
}

/// The wrapped stream and how far it got.
struct LimitedRows {
    rows: SendableRowStream,
    sent: u64,
    done: bool,
}

/// SQLSTATE 57014, as PostgreSQL reports a statement that ran out of time.
pub fn timed_out() -> PgWireError {
    sqlstate::user_error(
        sqlstate::codes::QUERY_CANCELED,
        "canceling statement due to statement timeout",
    )
}

fn too_many_rows(max: u64) -> PgWireError {
    sqlstate::user_error(
        sqlstate::codes::PROGRAM_LIMIT_EXCEEDED,
        format!(
            "result exceeds the server's limit of {max} rows (max_result_rows); \
             add a LIMIT or a narrower WHERE"
        ),
    )
}
