//! Drift alerts: `[[alerts]]` webhooks called when a drift interval starts (`onset`) or
//! resolves (`resolved`), at most once per interval and event, with bounded retries, and every
//! delivery recorded in the `alert_deliveries` table.
//!
//! After each refresh of the engine (each commit of the writer), the intervals of
//! `drift_history` are compared with those already known: an interval not known before is an
//! onset, a known one that now has `resolved_at` a resolution. The intervals that exist when
//! `serve` starts are known from the start, so a restart does not repeat their onsets (their
//! resolutions still alert). An interval is `(kind, id, status, onset)`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    ArrayRef, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray, UInt16Array,
    UInt32Array,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use chrono::{DateTime, Utc};
use datafusion::datasource::MemTable;
use groundtruth_engine::clock::Clock;
use groundtruth_engine::session::{Engine, RefreshableTable};
use groundtruth_mcp::Rows;
use serde_json::{json, Map, Value};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::AlertConfig;

/// The table of deliveries.
pub const DELIVERIES_TABLE: &str = "alert_deliveries";

/// The first retry waits this long; each further one twice as long.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// What happened to a drift interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Onset,
    Resolved,
}

impl Event {
    fn as_str(self) -> &'static str {
        match self {
            Event::Onset => "onset",
            Event::Resolved => "resolved",
        }
    }
}

/// One drift interval, as `drift_history` gives it.
#[derive(Debug, Clone)]
struct Interval {
    kind: String,
    id: String,
    status: String,
    onset: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    differences: Value,
}

impl Interval {
    fn key(&self) -> (String, String, String, DateTime<Utc>) {
        (
            self.kind.clone(),
            self.id.clone(),
            self.status.clone(),
            self.onset,
        )
    }
}

/// One recorded delivery (every event an alert matched, delivered or not).
#[derive(Debug, Clone)]
struct Delivery {
    alert: String,
    event: Event,
    interval: Interval,
    attempts: u32,
    delivered: bool,
    http_status: Option<u16>,
    error: Option<String>,
    at: DateTime<Utc>,
}

/// Whether `kind` matches one of `patterns` (none: every kind).
fn kind_matches(patterns: &[String], kind: &str) -> bool {
    patterns.is_empty()
        || patterns
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => kind.starts_with(prefix),
                None => pattern == kind,
            })
}

/// The alerter: known intervals, the webhook client, and the deliveries table.
pub struct Alerter {
    alerts: Vec<AlertConfig>,
    engine: Engine,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    onsets: HashSet<(String, String, String, DateTime<Utc>)>,
    resolutions: HashSet<(String, String, String, DateTime<Utc>)>,
    deliveries: Vec<Delivery>,
    table: Arc<RefreshableTable>,
}

fn parse_instant(value: Option<&Value>) -> Option<DateTime<Utc>> {
    value
        .and_then(Value::as_str)
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|instant| instant.with_timezone(&Utc))
}

impl Alerter {
    /// Register `alert_deliveries` (empty) on `engine` and learn the intervals that already
    /// exist, so they do not alert again.
    pub async fn start(
        alerts: Vec<AlertConfig>,
        engine: Engine,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let table = Arc::new(RefreshableTable::new(Arc::new(deliveries_table(&[])?)));
        engine
            .context()
            .register_table(DELIVERIES_TABLE, Arc::clone(&table) as _)?;
        let mut alerter = Self {
            alerts,
            engine,
            clock,
            client: reqwest::Client::new(),
            onsets: HashSet::new(),
            resolutions: HashSet::new(),
            deliveries: Vec::new(),
            table,
        };
        for interval in alerter.intervals().await? {
            alerter.onsets.insert(interval.key());
            if interval.resolved_at.is_some() {
                alerter.resolutions.insert(interval.key());
            }
        }
        Ok(alerter)
    }

