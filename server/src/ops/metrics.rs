//! Operational metrics, rendered in the Prometheus text exposition format.
//!
//! Why hand-rolled: the set is small and fixed (a few counters, two gauges, two histogram
//! families), and no metrics crate is in the dependency tree; a registry crate would add more
//! code than the rendering below. The hot paths (a query, a connection) take one uncontended
//! lock or an atomic; rendering happens only when something scrapes `/metrics`.
//!
//! Scrape metrics come from the ingestor's record of every scrape
//! ([`groundtruth_ingest::runner::Ingestor::subscribe_scrapes`]); the last success per source
//! is seeded from the store's `sources` view at start, so it survives restarts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use groundtruth_engine::model::{ScrapeRecord, ScrapeStatus};
use groundtruth_engine::session::Engine;

use crate::ServerError;

/// Upper bounds (seconds) of the query latency buckets.
const QUERY_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Upper bounds (seconds) of the scrape duration buckets: file sources take milliseconds,
/// cloud APIs up to the two-minute default timeout.
const SCRAPE_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

const STATUSES: [ScrapeStatus; 3] = [
    ScrapeStatus::Ok,
    ScrapeStatus::Partial,
    ScrapeStatus::Failed,
];

/// The server's metrics registry: shared by the wire server, the scrape observer and the
/// HTTP listener.
#[derive(Debug, Default)]
pub struct Metrics {
    state: Mutex<State>,
    connections_open: AtomicI64,
    connections_refused: AtomicU64,
}

#[derive(Debug)]
struct State {
    sources: BTreeMap<String, SourceMetrics>,
    queries_ok: u64,
    queries_failed: u64,
    query_seconds: Histogram,
}

impl Default for State {
    fn default() -> Self {
        Self {
            sources: BTreeMap::new(),
            queries_ok: 0,
            queries_failed: 0,
            query_seconds: Histogram::new(QUERY_BUCKETS),
        }
    }
}

#[derive(Debug)]
struct SourceMetrics {
    /// Start (Unix seconds) of the latest ok or partial scrape, as in `sources.last_success_at`.
    last_success: Option<f64>,
    /// Scrapes by status, in the order of [`STATUSES`].
    scrapes: [u64; 3],
    versions_written: u64,
    duration: Histogram,
}

impl Default for SourceMetrics {
    fn default() -> Self {
        Self {
            last_success: None,
            scrapes: [0; 3],
            versions_written: 0,
            duration: Histogram::new(SCRAPE_BUCKETS),
        }
    }
}

/// A cumulative histogram with fixed bucket bounds.
#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative); one more than `bounds`, for +Inf.
    counts: Vec<u64>,
    sum: f64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
        }
    }

    fn observe(&mut self, value: f64) {
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        self.counts[bucket] += 1;
        self.sum += value;
    }
}

