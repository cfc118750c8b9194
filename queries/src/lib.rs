//! Groundtruth's query library: named, documented SQL for the questions people and agents ask
//! (which sources are stale, what changed in a window, what did a resource look like at T).
//!
//! Each query is one file under `queries/sql/`, compiled into the binary. A file opens with a
//! header of `--` lines, then the SQL:
//!
//! ```sql
//! -- name: changes_in_source
//! -- description: What changed in one source during a window.
//! -- param: source | text | | The source name, as in the `sources` table.
//! -- param: since | timestamp | now() - INTERVAL '24 hours' | Start of the window.
//! -- example: SELECT * FROM named_query('changes_in_source', source => 'prod-terraform')
//! SELECT ... WHERE source = :source AND valid_from > :since
//! ```
//!
//! A parameter line is `name | type | default | description`; an empty default makes the
//! parameter required, and a default is SQL (it may call `now()`). Types are `text`,
//! `integer`, `timestamp` and `interval`. In the SQL, `:name` marks where a parameter goes
//! (never inside a string literal; `::` casts are left alone). Values given on the command line
//! are checked against the type and written as SQL literals; over the wire,
//! `named_query('name', param => expression)` passes the caller's SQL expression through, in
//! parentheses. The library depends only on the engine, for the [`NamedQueries`] trait.

// Library code returns errors; `unwrap`/`expect` only in tests (see the workspace Cargo.toml).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use groundtruth_engine::sql::{NamedQueries, NamedQueryEntry};

/// The query files, compiled in. A test checks that every file under `sql/` is listed.
const FILES: &[(&str, &str)] = &[
    ("drifted.sql", include_str!("../sql/drifted.sql")),
    ("consumers_of.sql", include_str!("../sql/consumers_of.sql")),
    (
        "responsibility_changes.sql",
        include_str!("../sql/responsibility_changes.sql"),
    ),
    (
        "unused_indexes.sql",
        include_str!("../sql/unused_indexes.sql"),
    ),
    ("stuck_flags.sql", include_str!("../sql/stuck_flags.sql")),
    (
        "queues_without_consumers.sql",
        include_str!("../sql/queues_without_consumers.sql"),
    ),
    (
        "never_seen_live.sql",
        include_str!("../sql/never_seen_live.sql"),
    ),
    ("resource_now.sql", include_str!("../sql/resource_now.sql")),
    (
        "change_summary.sql",
        include_str!("../sql/change_summary.sql"),
    ),
    (
        "removed_in_window.sql",
        include_str!("../sql/removed_in_window.sql"),
    ),
    (
        "unchanged_for.sql",
        include_str!("../sql/unchanged_for.sql"),
    ),
    ("missing_at.sql", include_str!("../sql/missing_at.sql")),
    (
        "drift_started.sql",
        include_str!("../sql/drift_started.sql"),
    ),
    (
        "changes_in_source.sql",
        include_str!("../sql/changes_in_source.sql"),
    ),
    (
        "failed_scrapes.sql",
        include_str!("../sql/failed_scrapes.sql"),
    ),
    (
        "frequently_changed.sql",
        include_str!("../sql/frequently_changed.sql"),
    ),
    ("index_exists.sql", include_str!("../sql/index_exists.sql")),
    ("resource_at.sql", include_str!("../sql/resource_at.sql")),
    (
        "resource_history.sql",
        include_str!("../sql/resource_history.sql"),
    ),
    (
        "stale_sources.sql",
        include_str!("../sql/stale_sources.sql"),
    ),
    ("inventory.sql", include_str!("../sql/inventory.sql")),
];

/// What can go wrong loading the library or running one of its queries.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    /// A query file is malformed (a bug caught by the library's tests).
    #[error("query file {file}: {message}")]
    Malformed { file: String, message: String },
    /// No query has this name.
    #[error("no named query '{name}'; known: {known}")]
    Unknown { name: String, known: String },
    /// A required parameter was not given.
    #[error("query '{query}': parameter '{parameter}' is required ({description})")]
    Missing {
        query: String,
        parameter: String,
        description: String,
    },
    /// A parameter the query does not have.
    #[error("query '{query}' has no parameter '{parameter}'; its parameters: {known}")]
    UnknownParameter {
        query: String,
        parameter: String,
        known: String,
    },
    /// A value that does not fit the parameter's type.
    #[error("query '{query}': parameter '{parameter}' must be {expected}, got '{value}'")]
    BadValue {
        query: String,
        parameter: String,
        expected: &'static str,
        value: String,
    },
}

