//! When two differently spelled values mean the same thing, per kind and attribute path.

use serde_json::Value;

use crate::kinds::{k8s, postgres};

/// Whether `declared` and `live` are the same setting for a resource of `kind` at `path`
/// (path segments as in [`super::AttributeDrift::path`]).
pub fn equivalent(kind: &str, path: &[String], declared: &Value, live: &Value) -> bool {
    if declared == live {
        return true;
    }
    if let (Some(declared_json), Some(live_json)) = (as_document(declared), as_document(live)) {
        if declared.is_string() || live.is_string() {
            return canonical_document(&declared_json) == canonical_document(&live_json);
        }
    }
    match (declared, live) {
        // Column lists of keys and indexes are ordered; elsewhere scalar lists are sets.
        (Value::Array(declared_items), Value::Array(live_items))
            if kind.starts_with(postgres::PREFIX) =>
        {
            declared_items.len() == live_items.len()
                && declared_items
                    .iter()
                    .zip(live_items)
                    .all(|(left, right)| equivalent(kind, path, left, right))
        }
        (Value::Array(declared_items), Value::Array(live_items)) => {
            same_multiset(kind, path, declared_items, live_items)
        }
        (Value::Object(_), _)
        | (_, Value::Object(_))
        | (Value::Array(_), _)
        | (_, Value::Array(_)) => false,
        _ => scalars_equivalent(kind, path, declared, live),
    }
}

fn same_multiset(kind: &str, path: &[String], declared: &[Value], live: &[Value]) -> bool {
    if declared.len() != live.len() {
        return false;
    }
    let mut unmatched: Vec<&Value> = live.iter().collect();
    for item in declared {
        match unmatched
            .iter()
            .position(|candidate| equivalent(kind, path, item, candidate))
        {
            Some(found) => {
                unmatched.swap_remove(found);
            }
            None => return false,
        }
    }
    true
}

fn scalars_equivalent(kind: &str, path: &[String], declared: &Value, live: &Value) -> bool {
    let (Some(declared_text), Some(live_text)) = (scalar_text(declared), scalar_text(live)) else {
        return false;
    };
    if declared_text == live_text {
        return true;
    }
    if let (Ok(left), Ok(right)) = (declared_text.parse::<f64>(), live_text.parse::<f64>()) {
        return close(left, right);
    }
    let attribute = path.last().map(String::as_str).unwrap_or("");
    if kind.starts_with(k8s::PREFIX) {
        if let (Some(left), Some(right)) = (quantity(&declared_text), quantity(&live_text)) {
            return close(left, right);
        }
    }
    if kind.starts_with(postgres::PREFIX) {
        if matches!(attribute, "type" | "data_type" | "attribute_types") {
            return postgres_type(&declared_text) == postgres_type(&live_text);
        }
        // pg_get_viewdef drops the parentheses a dump writes around joins and conditions,
        // and lays the query out its own way; the words and their order still must match.
        if kind == postgres::VIEW && attribute == "definition" {
            return sql_equivalent(&declared_text, &live_text)
                || view_words(&declared_text) == view_words(&live_text);
        }
        // Expressions, and index key lists (`columns`), whose elements may be expressions
        // such as `lower(email)`.
        if matches!(
            attribute,
            "definition" | "predicate" | "check" | "default" | "expression" | "columns"
        ) {
            return sql_equivalent(&declared_text, &live_text);
        }
    }
    names_the_same(&declared_text, &live_text)
}

/// Text of a string, number or boolean.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn close(left: f64, right: f64) -> bool {
    (left - right).abs() <= 1e-9 * left.abs().max(right.abs()).max(1.0)
}

/// A name against an ARN ending in it (`orders` and `arn:aws:sqs:...:orders`,
/// `worker` and `arn:aws:iam::1:role/worker`).
fn names_the_same(left: &str, right: &str) -> bool {
    let (arn, name) = match (left.starts_with("arn:"), right.starts_with("arn:")) {
        (true, false) => (left, right),
        (false, true) => (right, left),
        _ => return false,
    };
    !name.is_empty()
        && arn.len() > name.len()
        && arn.ends_with(name)
        && matches!(arn.as_bytes()[arn.len() - name.len() - 1], b':' | b'/')
}

