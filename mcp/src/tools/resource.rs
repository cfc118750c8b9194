//! `resource`: one resource by id or name fragment, in every source that knows it: now, as
//! of an instant, and optionally its history (every version with its validity window).

use serde_json::{json, Value};

use super::{quoted, read_only_tool, run_sql, Answer, Arguments, Context};
use crate::error::Result;

pub(super) const NAME: &str = "resource";

const STATE_COLUMNS: &str =
    "source, layer, kind, id, name, attrs, labels, first_seen, last_changed, observed_at";
const HISTORY_COLUMNS: &str =
    "source, layer, kind, id, change, valid_from, valid_to, change_window_start, attrs, diff";

pub(super) fn tool() -> rmcp::model::Tool {
    read_only_tool(
        NAME,
        "Look up a resource by exact id or by a fragment of its id or name, in every source \
         (declared and live): its attributes now, or as of an instant, and with history=true \
         every version with valid_from/valid_to and the diff of each change.",
        json!({
            "type": "object",
            "properties": {
                "id": {"type": "string", "description": "Exact resource id (an ARN, namespace/name, schema.table, a Terraform address...)."},
                "name": {"type": "string", "description": "A fragment of the id or name, case-insensitive (e.g. billing-worker)."},
                "kind": {"type": "string", "description": "Only this kind (e.g. aws_lambda_function)."},
                "source": {"type": "string", "description": "Only this source."},
                "at": {"type": "string", "description": "The instant to look at (2026-01-31, 2026-01-31 12:00:00 UTC, or RFC 3339); default now."},
                "history": {"type": "boolean", "description": "Also return every version."},
                "max_rows": {"type": "integer", "minimum": 1}
            },
            "additionalProperties": false
        }),
    )
}

pub(super) async fn run(context: &Context<'_>, arguments: &Arguments<'_>) -> Result<Answer> {
    arguments.only(&["id", "name", "kind", "source", "at", "history", "max_rows"])?;
    let mut filters = Vec::new();
    match (arguments.text("id")?, arguments.text("name")?) {
        (Some(id), _) => filters.push(format!("id = {}", quoted(&id))),
        (None, Some(fragment)) => {
            let fragment = quoted(&fragment.to_lowercase());
            filters.push(format!(
                "(strpos(lower(id), {fragment}) > 0 OR strpos(lower(coalesce(name, '')), {fragment}) > 0)"
            ));
        }
        (None, None) => return Err(arguments.error("id", "give id or name")),
    }
    for column in ["kind", "source"] {
        if let Some(value) = arguments.text(column)? {
            filters.push(format!("{column} = {}", quoted(&value)));
        }
    }
    let filter = filters.join(" AND ");
    let max_rows = arguments.max_rows(context.limits)?;
    let (as_of, table) = match arguments.instant("at")? {
        Some((instant, literal)) => (instant, format!("resources_at({literal})")),
        None => (context.now, "resources".to_string()),
    };
    let state = run_sql(
        context,
        &format!("SELECT {STATE_COLUMNS} FROM {table} WHERE {filter} ORDER BY kind, id, source"),
        max_rows,
    )
    .await?;
    let mut answer = Answer::rows("resources", state, as_of);
    if arguments.flag("history")? {
        let history = run_sql(
            context,
            &format!(
                "SELECT {HISTORY_COLUMNS} FROM resource_versions WHERE {filter} \
                 ORDER BY kind, id, source, valid_from"
            ),
            max_rows,
        )
        .await?;
        if let Some(sources) = history.rows.sources() {
            answer
                .involved
                .get_or_insert_with(Default::default)
                .extend(sources);
        }
        answer
            .body
            .insert("history_truncated".into(), json!(history.truncated));
        answer.body.insert(
            "history".into(),
            Value::Array(history.rows.rows.into_iter().map(Value::Object).collect()),
        );
    }
    Ok(answer)
}