/// The type of a parameter, which decides how a command-line value becomes SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterType {
    /// A string literal.
    Text,
    /// A whole number.
    Integer,
    /// An instant: RFC 3339, `YYYY-MM-DD HH:MM:SS` (UTC) or a date (midnight UTC).
    Timestamp,
    /// A duration such as `7 days` or `12 hours`.
    Interval,
}

impl ParameterType {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "text" => Self::Text,
            "integer" => Self::Integer,
            "timestamp" => Self::Timestamp,
            "interval" => Self::Interval,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Integer => "integer",
            Self::Timestamp => "timestamp",
            Self::Interval => "interval",
        }
    }

    pub fn expected(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Integer => "a whole number",
            Self::Timestamp => "a timestamp (2026-01-31, 2026-01-31 12:00:00 or RFC 3339)",
            Self::Interval => "an interval such as '7 days' or '12 hours'",
        }
    }

    /// The SQL literal for a command-line value, or `None` if it does not fit the type.
    pub fn literal(self, value: &str) -> Option<String> {
        match self {
            Self::Text => Some(format!("'{}'", value.replace('\'', "''"))),
            Self::Integer => value
                .trim()
                .parse::<i64>()
                .ok()
                .map(|number| number.to_string()),
            Self::Timestamp => parse_instant(value.trim())
                .map(|instant| format!("TIMESTAMP '{}'", instant.format("%Y-%m-%d %H:%M:%S%.6f"))),
            Self::Interval => {
                let mut words = value.split_whitespace();
                let (Some(count), Some(unit), None) = (words.next(), words.next(), words.next())
                else {
                    return None;
                };
                let count: u32 = count.parse().ok()?;
                let unit = unit.to_ascii_lowercase();
                let singular = unit.strip_suffix('s').unwrap_or(&unit);
                ["second", "minute", "hour", "day", "week", "month", "year"]
                    .contains(&singular)
                    .then(|| format!("INTERVAL '{count} {singular}s'"))
            }
        }
    }
}

fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Some(instant.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return Some(naive.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|naive| naive.and_utc())
}

/// One parameter of a named query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// Its name, as used after `:` in the SQL and with `--param name=value`.
    pub name: String,
    /// How command-line values are checked and quoted.
    pub parameter_type: ParameterType,
    /// SQL used when the parameter is not given; `None` makes it required.
    pub default: Option<String>,
    /// What it means.
    pub description: String,
}

/// One named query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Unique name.
    pub name: String,
    /// The question it answers.
    pub description: String,
    /// Its parameters, in header order.
    pub parameters: Vec<Parameter>,
    /// A ready-to-run example.
    pub example: String,
    /// The SQL with `:parameter` placeholders.
    pub sql: String,
}

/// A piece of a query's SQL: text, or a parameter's place.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Placeholder(&'a str),
}

/// Split SQL into text and `:name` placeholders, skipping string literals, quoted
/// identifiers, comments and `::` casts.
fn pieces(sql: &str) -> Vec<Piece<'_>> {
    let bytes = sql.as_bytes();
    let mut pieces = Vec::new();
    let mut text_start = 0;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            quote @ (b'\'' | b'"') => {
                index += 1;
                while index < bytes.len() && bytes[index] != quote {
                    index += 1;
                }
                index += 1;
            }
            b'-' if bytes.get(index + 1) == Some(&b'-') => {
                while index < bytes.len() && bytes[index] != b'\n' {
                    index += 1;
                }
            }
            b':' if bytes.get(index + 1) == Some(&b':') => index += 2,
            b':' if bytes
                .get(index + 1)
                .is_some_and(|next| next.is_ascii_lowercase() || *next == b'_') =>
            {
                let name_start = index + 1;
                let mut name_end = name_start;
                while name_end < bytes.len()
                    && (bytes[name_end].is_ascii_alphanumeric() || bytes[name_end] == b'_')
                {
                    name_end += 1;
                }
                pieces.push(Piece::Text(&sql[text_start..index]));
                pieces.push(Piece::Placeholder(&sql[name_start..name_end]));
                text_start = name_end;
                index = name_end;
            }
            _ => index += 1,
        }
    }
    pieces.push(Piece::Text(&sql[text_start.min(sql.len())..]));
    pieces
}

