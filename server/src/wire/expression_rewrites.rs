//! Expressions of client catalog queries that DataFusion plans differently from PostgreSQL (or
//! not at all), rewritten in the parsed statement before datafusion-postgres sees it. Where
//! `client_compatibility` replaces fixed fragments of known queries, these are general
//! expression forms, wherever they appear:
//!
//! - `x LIKE pattern ESCAPE 'c'` (SQLAlchemy escapes with `/`): DataFusion only takes the
//!   backslash, so a constant pattern is re-escaped with it.
//! - `'pg_class'::regclass` and the other system catalogs: PostgreSQL gives them fixed oids
//!   (1259, ...) and finds them through the implicit `pg_catalog` on the search path. The
//!   emulation looks the name up in the current schema only, where it is missing, so the cast
//!   is NULL and joins such as JDBC's `d.classoid = 'pg_class'::regclass` drop every
//!   description. They become the PostgreSQL oid (which `pg_description` uses).
//! - `generate_subscripts(array, 1)` (SQLAlchemy's constraint and index queries), which
//!   DataFusion lacks: `unnest(range(1, cardinality(array) + 1))`, which DataFusion zips with
//!   an `unnest` of the same array in the same select list, as PostgreSQL does.
//! - `information_schema._pg_expandarray(array)` (pgJDBC's `getPrimaryKeys` and
//!   `getIndexInfo`, Metabase's index sync): the set of `(x, n)` records of the elements and
//!   their positions, as `named_struct('x', unnest(array), 'n', <the positions above>)`; a
//!   field of it, `(...).x`, is the matching `unnest`, and a field of a record column,
//!   `(keys).x`, is `get_field(keys, 'x')` (DataFusion has no `(record).field` syntax).
//! - `to_regtype(name)` (psycopg's type lookup): the `name::regtype` cast, which the
//!   emulation resolves through `pg_type` (NULL when there is no such type, as `to_regtype`).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, AccessExpr, BinaryOperator, CastKind, DataType, Expr, Function,
    FunctionArg, FunctionArgExpr, FunctionArguments, ObjectNamePart, Statement, Value,
    ValueWithSpan,
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
/// then goes on untouched, formatting included).
pub fn rewrite(sql: &str) -> Option<String> {
    let lower = sql.to_ascii_lowercase();
    let triggers = [
        "escape",
        "regclass",
        "generate_subscripts",
        "_pg_expandarray",
        "to_regtype",
    ];
    if !triggers.iter().any(|word| lower.contains(word)) {
        return None;
    }
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()?;
    let mut changed = false;
    let _ = visit_expressions_mut(&mut statements, |expr| {
        if let Some(replacement) = rewrite_expression(expr) {
            *expr = replacement;
            changed = true;
        }
        ControlFlow::<()>::Continue(())
    });
    changed.then(|| {
        statements
            .iter()
            .map(Statement::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })
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
        _ => None,
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
        // Other relations are left to the emulation's lookup.
        assert_eq!(rewrite("SELECT 'drift'::regclass"), None);
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
    fn other_statements_are_untouched() {
        assert_eq!(rewrite("SELECT * FROM resources"), None);
        assert_eq!(rewrite("SELECT 'escape' FROM resources"), None);
    }
}
