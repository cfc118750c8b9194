//! Freshness over the wire: a `WARNING` notice sent before the rows of a query that reads a
//! stale or failed source, worded by the engine's `freshness` view (the same lines the MCP
//! envelope carries), so psql and drivers that log notices show it. Switched per session with
//! `SET groundtruth.freshness_notices = off` (`on` by default; `SHOW` reports it).
//!
//! Which sources a query reads is judged on its parsed statement (after named queries are
//! expanded), before planning: a query filtering a source column on string literals
//! (`WHERE source = 'aws-prod'`, `live_source IN ('a', 'b')`) reads those sources; any other
//! query over recorded data (a relation such as `resources`, `drift_at(...)`, `changes(...)`,
//! `storage.versions`) reads every source. Catalog queries and the `sources` and `freshness`
//! views themselves get no notice: they show freshness already.

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, AsArray};
use async_trait::async_trait;
use datafusion::common::{DFSchema, ParamValues};
use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    visit_expressions, visit_relations, BinaryOperator, Expr, ObjectName, Set, Statement, Value,
};
use datafusion_postgres::hooks::{HookClient, QueryHook};
use datafusion_postgres::pgwire::api::results::{Response, Tag};
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireResult};
use datafusion_postgres::pgwire::messages::response::NoticeResponse;
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::session_settings::{show_plan, show_response};
use crate::sqlstate;

/// The session setting, as clients spell it.
pub const SETTING: &str = "groundtruth.freshness_notices";

/// Words in the names of the relations over recorded data (`resources`, `resources_at`,
/// `resource_versions`, `changes`, `drift`, `drift_at`, `drift_history`,
/// `attribute_drift_history`, `identity_links`, `relations`, `relation_changes`, `scrapes`):
/// a query reading none of them, and nothing in the stored schemas, gets no notice.
const RECORDED: &[&str] = &[
    "resource",
    "changes",
    "drift",
    "identity_links",
    "relation",
    "scrapes",
];

/// Schemas whose every table is recorded data.
const RECORDED_SCHEMAS: &[&str] = &["storage", "internals"];

/// Columns that name a source.
const SOURCE_COLUMNS: &[&str] = &["source", "declared_source", "live_source"];

/// How long one reading of the `freshness` view is reused: queries come faster than sources
/// change state, and reading it aggregates the scrape log.
const REUSE_FOR: Duration = Duration::from_secs(1);

/// Whether notices are on for `client`'s session.
pub fn enabled(client: &(impl ClientInfo + ?Sized)) -> bool {
    client
        .metadata()
        .get(SETTING)
        .is_none_or(|value| value != "off")
}

/// `(source, warning)` pairs of the `freshness` view.
type Warnings = Arc<Vec<(String, String)>>;

/// The warnings of the `freshness` view, read at most once per [`REUSE_FOR`].
pub struct FreshnessNotices {
    context: SessionContext,
    cached: Mutex<Option<(Instant, Warnings)>>,
}

impl FreshnessNotices {
    /// Notices over the engine's session context.
    pub fn new(context: SessionContext) -> Self {
        Self {
            context,
            cached: Mutex::new(None),
        }
    }

    /// `(source, warning)` for every source that has one.
    async fn warnings(&self) -> Arc<Vec<(String, String)>> {
        let mut cached = self.cached.lock().await;
        if let Some((at, warnings)) = cached.as_ref() {
            if at.elapsed() < REUSE_FOR {
                return Arc::clone(warnings);
            }
        }
        let read = async {
            self.context
                .sql("SELECT source, warning FROM freshness WHERE warning IS NOT NULL ORDER BY source")
                .await?
                .collect()
                .await
        };
        let warnings = match read.await {
            Ok(batches) => batches
                .iter()
                .flat_map(|batch| {
                    // The view's text columns are Utf8View today; cast rather than assume a
                    // layout (a wrong guess panicked on every query while a source was stale).
                    let text = |index: usize| {
                        arrow::compute::cast(batch.column(index), &arrow::datatypes::DataType::Utf8)
                            .ok()
                            .and_then(|array| array.as_string_opt::<i32>().cloned())
                    };
                    let (Some(sources), Some(texts)) = (text(0), text(1)) else {
                        tracing::warn!("the freshness view's columns are not text; no notice");
                        return Vec::new();
                    };
                    (0..batch.num_rows())
                        .filter(|&row| !texts.is_null(row))
                        .map(|row| (sources.value(row).to_string(), texts.value(row).to_string()))
                        .collect::<Vec<_>>()
                })
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "reading freshness for a notice failed");
                Vec::new()
            }
        };
        let warnings = Arc::new(warnings);
        *cached = Some((Instant::now(), Arc::clone(&warnings)));
        warnings
    }

    /// The notice for a query made of `statements`, if it reads a stale or failed source.
    pub async fn notice_for(&self, statements: &[&Statement]) -> Option<PgWireBackendMessage> {
        let reads = Reads::of(statements)?;
        let warnings = self.warnings().await;
        let lines = reads.pick(&warnings);
        (!lines.is_empty()).then(|| {
            PgWireBackendMessage::NoticeResponse(NoticeResponse::from(ErrorInfo::new(
                "WARNING".to_string(),
                WARNING_CODE.to_string(),
                format!("answer may be out of date: {}", lines.join("; ")),
            )))
        })
    }
}

