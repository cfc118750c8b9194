//! Expressions of client catalog queries that DataFusion plans differently from PostgreSQL (or
//! not at all), rewritten in the parsed statement before datafusion-pg-catalog's rules see it
//! (see `statement_parser`). Where
//! `client_compatibility` replaces fixed fragments of known queries, these are general
//! expression forms, wherever they appear:
//!
//! - `x LIKE pattern ESCAPE 'c'` (SQLAlchemy escapes with `/`): DataFusion only takes the
//!   backslash, so a constant pattern is re-escaped with it.
//! - `'pg_class'::regclass` and the other system catalogs: PostgreSQL gives them fixed oids
//!   (1259, ...) and finds them through the implicit `pg_catalog` on the search path. The
//!   emulation looks the name up in the current schema only, where it is missing, so the cast
//!   is NULL and joins such as JDBC's `d.classoid = 'pg_class'::regclass` drop every
//!   description. They become the PostgreSQL oid (which `pg_description` uses). A computed
//!   name cast to `regclass` becomes `to_regclass(name)`.
//! - `generate_subscripts(array, 1)` (SQLAlchemy's constraint and index queries), which
//!   DataFusion lacks: `unnest(range(1, cardinality(array) + 1))`, which DataFusion zips with
//!   an `unnest` of the same array in the same select list, as PostgreSQL does.
//! - `information_schema._pg_expandarray(array)` (pgJDBC's `getPrimaryKeys` and
//!   `getIndexInfo`, Metabase's index sync): the set of `(x, n)` records of the elements and
//!   their positions, as `named_struct('x', unnest(array), 'n', <the positions above>)`; a
//!   field of it, `(...).x`, is the matching `unnest`, and a field of a record column,
//!   `(keys).x`, is `get_field(keys, 'x')` (DataFusion has no `(record).field` syntax).
//! - A correlated scalar subquery over the catalog that is not aggregated (SQLAlchemy's column
//!   reflection: a column's default, identity and collation): DataFusion only decorrelates
//!   aggregated ones, so its one value is taken with `first_value(...)` (PostgreSQL would
//!   fail on a second row; catalog lookups by key have at most one). When such a subquery is
//!   the result of `CASE WHEN c THEN (subquery)` and repeats `c` (which reads only the outer
//!   row) in its `WHERE`, as SQLAlchemy's does, the repetition is dropped: DataFusion cannot
//!   decorrelate a filter on outer columns alone, and the `CASE` already applies it.
//! - `to_regtype(name)` (psycopg's type lookup): the `name::regtype` cast, which the
//!   emulation resolves through `pg_type` (NULL when there is no such type, as `to_regtype`).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, AccessExpr, BinaryOperator, CastKind, DataType, Expr, Function,
    FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, ObjectNamePart, SelectItem,
    SetExpr, Statement, Value, ValueWithSpan,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// The fixed oids of PostgreSQL's system catalogs.
const CATALOG_OIDS: &[(&str, u32)] = &[
    ("pg_type", 1247),
    ("pg_attribute", 1249),
    ("pg_proc", 1255),
    ("pg_class", 1259),
    ("pg_authid", 1260),
    ("pg_database", 1262),
    ("pg_tablespace", 1213),
    ("pg_shdescription", 2396),
    ("pg_am", 2601),
    ("pg_attrdef", 2604),
    ("pg_constraint", 2606),
    ("pg_depend", 2608),
    ("pg_description", 2609),
    ("pg_index", 2610),
    ("pg_inherits", 2611),
    ("pg_namespace", 2615),
    ("pg_opclass", 2616),
    ("pg_operator", 2617),
    ("pg_rewrite", 2618),
    ("pg_trigger", 2620),
    ("pg_extension", 3079),
    ("pg_collation", 3456),
    ("pg_enum", 3501),
];

