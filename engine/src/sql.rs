//! What must happen to a statement before DataFusion plans it: one parse and an ordered list
//! of typed rewrites (the [`pipeline`]: named queries, `FOR SYSTEM_TIME AS OF`), and the
//! read-only guard. Both the Postgres-wire server and the `sql` command go through here, so
//! they accept and refuse exactly the same statements.

use std::ops::ControlFlow;

use sqlparser::ast::{
    FunctionArg, FunctionArgExpr, Ident, ObjectName, ObjectNamePart, Statement, TableAlias,
    TableFactor, TableFunctionArgs, TableVersion, VisitorMut,
};
use sqlparser::parser::Parser;

use crate::error::{EngineError, Result};

mod dialect;
mod named_query;
pub mod pipeline;

pub use dialect::TimeTravelDialect;
pub use named_query::{NamedQueries, NamedQueryEntry, NAMED_QUERY_FUNCTION};

/// The table that accepts `FOR SYSTEM_TIME AS OF`, and the table function it becomes.
const TEMPORAL_TABLE: &str = "resources";
const AS_OF_FUNCTION: &str = "resources_at";

/// Parse SQL with PostgreSQL syntax plus `FOR SYSTEM_TIME AS OF`.
pub fn parse(sql: &str) -> Result<Vec<Statement>> {
    Parser::parse_sql(&TimeTravelDialect::default(), sql)
        .map_err(|error| EngineError::Syntax(error.to_string()))
}

/// Rewrites `resources FOR SYSTEM_TIME AS OF <expr>` into `resources_at(<expr>) AS resources`.
struct TimeTravelRewriter {
    error: Option<EngineError>,
}

impl VisitorMut for TimeTravelRewriter {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<Self::Break> {
        let TableFactor::Table {
            name,
            alias,
            args,
            version,
            ..
        } = factor
        else {
            return ControlFlow::Continue(());
        };
        let Some(TableVersion::ForSystemTimeAsOf(instant)) = version.take() else {
            if version.is_some() {
                self.error = Some(EngineError::Syntax(
                    "only FOR SYSTEM_TIME AS OF is supported for time travel".into(),
                ));
                return ControlFlow::Break(());
            }
            return ControlFlow::Continue(());
        };
        let table = name
            .0
            .last()
            .and_then(ObjectNamePart::as_ident)
            .map(|ident| ident.value.to_ascii_lowercase());
        if table.as_deref() != Some(TEMPORAL_TABLE) || args.is_some() {
            self.error = Some(EngineError::Syntax(format!(
                "FOR SYSTEM_TIME AS OF applies to the '{TEMPORAL_TABLE}' table, not '{name}'; \
                 use resource_versions with valid_from/valid_to for other history"
            )));
            return ControlFlow::Break(());
        }
        *name = ObjectName::from(vec![Ident::new(AS_OF_FUNCTION)]);
        *args = Some(TableFunctionArgs {
            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(instant))],
            settings: None,
        });
        if alias.is_none() {
            // Keep `resources.column` references in the query valid after the rename.
            *alias = Some(TableAlias {
                explicit: true,
                name: Ident::new(TEMPORAL_TABLE),
                columns: vec![],
                at: None,
            });
        }
        ControlFlow::Continue(())
    }
}

