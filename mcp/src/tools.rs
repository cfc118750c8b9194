//! The tools an agent can call, their input schemas, and what they share: argument checking
//! and running one read-only statement under the row and time limits. One tool (or a pair
//! reading the same thing) per file under `tools/`.

mod catalog;
mod drift;
mod named;
mod resource;
mod sql;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use groundtruth_engine::error::EngineError;
use groundtruth_engine::session::Engine;
use groundtruth_queries::{Library, ParameterType};
use rmcp::model::{Tool, ToolAnnotations};
use serde_json::{json, Map, Value};

use crate::error::{McpError, Result};
use crate::rows::Rows;

pub(crate) use catalog::{describe_all, query_catalog};

/// Limits on what one tool call may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most rows a tool returns; more are cut and the answer says `truncated`.
    pub max_rows: usize,
    /// Longest a statement may run, planning and execution together.
    pub statement_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_rows: 500,
            statement_timeout: Duration::from_secs(30),
        }
    }
}

/// What a tool reads.
pub(crate) struct Context<'a> {
    pub engine: &'a Engine,
    pub library: &'a Library,
    pub limits: Limits,
    /// The instant "now" answers are true as of.
    pub now: DateTime<Utc>,
}

/// What a tool answers, before the envelope is added.
pub(crate) struct Answer {
    /// The tool's fields.
    pub body: Map<String, Value>,
    /// The instant the answer describes.
    pub as_of: DateTime<Utc>,
    /// The sources the answer names (`None`: it names none, so every source matters).
    pub involved: Option<BTreeSet<String>>,
}

impl Answer {
    /// An answer of one result set under `key`, true as of `as_of`.
    fn rows(key: &str, result: Limited, as_of: DateTime<Utc>) -> Self {
        let involved = result.rows.sources();
        let mut body = Map::new();
        body.insert("row_count".into(), json!(result.rows.rows.len()));
        body.insert("truncated".into(), json!(result.truncated));
        body.insert("columns".into(), json!(result.rows.columns));
        body.insert(key.into(), Value::Array(into_values(result.rows.rows)));
        Answer {
            body,
            as_of,
            involved,
        }
    }
}

fn into_values(rows: Vec<Map<String, Value>>) -> Vec<Value> {
    rows.into_iter().map(Value::Object).collect()
}

/// Every tool, with the query library's names in `run_named_query`'s schema.
pub(crate) fn definitions(library: &Library) -> Vec<Tool> {
    vec![
        catalog::list_tables_tool(),
        catalog::describe_table_tool(),
        named::list_named_queries_tool(),
        named::run_named_query_tool(library),
        sql::tool(),
        resource::tool(),
        drift::tool(),
    ]
}

/// Run tool `name`.
pub(crate) async fn call(
    context: &Context<'_>,
    name: &str,
    arguments: &Map<String, Value>,
) -> Result<Answer> {
    let arguments = Arguments {
        tool: name,
        map: arguments,
    };
    match name {
        catalog::LIST_TABLES => catalog::list_tables(context, &arguments).await,
        catalog::DESCRIBE_TABLE => catalog::describe_table(context, &arguments).await,
        named::LIST_NAMED_QUERIES => named::list_named_queries(context, &arguments),
        named::RUN_NAMED_QUERY => named::run_named_query(context, &arguments).await,
        sql::NAME => sql::run(context, &arguments).await,
        resource::NAME => resource::run(context, &arguments).await,
        drift::NAME => drift::run(context, &arguments).await,
        other => Err(McpError::UnknownTool(other.to_string())),
    }
}

/// A tool definition: read-only, with the given input schema.
fn read_only_tool(name: &'static str, description: &'static str, schema: Value) -> Tool {
    let Value::Object(schema) = schema else {
        unreachable!("tool schemas are JSON objects");
    };
    let mut tool = Tool::new(name, description, std::sync::Arc::new(schema));
    let mut annotations = ToolAnnotations::default();
    annotations.read_only_hint = Some(true);
    annotations.open_world_hint = Some(false);
    tool.annotations = Some(annotations);
    tool
}

/// A tool's arguments, checked by name and type.
pub(crate) struct Arguments<'a> {
    tool: &'a str,
    map: &'a Map<String, Value>,
}

