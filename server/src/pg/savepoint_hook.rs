//! `SAVEPOINT`, `RELEASE SAVEPOINT` and `ROLLBACK TO SAVEPOINT` answered as no-ops.
//!
//! They are transaction control, not writes: SQLAlchemy's psycopg 3 dialect (and psycopg's
//! own nested `transaction()` blocks) wrap work in savepoints. Groundtruth's transactions
//! are nominal (datafusion-postgres answers BEGIN/COMMIT/ROLLBACK without doing anything) and
//! nothing can be written, so there is nothing to undo either. This hook runs before the
//! read-only guard, which would otherwise refuse them, and before datafusion-postgres's
//! transaction hook, which would end the transaction on `ROLLBACK TO`.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::common::{DFSchema, ParamValues};
use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::hooks::{HookClient, QueryHook};
use datafusion_postgres::pgwire::api::results::{Response, Tag};
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::error::PgWireResult;

/// The command tag a savepoint statement completes with, or `None` for other statements.
fn tag(statement: &Statement) -> Option<&'static str> {
    match statement {
        Statement::Savepoint { .. } => Some("SAVEPOINT"),
        Statement::ReleaseSavepoint { .. } => Some("RELEASE"),
        Statement::Rollback {
            savepoint: Some(_), ..
        } => Some("ROLLBACK"),
        _ => None,
    }
}

/// Answers savepoint statements with their command tags.
#[derive(Debug, Default)]
pub struct SavepointHook;

#[async_trait]
impl QueryHook for SavepointHook {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _session_context: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        tag(statement).map(|tag| Ok(Response::Execution(Tag::new(tag))))
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _session_context: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        tag(statement)?;
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
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        tag(statement).map(|tag| Ok(Response::Execution(Tag::new(tag))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn tag_of(sql: &str) -> Option<&'static str> {
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .expect("parsed")
            .remove(0);
        tag(&statement)
    }

    #[test]
    fn savepoints_are_no_ops_and_nothing_else_is() {
        assert_eq!(tag_of("SAVEPOINT _pg3_1"), Some("SAVEPOINT"));
        assert_eq!(tag_of("RELEASE SAVEPOINT _pg3_1"), Some("RELEASE"));
        assert_eq!(tag_of("RELEASE _pg3_1"), Some("RELEASE"));
        assert_eq!(tag_of("ROLLBACK TO SAVEPOINT _pg3_1"), Some("ROLLBACK"));
        assert_eq!(tag_of("ROLLBACK"), None);
        assert_eq!(tag_of("COMMIT"), None);
        assert_eq!(tag_of("SELECT 1"), None);
    }
}