/// SQLSTATE class 01, warning.
const WARNING_CODE: &str = "01000";

/// The sources a query reads recorded data of.
#[derive(Debug, PartialEq)]
enum Reads {
    /// Only these: the query filters a source column on them.
    Named(BTreeSet<String>),
    /// Every source.
    All,
}

impl Reads {
    /// What `statements` read, or `None` when they read no recorded data.
    fn of(statements: &[&Statement]) -> Option<Self> {
        let mut recorded = false;
        let mut named: Option<BTreeSet<String>> = None;
        for statement in statements {
            let _ = visit_relations(*statement, |relation| {
                recorded |= is_recorded(relation);
                ControlFlow::<()>::Continue(())
            });
            let _ = visit_expressions(*statement, |expression| {
                if let Some(sources) = source_filter(expression) {
                    named.get_or_insert_with(BTreeSet::new).extend(sources);
                }
                ControlFlow::<()>::Continue(())
            });
        }
        recorded.then(|| named.map_or(Reads::All, Reads::Named))
    }

    /// The warning lines of the sources read.
    fn pick<'a>(&self, warnings: &'a [(String, String)]) -> Vec<&'a str> {
        warnings
            .iter()
            .filter(|(source, _)| match self {
                Reads::All => true,
                Reads::Named(sources) => sources.contains(source),
            })
            .map(|(_, text)| text.as_str())
            .collect()
    }
}

/// Whether `relation` holds recorded data.
fn is_recorded(relation: &ObjectName) -> bool {
    let parts: Vec<String> = relation
        .0
        .iter()
        .filter_map(|part| part.as_ident())
        .map(|ident| ident.value.to_ascii_lowercase())
        .collect();
    let Some(table) = parts.last() else {
        return false;
    };
    let in_recorded_schema =
        parts.len() > 1 && RECORDED_SCHEMAS.contains(&parts[parts.len() - 2].as_str());
    in_recorded_schema || RECORDED.iter().any(|word| table.contains(word))
}

/// The sources `expression` keeps when it is a filter of a source column on string literals
/// (`source = 'x'`, `'x' = l.live_source`, `source IN ('x', 'y')`).
fn source_filter(expression: &Expr) -> Option<Vec<String>> {
    match expression {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => match (is_source_column(left), is_source_column(right)) {
            (true, false) => Some(vec![string_literal(right)?]),
            (false, true) => Some(vec![string_literal(left)?]),
            _ => None,
        },
        Expr::InList {
            expr,
            list,
            negated: false,
        } if is_source_column(expr) => list.iter().map(string_literal).collect(),
        _ => None,
    }
}

fn is_source_column(expression: &Expr) -> bool {
    let name = match expression {
        Expr::Identifier(identifier) => identifier,
        Expr::CompoundIdentifier(parts) => match parts.last() {
            Some(last) => last,
            None => return false,
        },
        _ => return false,
    };
    SOURCE_COLUMNS
        .iter()
        .any(|column| name.value.eq_ignore_ascii_case(column))
}

