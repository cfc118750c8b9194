//! The settings a wire session reports: what `SHOW name`, `current_setting('name')`,
//! `pg_settings` and `version()` answer, and the defaults applied to the shared session
//! context once.
//!
//! Drivers decide what a server can do from these: SQLAlchemy parses `version()` as
//! "PostgreSQL X.Y", Grafana and JDBC read `server_version_num`, `search_path` and
//! `max_index_keys`, Metabase reads `SHOW timezone`. datafusion-postgres answers some of them
//! with DataFusion's own names (`version()` is "Apache DataFusion ...", `SHOW server_version`
//! is "datafusion ...") and others not at all, so Groundtruth answers them first, from one
//! table, consistently with the `server_version` the startup handshake reports (16.6).
//!
//! DataFusion also leaves `datafusion.execution.time_zone` unset, and then plans
//! `TIMESTAMP WITH TIME ZONE` literals and casts, and `now()`, as timestamps without a zone;
//! datafusion-postgres sends those as `timestamp` (OID 1114), so clients decode zone-less
//! datetimes where PostgreSQL gives them `timestamptz` (OID 1184). Groundtruth keeps every
//! instant in UTC, so UTC is the zone these values carry too.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use async_trait::async_trait;
use datafusion::common::{exec_err, ParamValues, Result, ScalarValue, ToDFSchema};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{
    ColumnarValue, EmptyRelation, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::hooks::{HookClient, QueryHook};
use datafusion_postgres::pgwire::api::results::{
    DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response,
};
use datafusion_postgres::pgwire::api::{ClientInfo, Type};
use datafusion_postgres::pgwire::error::PgWireResult;

use crate::sqlstate;

/// The session time zone: the zone of `timestamptz` values and what `SHOW TIME ZONE` reports.
pub const TIME_ZONE: &str = "UTC";

/// The PostgreSQL version Groundtruth speaks for (the startup handshake's `server_version`).
const SERVER_VERSION: &str = "16.6";

/// `(name as PostgreSQL spells it, default value)`. Names are matched case-insensitively.
pub const SETTINGS: &[(&str, &str)] = &[
    ("server_version", SERVER_VERSION),
    ("server_version_num", "160006"),
    ("TimeZone", TIME_ZONE),
    ("search_path", "\"$user\", public"),
    ("max_index_keys", "32"),
    ("max_identifier_length", "63"),
    ("standard_conforming_strings", "on"),
    ("integer_datetimes", "on"),
    ("server_encoding", "UTF8"),
    ("client_encoding", "UTF8"),
    ("DateStyle", "ISO, MDY"),
    ("IntervalStyle", "postgres"),
    ("block_size", "8192"),
    ("lc_collate", "C"),
    ("lc_ctype", "C"),
    ("default_transaction_isolation", "read committed"),
    ("transaction_isolation", "read committed"),
    ("transaction_read_only", "on"),
    ("default_transaction_read_only", "on"),
];

/// The `SETTINGS` entry for `name` (`time zone` is `TimeZone`, as in PostgreSQL).
fn setting(name: &str) -> Option<(&'static str, &'static str)> {
    let name = if name.eq_ignore_ascii_case("time zone") {
        "timezone"
    } else {
        name
    };
    SETTINGS
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .copied()
}

/// `version()`, as PostgreSQL words it, so drivers that parse it find a PostgreSQL version.
pub fn version_text() -> String {
    format!(
        "PostgreSQL {SERVER_VERSION} (Groundtruth {}, Apache DataFusion {}) on {}-pc-linux-gnu",
        env!("CARGO_PKG_VERSION"),
        datafusion::DATAFUSION_VERSION,
        std::env::consts::ARCH,
    )
}

/// Give `context` the session defaults clients rely on (the time zone above). Functions that
/// read the configuration when registered (`now()`) are registered again, as DataFusion's own
/// `SET` does.
pub fn apply_defaults(context: &SessionContext) -> Result<()> {
    let state = context.state_ref();
    let mut state = state.write();
    state.config_mut().options_mut().execution.time_zone = Some(TIME_ZONE.to_string());
    let options = Arc::clone(state.config().options());
    let updated: Vec<ScalarUDF> = state
        .scalar_functions()
        .values()
        .filter_map(|function| function.inner().with_updated_config(&options))
        .collect();
    for function in updated {
        state.register_udf(Arc::new(function))?;
    }
    Ok(())
}

/// What a settings function answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Answer {
    Version,
    CurrentSetting,
}

