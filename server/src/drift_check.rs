//! `groundtruth drift [--check] [--fail-on STATUSES] [--format table|json]`: where declared and
//! running disagree right now, for people and CI pipelines. With `--check` the exit code says
//! whether drift of the chosen statuses exists (like `terraform plan -detailed-exitcode`):
//! 0 none, 2 some, 1 the check itself failed. Stale sources are reported, never counted as
//! drift (nothing is asserted about them) unless `stale` is among the statuses.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Context;
use groundtruth_engine::clock::{Clock, SystemClock};
use groundtruth_engine::session::Engine;
use groundtruth_mcp::{read_sources, Envelope, Rows};
use serde_json::{json, Value};

/// Statuses `--fail-on` accepts.
pub const STATUSES: &[&str] = &["missing", "unmanaged", "changed", "stale"];
/// What `--fail-on` is by default.
pub const DEFAULT_FAIL_ON: &str = "missing,unmanaged,changed";
/// Exit code when drift of the chosen statuses exists.
const DRIFT_FOUND: u8 = 2;

/// How to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for people.
    Table,
    /// One JSON document for programs.
    Json,
}

/// `--fail-on`: a comma-separated list of statuses, each checked.
pub fn parse_statuses(text: &str) -> Result<Vec<String>, String> {
    let statuses: Vec<String> = text
        .split(',')
        .map(|status| status.trim().to_ascii_lowercase())
        .filter(|status| !status.is_empty())
        .collect();
    if let Some(unknown) = statuses
        .iter()
        .find(|status| !STATUSES.contains(&status.as_str()))
    {
        return Err(format!(
            "unknown drift status '{unknown}'; use any of {}",
            STATUSES.join(", ")
        ));
    }
    if statuses.is_empty() {
        return Err("give at least one status".into());
    }
    Ok(statuses)
}

/// Print the drift of `statuses` (and any stale rows) and return the exit code.
pub async fn run(
    engine: &Engine,
    statuses: &[String],
    check: bool,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let listed: Vec<String> = statuses
        .iter()
        .map(String::as_str)
        .chain(std::iter::once("stale"))
        .map(|status| format!("'{status}'"))
        .collect();
    let batches = engine
        .query(&format!(
            "SELECT status, kind, id, declared_source, live_source, differences, stale_reason \
             FROM drift WHERE status IN ({}) ORDER BY status, kind, id",
            listed.join(", ")
        ))
        .await
        .context("reading drift")?;
    let rows = Rows::from_batches(&batches)?.rows;
    let envelope = Envelope::build(SystemClock.now(), read_sources(engine).await?, None);
    let failing: Vec<&serde_json::Map<String, Value>> = rows
        .iter()
        .filter(|row| {
            row.get("status")
                .and_then(Value::as_str)
                .is_some_and(|status| statuses.iter().any(|wanted| wanted == status))
        })
        .collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for row in &rows {
        if let Some(status) = row.get("status").and_then(Value::as_str) {
            *counts.entry(status).or_default() += 1;
        }
    }
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "drift": rows,
                "counts": counts,
                "fail_on": statuses,
                "drift_found": !failing.is_empty(),
                "freshness": envelope,
            }))?
        ),
        Format::Table => print_table(&rows, &counts, failing.len(), statuses, &envelope),
    }
    Ok(if check && !failing.is_empty() {
        ExitCode::from(DRIFT_FOUND)
    } else {
        ExitCode::SUCCESS
    })
}

/// One line per difference of a changed resource: `path: declared -> live`.
fn details(row: &serde_json::Map<String, Value>) -> String {
    if let Some(reason) = row.get("stale_reason").and_then(Value::as_str) {
        return reason.to_string();
    }
    let side = |column: &str| {
        row.get(column)
            .and_then(Value::as_str)
            .map(|source| format!("{column}: {source}"))
    };
    match row.get("differences").and_then(Value::as_array) {
        Some(differences) => differences
            .iter()
            .map(|difference| {
                let text = |key: &str| match difference.get(key) {
                    Some(Value::String(text)) => text.clone(),
                    Some(other) => other.to_string(),
                    None => "(absent)".into(),
                };
                format!("{}: {} -> {}", text("path"), text("declared"), text("live"))
            })
            .collect::<Vec<_>>()
            .join("; "),
        None => side("declared_source")
            .or_else(|| side("live_source"))
            .unwrap_or_default(),
    }
}

fn print_table(
    rows: &[serde_json::Map<String, Value>],
    counts: &BTreeMap<&str, usize>,
    failing: usize,
    statuses: &[String],
    envelope: &Envelope,
) {
    let cell = |row: &serde_json::Map<String, Value>, column: &str| {
        row.get(column)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let lines: Vec<[String; 4]> = rows
        .iter()
        .map(|row| {
            [
                cell(row, "status"),
                cell(row, "kind"),
                cell(row, "id"),
                details(row),
            ]
        })
        .collect();
    let header = ["STATUS", "KIND", "ID", "DETAILS"];
    let widths: Vec<usize> = (0..3)
        .map(|column| {
            lines
                .iter()
                .map(|line| line[column].len())
                .chain(std::iter::once(header[column].len()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    if !lines.is_empty() {
        for line in std::iter::once(header.map(str::to_string)).chain(lines) {
            println!(
                "{:<w0$}  {:<w1$}  {:<w2$}  {}",
                line[0],
                line[1],
                line[2],
                line[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            );
        }
        println!();
    }
    let summary = counts
        .iter()
        .map(|(status, count)| format!("{count} {status}"))
        .collect::<Vec<_>>()
        .join(", ");
    if failing == 0 {
        println!(
            "No drift ({}) as of {}{}.",
            statuses.join(", "),
            envelope.as_of,
            if summary.is_empty() {
                String::new()
            } else {
                format!("; {summary}")
            }
        );
    } else {
        println!(
            "Drift: {failing} resource(s) ({summary}) as of {}; failing on {}.",
            envelope.as_of,
            statuses.join(", ")
        );
    }
    if let Some(warning) = &envelope.warning {
        println!("{warning}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_on_lists_are_checked() {
        assert_eq!(
            parse_statuses("missing, Changed").unwrap(),
            vec!["missing", "changed"]
        );
        let error = parse_statuses("missing,drifting").unwrap_err();
        assert!(
            error.contains("'drifting'") && error.contains("unmanaged"),
            "{error}"
        );
        assert!(parse_statuses(" , ").is_err());
    }

    #[test]
    fn changed_rows_show_each_difference() {
        let row = json!({"status": "changed", "differences": [
            {"path": "memory_size", "declared": "256", "live": 512},
            {"path": "timeout", "declared": 30}
        ]});
        assert_eq!(
            details(row.as_object().unwrap()),
            "memory_size: 256 -> 512; timeout: 30 -> (absent)"
        );
    }
}