fn string_literal(expression: &Expr) -> Option<String> {
    match expression {
        Expr::Value(value) => match &value.value {
            Value::SingleQuotedString(text) => Some(text.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The value a `SET groundtruth.freshness_notices` gives, if the statement is one.
fn set_value(statement: &Statement) -> Option<PgWireResult<String>> {
    let Statement::Set(Set::SingleAssignment {
        variable, values, ..
    }) = statement
    else {
        return None;
    };
    if !variable.to_string().eq_ignore_ascii_case(SETTING) {
        return None;
    }
    let value = values
        .first()
        .map(|value| value.to_string().trim_matches('\'').to_ascii_lowercase())
        .unwrap_or_default();
    Some(match value.as_str() {
        "on" | "true" | "default" => Ok("on".to_string()),
        "off" | "false" => Ok("off".to_string()),
        other => Err(sqlstate::user_error(
            sqlstate::codes::INVALID_PARAMETER,
            format!("{SETTING} must be on or off, not '{other}'"),
        )),
    })
}

fn is_show(statement: &Statement) -> bool {
    matches!(statement, Statement::ShowVariable { variable }
        if variable.iter().map(ToString::to_string).collect::<Vec<_>>().join(".").eq_ignore_ascii_case(SETTING))
}

/// Answers `SET` and `SHOW` of [`SETTING`], keeping the value in the connection's metadata.
#[derive(Debug, Default)]
pub struct FreshnessSettingHook;

impl FreshnessSettingHook {
    fn respond(
        statement: &Statement,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        if let Some(value) = set_value(statement) {
            return Some(value.map(|value| {
                client.metadata_mut().insert(SETTING.to_string(), value);
                Response::Execution(Tag::new("SET"))
            }));
        }
        if !is_show(statement) {
            return None;
        }
        let value = if enabled(client) { "on" } else { "off" };
        Some(show_response(SETTING, value))
    }
}

#[async_trait]
impl QueryHook for FreshnessSettingHook {
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
        if is_show(statement) {
            return Some(show_plan(SETTING));
        }
        // A bad value is reported when the statement runs.
        let _ = set_value(statement)?;
        Some(Ok(LogicalPlan::EmptyRelation(EmptyRelation {
            produce_one_row: false,
            schema: Arc::new(DFSchema::empty()),
        })))
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

    fn parsed(sql: &str) -> Statement {
        Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0)
    }

    /// Regression (found by the load campaign): the view's columns are Utf8View, and reading
    /// them as Utf8 panicked on every query while a source was stale.
    #[tokio::test]
    async fn warnings_are_read_whatever_the_text_layout() {
        use arrow::array::{RecordBatch, StringViewArray};
        use arrow::datatypes::{DataType, Field, Schema};
        let schema = Arc::new(Schema::new(vec![
            Field::new("source", DataType::Utf8View, false),
            Field::new("warning", DataType::Utf8View, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringViewArray::from(vec!["aws", "tf"])),
                Arc::new(StringViewArray::from(vec![
                    Some("source 'aws' is stale"),
                    None,
                ])),
            ],
        )
        .unwrap();
        let context = SessionContext::new();
        context.register_batch("freshness", batch).unwrap();
        let notices = FreshnessNotices::new(context);
        assert_eq!(
            notices.warnings().await.as_ref(),
            &vec![("aws".to_string(), "source 'aws' is stale".to_string())]
        );
    }

    fn reads(sql: &str) -> Option<Reads> {
        let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap();
        Reads::of(&statements.iter().collect::<Vec<_>>())
    }

    fn named(sources: &[&str]) -> Option<Reads> {
        Some(Reads::Named(
            sources.iter().map(|s| s.to_string()).collect(),
        ))
    }

    #[test]
    fn a_query_reads_the_sources_it_filters_on_else_every_source() {
        assert_eq!(reads("SELECT count(*) FROM drift"), Some(Reads::All));
        assert_eq!(
            reads("SELECT * FROM resources WHERE source = 'tf' AND kind = 'aws_instance'"),
            named(&["tf"])
        );
        assert_eq!(
            reads(
                "SELECT * FROM drift d WHERE 'aws' = d.live_source \
                 OR declared_source IN ('tf', 'cfn')"
            ),
            named(&["aws", "cfn", "tf"])
        );
        assert_eq!(
            reads("SELECT * FROM drift_at(now() - INTERVAL '1 day') WHERE live_source = 'k8s'"),
            named(&["k8s"])
        );
        assert_eq!(reads("SELECT * FROM storage.versions"), Some(Reads::All));
        assert_eq!(
            reads("SELECT * FROM changes(now() - INTERVAL '1 day', now())"),
            Some(Reads::All)
        );
        // Text is not a filter: a literal elsewhere, or a source column compared with a column.
        assert_eq!(
            reads(
                "SELECT 'source = ''tf''' AS note, * FROM resources r \
                 JOIN scrapes s ON s.source = r.source"
            ),
            Some(Reads::All)
        );
        assert_eq!(
            reads("SELECT * FROM resources WHERE source NOT IN ('tf')"),
            Some(Reads::All)
        );
        // Freshness itself and the catalog read no recorded data.
        assert_eq!(reads("SELECT * FROM sources WHERE source = 'tf'"), None);
        assert_eq!(reads("SELECT * FROM freshness"), None);
        assert_eq!(reads("SELECT * FROM pg_catalog.pg_class"), None);
        assert_eq!(reads("SELECT 1"), None);
    }

    #[test]
    fn warnings_follow_the_sources_read() {
        let warnings = vec![
            ("aws".to_string(), "source 'aws' is stale".to_string()),
            ("tf".to_string(), "source 'tf' failed".to_string()),
        ];
        assert_eq!(Reads::All.pick(&warnings).len(), 2);
        assert_eq!(
            named(&["tf"]).unwrap().pick(&warnings),
            vec!["source 'tf' failed"]
        );
        assert!(named(&["k8s"]).unwrap().pick(&warnings).is_empty());
    }

    #[test]
    fn the_setting_takes_on_and_off_only() {
        let value =
            |sql: &str| set_value(&parsed(sql)).map(|value| value.map_err(|e| e.to_string()));
        assert_eq!(
            value("SET groundtruth.freshness_notices = off"),
            Some(Ok("off".into()))
        );
        assert_eq!(
            value("SET groundtruth.freshness_notices TO 'on'"),
            Some(Ok("on".into()))
        );
        assert!(value("SET groundtruth.freshness_notices = maybe")
            .unwrap()
            .is_err());
        assert_eq!(value("SET search_path = public"), None);
        assert!(is_show(&parsed("SHOW groundtruth.freshness_notices")));
        assert!(!is_show(&parsed("SHOW search_path")));
    }
}
