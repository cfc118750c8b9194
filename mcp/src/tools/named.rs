//! `list_named_queries` and `run_named_query`: the query library (the `queries` crate) with a
//! JSON Schema for each query's parameters, run with values checked against each parameter's
//! type and written as SQL literals by the library itself (as `groundtruth query` does).

use std::collections::{BTreeMap, BTreeSet};

use groundtruth_queries::{Library, ParameterType, Query};
use serde_json::{json, Map, Value};

use super::{read_only_tool, run_sql, Answer, Arguments, Context};
use crate::error::Result;

pub(super) const LIST_NAMED_QUERIES: &str = "list_named_queries";
pub(super) const RUN_NAMED_QUERY: &str = "run_named_query";

/// JSON Schema of one parameter type.
fn parameter_schema(parameter_type: ParameterType) -> Value {
    match parameter_type {
        ParameterType::Text => json!({"type": "string"}),
        ParameterType::Integer => json!({"type": "integer"}),
        ParameterType::Timestamp => json!({
            "type": "string",
            "description": "2026-01-31, 2026-01-31 12:00:00 (UTC) or RFC 3339"
        }),
        ParameterType::Interval => json!({
            "type": "string",
            "pattern": "^\\s*[0-9]+\\s+(second|minute|hour|day|week|month|year)s?\\s*$"
        }),
    }
}

/// JSON Schema of a query's parameters object.
pub(crate) fn parameters_schema(query: &Query) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for parameter in &query.parameters {
        let mut schema = parameter_schema(parameter.parameter_type);
        let description = match &parameter.default {
            Some(default) => format!("{} Default: {default}.", parameter.description),
            None => {
                required.push(json!(parameter.name));
                parameter.description.clone()
            }
        };
        schema["description"] = json!(description);
        properties.insert(parameter.name.clone(), schema);
    }
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false
    })
}

/// Every query with its description, parameter schema and example.
pub(super) fn catalog(library: &Library) -> Vec<Value> {
    library
        .queries()
        .iter()
        .map(|query| {
            json!({
                "name": query.name,
                "description": query.description,
                "parameters": parameters_schema(query),
                "example": query.example,
            })
        })
        .collect()
}

pub(super) fn list_named_queries_tool() -> rmcp::model::Tool {
    read_only_tool(
        LIST_NAMED_QUERIES,
        "List the named queries (ready-made answers to common questions: what drifted, what \
         consumes a queue, what changed, which sources are stale), each with a JSON Schema of \
         its parameters. Run one with run_named_query.",
        json!({"type": "object", "properties": {}, "additionalProperties": false}),
    )
}

pub(super) fn run_named_query_tool(library: &Library) -> rmcp::model::Tool {
    let names: Vec<&str> = library
        .queries()
        .iter()
        .map(|query| query.name.as_str())
        .collect();
    read_only_tool(
        RUN_NAMED_QUERY,
        "Run a named query from the library with typed parameters (list_named_queries gives \
         each query's parameter schema).",
        json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "enum": names, "description": "The query's name."},
                "parameters": {"type": "object", "description": "Parameter values by name, as the query's schema says.", "additionalProperties": true},
                "max_rows": {"type": "integer", "minimum": 1, "description": "At most this many rows (capped by the server)."}
            },
            "required": ["name"],
            "additionalProperties": false
        }),
    )
}

pub(super) fn list_named_queries(
    context: &Context<'_>,
    arguments: &Arguments<'_>,
) -> Result<Answer> {
    arguments.only(&[])?;
    let mut body = Map::new();
    body.insert("queries".into(), Value::Array(catalog(context.library)));
    Ok(Answer {
        body,
        as_of: context.now,
        involved: None,
    })
}

pub(super) async fn run_named_query(
    context: &Context<'_>,
    arguments: &Arguments<'_>,
) -> Result<Answer> {
    arguments.only(&["name", "parameters", "max_rows"])?;
    let name = arguments.required_text("name")?;
    let query = context.library.get(&name)?;
    let mut values = BTreeMap::new();
    match arguments.map.get("parameters") {
        None | Some(Value::Null) => {}
        Some(Value::Object(given)) => {
            for (parameter, value) in given {
                let text = match value {
                    Value::String(text) => text.clone(),
                    Value::Number(number) => number.to_string(),
                    other => {
                        return Err(arguments.error(
                            &format!("parameters.{parameter}"),
                            format!("expected a string or a number, got {other}"),
                        ))
                    }
                };
                values.insert(parameter.clone(), text);
            }
        }
        Some(other) => {
            return Err(arguments.error("parameters", format!("expected an object, got {other}")))
        }
    }
    let sql = query.render(&values)?;
    let result = run_sql(context, &sql, arguments.max_rows(context.limits)?).await?;
    let mut answer = Answer::rows("rows", result, context.now);
    if answer.involved.is_none() {
        // A query scoped to one source by its `source` parameter rests on that source alone,
        // even when its rows do not repeat the source's name.
        if let Some(source) = values.get("source") {
            answer.involved = Some(BTreeSet::from([source.clone()]));
        }
    }
    answer.body.insert("query".into(), json!(name));
    Ok(answer)
}