/// A JSON object or array, given either as one or as a string holding one.
fn as_document(value: &Value) -> Option<Value> {
    match value {
        Value::Object(_) | Value::Array(_) => Some(value.clone()),
        Value::String(text) => {
            let trimmed = text.trim_start();
            if trimmed.starts_with('{') || trimmed.starts_with('[') {
                serde_json::from_str(text).ok()
            } else {
                // Policy documents are sometimes URL-encoded by the API (IAM trust policies).
                None
            }
        }
        _ => None,
    }
}

/// A document with IAM policy spellings made uniform: a single statement becomes a list of
/// one, single-valued `Action`/`Resource`/`Principal` entries become lists, lists sorted.
fn canonical_document(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut normalized = serde_json::Map::new();
            for (key, item) in map {
                let item = canonical_document(item);
                let item = match (key.as_str(), item) {
                    ("Statement", object @ Value::Object(_)) => Value::Array(vec![object]),
                    (
                        "Action" | "NotAction" | "Resource" | "NotResource" | "AWS" | "Service"
                        | "Federated",
                        Value::String(text),
                    ) => Value::Array(vec![Value::String(text)]),
                    (_, other) => other,
                };
                let item = match item {
                    Value::Array(mut items) if key != "Statement" => {
                        items.sort_by_key(|item| item.to_string());
                        Value::Array(items)
                    }
                    other => other,
                };
                normalized.insert(key.clone(), item);
            }
            crate::canonical::canonicalize(&Value::Object(normalized))
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical_document).collect()),
        other => other.clone(),
    }
}