/// Marks one open Postgres-wire connection; the gauge goes down when it is dropped.
#[derive(Debug)]
pub struct OpenConnection(Arc<Metrics>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Lock the state; a panic while holding it cannot leave counters inconsistent in a way
    /// that matters, so a poisoned lock is used as is.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Make a configured source appear (with zero counts) before its first scrape.
    pub fn register_source(&self, source: &str) {
        self.state().sources.entry(source.to_string()).or_default();
    }

    /// Record a last success read from the store (Unix seconds), unless a newer one is known.
    pub fn seed_last_success(&self, source: &str, at: f64) {
        let mut state = self.state();
        let entry = state.sources.entry(source.to_string()).or_default();
        if entry.last_success.is_none_or(|known| known < at) {
            entry.last_success = Some(at);
        }
    }

    /// Record one finished scrape: its status, duration and versions written.
    pub fn scrape_finished(&self, record: &ScrapeRecord) {
        let seconds = (record.finished_at - record.started_at)
            .to_std()
            .map_or(0.0, |duration| duration.as_secs_f64());
        let mut state = self.state();
        let entry = state.sources.entry(record.source.clone()).or_default();
        if let Some(index) = STATUSES.iter().position(|status| *status == record.status) {
            entry.scrapes[index] += 1;
        }
        entry.versions_written += u64::try_from(record.versions_written).unwrap_or(0);
        entry.duration.observe(seconds);
        if record.status != ScrapeStatus::Failed {
            let at = record.started_at.timestamp_micros() as f64 / 1e6;
            if entry.last_success.is_none_or(|known| known < at) {
                entry.last_success = Some(at);
            }
        }
    }

    /// Run one query (a simple-protocol query string or an extended-protocol execute),
    /// counting it by outcome and timing it. The time is until the response is ready to
    /// stream (planning and starting execution), not the transfer of its rows.
    pub async fn observe_query<T, E>(
        &self,
        query: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let started = Instant::now();
        let result = query.await;
        let seconds = started.elapsed().as_secs_f64();
        let mut state = self.state();
        match result {
            Ok(_) => state.queries_ok += 1,
            Err(_) => state.queries_failed += 1,
        }
        state.query_seconds.observe(seconds);
        result
    }

    /// Count an accepted connection until the returned guard is dropped.
    pub fn connection_opened(self: &Arc<Self>) -> OpenConnection {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(Arc::clone(self))
    }

    /// Count a connection refused for exceeding `max_connections`.
    pub fn connection_refused(&self) {
        self.connections_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Everything, in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let state = self.state();
        let mut out = Text::default();
        let sources = &state.sources;

        out.family("groundtruth_source_last_success_timestamp_seconds", "gauge",
            "Start of the latest ok or partial scrape of the source (Unix time), as sources.last_success_at.");
        for (name, source) in sources {
            if let Some(at) = source.last_success {
                out.sample(
                    "groundtruth_source_last_success_timestamp_seconds",
                    &[("source", name)],
                    at,
                );
            }
        }
        out.family("groundtruth_scrapes_total", "counter",
            "Scrapes finished since the server started, by source and status (ok, partial, failed).");
        for (name, source) in sources {
            for (status, count) in STATUSES.iter().zip(source.scrapes) {
                out.sample(
                    "groundtruth_scrapes_total",
                    &[("source", name), ("status", status.as_str())],
                    count as f64,
                );
            }
        }
        out.family(
            "groundtruth_scrape_duration_seconds",
            "histogram",
            "Wall time of each scrape, by source.",
        );
        for (name, source) in sources {
            out.histogram(
                "groundtruth_scrape_duration_seconds",
                &[("source", name)],
                &source.duration,
            );
        }
        out.family("groundtruth_versions_written_total", "counter",
            "Versions (new, changed, deletion markers) written since the server started, by source.");
        for (name, source) in sources {
            out.sample(
                "groundtruth_versions_written_total",
                &[("source", name)],
                source.versions_written as f64,
            );
        }
        out.family(
            "groundtruth_queries_total",
            "counter",
            "Queries executed over the Postgres protocol, by outcome (ok, error).",
        );
        out.sample(
            "groundtruth_queries_total",
            &[("outcome", "ok")],
            state.queries_ok as f64,
        );
        out.sample(
            "groundtruth_queries_total",
            &[("outcome", "error")],
            state.queries_failed as f64,
        );
        out.family(
            "groundtruth_query_duration_seconds",
            "histogram",
            "Time from receiving a query to its response being ready to stream.",
        );
        out.histogram(
            "groundtruth_query_duration_seconds",
            &[],
            &state.query_seconds,
        );
        out.family(
            "groundtruth_connections_open",
            "gauge",
            "Open Postgres-wire connections.",
        );
        out.sample(
            "groundtruth_connections_open",
            &[],
            self.connections_open.load(Ordering::Relaxed) as f64,
        );
        out.family(
            "groundtruth_connections_refused_total",
            "counter",
            "Connections refused because max_connections were open.",
        );
        out.sample(
            "groundtruth_connections_refused_total",
            &[],
            self.connections_refused.load(Ordering::Relaxed) as f64,
        );
        out.0
    }
}

/// Text exposition writer.
#[derive(Default)]
struct Text(String);

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        // Writing to a String cannot fail.
        let _ = write!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (index, (key, value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{key}=\"{}\"", escape_label(value));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {}", format_value(value));
    }

    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], histogram: &Histogram) {
        let bucket_name = format!("{name}_bucket");
        let mut cumulative = 0;
        for (index, count) in histogram.counts.iter().enumerate() {
            cumulative += count;
            let bound = histogram
                .bounds
                .get(index)
                .map_or_else(|| "+Inf".to_string(), |bound| format_value(*bound));
            let mut with_bound = labels.to_vec();
            with_bound.push(("le", &bound));
            self.sample(&bucket_name, &with_bound, cumulative as f64);
        }
        self.sample(&format!("{name}_sum"), labels, histogram.sum);
        self.sample(&format!("{name}_count"), labels, cumulative as f64);
    }
}

/// Label values escape backslash, double quote and newline.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn format_value(value: f64) -> String {
    if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if value.is_nan() {
        "NaN".to_string()
    } else {
        value.to_string()
    }
}

/// One row of the store's `sources` view, as `/health` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceHealth {
    /// Source name.
    pub source: String,
    /// Status of its latest scrape.
    pub last_status: Option<String>,
    /// No success within twice the schedule interval.
    pub stale: Option<bool>,
    /// Start of its latest ok or partial scrape, Unix seconds.
    pub last_success: Option<f64>,
}

