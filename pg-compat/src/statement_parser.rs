//! The wire's front of the statement pipeline (`groundtruth_engine::sql::pipeline`): the parse
//! of a query's text, with the client-compatibility rewrites that must see the text.
//!
//! Client tools' exact query texts come first (`client_compatibility`, a token-level pass:
//! the last resort, each pattern naming its client). Then the text is parsed once:
//!
//! - The text is parsed with the engine's dialect (PostgreSQL plus `FOR SYSTEM_TIME AS OF`).
//!   A statement over Groundtruth's tables then gets `expression_rewrites` and
//!   datafusion-pg-catalog's rules except `RemoveSubqueryFromProjection`: one parse.
//! - A statement that reads the PostgreSQL catalog (`pg_catalog`, `information_schema`,
//!   unqualified `pg_*` relations) is a client tool's catalog query. It goes, as text, through
//!   `expression_rewrites` and datafusion-pg-catalog's whole `PostgresCompatibilityParser`,
//!   whose blacklist swaps known client queries at the token level (so it must see the text)
//!   and whose rules then fix the parsed statement. Only these are parsed a second time.
//! - Why `RemoveSubqueryFromProjection` is kept to catalog statements: it replaces every select-list subquery it judges
//!   correlated with `NULL` (client tools' catalog queries use correlated subqueries DataFusion
//!   cannot decorrelate); its judgement only knows plain table aliases of the subquery's own
//!   `FROM`, so a derived table, a table function or a nested `EXISTS` made it fire on
//!   uncorrelated subqueries too: a `count(*)` over `changes(...)` answered `NULL` over the
//!   wire while the CLI answered 9. A wrong answer is worse than an error, so that rule runs
//!   only on the catalog statements it was written for.
//! - Text the engine's parser refuses (`ABORT`, which the compatibility parser rewrites at the
//!   token level) gets the compatibility parser too; when both refuse it, the engine's error
//!   is the one reported.

use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{visit_relations, ObjectName, Statement};
use datafusion_postgres::datafusion_pg_catalog::sql::rules::{
    AliasDuplicatedProjectionRewrite, CurrentUserVariableToSessionUserFunctionCall,
    FixArrayLiteral, FixVersionColumnName, PrependUnqualifiedPgTableName,
    ResolveUnqualifiedIdentifier, RewriteArrayAnyAllOperation, RewritePgCatalogOperator,
    RewriteRegCastToSubquery, SqlStatementRewriteRule, StripCallableQualifier, StripCollate,
};
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use groundtruth_engine::error::{EngineError, Result};
use groundtruth_engine::sql::pipeline::StatementFront;

use crate::{client_compatibility, expression_rewrites};

/// Parses query text into statements with the client-compatibility rules applied.
pub struct WireFront {
    catalog: PostgresCompatibilityParser,
    rules: Vec<Arc<dyn SqlStatementRewriteRule>>,
}

impl fmt::Debug for WireFront {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WireFront")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl Default for WireFront {
    fn default() -> Self {
        Self::new()
    }
}

impl WireFront {
    /// The compatibility parser and its rules, in its order, without `RemoveSubqueryFromProjection`.
    pub fn new() -> Self {
        Self {
            catalog: PostgresCompatibilityParser::new(),
            rules: vec![
                Arc::new(AliasDuplicatedProjectionRewrite),
                Arc::new(ResolveUnqualifiedIdentifier),
                Arc::new(RewriteArrayAnyAllOperation),
                Arc::new(PrependUnqualifiedPgTableName),
                Arc::new(StripCallableQualifier),
                Arc::new(FixArrayLiteral),
                Arc::new(CurrentUserVariableToSessionUserFunctionCall),
                Arc::new(StripCollate),
                Arc::new(RewritePgCatalogOperator),
                Arc::new(RewriteRegCastToSubquery::new()),
                Arc::new(FixVersionColumnName),
            ],
        }
    }
}