/// A Kubernetes quantity (`500m`, `0.5`, `1Gi`, `1024Mi`, `1e3`) as a number.
pub fn quantity(text: &str) -> Option<f64> {
    const SUFFIXES: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("Pi", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("Ei", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let text = text.trim();
    for (suffix, factor) in SUFFIXES {
        if let Some(number) = text.strip_suffix(suffix) {
            return number.parse::<f64>().ok().map(|number| number * factor);
        }
    }
    text.parse::<f64>().ok()
}

/// A PostgreSQL type name in `format_type` spelling, so aliases compare equal.
pub fn postgres_type(text: &str) -> String {
    let collapsed = without_public_schema(&sql_text(text));
    const ALIASES: &[(&str, &str)] = &[
        ("int", "integer"),
        ("int4", "integer"),
        ("int2", "smallint"),
        ("int8", "bigint"),
        ("serial", "integer"),
        ("serial4", "integer"),
        ("bigserial", "bigint"),
        ("serial8", "bigint"),
        ("smallserial", "smallint"),
        ("serial2", "smallint"),
        ("float4", "real"),
        ("float8", "double precision"),
        ("float", "double precision"),
        ("bool", "boolean"),
        ("varchar", "character varying"),
        ("char", "character"),
        ("bpchar", "character"),
        ("decimal", "numeric"),
        ("timestamptz", "timestamp with time zone"),
        ("timestamp", "timestamp without time zone"),
        ("timetz", "time with time zone"),
        ("time", "time without time zone"),
        ("varbit", "bit varying"),
    ];
    // Keep a length or precision suffix: varchar(20) -> character varying(20).
    let (base, rest) = match collapsed.find(['(', '[']) {
        Some(index) => (collapsed[..index].trim_end(), &collapsed[index..]),
        None => (collapsed.as_str(), ""),
    };
    let base = ALIASES
        .iter()
        .find(|(alias, _)| *alias == base)
        .map(|(_, canonical)| *canonical)
        .unwrap_or(base);
    format!("{base}{rest}")
}

/// SQL text with case and whitespace made uniform (index definitions, defaults, checks).
fn sql_text(text: &str) -> String {
    let lowered = text.to_lowercase();
    let mut collapsed = String::with_capacity(lowered.len());
    for word in lowered.split_whitespace() {
        if !collapsed.is_empty() {
            collapsed.push(' ');
        }
        collapsed.push_str(word);
    }
    // `( a, b )` and `(a,b)` are the same definition.
    collapsed
        .replace("( ", "(")
        .replace(" )", ")")
        .replace(" ,", ",")
        .replace(", ", ",")
}

/// Whether two SQL texts (a CHECK expression, an index expression or predicate, a default, a
/// view's query) say the same thing. Migrations are folded from the text developers wrote,
/// while the catalog prints `pg_get_expr` / `pg_get_viewdef` output: extra parentheses,
/// implicit casts written out (`status::text`, `'paid'::character varying`), `IN (...)` as
/// `= ANY (ARRAY[...])`, a trailing semicolon and its own layout. Both sides are parsed with
/// the PostgreSQL dialect, those spellings are removed, and the results compared; text that
/// does not parse is compared with case and spacing made uniform.
pub fn sql_equivalent(declared: &str, live: &str) -> bool {
    match (canonical_sql(declared), canonical_sql(live)) {
        (Some(left), Some(right)) => left == right,
        _ => sql_text(declared) == sql_text(live),
    }
}

fn canonical_sql(text: &str) -> Option<String> {
    use sqlparser::ast::VisitMut;
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;

    let text = text.trim().trim_end_matches(';').trim();
    let dialect = PostgreSqlDialect {};
    let upper = text.to_ascii_uppercase();
    let mut rendered = if upper.starts_with("SELECT") || upper.starts_with("WITH") {
        let mut statements = Parser::parse_sql(&dialect, text).ok()?;
        let _ = statements.visit(&mut ExpressionSpelling);
        statements
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    } else {
        let mut expression = Parser::new(&dialect)
            .try_with_sql(text)
            .ok()?
            .parse_expr()
            .ok()?;
        let _ = expression.visit(&mut ExpressionSpelling);
        expression.to_string()
    };
    rendered.make_ascii_lowercase();
    Some(without_public_schema(&rendered))
}

/// Text with every `public.` qualifier removed: the catalog prints names visible on the
/// search path (`public` is) unqualified, while a dump (search_path cleared) qualifies them:
/// `public.mpaa_rating` is `mpaa_rating`, `nextval('public.s'::regclass)` is
/// `nextval('s'::regclass)`, `FROM public.film` is `FROM film`. Expects lower case.
fn without_public_schema(text: &str) -> String {
    const QUALIFIER: &str = "public.";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(found) = rest.find(QUALIFIER) {
        let before = rest[..found]
            .chars()
            .next_back()
            .or(out.chars().next_back());
        let part_of_a_name =
            before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '.');
        out.push_str(&rest[..found]);
        if part_of_a_name {
            out.push_str(QUALIFIER);
        }
        rest = &rest[found + QUALIFIER.len()..];
    }
    out.push_str(rest);
    out
}

/// A view query as its sequence of words, for comparing a dump's text with
/// `pg_get_viewdef`'s: lower case, `public.` qualifiers, parentheses, whitespace and a
/// trailing semicolon removed.
fn view_words(text: &str) -> String {
    without_public_schema(&text.to_lowercase())
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '(' | ')' | ';'))
        .collect()
}

/// Removes what `pg_get_expr` adds: parentheses, casts to text types, `= ANY (ARRAY[...])`.
struct ExpressionSpelling;

impl sqlparser::ast::VisitorMut for ExpressionSpelling {
    type Break = ();

    fn post_visit_expr(
        &mut self,
        expression: &mut sqlparser::ast::Expr,
    ) -> std::ops::ControlFlow<Self::Break> {
        use sqlparser::ast::{BinaryOperator, DataType, Expr};
        loop {
            let replacement = match expression {
                Expr::Nested(inner) => Some((**inner).clone()),
                Expr::Cast {
                    expr,
                    data_type:
                        DataType::Text
                        | DataType::Varchar(_)
                        | DataType::CharacterVarying(_)
                        | DataType::Array(_),
                    ..
                } => Some((**expr).clone()),
                Expr::AnyOp {
                    left,
                    compare_op: BinaryOperator::Eq,
                    right,
                    ..
                } => {
                    let mut list = (**right).clone();
                    while let Expr::Nested(inner) | Expr::Cast { expr: inner, .. } = list {
                        list = *inner;
                    }
                    match list {
                        Expr::Array(array) => Some(Expr::InList {
                            expr: left.clone(),
                            list: array.elem,
                            negated: false,
                        }),
                        _ => None,
                    }
                }
                _ => None,
            };
            match replacement {
                Some(simpler) => *expression = simpler,
                None => break,
            }
        }
        std::ops::ControlFlow::Continue(())
    }
}
