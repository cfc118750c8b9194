//! PostgreSQL statements pg_dump writes that sqlparser cannot parse, turned into what it can
//! (or into a catalog operation), so a dumped schema folds like the database it came from:
//! - `ALTER TABLE [ONLY] parent ATTACH PARTITION child FOR VALUES ...` becomes an attach of
//!   `child` to `parent` (the partition gets the parent's key constraints);
//! - `CREATE MATERIALIZED VIEW ... WITH [NO] DATA` loses the storage clause (data, not
//!   schema);
//! - `ALTER TABLE t ALTER COLUMN c ADD GENERATED ... AS IDENTITY (SEQUENCE NAME s ...)` loses
//!   its sequence options (not folded) and records the sequence name to apply after;
//! - `SET [SESSION|LOCAL] search_path {TO|=} ...`, `RESET search_path` and pg_dump's
//!   `SELECT pg_catalog.set_config('search_path', '...', false)` become a search path change;
//! - `CREATE DOMAIN ... [CONSTRAINT name] [NOT] NULL` loses the NULL clause, which sqlparser
//!   does not read, and records whether the domain is NOT NULL.

// The patterns here are literals (every test that reads them compiles them), and group 0 of a
// match always exists.
#![allow(clippy::expect_used)]

use std::sync::LazyLock;

use regex::Regex;

static ATTACH_PARTITION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?is)^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?([\w."$]+)\s+ATTACH\s+PARTITION\s+([\w."$]+)"#,
    )
    .expect("valid regex")
});
static MATERIALIZED_VIEW: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?is)^\s*CREATE\s+(?:OR\s+REPLACE\s+)?MATERIALIZED\s+VIEW\b").expect("valid regex")
});
static WITH_DATA: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?is)\s+WITH\s+(?:NO\s+)?DATA\s*;?\s*$").expect("valid regex"));
static IDENTITY_OPTIONS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?is)^(\s*ALTER\s+TABLE\s+(?:ONLY\s+)?([\w."$]+)\s+ALTER\s+COLUMN\s+([\w"$]+)\s+ADD\s+GENERATED\s+(?:ALWAYS|BY\s+DEFAULT)\s+AS\s+IDENTITY)\s*\((.*)\)\s*;?\s*$"#,
    )
    .expect("valid regex")
});
static SET_SEARCH_PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?is)^\s*SET\s+(?:SESSION\s+|LOCAL\s+)?search_path\s*(?:=|\bTO\b)\s*(.*?)\s*;?\s*$"#,
    )
    .expect("valid regex")
});
static SET_CONFIG_SEARCH_PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?is)^\s*SELECT\s+(?:pg_catalog\s*\.\s*)?set_config\s*\(\s*'search_path'\s*,\s*'((?:[^']|'')*)'\s*,\s*(?:false|true)\s*\)\s*;?\s*$"#,
    )
    .expect("valid regex")
});
static RESET_SEARCH_PATH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?is)^\s*RESET\s+search_path\s*;?\s*$").expect("valid regex"));
static CREATE_DOMAIN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?is)^\s*CREATE\s+DOMAIN\s+([\w."$]+)"#).expect("valid regex"));
static NULL_CLAUSE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?is)(\bDEFAULT\s+)?(?:\bCONSTRAINT\s+[\w"$]+\s+)?\b(NOT\s+)?NULL\b"#)
        .expect("valid regex")
});
static SEQUENCE_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(?is)\bSEQUENCE\s+NAME\s+([\w."$]+)"#).expect("valid regex"));

/// A statement ready for sqlparser, and what to do besides parsing it.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Rewritten {
    /// The text to parse.
    pub text: String,
    /// `(parent, child)` names of an ATTACH PARTITION (nothing to parse then).
    pub attach_partition: Option<(String, String)>,
    /// `(table, column, sequence)`: the identity sequence's declared name.
    pub identity_sequence_name: Option<(String, String, String)>,
    /// A change of the session's search path.
    pub search_path: Option<SearchPath>,
    /// The name of a domain created NOT NULL.
    pub domain_not_null: Option<String>,
}

/// What a statement does to the search path.
#[derive(Debug, PartialEq)]
pub(crate) enum SearchPath {
    /// These schemas, in order (identifiers folded; may be empty, as pg_dump sets it).
    Set(Vec<String>),
    /// The session's default (`RESET`, `SET ... TO DEFAULT`).
    Default,
}

/// A search path list: `a, "B", 'c'` (unquoted names fold to lower case).
fn search_path_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty() && *item != "''")
        .map(|item| {
            match item
                .strip_prefix('\'')
                .and_then(|rest| rest.strip_suffix('\''))
            {
                Some(literal) => literal.replace("''", "'"),
                None => fold(item),
            }
        })
        .collect()
}

/// Parenthesis depth at `offset`, outside quoted text.
fn depth_at(text: &str, offset: usize) -> i32 {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for character in text[..offset].chars() {
        match (quote, character) {
            (Some(open), c) if c == open => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(character),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            _ => {}
        }
    }
    depth
}

/// An unquoted identifier folds to lower case; a quoted one is kept.
fn fold(identifier: &str) -> String {
    match identifier
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => identifier.to_lowercase(),
    }
}