/// Refuse anything but reading: queries, EXPLAIN, SHOW, SET and transaction or cursor control.
/// Returns the refused statement's kind in the error, e.g. `CREATE TABLE`.
pub fn ensure_read_only(statement: &Statement) -> Result<()> {
    let allowed = match statement {
        Statement::Query(query) => !query_writes(query),
        // The engine's settings are shared by every connection: one client must not be able
        // to change them for all (session variables such as search_path are per connection).
        Statement::Set(set) => !set.to_string().to_ascii_lowercase().contains("datafusion."),
        Statement::Explain { statement, .. } => return ensure_read_only(statement),
        Statement::ExplainTable { .. }
        | Statement::ShowVariable { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowFunctions { .. }
        | Statement::ShowSchemas { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowCharset(_)
        | Statement::ShowCollation { .. }
        | Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Declare { .. }
        | Statement::Fetch { .. }
        | Statement::Close { .. }
        | Statement::Discard { .. }
        | Statement::Deallocate { .. } => true,
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(EngineError::ReadOnly(statement_kind(statement)))
    }
}

fn query_writes(query: &sqlparser::ast::Query) -> bool {
    let common_tables_write = query.with.as_ref().is_some_and(|with| {
        with.cte_tables
            .iter()
            .any(|table| query_writes(&table.query))
    });
    common_tables_write || set_expression_writes(query.body.as_ref())
}

fn set_expression_writes(body: &sqlparser::ast::SetExpr) -> bool {
    match body {
        sqlparser::ast::SetExpr::Query(query) => query_writes(query),
        sqlparser::ast::SetExpr::SetOperation { left, right, .. } => {
            set_expression_writes(left) || set_expression_writes(right)
        }
        sqlparser::ast::SetExpr::Select(select) => select.into.is_some(),
        sqlparser::ast::SetExpr::Insert(_)
        | sqlparser::ast::SetExpr::Update(_)
        | sqlparser::ast::SetExpr::Delete(_) => true,
        _ => false,
    }
}

/// The leading keywords of a statement (`CREATE TABLE`, `COPY`, `DROP VIEW`), for messages.
pub fn statement_kind(statement: &Statement) -> String {
    let text = statement.to_string();
    let words: Vec<&str> = text.split_whitespace().take(3).collect();
    let keyword_count = words
        .iter()
        .take_while(|word| {
            word.chars()
                .all(|character| character.is_ascii_uppercase() || character == '_')
        })
        .count()
        .clamp(1, 2);
    words[..keyword_count.min(words.len())].join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite_time_travel(sql: &str) -> Result<String> {
        Ok(pipeline::Pipeline::new(None)
            .prepare_one(sql)?
            .statement()
            .to_string())
    }

    #[test]
    fn system_time_becomes_the_table_function() {
        let rewritten = rewrite_time_travel(
            "SELECT id, attrs->>'memory_size' FROM resources FOR SYSTEM_TIME AS OF TIMESTAMP '2026-01-02 00:00:00' WHERE kind = 'x'",
        )
        .unwrap();
        assert_eq!(
            rewritten,
            "SELECT id, attrs ->> 'memory_size' FROM resources_at(TIMESTAMP '2026-01-02 00:00:00') AS resources WHERE kind = 'x'"
        );
    }

    #[test]
    fn aliases_and_joins_are_kept() {
        let rewritten = rewrite_time_travel(
            "SELECT r.id FROM resources FOR SYSTEM_TIME AS OF now() - INTERVAL '1 day' AS r JOIN sources s ON s.source = r.source",
        )
        .unwrap();
        assert!(
            rewritten.contains("resources_at(now() - INTERVAL '1 day') AS r JOIN sources s"),
            "{rewritten}"
        );
    }

    #[test]
    fn other_tables_and_plain_queries() {
        assert_eq!(rewrite_time_travel("SELECT 1").unwrap(), "SELECT 1");
        let error =
            rewrite_time_travel("SELECT * FROM scrapes FOR SYSTEM_TIME AS OF now()").unwrap_err();
        assert!(error.to_string().contains("scrapes"), "{error}");
    }

    #[test]
    fn read_only_guard() {
        for allowed in [
            "SELECT 1",
            "SET search_path = public",
            "BEGIN",
            "COMMIT",
            "SHOW TIME ZONE",
            "EXPLAIN SELECT 1",
        ] {
            for statement in parse(allowed).unwrap() {
                ensure_read_only(&statement).unwrap_or_else(|error| panic!("{allowed}: {error}"));
            }
        }
        for (refused, kind) in [
            ("CREATE TABLE t (a int)", "CREATE TABLE"),
            ("INSERT INTO t VALUES (1)", "INSERT INTO"),
            ("DROP TABLE resources", "DROP TABLE"),
            ("COPY resources TO '/tmp/x'", "COPY"),
            ("DELETE FROM resources", "DELETE FROM"),
            ("SELECT * INTO t2 FROM resources", "SELECT"),
            (
                "WITH gone AS (DELETE FROM scrapes RETURNING *) SELECT * FROM gone",
                "WITH",
            ),
            ("SET datafusion.catalog.information_schema = false", "SET"),
        ] {
            let statement = parse(refused).unwrap().remove(0);
            let error = ensure_read_only(&statement).unwrap_err().to_string();
            assert!(error.starts_with(kind), "{refused}: {error}");
        }
    }
}