/// Read every source's health from the store (through the engine, so it is also a check that
/// the store is readable).
pub async fn read_source_health(engine: &Engine) -> Result<Vec<SourceHealth>, ServerError> {
    let batches = engine
        .query(
            "SELECT source, last_status, stale, date_part('epoch', last_success_at) FROM sources \
             ORDER BY source",
        )
        .await
        .map_err(|error| ServerError::Store(error.to_string()))?;
    let mut sources = Vec::new();
    for batch in batches {
        let columns = (0..batch.num_columns())
            .map(|index| arrow::compute::cast(batch.column(index), &DataType::Utf8))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| ServerError::Store(error.to_string()))?;
        let text: Vec<_> = columns
            .iter()
            .map(|column| column.as_string::<i32>())
            .collect();
        let cell = |column: usize, row: usize| {
            let array = text[column];
            (!array.is_null(row)).then(|| array.value(row).to_string())
        };
        for row in 0..batch.num_rows() {
            let Some(source) = cell(0, row) else { continue };
            sources.push(SourceHealth {
                source,
                last_status: cell(1, row),
                stale: cell(2, row).and_then(|value| value.parse().ok()),
                last_success: cell(3, row).and_then(|value| value.parse().ok()),
            });
        }
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn record(source: &str, status: ScrapeStatus, seconds: i64, versions: i64) -> ScrapeRecord {
        let started_at = chrono::Utc
            .timestamp_opt(1_700_000_000, 500_000_000)
            .unwrap();
        ScrapeRecord {
            scrape_id: "id".into(),
            source: source.into(),
            source_type: "terraform_state".into(),
            started_at,
            finished_at: started_at + chrono::Duration::seconds(seconds),
            status,
            resources_seen: 3,
            versions_written: versions,
            error: None,
            warnings: Vec::new(),
            interval_seconds: Some(60),
        }
    }

    #[tokio::test]
    async fn renders_the_text_exposition_format() {
        let metrics = Arc::new(Metrics::default());
        metrics.register_source("idle");
        metrics.scrape_finished(&record("tf", ScrapeStatus::Ok, 2, 5));
        metrics.scrape_finished(&record("tf", ScrapeStatus::Failed, 200, 0));
        metrics.seed_last_success("tf", 1.0);
        metrics.scrape_finished(&record("we\"ird\\", ScrapeStatus::Partial, 0, 1));
        assert_eq!(metrics.observe_query(async { Ok::<_, ()>(1) }).await, Ok(1));
        assert!(metrics
            .observe_query(async { Err::<(), _>("bad") })
            .await
            .is_err());
        let open = metrics.connection_opened();
        let _second = metrics.connection_opened();
        drop(open);
        metrics.connection_refused();

        let text = metrics.render();
        let lines: Vec<&str> = text.lines().collect();
        for expected in [
            "# TYPE groundtruth_source_last_success_timestamp_seconds gauge",
            "groundtruth_source_last_success_timestamp_seconds{source=\"tf\"} 1700000000.5",
            "groundtruth_source_last_success_timestamp_seconds{source=\"we\\\"ird\\\\\"} 1700000000.5",
            "# TYPE groundtruth_scrapes_total counter",
            "groundtruth_scrapes_total{source=\"tf\",status=\"ok\"} 1",
            "groundtruth_scrapes_total{source=\"tf\",status=\"failed\"} 1",
            "groundtruth_scrapes_total{source=\"idle\",status=\"ok\"} 0",
            "# TYPE groundtruth_scrape_duration_seconds histogram",
            "groundtruth_scrape_duration_seconds_bucket{source=\"tf\",le=\"1\"} 0",
            "groundtruth_scrape_duration_seconds_bucket{source=\"tf\",le=\"2.5\"} 1",
            "groundtruth_scrape_duration_seconds_bucket{source=\"tf\",le=\"300\"} 2",
            "groundtruth_scrape_duration_seconds_bucket{source=\"tf\",le=\"+Inf\"} 2",
            "groundtruth_scrape_duration_seconds_sum{source=\"tf\"} 202",
            "groundtruth_scrape_duration_seconds_count{source=\"tf\"} 2",
            "groundtruth_versions_written_total{source=\"tf\"} 5",
            "groundtruth_queries_total{outcome=\"ok\"} 1",
            "groundtruth_queries_total{outcome=\"error\"} 1",
            "groundtruth_query_duration_seconds_count 2",
            "groundtruth_query_duration_seconds_bucket{le=\"+Inf\"} 2",
            "groundtruth_connections_open 1",
            "groundtruth_connections_refused_total 1",
        ] {
            assert!(lines.contains(&expected), "missing {expected:?} in\n{text}");
        }
        assert!(
            !text.contains("last_success_timestamp_seconds{source=\"idle\"}"),
            "a source that never succeeded has no last success:\n{text}"
        );
        // Every sample belongs to a family declared just before it.
        let mut family = "";
        for line in &lines {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                family = rest.split(' ').next().unwrap_or_default();
            } else if !line.starts_with('#') {
                assert!(line.starts_with(family), "{line} outside {family}");
            }
        }
    }
}
