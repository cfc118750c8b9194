//! `sql`: one read-only statement, through the same rewrite and read-only guard as the
//! Postgres-wire server, under the row and time limits. Errors carry the SQLSTATE psql shows.

use serde_json::json;

use super::{read_only_tool, run_sql, Answer, Arguments, Context};
use crate::error::Result;

pub(super) const NAME: &str = "sql";

pub(super) fn tool() -> rmcp::model::Tool {
    read_only_tool(
        NAME,
        "Run one read-only SQL statement (PostgreSQL dialect) against Groundtruth: resources, \
         resources FOR SYSTEM_TIME AS OF T, changes(T1, T2), drift, drift_history, relations, \
         sources, named_query(...). Writes are refused (SQLSTATE 25006). Results are capped at \
         max_rows; the answer says when rows were cut.",
        json!({
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "One SQL statement."},
                "max_rows": {"type": "integer", "minimum": 1, "description": "At most this many rows (capped by the server)."}
            },
            "required": ["query"],
            "additionalProperties": false
        }),
    )
}

pub(super) async fn run(context: &Context<'_>, arguments: &Arguments<'_>) -> Result<Answer> {
    arguments.only(&["query", "max_rows"])?;
    let query = arguments.required_text("query")?;
    let result = run_sql(context, &query, arguments.max_rows(context.limits)?).await?;
    Ok(Answer::rows("rows", result, context.now))
}
