//! The JSON logical type: text that holds one JSON value, marked on the Arrow field with the
//! canonical extension type `arrow.json` (the Arrow columnar format's
//! `ARROW:extension:name` field metadata), so front ends know a column holds JSON by its type,
//! not by its name: the wire describes it as PostgreSQL's `json`, MCP nests it as JSON.
//!
//! Where the type comes from:
//! - SQL: `CAST(x AS JSON)`, `x::json` and `x::jsonb` plan to a JSON-typed text field
//!   ([`JsonTypePlanner`], registered on the engine's session). A cast to text
//!   (`attrs::text`) drops the type again, as DataFusion drops an extension type on any
//!   type-only cast. The cast marks the type; it does not validate the text, unlike
//!   PostgreSQL's.
//! - The published views cast their JSON columns (`resource_versions.attrs`, `drift.differences`,
//!   ...) and the providers the engine builds itself (`resources`, `resources_at`) carry the
//!   type in their schema. The stored tables (`storage.*`, `internals.*`) are plain text: they
//!   are the storage layout, not the SQL surface.
//!
//! DataFusion keeps field metadata through column references, so `SELECT attrs FROM resources
//! JOIN ...` stays JSON; an expression computed from a JSON column has the type its function
//! gives (text for `attrs->>'x'`), as in PostgreSQL.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef};
use arrow_schema::extension::{ExtensionType, Json};
use datafusion::common::Result;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::planner::TypePlanner;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast;

/// Whether `field` holds JSON (its extension type is `arrow.json`).
pub fn is_json(field: &Field) -> bool {
    field.extension_type_name() == Some(Json::NAME)
}

/// A nullable JSON field named `name`, stored as `data_type`.
///
/// # Panics
/// When `data_type` is not a text type (`Utf8`, `LargeUtf8`, `Utf8View`): callers pass a
/// constant.
pub fn json_field(name: &str, data_type: DataType) -> Field {
    Field::new(name, data_type, true).with_extension_type(Json::default())
}

/// Plans the SQL types `json` and `jsonb` to JSON-typed text, and any other type with the
/// planner it wraps (a session has one type planner; the PostgreSQL catalog emulation installs
/// its own for `regclass` and friends).
///
/// The storage type is `Utf8View`, the layout the stored tables are read in, so casting a stored
/// column copies nothing; text in other layouts is converted as any cast converts it.
#[derive(Debug, Default)]
pub struct JsonTypePlanner {
    others: Option<Arc<dyn TypePlanner>>,
}

impl JsonTypePlanner {
    /// `json` and `jsonb` here, every other type by `others`.
    pub fn wrapping(others: Option<Arc<dyn TypePlanner>>) -> Self {
        Self { others }
    }
}

impl TypePlanner for JsonTypePlanner {
    fn plan_type_field(&self, sql_type: &ast::DataType) -> Result<Option<FieldRef>> {
        match sql_type {
            ast::DataType::JSON | ast::DataType::JSONB => {
                Ok(Some(Arc::new(json_field("", DataType::Utf8View))))
            }
            _ => match &self.others {
                Some(others) => others.plan_type_field(sql_type),
                None => Ok(None),
            },
        }
    }
}

/// Put `json` and `jsonb` in front of the type planner `context` has now. Call it after
/// anything that installs a type planner of its own, which would replace this one.
pub fn install(context: &SessionContext) {
    let state = context.state_ref();
    let existing = state.read().clone();
    let mut builder = SessionStateBuilder::new_from_existing(existing);
    let others = builder.type_planner().take();
    *state.write() = builder
        .with_type_planner(Arc::new(JsonTypePlanner::wrapping(others)))
        .build();
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionConfig;

    use super::*;

    /// Plans `int4_alias` as Int32, standing for another planner already installed.
    #[derive(Debug)]
    struct AliasPlanner;

    impl TypePlanner for AliasPlanner {
        fn plan_type_field(&self, sql_type: &ast::DataType) -> Result<Option<FieldRef>> {
            Ok(match sql_type {
                ast::DataType::Custom(name, _) if name.to_string() == "int4_alias" => {
                    Some(Arc::new(Field::new("", DataType::Int32, true)))
                }
                _ => None,
            })
        }
    }

    fn context() -> SessionContext {
        let config = SessionConfig::new().set_str("datafusion.sql_parser.dialect", "PostgreSQL");
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .with_type_planner(Arc::new(AliasPlanner))
            .build();
        let context = SessionContext::new_with_state(state);
        install(&context);
        context
    }

    async fn json_columns(sql: &str) -> Vec<(String, bool)> {
        let frame = context().sql(sql).await.unwrap();
        let columns: Vec<(String, bool)> = frame
            .schema()
            .fields()
            .iter()
            .map(|field| (field.name().clone(), is_json(field)))
            .collect();
        // The type survives optimization and execution: the result still holds the text.
        let batches = frame.collect().await.unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
        columns
    }

    #[tokio::test]
    async fn casts_to_json_type_the_column_and_casts_to_text_untype_it() {
        let columns = json_columns(
            r#"SELECT CAST('{"a": 1}' AS JSON) AS j, '[1]'::jsonb AS b, 'x' AS attrs,
                      CAST(CAST('{}' AS JSON) AS VARCHAR) AS t"#,
        )
        .await;
        assert_eq!(
            columns,
            [
                ("j".to_string(), true),
                ("b".to_string(), true),
                // A text column is text whatever its name.
                ("attrs".to_string(), false),
                ("t".to_string(), false),
            ]
        );
    }

    #[tokio::test]
    async fn the_planner_installed_before_still_plans_its_types() {
        let frame = context()
            .sql("SELECT CAST('7' AS int4_alias) AS n")
            .await
            .unwrap();
        assert_eq!(frame.schema().field(0).data_type(), &DataType::Int32);
    }

    #[tokio::test]
    async fn the_type_follows_column_references_through_subqueries_and_filters() {
        let columns = json_columns(
            r#"SELECT j, n FROM (SELECT CAST('{"a": 1}' AS JSON) AS j, 1 AS n) AS inner_query
               WHERE n = 1 ORDER BY n"#,
        )
        .await;
        assert_eq!(columns, [("j".to_string(), true), ("n".to_string(), false)]);
    }

    #[test]
    fn json_fields_are_canonical_arrow_json() {
        let field = json_field("attrs", DataType::Utf8);
        assert!(is_json(&field));
        assert_eq!(field.extension_type_name(), Some("arrow.json"));
        assert_eq!(field.extension_type_metadata(), Some(""));
        assert!(field.try_extension_type::<Json>().is_ok());
        assert!(!is_json(&Field::new("attrs", DataType::Utf8, true)));
    }
}