impl StatementFront for WireFront {
    fn parse(&self, sql: &str) -> Result<Vec<Statement>> {
        let compatible = client_compatibility::rewrite(sql);
        let sql = compatible.as_deref().unwrap_or(sql);
        let statements = match groundtruth_engine::sql::parse(sql) {
            Ok(statements) => statements,
            Err(error) => return self.catalog.parse(sql).map_err(|_| error),
        };
        if statements.iter().any(reads_catalog) {
            // A client tool's catalog query: datafusion-pg-catalog's blacklist matches its
            // tokens, so it reads the text (after the expression rewrites) a second time.
            let expressions = expression_rewrites::rewrite(sql);
            return self
                .catalog
                .parse(expressions.as_deref().unwrap_or(sql))
                .map_err(|error| EngineError::Syntax(error.to_string()));
        }
        Ok(statements
            .into_iter()
            .map(|mut statement| {
                expression_rewrites::rewrite_statement(&mut statement);
                self.rules
                    .iter()
                    .fold(statement, |statement, rule| rule.rewrite(statement))
            })
            .collect())
    }
}

/// Whether `statement` reads a relation of the PostgreSQL catalog.
fn reads_catalog(statement: &Statement) -> bool {
    visit_relations(statement, |name: &ObjectName| {
        if is_catalog_relation(name) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .is_break()
}

fn is_catalog_relation(name: &ObjectName) -> bool {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|part| part.as_ident())
        .map(|ident| ident.value.to_ascii_lowercase())
        .collect();
    match parts.as_slice() {
        [single] => single.starts_with("pg_"),
        [.., schema, _] => schema == "pg_catalog" || schema == "information_schema",
        [] => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn one(sql: &str) -> String {
        let statements = WireFront::new().parse(sql).unwrap();
        assert_eq!(statements.len(), 1, "{sql}");
        statements[0].to_string()
    }

    #[test]
    fn subqueries_over_groundtruth_tables_are_kept() {
        let sql = "SELECT (SELECT count(*) FROM changes(now() - INTERVAL '1 hour', now()) AS l \
                   WHERE NOT EXISTS (SELECT 1 FROM resources AS d WHERE d.id = l.id)) AS n, 1";
        let parsed = one(sql);
        assert!(parsed.contains("count(*)"), "{parsed}");
        assert!(!parsed.contains("NULL"), "{parsed}");
        let derived = one("SELECT (SELECT count(*) FROM (VALUES (1), (3)) AS l(id) \
             WHERE NOT EXISTS (SELECT 1 FROM (VALUES (2)) AS d(id) WHERE d.id = l.id))");
        assert!(derived.contains("count(*)"), "{derived}");
    }

    #[test]
    fn catalog_queries_keep_the_client_compatibility_rewrites() {
        // The correlated catalog subquery of client tools still becomes NULL there.
        let parsed = one(
            "SELECT c.relname, (SELECT d.description FROM pg_catalog.pg_description d \
             WHERE d.objoid = c.oid) FROM pg_catalog.pg_class c",
        );
        assert!(parsed.contains("NULL"), "{parsed}");
        // Unqualified catalog relations count as catalog reads.
        assert!(reads_catalog(
            &Parser::parse_sql(&PostgreSqlDialect {}, "SELECT * FROM pg_class").unwrap()[0]
        ));
        assert!(!reads_catalog(
            &Parser::parse_sql(&PostgreSqlDialect {}, "SELECT * FROM resources").unwrap()[0]
        ));
    }

    #[test]
    fn a_mention_of_the_catalog_is_not_a_catalog_read() {
        let parsed = one(
            "SELECT (SELECT count(*) FROM (VALUES ('pg_class')) l(name) \
             WHERE NOT EXISTS (SELECT 1 FROM resources d WHERE d.id = l.name)) AS n",
        );
        assert!(parsed.contains("count(*)"), "{parsed}");
        let travelled =
            one("SELECT id FROM resources FOR SYSTEM_TIME AS OF now() WHERE id LIKE 'pg_%'");
        assert!(
            travelled.contains("SYSTEM_TIME"),
            "the engine's rule rewrites it later: {travelled}"
        );
    }

    #[test]
    fn text_only_the_compatibility_parser_reads_still_parses() {
        assert_eq!(one("ABORT"), "ROLLBACK");
        assert_eq!(one("SELECT version()"), "SELECT version() AS version");
    }

    #[test]
    fn bad_sql_is_a_parse_error() {
        let error = WireFront::new().parse("SELEC 1").unwrap_err();
        assert!(matches!(error, EngineError::Syntax(_)), "{error}");
    }
}