impl Query {
    fn parse(file: &str, text: &str) -> Result<Query, QueryError> {
        let malformed = |message: String| QueryError::Malformed {
            file: file.to_string(),
            message,
        };
        let mut name = None;
        let mut description = String::new();
        let mut example = None;
        let mut parameters = Vec::new();
        let mut sql_lines = Vec::new();
        let mut in_header = true;
        let mut last_field = "";
        for line in text.lines() {
            let header = in_header.then(|| line.strip_prefix("--")).flatten();
            let Some(header) = header else {
                in_header = false;
                sql_lines.push(line);
                continue;
            };
            let header = header.trim();
            if let Some((field, value)) = header.split_once(':').filter(|(field, _)| {
                ["name", "description", "param", "example"].contains(&field.trim())
            }) {
                let value = value.trim();
                last_field = match field.trim() {
                    "name" => {
                        name = Some(value.to_string());
                        "name"
                    }
                    "description" => {
                        description = value.to_string();
                        "description"
                    }
                    "example" => {
                        example = Some(value.to_string());
                        "example"
                    }
                    _ => {
                        let fields: Vec<&str> = value.split('|').map(str::trim).collect();
                        let [parameter_name, type_name, default, meaning] = fields[..] else {
                            return Err(malformed(format!(
                                "parameter line '{value}' is not `name | type | default | description`"
                            )));
                        };
                        let parameter_type = ParameterType::parse(type_name).ok_or_else(|| {
                            malformed(format!(
                                "parameter '{parameter_name}' has unknown type '{type_name}'"
                            ))
                        })?;
                        parameters.push(Parameter {
                            name: parameter_name.to_string(),
                            parameter_type,
                            default: (!default.is_empty()).then(|| default.to_string()),
                            description: meaning.to_string(),
                        });
                        "param"
                    }
                };
            } else if last_field == "description" && !header.is_empty() {
                // A description continues on following `--` lines.
                description.push(' ');
                description.push_str(header);
            } else if !header.is_empty() {
                return Err(malformed(format!("unexpected header line '{line}'")));
            }
        }
        let name = name.ok_or_else(|| malformed("no `-- name:` line".into()))?;
        let example = example.ok_or_else(|| malformed("no `-- example:` line".into()))?;
        if description.is_empty() {
            return Err(malformed("no `-- description:` line".into()));
        }
        let sql = sql_lines
            .join("\n")
            .trim()
            .trim_end_matches(';')
            .to_string();
        let declared: BTreeSet<&str> = parameters.iter().map(|p| p.name.as_str()).collect();
        let used: BTreeSet<&str> = pieces(&sql)
            .into_iter()
            .filter_map(|piece| match piece {
                Piece::Placeholder(name) => Some(name),
                Piece::Text(_) => None,
            })
            .collect();
        if declared != used {
            return Err(malformed(format!(
                "parameters declared {declared:?} but used {used:?}"
            )));
        }
        Ok(Query {
            name,
            description,
            parameters,
            example,
            sql,
        })
    }

