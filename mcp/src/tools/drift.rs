//! `drift`: where declared and running disagree, now or as of an instant, filtered by status,
//! kind, source and id fragment. In-sync rows are left out unless asked for.

use serde_json::json;

use super::{quoted, read_only_tool, run_sql, Answer, Arguments, Context};
use crate::error::Result;

pub(super) const NAME: &str = "drift";

/// The statuses `drift` reports.
const STATUSES: &[&str] = &["missing", "unmanaged", "changed", "in_sync", "stale"];

pub(super) fn tool() -> rmcp::model::Tool {
    read_only_tool(
        NAME,
        "Where declared (IaC) and running disagree: missing (declared, not running), unmanaged \
         (running, not declared), changed (attributes differ; differences lists path, declared \
         and live values), stale (a source involved cannot be trusted, nothing is asserted). \
         Now, or as of an instant with at.",
        json!({
            "type": "object",
            "properties": {
                "status": {
                    "type": "array",
                    "items": {"type": "string", "enum": STATUSES},
                    "description": "Only these statuses; default every status but in_sync."
                },
                "kind": {"type": "string", "description": "Only this kind."},
                "source": {"type": "string", "description": "Only rows whose declared or live source is this."},
                "id": {"type": "string", "description": "A fragment of the resource id, case-insensitive."},
                "at": {"type": "string", "description": "The instant to judge (2026-01-31, 2026-01-31 12:00:00 UTC, or RFC 3339); default now."},
                "max_rows": {"type": "integer", "minimum": 1}
            },
            "additionalProperties": false
        }),
    )
}

pub(super) async fn run(context: &Context<'_>, arguments: &Arguments<'_>) -> Result<Answer> {
    arguments.only(&["status", "kind", "source", "id", "at", "max_rows"])?;
    let mut statuses = arguments.text_list("status")?;
    if let Some(unknown) = statuses
        .iter()
        .find(|status| !STATUSES.contains(&status.as_str()))
    {
        return Err(arguments.error(
            "status",
            format!("unknown status '{unknown}'; known: {}", STATUSES.join(", ")),
        ));
    }
    if statuses.is_empty() {
        statuses = STATUSES
            .iter()
            .filter(|status| **status != "in_sync")
            .map(|status| status.to_string())
            .collect();
    }
    let mut filters = vec![format!(
        "status IN ({})",
        statuses
            .iter()
            .map(|status| quoted(status))
            .collect::<Vec<_>>()
            .join(", ")
    )];
    if let Some(kind) = arguments.text("kind")? {
        filters.push(format!("kind = {}", quoted(&kind)));
    }
    if let Some(source) = arguments.text("source")? {
        let source = quoted(&source);
        filters.push(format!(
            "(declared_source = {source} OR live_source = {source})"
        ));
    }
    if let Some(fragment) = arguments.text("id")? {
        filters.push(format!(
            "strpos(lower(id), {}) > 0",
            quoted(&fragment.to_lowercase())
        ));
    }
    let (as_of, table) = match arguments.instant("at")? {
        Some((instant, literal)) => (instant, format!("drift_at({literal})")),
        None => (context.now, "drift".to_string()),
    };
    let result = run_sql(
        context,
        &format!(
            "SELECT * FROM {table} WHERE {} ORDER BY status, kind, id",
            filters.join(" AND ")
        ),
        arguments.max_rows(context.limits)?,
    )
    .await?;
    Ok(Answer::rows("drift", result, as_of))
}
