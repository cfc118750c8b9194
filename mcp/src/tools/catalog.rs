//! `list_tables` and `describe_table`: the schema explained by the engine's descriptions
//! glossary (the `descriptions` table, the same text psql's `\d+` shows), with column types
//! from `information_schema`. Also the `groundtruth://schema` resource, every table at once.

use serde_json::{json, Map, Value};

use super::{quoted, read_only_tool, run_sql, Answer, Arguments, Context, Limited};
use crate::error::Result;
use crate::rows::Rows;

pub(super) const LIST_TABLES: &str = "list_tables";
pub(super) const DESCRIBE_TABLE: &str = "describe_table";

/// Enough rows for every table and function of the surface.
const CATALOG_ROWS: usize = 10_000;

pub(super) fn list_tables_tool() -> rmcp::model::Tool {
    read_only_tool(
        LIST_TABLES,
        "List every table, view and table function of Groundtruth's SQL surface (what was \
         declared and what was running, over time) with what each means. Start here, then \
         describe_table for columns.",
        json!({"type": "object", "properties": {}, "additionalProperties": false}),
    )
}

pub(super) fn describe_table_tool() -> rmcp::model::Tool {
    read_only_tool(
        DESCRIBE_TABLE,
        "Describe one table or table function: what it holds, and each column's type and \
         meaning (e.g. drift, resources, sources, changes).",
        json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "Table or function name, e.g. drift, resources_at, storage.versions."}
            },
            "required": ["name"],
            "additionalProperties": false
        }),
    )
}

async fn catalog_rows(context: &Context<'_>, sql: &str) -> Result<Rows> {
    let Limited { rows, .. } = run_sql(context, sql, CATALOG_ROWS).await?;
    Ok(rows)
}

pub(super) async fn list_tables(
    context: &Context<'_>,
    arguments: &Arguments<'_>,
) -> Result<Answer> {
    arguments.only(&[])?;
    let rows = catalog_rows(
        context,
        "SELECT CASE WHEN schema_name = 'public' THEN object_name \
                ELSE concat(schema_name, '.', object_name) END AS name, \
                object_type AS type, arguments, description \
         FROM descriptions WHERE column_name IS NULL \
         ORDER BY object_type DESC, schema_name, object_name",
    )
    .await?;
    let mut body = Map::new();
    body.insert(
        "tables".into(),
        Value::Array(rows.rows.into_iter().map(Value::Object).collect()),
    );
    Ok(Answer {
        body,
        as_of: context.now,
        involved: None,
    })
}

/// `schema.name` or `name` (public).
fn split_name(name: &str) -> (&str, &str) {
    name.split_once('.').unwrap_or(("public", name))
}

/// One object's description and columns, or `None` when nothing has that name.
async fn describe(context: &Context<'_>, name: &str) -> Result<Option<Value>> {
    let (schema, object) = split_name(name);
    let (schema, object) = (quoted(schema), quoted(object));
    let heads = catalog_rows(
        context,
        &format!(
            "SELECT object_type AS type, arguments, result, description FROM descriptions \
             WHERE schema_name = {schema} AND object_name = {object} AND column_name IS NULL"
        ),
    )
    .await?;
    let Some(head) = heads.rows.into_iter().next() else {
        return Ok(None);
    };
    let columns = catalog_rows(
        context,
        &format!(
            "SELECT c.column_name AS name, c.data_type AS type, d.description \
             FROM information_schema.columns c \
             LEFT JOIN descriptions d ON d.schema_name = c.table_schema \
               AND d.object_name = c.table_name AND d.column_name = c.column_name \
             WHERE c.table_schema = {schema} AND c.table_name = {object} \
             ORDER BY c.ordinal_position"
        ),
    )
    .await?;
    let mut described = head;
    described.insert("name".into(), json!(name));
    described.retain(|_, value| !value.is_null());
    if !columns.rows.is_empty() {
        described.insert(
            "columns".into(),
            Value::Array(columns.rows.into_iter().map(Value::Object).collect()),
        );
    }
    Ok(Some(Value::Object(described)))
}

pub(super) async fn describe_table(
    context: &Context<'_>,
    arguments: &Arguments<'_>,
) -> Result<Answer> {
    arguments.only(&["name"])?;
    let name = arguments.required_text("name")?;
    let described = describe(context, &name).await?.ok_or_else(|| {
        arguments.error(
            "name",
            format!("no table or function '{name}'; list_tables lists them"),
        )
    })?;
    let mut body = Map::new();
    body.insert("table".into(), described);
    Ok(Answer {
        body,
        as_of: context.now,
        involved: None,
    })
}

/// Every table and function with its columns: the `groundtruth://schema` resource.
pub(crate) async fn describe_all(context: &Context<'_>) -> Result<Value> {
    let names = catalog_rows(
        context,
        "SELECT CASE WHEN schema_name = 'public' THEN object_name \
                ELSE concat(schema_name, '.', object_name) END AS name \
         FROM descriptions WHERE column_name IS NULL ORDER BY schema_name, object_name",
    )
    .await?;
    let mut objects = Vec::new();
    for row in names.rows {
        let Some(name) = row.get("name").and_then(Value::as_str) else {
            continue;
        };
        if let Some(described) = describe(context, name).await? {
            objects.push(described);
        }
    }
    Ok(json!({ "tables": objects }))
}

/// The query library with each query's parameter schema: the `groundtruth://queries` resource.
pub(crate) fn query_catalog(context: &Context<'_>) -> Value {
    json!({ "queries": super::named::catalog(context.library) })
}
