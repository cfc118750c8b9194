//! The one door every statement goes through before DataFusion plans it: the text is parsed
//! once (by a [`StatementFront`]), then an ordered list of typed [`StatementRule`]s rewrites the
//! parsed statements (named queries, time travel, and whatever the caller adds: the wire adds
//! its client-compatibility rules). The result is [`Prepared`], which only this module
//! constructs, so nothing downstream can plan a statement that skipped the rules, and nothing
//! needs to print a statement back to text to hand it on.

use std::fmt;
use std::sync::Arc;

use sqlparser::ast::{Statement, VisitMut};

use super::named_query::{self, NamedQueries};
use super::{parse, TimeTravelRewriter};
use crate::error::Result;

/// Turns query text into statements: the single parse of the pipeline.
pub trait StatementFront: Send + Sync + fmt::Debug {
    /// The statements of `sql`.
    fn parse(&self, sql: &str) -> Result<Vec<Statement>>;
}

/// A rewrite of one parsed statement.
pub trait StatementRule: Send + Sync + fmt::Debug {
    /// Rewrite `statement` in place; an error refuses the statement.
    fn apply(&self, statement: &mut Statement) -> Result<()>;
}

/// PostgreSQL syntax plus `FOR SYSTEM_TIME AS OF` (see [`super::TimeTravelDialect`]).
#[derive(Debug, Default)]
pub struct PostgresFront;

impl StatementFront for PostgresFront {
    fn parse(&self, sql: &str) -> Result<Vec<Statement>> {
        parse(sql)
    }
}

/// `named_query(...)` table factors expanded into their SQL (nested expansions included).
#[derive(Debug)]
pub struct ExpandNamedQueries(pub Arc<dyn NamedQueries>);

impl StatementRule for ExpandNamedQueries {
    fn apply(&self, statement: &mut Statement) -> Result<()> {
        named_query::expand(std::slice::from_mut(statement), self.0.as_ref())
    }
}

/// `resources FOR SYSTEM_TIME AS OF <expr>` becomes `resources_at(<expr>) AS resources`.
/// Runs after named-query expansion, so a named query may use the clause too.
#[derive(Debug, Default)]
pub struct TimeTravel;

impl StatementRule for TimeTravel {
    fn apply(&self, statement: &mut Statement) -> Result<()> {
        let mut rewriter = TimeTravelRewriter { error: None };
        let _ = statement.visit(&mut rewriter);
        rewriter.error.map_or(Ok(()), Err)
    }
}

/// A statement that went through a [`Pipeline`]: parsed once, every rule applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared(Statement);

impl Prepared {
    /// The statement, for inspection (hooks, guards, messages).
    pub fn statement(&self) -> &Statement {
        &self.0
    }

    /// The statement, to plan.
    pub fn into_statement(self) -> Statement {
        self.0
    }

    /// A part of this statement that is itself planned (the query of a `COPY ... TO STDOUT`):
    /// it went through the rules as part of the whole.
    pub fn part(&self, part: impl FnOnce(&Statement) -> Statement) -> Prepared {
        Prepared(part(&self.0))
    }
}

/// A front and its rules, in order.
#[derive(Debug, Clone)]
pub struct Pipeline {
    front: Arc<dyn StatementFront>,
    rules: Vec<Arc<dyn StatementRule>>,
}

impl Pipeline {
    /// The engine's pipeline: PostgreSQL syntax, named queries from `library` (when given),
    /// then time travel.
    pub fn new(library: Option<Arc<dyn NamedQueries>>) -> Self {
        let mut rules: Vec<Arc<dyn StatementRule>> = Vec::new();
        if let Some(library) = library {
            rules.push(Arc::new(ExpandNamedQueries(library)));
        }
        rules.push(Arc::new(TimeTravel));
        Self {
            front: Arc::new(PostgresFront),
            rules,
        }
    }

