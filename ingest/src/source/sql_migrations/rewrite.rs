//! PostgreSQL statements pg_dump writes that sqlparser cannot parse, turned into what it can
//! (or into a catalog operation), so a dumped schema folds like the database it came from:
//! - `ALTER TABLE [ONLY] parent ATTACH PARTITION child FOR VALUES ...` becomes an attach of
//!   `child` to `parent` (the partition gets the parent's key constraints);
//! - `CREATE MATERIALIZED VIEW ... WITH [NO] DATA` loses the storage clause (data, not
//!   schema);
//! - `ALTER TABLE t ALTER COLUMN c ADD GENERATED ... AS IDENTITY (SEQUENCE NAME s ...)` loses
//!   its sequence options (not folded) and records the sequence name to apply after.

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
            identity_sequence_name: None,
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
            attach_partition: None,
            identity_sequence_name,
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
        let plain = rewrite("CREATE TABLE t (id int);");
        assert_eq!(plain.text, "CREATE TABLE t (id int);");
        assert_eq!(plain.attach_partition, None);
    }
}
