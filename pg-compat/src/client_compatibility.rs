//! Fragments of client catalog queries that DataFusion cannot plan, replaced by equivalents
//! before the statement reaches datafusion-postgres (which has its own list for the queries of
//! newer clients; these are the ones it misses for the clients Debian ships).
//!
//! Matching is on SQL tokens, so whitespace and line breaks do not matter; a `$1` in a
//! pattern matches any single token (the clients put a literal oid or a parameter there).

use std::sync::OnceLock;

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// `(client fragment, replacement)`.
const REPLACEMENTS: &[(&str, &str)] = &[
    // psql 15 `\d+ TABLE`: the table's storage options, including its TOAST table's. An
    // `array(SELECT ...)` constructor, which DataFusion lacks; Groundtruth's tables have
    // neither options nor TOAST tables, so the answer is always empty.
    (
        "pg_catalog.array_to_string(c.reloptions || array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x), ', ')",
        "''",
    ),
    // Grafana's table and column pickers (public/app/plugins/datasource/grafana-postgresql-
    // datasource): "is this schema on the search path", from a `generate_series` over the
    // subscripts of `string_to_array(...)` used as a table, which DataFusion cannot plan.
    // The same question as an array membership test (`"$user"` names no schema here).
    (
        "quote_ident(table_schema) IN ( SELECT CASE WHEN trim(s[i]) = '\"$user\"' THEN user ELSE trim(s[i]) END FROM generate_series( array_lower(string_to_array(current_setting('search_path'), ','), 1), array_upper(string_to_array(current_setting('search_path'), ','), 1) ) AS i, string_to_array(current_setting('search_path'), ',') s )",
        "array_has(string_to_array(replace(current_setting('search_path'), ' ', ''), ','), quote_ident(table_schema))",
    ),
    // SQLAlchemy 2's column reflection (dialects/postgresql/base.py, `_columns_query`): a
    // column's identity options, from a scalar subquery whose select list reads the outer
    // row, which DataFusion cannot decorrelate. Groundtruth has no identity columns or
    // sequences, so the options are always NULL.
    (
        "CASE WHEN (pg_catalog.pg_attribute.attidentity != $1) THEN (SELECT json_build_object($1, pg_catalog.pg_attribute.attidentity = $1, $1, pg_catalog.pg_sequence.seqstart, $1, pg_catalog.pg_sequence.seqincrement, $1, pg_catalog.pg_sequence.seqmin, $1, pg_catalog.pg_sequence.seqmax, $1, pg_catalog.pg_sequence.seqcache, $1, pg_catalog.pg_sequence.seqcycle) AS $1 FROM pg_catalog.pg_sequence WHERE pg_catalog.pg_attribute.attidentity != $1 AND pg_catalog.pg_sequence.seqrelid = CAST(CAST(pg_catalog.pg_get_serial_sequence(CAST(CAST(pg_catalog.pg_attribute.attrelid AS REGCLASS) AS TEXT), pg_catalog.pg_attribute.attname) AS REGCLASS) AS OID)) ELSE NULL END",
        "NULL",
    ),
];

/// Words one of the fragments contains: statements without any skip the tokenizer.
const TRIGGERS: &[&str] = &["pg_catalog", "search_path"];

fn tokens(sql: &str) -> Option<Vec<Token>> {
    Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize()
        .ok()
        .map(|tokens| {
            tokens
                .into_iter()
                .filter(|token| !matches!(token, Token::Whitespace(_)))
                .collect()
        })
}

/// The patterns, tokenized once.
fn patterns() -> &'static [(Vec<Token>, String)] {
    static PATTERNS: OnceLock<Vec<(Vec<Token>, String)>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        REPLACEMENTS
            .iter()
            .filter_map(|(pattern, replacement)| {
                Some((tokens(pattern)?, (*replacement).to_string()))
            })
            .collect()
    })
}

fn matches_at(input: &[Token], pattern: &[Token]) -> bool {
    input.len() >= pattern.len()
        && input.iter().zip(pattern).all(|(token, expected)| {
            matches!(expected, Token::Placeholder(_)) && !matches!(token, Token::SemiColon)
                || token == expected
        })
}

