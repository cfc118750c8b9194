//! Turns a query's text into the statements the server plans, parsed once.
//!
//! datafusion-pg-catalog's `PostgresCompatibilityParser` bundles two things: a blacklist that
//! swaps known client catalog queries for ones DataFusion can plan, and a list of rules over the
//! parsed statement. One of those rules, `RemoveSubqueryFromProjection`, replaces every
//! projection subquery it judges correlated with `NULL` (client tools' catalog queries use
//! correlated subqueries DataFusion cannot decorrelate). Its judgement only knows plain table
//! aliases of the subquery's own `FROM`, so a derived table, a table function or a nested
//! `EXISTS` makes it fire on uncorrelated subqueries too: a `count(*)` over `changes(...)`
//! answered `NULL` over the wire while the CLI answered 9. A wrong answer is worse than an
//! error, so that rule runs only where it was meant for: statements that read the PostgreSQL
//! catalog (`pg_catalog`, `information_schema`, unqualified `pg_*` relations) go through the
//! whole compatibility parser; every other statement is parsed once with the PostgreSQL
//! dialect and gets the remaining rules. Text that sqlparser cannot parse (`ABORT`, which the
//! compatibility parser rewrites at the token level) also takes the compatibility path.

use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{visit_relations, ObjectName, Statement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion_postgres::datafusion_pg_catalog::sql::rules::{
    AliasDuplicatedProjectionRewrite, CurrentUserVariableToSessionUserFunctionCall,
    FixArrayLiteral, FixVersionColumnName, PrependUnqualifiedPgTableName,
    ResolveUnqualifiedIdentifier, RewriteArrayAnyAllOperation, RewritePgCatalogOperator,
    RewriteRegCastToSubquery, SqlStatementRewriteRule, StripCallableQualifier, StripCollate,
};
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;

/// Parses query text into statements with the client-compatibility rules applied.
pub struct StatementParser {
    catalog: PostgresCompatibilityParser,
    rules: Vec<Arc<dyn SqlStatementRewriteRule>>,
}

impl fmt::Debug for StatementParser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatementParser")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl Default for StatementParser {
    fn default() -> Self {
        Self::new()
    }
}

impl StatementParser {
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

    /// The statements of `sql`, ready to plan.
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>, ParserError> {
        let statements = match Parser::parse_sql(&PostgreSqlDialect {}, sql) {
            Ok(statements) => statements,
            Err(_) => return self.catalog.parse(sql),
        };
        if statements.iter().any(reads_catalog) {
            return self.catalog.parse(sql);
        }
        Ok(statements
            .into_iter()
            .map(|statement| {
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

    fn one(sql: &str) -> String {
        let statements = StatementParser::new().parse(sql).unwrap();
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
    fn text_only_the_compatibility_parser_reads_still_parses() {
        assert_eq!(one("ABORT"), "ROLLBACK");
        assert_eq!(one("SELECT version()"), "SELECT version() AS version");
    }

    #[test]
    fn bad_sql_is_a_parse_error() {
        assert!(StatementParser::new().parse("SELEC 1").is_err());
    }
}