    /// The same rules behind another front (the wire's, which knows client dialects).
    pub fn with_front(mut self, front: Arc<dyn StatementFront>) -> Self {
        self.front = front;
        self
    }

    /// `rule` applied after the rules already there.
    pub fn with_rule(mut self, rule: Arc<dyn StatementRule>) -> Self {
        self.rules.push(rule);
        self
    }

    /// The statements of `sql`, parsed once and rewritten by every rule.
    pub fn prepare(&self, sql: &str) -> Result<Vec<Prepared>> {
        let statements = self.front.parse(sql)?;
        statements
            .into_iter()
            .map(|mut statement| {
                for rule in &self.rules {
                    rule.apply(&mut statement)?;
                }
                Ok(Prepared(statement))
            })
            .collect()
    }

    /// The one statement of `sql`; an error when there is none. (Tests read single
    /// statements; the doors take every statement of a query.)
    #[cfg(test)]
    pub(crate) fn prepare_one(&self, sql: &str) -> Result<Prepared> {
        let mut statements = self.prepare(sql)?;
        match statements.len() {
            1 => Ok(statements.remove(0)),
            0 => Err(crate::error::EngineError::Syntax("empty query".into())),
            n => Err(crate::error::EngineError::Syntax(format!(
                "expected one statement, found {n}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::sql::NamedQueryEntry;

    /// Counts the parses of the text it is given, to prove there is one per query.
    #[derive(Debug, Default)]
    struct CountingFront(AtomicUsize);

    impl StatementFront for CountingFront {
        fn parse(&self, sql: &str) -> Result<Vec<Statement>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            parse(sql)
        }
    }

    #[derive(Debug)]
    struct OneQuery;

    impl NamedQueries for OneQuery {
        fn entries(&self) -> Vec<NamedQueryEntry> {
            Vec::new()
        }

        fn expand(
            &self,
            name: &str,
            arguments: &[(String, String)],
        ) -> std::result::Result<String, String> {
            match (name, arguments) {
                ("at", [(parameter, value)]) if parameter == "at" => Ok(format!(
                    "SELECT id FROM resources FOR SYSTEM_TIME AS OF {value}"
                )),
                _ => Err(format!("no query {name}")),
            }
        }
    }

    #[test]
    fn a_query_is_parsed_once_and_every_rule_applies() {
        let front = Arc::new(CountingFront::default());
        let pipeline = Pipeline::new(Some(Arc::new(OneQuery))).with_front(front.clone());
        let prepared = pipeline
            .prepare(
                "SELECT * FROM named_query('at', at => TIMESTAMP '2026-01-01') q; \
                 SELECT id FROM resources FOR SYSTEM_TIME AS OF now() r",
            )
            .unwrap();
        assert_eq!(front.0.load(Ordering::SeqCst), 1);
        assert_eq!(prepared.len(), 2);
        let expanded = prepared[0].statement().to_string();
        assert!(
            expanded.contains("resources_at(TIMESTAMP '2026-01-01') AS resources"),
            "{expanded}"
        );
        assert!(!expanded.contains("named_query"), "{expanded}");
        let direct = prepared[1].statement().to_string();
        assert!(direct.contains("resources_at(now())"), "{direct}");
    }

    #[test]
    fn a_rule_error_refuses_the_statement() {
        let error = Pipeline::new(None)
            .prepare("SELECT * FROM scrapes FOR SYSTEM_TIME AS OF now()")
            .unwrap_err();
        assert!(error.to_string().contains("'resources' table"), "{error}");
        let error = Pipeline::new(None)
            .prepare_one("SELECT 1; SELECT 2")
            .unwrap_err();
        assert!(error.to_string().contains("one statement"), "{error}");
    }

    #[test]
    fn statements_without_rewrites_pass_unchanged() {
        let sql = "SELECT kind, count(*) FROM resources GROUP BY kind";
        let prepared = Pipeline::new(None).prepare_one(sql).unwrap();
        assert_eq!(prepared.statement().to_string(), sql);
    }
}
