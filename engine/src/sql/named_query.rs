//! `named_query('name', param => value, ...)` in a FROM clause: the engine expands it into the
//! named query's SQL as a derived table before planning, so the query library runs the same
//! way from psql, a driver or the CLI. The library itself lives outside the engine (the
//! `queries` crate) and is handed in through [`NamedQueries`].

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArgOperator, Ident, ObjectNamePart, Statement,
    TableAlias, TableFactor, Value, ValueWithSpan, VisitMut, VisitorMut,
};

use crate::error::{EngineError, Result};

/// The table function name that expands a named query.
pub const NAMED_QUERY_FUNCTION: &str = "named_query";

/// One entry of the query library, as `query_catalog` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedQueryEntry {
    /// The name used with `named_query('name', ...)` and `groundtruth query NAME`.
    pub name: String,
    /// What question it answers.
    pub description: String,
    /// Its parameters, one per line: `name type [= default] description`.
    pub parameters: String,
    /// A ready-to-run example.
    pub example: String,
    /// The SQL, with `:parameter` placeholders.
    pub sql: String,
}

/// A library of named queries.
pub trait NamedQueries: Send + Sync + std::fmt::Debug {
    /// Every query, for the `query_catalog` table.
    fn entries(&self) -> Vec<NamedQueryEntry>;

    /// The SQL of query `name` with each parameter replaced by the SQL expression given for
    /// it (already valid SQL: the expander passes the caller's expressions through), and
    /// defaults for the parameters not given. An error names the query and the parameter.
    fn expand(
        &self,
        name: &str,
        arguments: &[(String, String)],
    ) -> std::result::Result<String, String>;
}

/// Expand every `named_query(...)` table factor of `statements` in place.
pub fn expand(statements: &mut [Statement], library: &dyn NamedQueries) -> Result<()> {
    expand_nested(statements, library, 0)
}

fn expand_nested(
    statements: &mut [Statement],
    library: &dyn NamedQueries,
    depth: usize,
) -> Result<()> {
    let mut expander = Expander {
        library,
        error: None,
        depth,
    };
    for statement in statements.iter_mut() {
        let _ = statement.visit(&mut expander);
        if let Some(error) = expander.error.take() {
            return Err(error);
        }
    }
    Ok(())
}

struct Expander<'a> {
    library: &'a dyn NamedQueries,
    error: Option<EngineError>,
    depth: usize,
}

/// Named queries may call other named queries, but not without end.
const MAX_DEPTH: usize = 8;

impl Expander<'_> {
    fn expand_factor(&mut self, factor: &mut TableFactor) -> Result<()> {
        let TableFactor::Table {
            name, args, alias, ..
        } = factor
        else {
            return Ok(());
        };
        let is_named_query = name
            .0
            .last()
            .and_then(ObjectNamePart::as_ident)
            .is_some_and(|ident| ident.value.eq_ignore_ascii_case(NAMED_QUERY_FUNCTION));
        let Some(function_args) = args.as_ref().filter(|_| is_named_query) else {
            return Ok(());
        };
        let usage = "named_query('query name', parameter => value, ...)";
        let mut arguments = function_args.args.iter();
        let query_name = match arguments.next() {
            Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(ValueWithSpan {
                value: Value::SingleQuotedString(query_name),
                ..
            })))) => query_name.clone(),
            _ => {
                return Err(EngineError::Syntax(format!(
                    "the first argument of named_query must be the query's name as a string: \
                     {usage}"
                )))
            }
        };
        let mut named = Vec::new();
        for argument in arguments {
            // Depending on the dialect, `name => value` parses as a named argument or as an
            // expression-named one whose name is a bare identifier.
            let parameter = match argument {
                FunctionArg::Named {
                    name,
                    arg: FunctionArgExpr::Expr(value),
                    operator: FunctionArgOperator::RightArrow | FunctionArgOperator::Assignment,
                } => Some((name.value.to_ascii_lowercase(), value)),
                FunctionArg::ExprNamed {
                    name: Expr::Identifier(name),
                    arg: FunctionArgExpr::Expr(value),
                    operator: FunctionArgOperator::RightArrow | FunctionArgOperator::Assignment,
                } => Some((name.value.to_ascii_lowercase(), value)),
                _ => None,
            };
            match parameter {
                Some((name, value)) => named.push((name, value.to_string())),
                None => {
                    return Err(EngineError::Syntax(format!(
                        "named_query '{query_name}': parameters are passed by name, \
                         `parameter => value`, not `{argument}`: {usage}"
                    )))
                }
            }
        }
        let sql = self
            .library
            .expand(&query_name, &named)
            .map_err(EngineError::Syntax)?;
        let mut parsed = super::parse(&sql)?;
        if self.depth >= MAX_DEPTH {
            return Err(EngineError::Syntax(format!(
                "named_query '{query_name}': named queries nest deeper than {MAX_DEPTH}"
            )));
        }
        expand_nested(&mut parsed, self.library, self.depth + 1)?;
        let subquery = match parsed.pop() {
            Some(Statement::Query(query)) if parsed.is_empty() => query,
            _ => {
                return Err(EngineError::Corrupt(format!(
                    "named query '{query_name}' is not a single SELECT"
                )))
            }
        };
        let alias = alias.take().or_else(|| {
            Some(TableAlias {
                explicit: true,
                name: Ident::new(query_name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")),
                columns: vec![],
                at: None,
            })
        });
        *factor = TableFactor::Derived {
            lateral: false,
            subquery,
            alias,
            sample: None,
        };
        Ok(())
    }
}

impl VisitorMut for Expander<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<Self::Break> {
        match self.expand_factor(factor) {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => {
                self.error = Some(error);
                ControlFlow::Break(())
            }
        }
    }
}