/// `sql` with the expressions above rewritten, or `None` when there were none (the statement
/// then goes on untouched, formatting included). For client catalog queries, which
/// datafusion-pg-catalog's parser reads as text after this.
pub fn rewrite(sql: &str) -> Option<String> {
    let lower = sql.to_ascii_lowercase();
    let triggers = [
        "escape",
        "regclass",
        "generate_subscripts",
        "_pg_expandarray",
        "to_regtype",
    ];
    let catalog_subquery = lower.contains("pg_catalog") && lower.matches("select").count() > 1;
    if !catalog_subquery && !triggers.iter().any(|word| lower.contains(word)) {
        return None;
    }
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()?;
    let mut changed = false;
    for statement in &mut statements {
        changed |= rewrite_statement(statement);
    }
    changed.then(|| {
        statements
            .iter()
            .map(Statement::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// Rewrite the expressions above in a parsed statement; whether any was.
pub fn rewrite_statement(statement: &mut Statement) -> bool {
    let mut changed = false;
    let _ = visit_expressions_mut(statement, |expr| {
        if let Some(replacement) = rewrite_expression(expr) {
            *expr = replacement;
            changed = true;
        }
        ControlFlow::<()>::Continue(())
    });
    changed
}

fn rewrite_expression(expr: &Expr) -> Option<Expr> {
    match expr {
        Expr::Like {
            negated,
            any,
            expr,
            pattern,
            escape_char: Some(escape),
        } => Some(Expr::Like {
            negated: *negated,
            any: *any,
            expr: expr.clone(),
            pattern: Box::new(backslash_pattern(pattern, escape)?),
            escape_char: None,
        }),
        Expr::ILike {
            negated,
            any,
            expr,
            pattern,
            escape_char: Some(escape),
        } => Some(Expr::ILike {
            negated: *negated,
            any: *any,
            expr: expr.clone(),
            pattern: Box::new(backslash_pattern(pattern, escape)?),
            escape_char: None,
        }),
        Expr::Cast {
            kind: CastKind::Cast | CastKind::DoubleColon,
            expr,
            data_type,
            ..
        } if is_regclass(data_type) => {
            // A computed name (Metabase's `format('%I.%I', schema, table)::regclass`): looked up
            // by `to_regclass`, which the emulation's literal-only rewrite cannot do.
            if matches!(
                expr.as_ref(),
                Expr::Function(_)
                    | Expr::BinaryOp {
                        op: BinaryOperator::StringConcat,
                        ..
                    }
            ) {
                return expression(&format!("pg_catalog.to_regclass({expr})"));
            }
            let name = string_literal(expr)?;
            let name = name.strip_prefix("pg_catalog.").unwrap_or(name);
            let (_, oid) = CATALOG_OIDS.iter().find(|(known, _)| *known == name)?;
            Some(Expr::value(Value::Number(oid.to_string(), false)))
        }
        Expr::Function(function) if is_named(function, "generate_subscripts") => {
            let [array, dimension] = arguments(function)?;
            if string_or_number(dimension)? != "1" {
                return None;
            }
            expression(&positions(array))
        }
        Expr::Function(function) if is_named(function, "_pg_expandarray") => {
            let [array] = arguments(function)?;
            expression(&format!(
                "named_struct('x', unnest({array}), 'n', {})",
                positions(array)
            ))
        }
        Expr::Function(function) if is_named(function, "to_regtype") => {
            let [name] = arguments(function)?;
            expression(&format!("CAST({name} AS regtype)"))
        }
        Expr::CompoundFieldAccess { root, access_chain } => {
            let [AccessExpr::Dot(Expr::Identifier(field))] = access_chain.as_slice() else {
                return None;
            };
            let Expr::Nested(record) = root.as_ref() else {
                return None;
            };
            if let Expr::Function(function) = record.as_ref() {
                if is_named(function, "named_struct") {
                    let fields = plain_arguments(function)?;
                    return fields.chunks(2).find_map(|pair| match pair {
                        [name, value] if string_literal(name) == Some(field.value.as_str()) => {
                            Some((*value).clone())
                        }
                        _ => None,
                    });
                }
            }
            expression(&format!("get_field({record}, '{}')", field.value))
        }
        Expr::Case {
            operand: None,
            conditions,
            ..
        } if conditions
            .iter()
            .any(|when| matches!(when.result, Expr::Subquery(_))) =>
        {
            let mut case = expr.clone();
            let Expr::Case { conditions, .. } = &mut case else {
                return None;
            };
            let mut changed = false;
            for when in conditions.iter_mut() {
                let Expr::Subquery(query) = &mut when.result else {
                    continue;
                };
                let SetExpr::Select(select) = query.body.as_mut() else {
                    continue;
                };
                let Some(filter) = select.selection.take() else {
                    continue;
                };
                let guard = unparenthesized(&when.condition).to_string();
                let mut conjuncts = Vec::new();
                split_conjuncts(filter, &mut conjuncts);
                let before = conjuncts.len();
                conjuncts.retain(|conjunct| unparenthesized(conjunct).to_string() != guard);
                changed |= conjuncts.len() != before;
                select.selection = conjuncts.into_iter().reduce(|left, right| Expr::BinaryOp {
                    left: Box::new(left),
                    op: BinaryOperator::And,
                    right: Box::new(right),
                });
            }
            changed.then_some(case)
        }
        Expr::Subquery(query) => {
            let mut query = query.clone();
            let SetExpr::Select(select) = query.body.as_mut() else {
                return None;
            };
            let ungrouped =
                matches!(&select.group_by, GroupByExpr::Expressions(keys, _) if keys.is_empty());
            let over_catalog = select.from.iter().any(|from| {
                from.to_string()
                    .to_ascii_lowercase()
                    .contains("pg_catalog.")
            });
            if !ungrouped
                || !over_catalog
                || select.selection.is_none()
                || select.distinct.is_some()
                || select.having.is_some()
                || query.limit_clause.is_some()
            {
                return None;
            }
            let [item] = select.projection.as_mut_slice() else {
                return None;
            };
            let value = match item {
                SelectItem::UnnamedExpr(value) | SelectItem::ExprWithAlias { expr: value, .. } => {
                    value
                }
                _ => return None,
            };
            if is_aggregate(value) {
                return None;
            }
            *value = expression(&format!("first_value({value})"))?;
            Some(Expr::Subquery(query))
        }
        _ => None,
    }
}

fn unparenthesized(expr: &Expr) -> &Expr {
    match expr {
        Expr::Nested(inner) => unparenthesized(inner),
        _ => expr,
    }
}

/// The operands of a chain of `AND`s.
fn split_conjuncts(expr: Expr, conjuncts: &mut Vec<Expr>) {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            split_conjuncts(*left, conjuncts);
            split_conjuncts(*right, conjuncts);
        }
        Expr::Nested(inner)
            if matches!(
                inner.as_ref(),
                Expr::BinaryOp {
                    op: BinaryOperator::And,
                    ..
                }
            ) =>
        {
            split_conjuncts(*inner, conjuncts);
        }
        other => conjuncts.push(other),
    }
}

/// Whether `expr` is already one value per group (an aggregate call).
fn is_aggregate(expr: &Expr) -> bool {
    const AGGREGATES: &[&str] = &[
        "count",
        "sum",
        "min",
        "max",
        "avg",
        "array_agg",
        "string_agg",
        "bool_and",
        "bool_or",
        "first_value",
        "last_value",
        "every",
    ];
    match expr {
        Expr::Function(function) => AGGREGATES.iter().any(|name| is_named(function, name)),
        Expr::Nested(inner) => is_aggregate(inner),
        _ => false,
    }
}

/// The 1-based positions of `array`'s elements, one row each.
fn positions(array: &Expr) -> String {
    format!("unnest(range(1, CAST(cardinality({array}) AS BIGINT) + 1))")
}

fn expression(sql: &str) -> Option<Expr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(sql)
        .ok()?
        .parse_expr()
        .ok()
}

fn is_regclass(data_type: &DataType) -> bool {
    match data_type {
        DataType::Regclass => true,
        DataType::Custom(name, modifiers) if modifiers.is_empty() => {
            let name = name.to_string().to_ascii_lowercase();
            name == "regclass" || name == "pg_catalog.regclass"
        }
        _ => false,
    }
}

fn is_named(function: &Function, name: &str) -> bool {
    function.name.0.last().is_some_and(|part| match part {
        ObjectNamePart::Identifier(ident) => ident.value.eq_ignore_ascii_case(name),
        _ => false,
    })
}

fn plain_arguments(function: &Function) -> Option<Vec<&Expr>> {
    let FunctionArguments::List(list) = &function.args else {
        return None;
    };
    list.args
        .iter()
        .map(|argument| match argument {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => Some(expr),
            _ => None,
        })
        .collect()
}

/// Exactly `N` plain arguments.
fn arguments<const N: usize>(function: &Function) -> Option<[&Expr; N]> {
    plain_arguments(function)?.try_into().ok()
}

fn string_literal(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(text) | Value::EscapedStringLiteral(text),
            ..
        }) => Some(text),
        _ => None,
    }
}