/// `version()` and `current_setting(name [, missing_ok])` (the defaults: a function has no
/// connection to read `SET` values from).
#[derive(Debug, PartialEq, Eq, Hash)]
struct SettingsFunction {
    name: &'static str,
    answer: Answer,
    signature: Signature,
}

impl ScalarUDFImpl for SettingsFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arguments: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match self.answer {
            Answer::Version => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                version_text(),
            )))),
            Answer::CurrentSetting => {
                let arrays = ColumnarValue::values_to_arrays(&args.args)?;
                let Some(names) = arrays.first() else {
                    return exec_err!("current_setting needs a setting name");
                };
                let missing_ok = match arrays.get(1) {
                    Some(flags) => {
                        let flags = cast(flags, &DataType::Boolean)?;
                        flags.is_valid(0)
                            && flags
                                .as_any()
                                .downcast_ref::<arrow::array::BooleanArray>()
                                .is_some_and(|flags| flags.value(0))
                    }
                    None => false,
                };
                let names = cast(names, &DataType::Utf8)?;
                let Some(names) = names.as_any().downcast_ref::<StringArray>() else {
                    return exec_err!("current_setting needs a text setting name");
                };
                let mut values = Vec::with_capacity(names.len());
                for row in 0..names.len() {
                    if names.is_null(row) {
                        values.push(None);
                        continue;
                    }
                    match setting(names.value(row)) {
                        Some((_, value)) => values.push(Some(value)),
                        None if missing_ok => values.push(None),
                        None => {
                            return exec_err!(
                                "unrecognized configuration parameter \"{}\"",
                                names.value(row)
                            )
                        }
                    }
                }
                let values: ArrayRef = Arc::new(StringArray::from(values));
                Ok(ColumnarValue::Array(values))
            }
        }
    }
}

/// `version()` and `current_setting()`, replacing DataFusion's `version()`.
pub fn settings_functions() -> Vec<ScalarUDF> {
    [
        (
            "version",
            Answer::Version,
            Signature::exact(vec![], Volatility::Stable),
        ),
        (
            "current_setting",
            Answer::CurrentSetting,
            Signature::variadic_any(Volatility::Stable),
        ),
    ]
    .into_iter()
    .map(|(name, answer, signature)| {
        ScalarUDF::from(SettingsFunction {
            name,
            answer,
            signature,
        })
    })
    .collect()
}

/// The setting a `SHOW` asks for, if Groundtruth answers it.
fn shown(statement: &Statement) -> Option<(&'static str, &'static str)> {
    let Statement::ShowVariable { variable } = statement else {
        return None;
    };
    let name: Vec<&str> = variable.iter().map(|part| part.value.as_str()).collect();
    setting(&name.join(" "))
}

/// The plan of `SHOW name` (one text column) for the extended protocol's Describe.
pub fn show_plan(name: &str) -> PgWireResult<LogicalPlan> {
    let schema = Schema::new(vec![Field::new(name, DataType::Utf8, false)]);
    let schema = schema
        .to_dfschema()
        .map_err(|error| sqlstate::user_error(sqlstate::codes::INTERNAL, error.to_string()))?;
    Ok(LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: true,
        schema: Arc::new(schema),
    }))
}

/// The response to `SHOW name`: one row, `value`.
pub fn show_response(name: &str, value: &str) -> PgWireResult<Response> {
    let fields = Arc::new(vec![FieldInfo::new(
        name.to_string(),
        None,
        None,
        Type::TEXT,
        FieldFormat::Text,
    )]);
    let mut encoder = DataRowEncoder::new(Arc::clone(&fields));
    encoder.encode_field(&Some(value))?;
    let row: PgWireResult<_> = Ok(encoder.take_row());
    Ok(Response::Query(QueryResponse::new(
        fields,
        futures::stream::iter([row]),
    )))
}

