//! The freshness envelope every tool result carries: the instant the answer is true as of,
//! each involved source's last success, staleness and last error (the `freshness` view),
//! and one warning line when any of them is stale or its last scrape failed, so an agent
//! cannot miss that an answer rests on old or broken collection.

use std::collections::BTreeSet;

use chrono::{DateTime, SecondsFormat, Utc};
use groundtruth_engine::session::Engine;
use serde::Serialize;
use serde_json::Value;

use crate::error::{McpError, Result};
use crate::rows::Rows;

/// What the envelope reads: the `freshness` view, which also words each source's warning (so
/// MCP answers and the wire's NOTICE say the same).
const SOURCES_SQL: &str = "SELECT source, last_status, last_success_at, staleness_seconds, \
     stale, last_error, warning FROM freshness ORDER BY source";

/// One source's freshness.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SourceFreshness {
    /// The source's name.
    pub source: String,
    /// `ok`, `partial` or `failed`: the outcome of its latest scrape.
    pub last_status: Option<String>,
    /// Start of its latest successful (ok or partial) scrape.
    pub last_success_at: Option<String>,
    /// Seconds since then.
    pub staleness_seconds: Option<f64>,
    /// No success within twice the schedule interval.
    pub stale: bool,
    /// The error of its latest failed scrape, if any ever failed.
    pub last_error: Option<String>,
    /// Why its data should not be trusted blindly (the `freshness` view's text), if so.
    pub warning: Option<String>,
}

/// The envelope.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Envelope {
    /// The instant the answer describes (RFC 3339).
    pub as_of: String,
    /// The sources the answer involves (all sources when the answer names none).
    pub sources: Vec<SourceFreshness>,
    /// One line naming every stale or failed source, or `None` when all are fresh.
    pub warning: Option<String>,
}

impl Envelope {
    /// Build the envelope for an answer as of `as_of` involving `involved` sources (`None`, or
    /// an empty set: every source, since an empty answer depends on all of them).
    pub fn build(
        as_of: DateTime<Utc>,
        all: Vec<SourceFreshness>,
        involved: Option<&BTreeSet<String>>,
    ) -> Self {
        let sources: Vec<SourceFreshness> = match involved.filter(|set| !set.is_empty()) {
            Some(involved) => all
                .into_iter()
                .filter(|source| involved.contains(&source.source))
                .collect(),
            None => all,
        };
        let problems: Vec<&str> = sources
            .iter()
            .filter_map(|source| source.warning.as_deref())
            .collect();
        Envelope {
            as_of: as_of.to_rfc3339_opts(SecondsFormat::Secs, true),
            warning: (!problems.is_empty()).then(|| format!("WARNING: {}.", problems.join("; "))),
            sources,
        }
    }
}

/// Every source's freshness, read from the `freshness` view.
pub async fn read_sources(engine: &Engine) -> Result<Vec<SourceFreshness>> {
    let batches = engine
        .query(SOURCES_SQL)
        .await
        .map_err(|error| McpError::engine("reading source freshness", error))?;
    let rows = Rows::from_batches(&batches)?;
    let text = |row: &serde_json::Map<String, Value>, column: &str| {
        row.get(column).and_then(Value::as_str).map(str::to_string)
    };
    Ok(rows
        .rows
        .iter()
        .map(|row| SourceFreshness {
            source: text(row, "source").unwrap_or_default(),
            last_status: text(row, "last_status"),
            last_success_at: text(row, "last_success_at"),
            staleness_seconds: row.get("staleness_seconds").and_then(Value::as_f64),
            stale: row.get("stale").and_then(Value::as_bool).unwrap_or(true),
            last_error: text(row, "last_error"),
            warning: text(row, "warning"),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(name: &str, warning: Option<&str>) -> SourceFreshness {
        SourceFreshness {
            source: name.into(),
            last_status: Some("ok".into()),
            last_success_at: Some("2026-01-01T00:00:00Z".into()),
            staleness_seconds: Some(7200.0),
            stale: warning.is_some(),
            last_error: None,
            warning: warning.map(str::to_string),
        }
    }

    #[test]
    fn warns_on_stale_and_failed_sources_involved_only() {
        let at = DateTime::parse_from_rfc3339("2026-01-01T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let all = vec![
            source("fresh", None),
            source("broken", Some("source 'broken' failed")),
            source("old", Some("source 'old' is stale")),
        ];
        let fresh: BTreeSet<String> = ["fresh".to_string()].into();
        let envelope = Envelope::build(at, all.clone(), Some(&fresh));
        assert_eq!(envelope.sources.len(), 1);
        assert_eq!(envelope.warning, None);
        assert_eq!(envelope.as_of, "2026-01-01T02:00:00Z");

        let envelope = Envelope::build(at, all, None);
        let warning = envelope.warning.unwrap();
        assert_eq!(
            warning,
            "WARNING: source 'broken' failed; source 'old' is stale."
        );
    }
}