impl Arguments<'_> {
    fn error(&self, argument: &str, message: impl Into<String>) -> McpError {
        McpError::Argument {
            tool: self.tool.to_string(),
            argument: argument.to_string(),
            message: message.into(),
        }
    }

    /// Refuse arguments the tool does not have (a typo would otherwise widen the answer).
    fn only(&self, known: &[&str]) -> Result<()> {
        match self.map.keys().find(|key| !known.contains(&key.as_str())) {
            Some(unknown) => Err(self.error(
                unknown,
                format!("unknown argument; known: {}", known.join(", ")),
            )),
            None => Ok(()),
        }
    }

    fn text(&self, name: &str) -> Result<Option<String>> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(other) => Err(self.error(name, format!("expected a string, got {other}"))),
        }
    }

    fn required_text(&self, name: &str) -> Result<String> {
        self.text(name)?
            .ok_or_else(|| self.error(name, "is required"))
    }

    fn flag(&self, name: &str) -> Result<bool> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(value)) => Ok(*value),
            Some(other) => Err(self.error(name, format!("expected true or false, got {other}"))),
        }
    }

    /// A string or a list of strings.
    fn text_list(&self, name: &str) -> Result<Vec<String>> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(text)) => Ok(vec![text.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| self.error(name, format!("expected strings, got {item}")))
                })
                .collect(),
            Some(other) => {
                Err(self.error(name, format!("expected a list of strings, got {other}")))
            }
        }
    }

    /// A row cap no larger than the server's.
    fn max_rows(&self, limits: Limits) -> Result<usize> {
        match self.map.get("max_rows") {
            None | Some(Value::Null) => Ok(limits.max_rows),
            Some(value) => value
                .as_u64()
                .filter(|rows| *rows > 0)
                .map(|rows| (rows as usize).min(limits.max_rows))
                .ok_or_else(|| {
                    self.error(
                        "max_rows",
                        format!("expected a positive whole number, got {value}"),
                    )
                }),
        }
    }

    /// An instant argument, checked and written as a SQL literal.
    fn instant(&self, name: &str) -> Result<Option<(DateTime<Utc>, String)>> {
        let Some(text) = self.text(name)? else {
            return Ok(None);
        };
        let literal = ParameterType::Timestamp.literal(&text).ok_or_else(|| {
            self.error(
                name,
                format!(
                    "must be {}, got '{text}'",
                    ParameterType::Timestamp.expected()
                ),
            )
        })?;
        let instant = chrono::NaiveDateTime::parse_from_str(
            literal
                .trim_start_matches("TIMESTAMP '")
                .trim_end_matches('\''),
            "%Y-%m-%d %H:%M:%S%.f",
        )
        .map(|naive| naive.and_utc())
        .map_err(|error| self.error(name, error.to_string()))?;
        Ok(Some((instant, literal)))
    }
}

/// A SQL string literal.
fn quoted(text: &str) -> String {
    ParameterType::Text
        .literal(text)
        .unwrap_or_else(|| "''".to_string())
}

/// A result cut at the row cap.
pub(crate) struct Limited {
    pub rows: Rows,
    pub truncated: bool,
}

/// Run one read-only statement (through the engine's rewrite and read-only guard, as the wire
/// does) within the time limit, keeping at most `max_rows` rows.
pub(crate) async fn run_sql(context: &Context<'_>, text: &str, max_rows: usize) -> Result<Limited> {
    let work = async {
        let mut frames = context
            .engine
            .sql(text)
            .await
            .map_err(|error| McpError::engine("planning", error))?;
        if frames.len() != 1 {
            return Err(McpError::Argument {
                tool: sql::NAME.into(),
                argument: "query".into(),
                message: format!("expected exactly one statement, got {}", frames.len()),
            });
        }
        let frame = frames.remove(0);
        let executing = |source| {
            McpError::engine(
                "executing",
                EngineError::Query {
                    context: "executing".into(),
                    source: Box::new(source),
                },
            )
        };
        // The logical schema: it carries the columns' types (JSON among them) as planned.
        let schema = Arc::new(frame.schema().as_arrow().clone());
        let mut stream = frame.execute_stream().await.map_err(executing)?;
        let mut batches = Vec::new();
        let mut count = 0;
        let mut truncated = false;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(executing)?;
            let room = max_rows - count;
            if batch.num_rows() > room {
                batches.push(batch.slice(0, room));
                truncated = true;
                // Dropping the stream cancels the rest of the plan.
                break;
            }
            count += batch.num_rows();
            batches.push(batch);
        }
        Ok(Limited {
            rows: Rows::with_schema(&schema, &batches)?,
            truncated,
        })
    };
    tokio::time::timeout(context.limits.statement_timeout, work)
        .await
        .map_err(|_| McpError::Timeout(context.limits.statement_timeout))?
}