    /// The SQL with each parameter replaced by `values[name]` (SQL text, parenthesized) or
    /// its default.
    fn substitute(&self, values: &BTreeMap<String, String>) -> Result<String, QueryError> {
        let known = || {
            self.parameters
                .iter()
                .map(|parameter| parameter.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        for given in values.keys() {
            if !self
                .parameters
                .iter()
                .any(|parameter| &parameter.name == given)
            {
                return Err(QueryError::UnknownParameter {
                    query: self.name.clone(),
                    parameter: given.clone(),
                    known: if self.parameters.is_empty() {
                        "none".to_string()
                    } else {
                        known()
                    },
                });
            }
        }
        let mut sql = String::with_capacity(self.sql.len());
        for piece in pieces(&self.sql) {
            match piece {
                Piece::Text(text) => sql.push_str(text),
                Piece::Placeholder(name) => {
                    let parameter = self
                        .parameters
                        .iter()
                        .find(|parameter| parameter.name == name)
                        .ok_or_else(|| QueryError::Malformed {
                            file: self.name.clone(),
                            message: format!("undeclared parameter '{name}'"),
                        })?;
                    let value =
                        values
                            .get(name)
                            .or(parameter.default.as_ref())
                            .ok_or_else(|| QueryError::Missing {
                                query: self.name.clone(),
                                parameter: name.to_string(),
                                description: parameter.description.clone(),
                            })?;
                    sql.push('(');
                    sql.push_str(value);
                    sql.push(')');
                }
            }
        }
        Ok(sql)
    }

    /// The SQL to run for command-line values (`name=value`), each checked against its
    /// parameter's type and written as a literal.
    pub fn render(&self, values: &BTreeMap<String, String>) -> Result<String, QueryError> {
        let mut literals = BTreeMap::new();
        for (name, value) in values {
            let Some(parameter) = self.parameters.iter().find(|p| &p.name == name) else {
                // Reported with the list of known parameters by `substitute`.
                literals.insert(name.clone(), String::new());
                continue;
            };
            let literal =
                parameter
                    .parameter_type
                    .literal(value)
                    .ok_or_else(|| QueryError::BadValue {
                        query: self.name.clone(),
                        parameter: name.clone(),
                        expected: parameter.parameter_type.expected(),
                        value: value.clone(),
                    })?;
            literals.insert(name.clone(), literal);
        }
        self.substitute(&literals)
    }

    /// The parameters, one per line, as `query_catalog` shows them.
    pub fn parameter_summary(&self) -> String {
        self.parameters
            .iter()
            .map(|parameter| {
                let default = parameter
                    .default
                    .as_deref()
                    .map(|default| format!(" = {default}"))
                    .unwrap_or_else(|| " (required)".to_string());
                format!(
                    "{} {}{default}: {}",
                    parameter.name,
                    parameter.parameter_type.as_str(),
                    parameter.description
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The whole library.
#[derive(Debug, Clone)]
pub struct Library {
    queries: Vec<Query>,
}

impl Library {
    /// Parse the compiled-in query files.
    pub fn load() -> Result<Library, QueryError> {
        let mut queries = Vec::with_capacity(FILES.len());
        for (file, text) in FILES {
            let query = Query::parse(file, text)?;
            if queries.iter().any(|known: &Query| known.name == query.name) {
                return Err(QueryError::Malformed {
                    file: file.to_string(),
                    message: format!("duplicate query name '{}'", query.name),
                });
            }
            queries.push(query);
        }
        queries.sort_by(|left, right| left.name.cmp(&right.name));
        Ok(Library { queries })
    }

    /// Every query, by name.
    pub fn queries(&self) -> &[Query] {
        &self.queries
    }

    /// The query called `name`.
    pub fn get(&self, name: &str) -> Result<&Query, QueryError> {
        self.queries
            .iter()
            .find(|query| query.name == name)
            .ok_or_else(|| QueryError::Unknown {
                name: name.to_string(),
                known: self
                    .queries
                    .iter()
                    .map(|query| query.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

impl NamedQueries for Library {
    fn entries(&self) -> Vec<NamedQueryEntry> {
        self.queries
            .iter()
            .map(|query| NamedQueryEntry {
                name: query.name.clone(),
                description: query.description.clone(),
                parameters: query.parameter_summary(),
                example: query.example.clone(),
                sql: query.sql.clone(),
            })
            .collect()
    }

    fn expand(&self, name: &str, arguments: &[(String, String)]) -> Result<String, String> {
        let query = self.get(name).map_err(|error| error.to_string())?;
        let values: BTreeMap<String, String> = arguments.iter().cloned().collect();
        query.substitute(&values).map_err(|error| error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_listed_and_parses() {
        let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql");
        let mut on_disk: Vec<String> = std::fs::read_dir(&directory)
            .expect("sql directory")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name.ends_with(".sql"))
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = FILES.iter().map(|(file, _)| file.to_string()).collect();
        listed.sort();
        assert_eq!(on_disk, listed, "every queries/sql file is compiled in");
        let library = Library::load().expect("library loads");
        for query in library.queries() {
            assert!(query.example.contains(&query.name), "{}", query.name);
            assert!(query.description.len() > 20, "{}", query.name);
        }
    }

    #[test]
    fn placeholders_skip_literals_casts_and_comments() {
        let found: Vec<Piece<'_>> =
            pieces("SELECT ':no', x::text, \"a:b\" -- :nor\nFROM t WHERE id = :id")
                .into_iter()
                .filter(|piece| matches!(piece, Piece::Placeholder(_)))
                .collect();
        assert_eq!(found, vec![Piece::Placeholder("id")]);
    }

    fn sample() -> Query {
        Query::parse(
            "sample.sql",
            "-- name: sample\n\
             -- description: A sample query over the\n\
             --   resources table.\n\
             -- param: id | text | | The id.\n\
             -- param: since | timestamp | now() - INTERVAL '1 day' | Window start.\n\
             -- param: at_least | integer | 1 | Minimum.\n\
             -- example: SELECT * FROM named_query('sample', id => 'x')\n\
             SELECT id FROM resources WHERE id = :id AND valid_from > :since AND 1 >= :at_least;\n",
        )
        .expect("sample parses")
    }

    #[test]
    fn header_fields_and_continued_descriptions_parse() {
        let query = sample();
        assert_eq!(query.name, "sample");
        assert_eq!(
            query.description,
            "A sample query over the resources table."
        );
        assert_eq!(query.parameters.len(), 3);
        assert_eq!(query.parameters[0].default, None);
        assert_eq!(
            query.parameters[1].default.as_deref(),
            Some("now() - INTERVAL '1 day'")
        );
        assert!(!query.sql.ends_with(';'));
        assert_eq!(
            query.parameter_summary().lines().next(),
            Some("id text (required): The id.")
        );
    }

    #[test]
    fn command_line_values_become_checked_literals() {
        let query = sample();
        let values = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect()
        };
        assert_eq!(
            query
                .render(&values(&[("id", "o'brien"), ("since", "2026-01-02")]))
                .unwrap(),
            "SELECT id FROM resources WHERE id = ('o''brien') AND valid_from > \
             (TIMESTAMP '2026-01-02 00:00:00.000000') AND 1 >= (1)"
        );
        assert!(matches!(
            query.render(&values(&[])),
            Err(QueryError::Missing { parameter, .. }) if parameter == "id"
        ));
        assert!(matches!(
            query.render(&values(&[("id", "x"), ("at_least", "1; DROP TABLE x")])),
            Err(QueryError::BadValue { parameter, .. }) if parameter == "at_least"
        ));
        assert!(matches!(
            query.render(&values(&[("id", "x"), ("since", "yesterday")])),
            Err(QueryError::BadValue { parameter, .. }) if parameter == "since"
        ));
        assert!(matches!(
            query.render(&values(&[("id", "x"), ("nope", "1")])),
            Err(QueryError::UnknownParameter { parameter, .. }) if parameter == "nope"
        ));
        assert_eq!(
            ParameterType::Interval.literal("7 days").as_deref(),
            Some("INTERVAL '7 days'")
        );
        assert_eq!(ParameterType::Interval.literal("7 fortnights"), None);
        assert_eq!(
            ParameterType::Timestamp
                .literal("2026-01-01T01:30:00+01:00")
                .as_deref(),
            Some("TIMESTAMP '2026-01-01 00:30:00.000000'")
        );
    }

    #[test]
    fn a_parameter_used_but_not_declared_is_a_malformed_file() {
        let error = Query::parse(
            "bad.sql",
            "-- name: bad\n-- description: Uses an undeclared parameter here.\n\
             -- example: named_query('bad')\nSELECT :missing",
        )
        .unwrap_err();
        assert!(matches!(error, QueryError::Malformed { .. }), "{error}");
    }
}