fn string_or_number(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Value(ValueWithSpan {
            value: Value::Number(number, _),
            ..
        }) => Some(number),
        _ => string_literal(expr),
    }
}

/// A constant pattern (a literal, or literals joined with `||`) as one literal.
fn constant_text(expr: &Expr) -> Option<String> {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::StringConcat,
            right,
        } => Some(constant_text(left)? + &constant_text(right)?),
        Expr::Nested(inner) => constant_text(inner),
        _ => string_literal(expr).map(str::to_string),
    }
}

/// `pattern` (escaped with `escape`) as a pattern escaped with the backslash, if it is
/// constant; the backslash itself needs no rewrite.
fn backslash_pattern(pattern: &Expr, escape: &ValueWithSpan) -> Option<Expr> {
    let escape = match &escape.value {
        Value::SingleQuotedString(text) | Value::EscapedStringLiteral(text) => text,
        _ => return None,
    };
    let mut escape_chars = escape.chars();
    let escape = escape_chars.next()?;
    if escape_chars.next().is_some() || escape == '\\' {
        return None;
    }
    let text = constant_text(pattern)?;
    let mut rewritten = String::with_capacity(text.len() + 4);
    let mut characters = text.chars();
    while let Some(character) = characters.next() {
        let literal = if character == escape {
            match characters.next() {
                Some(wildcard @ ('%' | '_')) => {
                    rewritten.push('\\');
                    rewritten.push(wildcard);
                    continue;
                }
                Some(other) => other,
                // A trailing escape character is an error in PostgreSQL; keep it literal.
                None => escape,
            }
        } else {
            character
        };
        if literal == '\\' {
            rewritten.push('\\');
        }
        rewritten.push(literal);
    }
    Some(Expr::value(Value::SingleQuotedString(rewritten)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_escape_becomes_backslash_escapes() {
        let rewritten = rewrite(
            "SELECT nspname FROM pg_catalog.pg_namespace WHERE (nspname NOT LIKE 'pg/_' || '%' ESCAPE '/')",
        )
        .expect("rewritten");
        assert!(rewritten.contains(r"NOT LIKE 'pg\_%'"), "{rewritten}");
        assert!(!rewritten.contains("ESCAPE"), "{rewritten}");
        let rewritten =
            rewrite(r"SELECT 1 WHERE x ILIKE 'a//b\c/%' ESCAPE '/'").expect("rewritten");
        assert!(rewritten.contains(r"ILIKE 'a/b\\c\%'"), "{rewritten}");
        // A backslash escape is DataFusion's own; a pattern that is not constant stays.
        assert_eq!(rewrite(r"SELECT 1 WHERE x LIKE 'a\_' ESCAPE '\'"), None);
        assert_eq!(rewrite("SELECT 1 WHERE x LIKE y ESCAPE '/'"), None);
    }

    #[test]
    fn system_catalog_regclass_becomes_its_oid() {
        let rewritten = rewrite(
            "SELECT d.description FROM pg_catalog.pg_description d WHERE d.classoid = 'pg_class'::regclass AND d.objsubid = 0",
        )
        .expect("rewritten");
        assert!(rewritten.contains("d.classoid = 1259"), "{rewritten}");
        let rewritten =
            rewrite("SELECT CAST('pg_catalog.pg_constraint' AS REGCLASS)").expect("rewritten");
        assert_eq!(rewritten, "SELECT 2606");
        let rewritten = rewrite("SELECT 'pg_proc'::pg_catalog.regclass").expect("rewritten");
        assert_eq!(rewritten, "SELECT 1255");
        // Other relations are left to the emulation's lookup, computed names to to_regclass.
        assert_eq!(rewrite("SELECT 'drift'::regclass"), None);
        assert_eq!(
            rewrite("SELECT CAST(CAST(FORMAT('%I.%I', s, t) AS REGCLASS) AS OID) FROM x")
                .as_deref(),
            Some("SELECT CAST(pg_catalog.to_regclass(FORMAT('%I.%I', s, t)) AS OID) FROM x")
        );
    }

    #[test]
    fn generate_subscripts_becomes_a_range() {
        let rewritten = rewrite(
            "SELECT unnest(i.indkey) AS attnum, generate_subscripts(i.indkey, 1) AS ord FROM pg_catalog.pg_index i",
        )
        .expect("rewritten");
        assert!(
            rewritten
                .contains("unnest(range(1, CAST(cardinality(i.indkey) AS BIGINT) + 1)) AS ord"),
            "{rewritten}"
        );
    }

    #[test]
    fn pg_expandarray_becomes_zipped_unnests() {
        let rewritten = rewrite(
            "SELECT (information_schema._pg_expandarray(i.indkey)).n AS key_seq, information_schema._pg_expandarray(i.indkey) AS keys FROM pg_catalog.pg_index i",
        )
        .expect("rewritten");
        assert!(
            rewritten.contains("SELECT unnest(range(1, CAST(cardinality(i.indkey) AS BIGINT) + 1)) AS key_seq, named_struct('x', unnest(i.indkey), 'n', unnest(range("),
            "{rewritten}"
        );
        let rewritten = rewrite(
            "SELECT * FROM (SELECT information_schema._pg_expandarray(i.indkey) AS keys, 1 AS a FROM pg_catalog.pg_index i) result WHERE result.a = (result.KEYS).x",
        )
        .expect("rewritten");
        assert!(
            rewritten.contains("WHERE result.a = get_field(result.KEYS, 'x')"),
            "{rewritten}"
        );
    }

    #[test]
    fn to_regtype_becomes_a_regtype_cast() {
        assert_eq!(
            rewrite("SELECT oid FROM pg_type t WHERE t.oid = to_regtype($1)").as_deref(),
            Some("SELECT oid FROM pg_type t WHERE t.oid = CAST($1 AS regtype)")
        );
    }

    #[test]
    fn correlated_catalog_subqueries_are_aggregated() {
        let rewritten = rewrite(
            "SELECT a.attname, (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS e FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid) AS x, (SELECT count(*) FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid) AS y FROM pg_catalog.pg_attribute a",
        )
        .expect("rewritten");
        assert!(
            rewritten.contains(
                "(SELECT first_value(pg_catalog.pg_get_expr(d.adbin, d.adrelid)) AS e FROM"
            ),
            "{rewritten}"
        );
        assert!(rewritten.contains("(SELECT count(*) FROM"), "{rewritten}");
        let rewritten = rewrite(
            "SELECT CASE WHEN a.atthasdef THEN (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef d WHERE a.atthasdef AND d.adrelid = a.attrelid AND d.adnum = a.attnum) ELSE NULL END FROM pg_catalog.pg_attribute a",
        )
        .expect("rewritten");
        assert!(
            rewritten.contains("WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum)"),
            "{rewritten}"
        );
        // Subqueries over Groundtruth's own tables are left alone.
        assert_eq!(
            rewrite("SELECT (SELECT kind FROM resources r WHERE r.id = d.id) FROM pg_catalog.pg_class d"),
            None
        );
    }

    #[test]
    fn other_statements_are_untouched() {
        assert_eq!(rewrite("SELECT * FROM resources"), None);
        assert_eq!(rewrite("SELECT 'escape' FROM resources"), None);
    }
}