/// `sql` with every known fragment replaced, or `None` when nothing matched (the common case:
/// the statement then goes on untouched, formatting included).
pub fn rewrite(sql: &str) -> Option<String> {
    let patterns = patterns();
    let lower = sql.to_ascii_lowercase();
    if !TRIGGERS.iter().any(|word| lower.contains(word)) {
        return None;
    }
    let input = tokens(sql)?;
    let mut output: Vec<String> = Vec::with_capacity(input.len());
    let mut position = 0;
    let mut replaced = false;
    while position < input.len() {
        let hit = patterns
            .iter()
            .find(|(pattern, _)| matches_at(&input[position..], pattern));
        match hit {
            Some((pattern, replacement)) => {
                output.push(replacement.clone());
                position += pattern.len();
                replaced = true;
            }
            None => {
                output.push(input[position].to_string());
                position += 1;
            }
        }
    }
    replaced.then(|| output.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psql_15_table_options_become_empty() {
        let query = "SELECT c.relchecks, c.relkind, false AS relhasoids, c.relispartition, pg_catalog.array_to_string(c.reloptions || array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x), ', ')\n, c.reltablespace FROM pg_catalog.pg_class c WHERE c.oid = '16396';";
        let rewritten = rewrite(query).expect("rewritten");
        assert!(!rewritten.contains("array("), "{rewritten}");
        assert!(
            rewritten.contains("c . relispartition , '' , c . reltablespace"),
            "{rewritten}"
        );
        assert!(rewritten.contains("c . oid = '16396'"), "{rewritten}");
    }

    #[test]
    fn grafana_search_path_membership_becomes_array_has() {
        let query = "SELECT quote_ident(column_name) AS \"column\" FROM information_schema.columns WHERE quote_ident(table_name) = 'resources' AND quote_ident(table_schema) IN (\n    SELECT CASE WHEN trim(s[i]) = '\"$user\"' THEN user ELSE trim(s[i]) END\n    FROM generate_series(\n array_lower(string_to_array(current_setting('search_path'), ','), 1),\n array_upper(string_to_array(current_setting('search_path'), ','), 1)\n ) AS i,\n string_to_array(current_setting('search_path'), ',') s\n  )";
        let rewritten = rewrite(query).expect("rewritten");
        assert!(
            rewritten.contains("AND array_has(string_to_array(replace(current_setting('search_path'), ' ', ''), ','), quote_ident(table_schema))"),
            "{rewritten}"
        );
        assert!(!rewritten.contains("generate_series"), "{rewritten}");
    }

    #[test]
    fn sqlalchemy_identity_options_become_null() {
        let query = "SELECT pg_catalog.pg_attribute.attname AS name, CASE WHEN (pg_catalog.pg_attribute.attidentity != '') THEN (SELECT json_build_object('always', pg_catalog.pg_attribute.attidentity = 'a', 'start', pg_catalog.pg_sequence.seqstart, 'increment', pg_catalog.pg_sequence.seqincrement, 'minvalue', pg_catalog.pg_sequence.seqmin, 'maxvalue', pg_catalog.pg_sequence.seqmax, 'cache', pg_catalog.pg_sequence.seqcache, 'cycle', pg_catalog.pg_sequence.seqcycle) AS json_build_object_1 \nFROM pg_catalog.pg_sequence \nWHERE pg_catalog.pg_attribute.attidentity != '' AND pg_catalog.pg_sequence.seqrelid = CAST(CAST(pg_catalog.pg_get_serial_sequence(CAST(CAST(pg_catalog.pg_attribute.attrelid AS REGCLASS) AS TEXT), pg_catalog.pg_attribute.attname) AS REGCLASS) AS OID)) ELSE NULL END AS identity_options, 1 FROM pg_catalog.pg_attribute";
        let rewritten = rewrite(query).expect("rewritten");
        assert!(
            rewritten.contains(", NULL AS identity_options , 1 FROM"),
            "{rewritten}"
        );
        let server_side = query.replace("!= ''", "!= $1").replace("'always'", "$2");
        assert!(rewrite(&server_side)
            .expect("rewritten")
            .contains("NULL AS identity_options"));
    }

    #[test]
    fn other_statements_are_untouched() {
        assert_eq!(rewrite("SELECT * FROM resources"), None);
        assert_eq!(rewrite("SELECT relname FROM pg_catalog.pg_class"), None);
    }
}