/// Rewrite one statement; statements that need nothing come back unchanged.
pub(crate) fn rewrite(text: &str) -> Rewritten {
    if let Some(captures) = ATTACH_PARTITION.captures(text) {
        return Rewritten {
            text: text.to_string(),
            attach_partition: Some((captures[1].to_string(), captures[2].to_string())),
            ..Rewritten::default()
        };
    }
    if let Some(captures) = SET_SEARCH_PATH.captures(text) {
        let value = &captures[1];
        let search_path = if value.eq_ignore_ascii_case("default") {
            SearchPath::Default
        } else {
            SearchPath::Set(search_path_list(value))
        };
        return Rewritten {
            search_path: Some(search_path),
            ..Rewritten::default()
        };
    }
    if let Some(captures) = SET_CONFIG_SEARCH_PATH.captures(text) {
        return Rewritten {
            search_path: Some(SearchPath::Set(search_path_list(
                &captures[1].replace("''", "'"),
            ))),
            ..Rewritten::default()
        };
    }
    if RESET_SEARCH_PATH.is_match(text) {
        return Rewritten {
            search_path: Some(SearchPath::Default),
            ..Rewritten::default()
        };
    }
    if let Some(captures) = CREATE_DOMAIN.captures(text) {
        let name = captures[1].to_string();
        let after_name = captures.get(1).map_or(0, |m| m.end());
        let mut kept = String::new();
        let mut copied = 0;
        let mut not_null = false;
        for clause in NULL_CLAUSE.captures_iter(&text[after_name..]) {
            let whole = clause.get(0).expect("whole match");
            let (start, end) = (after_name + whole.start(), after_name + whole.end());
            if clause.get(1).is_some() || depth_at(text, start) != 0 {
                continue;
            }
            not_null = clause.get(2).is_some();
            kept.push_str(&text[copied..start]);
            copied = end;
        }
        kept.push_str(&text[copied..]);
        return Rewritten {
            text: kept,
            domain_not_null: not_null.then_some(name),
            ..Rewritten::default()
        };
    }
    if MATERIALIZED_VIEW.is_match(text) {
        return Rewritten {
            text: WITH_DATA.replace(text, "").into_owned(),
            ..Rewritten::default()
        };
    }
    if let Some(captures) = IDENTITY_OPTIONS.captures(text) {
        let identity_sequence_name = SEQUENCE_NAME.captures(&captures[4]).map(|name| {
            (
                captures[2].to_string(),
                fold(&captures[3]),
                name[1].to_string(),
            )
        });
        return Rewritten {
            text: captures[1].to_string(),
            identity_sequence_name,
            ..Rewritten::default()
        };
    }
    Rewritten {
        text: text.to_string(),
        ..Rewritten::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumped_statements_become_parseable() {
        let attach = rewrite(
            "ALTER TABLE ONLY public.payment ATTACH PARTITION public.payment_p2022_01 \
             FOR VALUES FROM ('2022-01-01') TO ('2022-02-01');",
        );
        assert_eq!(
            attach.attach_partition,
            Some((
                "public.payment".to_string(),
                "public.payment_p2022_01".to_string()
            ))
        );
        let view =
            rewrite("CREATE MATERIALIZED VIEW public.v AS\n SELECT 1 AS one\n  WITH NO DATA;");
        assert_eq!(
            view.text,
            "CREATE MATERIALIZED VIEW public.v AS\n SELECT 1 AS one"
        );
        let identity = rewrite(
            "ALTER TABLE public.t ALTER COLUMN Id ADD GENERATED ALWAYS AS IDENTITY (\n    \
             SEQUENCE NAME public.t_seq\n    START WITH 1\n    CACHE 1\n);",
        );
        assert_eq!(
            identity.text,
            "ALTER TABLE public.t ALTER COLUMN Id ADD GENERATED ALWAYS AS IDENTITY"
        );
        assert_eq!(
            identity.identity_sequence_name,
            Some((
                "public.t".to_string(),
                "id".to_string(),
                "public.t_seq".to_string()
            ))
        );
        let domain = rewrite(
            "CREATE DOMAIN app.\"Code\" AS text CONSTRAINT code_nn NOT NULL DEFAULT 'x' \
             CHECK (VALUE IS NOT NULL AND VALUE <> '');",
        );
        assert_eq!(
            domain.text,
            "CREATE DOMAIN app.\"Code\" AS text  DEFAULT 'x' CHECK (VALUE IS NOT NULL AND VALUE <> '');"
        );
        assert_eq!(domain.domain_not_null, Some("app.\"Code\"".to_string()));
        let nullable = rewrite("CREATE DOMAIN d AS int DEFAULT NULL NULL;");
        assert_eq!(nullable.text, "CREATE DOMAIN d AS int DEFAULT NULL ;");
        assert_eq!(nullable.domain_not_null, None);
        let plain = rewrite("CREATE TABLE t (id int);");
        assert_eq!(plain.text, "CREATE TABLE t (id int);");
        assert_eq!(plain.attach_partition, None);
        assert_eq!(plain.search_path, None);
    }

    #[test]
    fn search_path_changes_are_recognised() {
        let path = |text: &str| rewrite(text).search_path;
        assert_eq!(
            path("SET search_path TO Inventory, \"Mixed\", public;"),
            Some(SearchPath::Set(vec![
                "inventory".to_string(),
                "Mixed".to_string(),
                "public".to_string()
            ]))
        );
        assert_eq!(
            path("set local search_path = '$user', app"),
            Some(SearchPath::Set(vec![
                "$user".to_string(),
                "app".to_string()
            ]))
        );
        assert_eq!(
            path("SELECT pg_catalog.set_config('search_path', '', false);"),
            Some(SearchPath::Set(Vec::new()))
        );
        assert_eq!(
            path("SELECT set_config('search_path', 'app, public', false);"),
            Some(SearchPath::Set(vec![
                "app".to_string(),
                "public".to_string()
            ]))
        );
        assert_eq!(path("RESET search_path;"), Some(SearchPath::Default));
        assert_eq!(
            path("SET search_path TO DEFAULT;"),
            Some(SearchPath::Default)
        );
        assert_eq!(path("SET statement_timeout = 0;"), None);
        assert_eq!(path("SELECT set_config('work_mem', '1MB', false);"), None);
    }
}