    async fn intervals(&self) -> anyhow::Result<Vec<Interval>> {
        let batches = self
            .engine
            .query(
                "SELECT kind, id, status, onset, resolved_at, differences_at_onset \
                 FROM drift_history",
            )
            .await?;
        let text = |row: &Map<String, Value>, column: &str| {
            row.get(column)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Ok(Rows::from_batches(&batches)?
            .rows
            .iter()
            .filter_map(|row| {
                Some(Interval {
                    kind: text(row, "kind"),
                    id: text(row, "id"),
                    status: text(row, "status"),
                    onset: parse_instant(row.get("onset"))?,
                    resolved_at: parse_instant(row.get("resolved_at")),
                    differences: row
                        .get("differences_at_onset")
                        .cloned()
                        .unwrap_or(Value::Null),
                })
            })
            .collect())
    }

    /// Find new onsets and resolutions and deliver them.
    async fn check(&mut self, cancel: &CancellationToken) -> anyhow::Result<()> {
        let mut events = Vec::new();
        for interval in self.intervals().await? {
            if self.onsets.insert(interval.key()) {
                events.push((Event::Onset, interval.clone()));
            }
            if interval.resolved_at.is_some() && self.resolutions.insert(interval.key()) {
                events.push((Event::Resolved, interval));
            }
        }
        for (event, interval) in events {
            for index in 0..self.alerts.len() {
                let alert = &self.alerts[index];
                if !alert.statuses.contains(&interval.status)
                    || !kind_matches(&alert.kinds, &interval.kind)
                {
                    continue;
                }
                let delivery = self.deliver(alert, event, &interval, cancel).await;
                self.deliveries.push(delivery);
                self.table
                    .replace(Arc::new(deliveries_table(&self.deliveries)?));
            }
        }
        Ok(())
    }

    /// POST the event, retrying a failed try (an error or a non-2xx answer) with backoff.
    async fn deliver(
        &self,
        alert: &AlertConfig,
        event: Event,
        interval: &Interval,
        cancel: &CancellationToken,
    ) -> Delivery {
        let body = json!({
            "alert": alert.name,
            "event": event.as_str(),
            "kind": interval.kind,
            "id": interval.id,
            "status": interval.status,
            "onset": interval.onset.to_rfc3339(),
            "resolved_at": interval.resolved_at.map(|at| at.to_rfc3339()),
            "differences_at_onset": interval.differences,
        })
        .to_string();
        let mut delivery = Delivery {
            alert: alert.name.clone(),
            event,
            interval: interval.clone(),
            attempts: 0,
            delivered: false,
            http_status: None,
            error: None,
            at: self.clock.now(),
        };
        let mut backoff = FIRST_BACKOFF;
        while delivery.attempts < alert.max_attempts && !cancel.is_cancelled() {
            if delivery.attempts > 0 {
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = cancel.cancelled() => break,
                }
                backoff *= 2;
            }
            delivery.attempts += 1;
            delivery.at = self.clock.now();
            let sent = self
                .client
                .post(&alert.url)
                .header("content-type", "application/json")
                .timeout(alert.timeout)
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(response) => {
                    delivery.http_status = Some(response.status().as_u16());
                    if response.status().is_success() {
                        delivery.delivered = true;
                        delivery.error = None;
                        break;
                    }
                    delivery.error = Some(format!("the receiver answered {}", response.status()));
                }
                // Without the URL: it often holds a token.
                Err(error) => {
                    delivery.http_status = None;
                    delivery.error = Some(error.without_url().to_string());
                }
            }
        }
        if !delivery.delivered {
            tracing::warn!(
                alert = %alert.name,
                event = event.as_str(),
                kind = %interval.kind,
                id = %interval.id,
                error = delivery.error.as_deref().unwrap_or("cancelled"),
                "drift alert not delivered"
            );
        }
        delivery
    }
}

/// Check after every refresh of the engine (`refreshed` changes) until `cancel` fires.
pub async fn run(
    mut alerter: Alerter,
    mut refreshed: watch::Receiver<u64>,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            changed = refreshed.changed() => if changed.is_err() { return },
            () = cancel.cancelled() => return,
        }
        if let Err(error) = alerter.check(&cancel).await {
            tracing::error!(%error, "checking drift for alerts failed; will check after the next commit");
        }
    }
}

fn deliveries_table(deliveries: &[Delivery]) -> anyhow::Result<MemTable> {
    let timestamp = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let schema = Arc::new(Schema::new(vec![
        Field::new("alert", DataType::Utf8, false),
        Field::new("event", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("id", DataType::Utf8, false),
        Field::new("status", DataType::Utf8, false),
        Field::new("onset", timestamp.clone(), false),
        Field::new("resolved_at", timestamp.clone(), true),
        Field::new("attempts", DataType::UInt32, false),
        Field::new("delivered", DataType::Boolean, false),
        Field::new("http_status", DataType::UInt16, true),
        Field::new("error", DataType::Utf8, true),
        Field::new("attempted_at", timestamp, false),
    ]));
    let text = |pick: fn(&Delivery) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(deliveries.iter().map(pick)))
    };
    let instants = |values: Vec<Option<i64>>| -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
    };
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            text(|delivery| &delivery.alert),
            text(|delivery| delivery.event.as_str()),
            text(|delivery| &delivery.interval.kind),
            text(|delivery| &delivery.interval.id),
            text(|delivery| &delivery.interval.status),
            instants(
                deliveries
                    .iter()
                    .map(|d| Some(d.interval.onset.timestamp_micros()))
                    .collect(),
            ),
            instants(
                deliveries
                    .iter()
                    .map(|d| d.interval.resolved_at.map(|at| at.timestamp_micros()))
                    .collect(),
            ),
            Arc::new(UInt32Array::from_iter_values(
                deliveries.iter().map(|d| d.attempts),
            )),
            Arc::new(BooleanArray::from_iter(
                deliveries.iter().map(|d| Some(d.delivered)),
            )),
            Arc::new(UInt16Array::from_iter(
                deliveries.iter().map(|d| d.http_status),
            )),
            Arc::new(StringArray::from_iter(
                deliveries.iter().map(|d| d.error.as_deref()),
            )),
            instants(
                deliveries
                    .iter()
                    .map(|d| Some(d.at.timestamp_micros()))
                    .collect(),
            ),
        ],
    )?;
    Ok(MemTable::try_new(schema, vec![vec![batch]])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_patterns() {
        assert!(kind_matches(&[], "aws_sqs_queue"));
        let patterns = vec!["aws_*".to_string(), "app/queue".to_string()];
        assert!(kind_matches(&patterns, "aws_sqs_queue"));
        assert!(kind_matches(&patterns, "app/queue"));
        assert!(!kind_matches(&patterns, "app/queues"));
        assert!(kind_matches(&["*".to_string()], "k8s/apps/Deployment"));
    }
}