/// Answers `SHOW name` for the settings above; runs before datafusion-postgres's SHOW hook.
#[derive(Debug, Default)]
pub struct ShowSettingsHook;

impl ShowSettingsHook {
    fn respond(statement: &Statement, client: &dyn HookClient) -> Option<PgWireResult<Response>> {
        let (name, default) = shown(statement)?;
        // What the client `SET`: datafusion-postgres keeps `search_path`, `datestyle`, the time
        // zone, ... in the connection's metadata under lowercase names.
        let value = client
            .metadata()
            .get(&name.to_ascii_lowercase())
            .cloned()
            .unwrap_or_else(|| default.to_string());
        Some(show_response(name, &value))
    }
}

#[async_trait]
impl QueryHook for ShowSettingsHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _session_context: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::respond(statement, client)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _session_context: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        let (name, _) = shown(statement)?;
        Some(show_plan(name))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _logical_plan: &LogicalPlan,
        _params: &ParamValues,
        _session_context: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        Self::respond(statement, client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    async fn result_type(context: &SessionContext, sql: &str) -> DataType {
        let frame = context.sql(sql).await.expect("planned");
        frame.schema().field(0).data_type().clone()
    }

    async fn text(context: &SessionContext, sql: &str) -> Option<String> {
        let batches = context
            .sql(sql)
            .await
            .expect("planned")
            .collect()
            .await
            .expect("ran");
        let column = cast(batches[0].column(0), &DataType::Utf8).expect("text");
        let column = column
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("strings");
        column.is_valid(0).then(|| column.value(0).to_string())
    }

    #[tokio::test]
    async fn timestamptz_literals_and_now_carry_the_zone() {
        let context = SessionContext::new();
        apply_defaults(&context).expect("applied");
        for sql in [
            "SELECT '2024-01-02 03:04:05+00'::timestamptz",
            "SELECT CAST('2024-01-02 03:04:05+00' AS TIMESTAMP WITH TIME ZONE)",
            "SELECT now()",
        ] {
            let DataType::Timestamp(_, Some(zone)) = result_type(&context, sql).await else {
                panic!("{sql} has no zone");
            };
            assert_eq!(zone.as_ref(), TIME_ZONE, "{sql}");
        }
        assert!(matches!(
            result_type(&context, "SELECT '2024-01-02 03:04:05'::timestamp").await,
            DataType::Timestamp(_, None)
        ));
    }

    #[tokio::test]
    async fn version_and_current_setting() {
        let context = SessionContext::new();
        for function in settings_functions() {
            context.register_udf(function);
        }
        let version = text(&context, "SELECT version()").await.expect("a version");
        assert!(
            version.starts_with("PostgreSQL 16.6 (Groundtruth "),
            "{version}"
        );
        assert_eq!(
            text(&context, "SELECT current_setting('server_version_num')").await,
            Some("160006".to_string())
        );
        assert_eq!(
            text(&context, "SELECT current_setting('TIMEZONE')").await,
            Some(TIME_ZONE.to_string())
        );
        assert_eq!(
            text(&context, "SELECT current_setting('nope', true)").await,
            None
        );
        assert!(context
            .sql("SELECT current_setting('nope')")
            .await
            .expect("planned")
            .collect()
            .await
            .is_err());
    }

    #[test]
    fn show_answers_known_settings() {
        let parse = |sql: &str| {
            Parser::parse_sql(&PostgreSqlDialect {}, sql)
                .expect("parsed")
                .remove(0)
        };
        assert_eq!(
            shown(&parse("SHOW timezone")),
            Some(("TimeZone", TIME_ZONE))
        );
        assert_eq!(
            shown(&parse("SHOW TIME ZONE")),
            Some(("TimeZone", TIME_ZONE))
        );
        assert_eq!(
            shown(&parse("show server_version")),
            Some(("server_version", SERVER_VERSION))
        );
        assert_eq!(
            shown(&parse("SHOW max_index_keys")),
            Some(("max_index_keys", "32"))
        );
        assert_eq!(shown(&parse("SHOW statement_timeout")), None);
    }
}
