//! The foundation benchmarks: as-of state, one resource's history, a one-hour change window,
//! one 100k-resource ingest, and bytes on disk against full snapshots.
//!
//! The dataset (`GT_BENCH_PRESET=foundation`, the default: 100k resources × 2,000 one-minute
//! scrapes × 0.5 % churn; `GT_BENCH_PRESET=year`: 8,760 hourly scrapes; see `GT_BENCH_*` in
//! `groundtruth_benches::Params::from_env`) is built once into
//! `target/bench-data/foundation-<params>` and reused while its marker file exists. Criterion
//! groups are named after the dataset (`foundation`, `foundation-year`), so both coexist.
//! Besides criterion's own output, the non-timing figures (storage, RSS, dataset facts, first
//! runs) are written to `<dataset>/report.json`, and `EXPLAIN ANALYZE` of every query to
//! `<dataset>/explain_<query>.txt`.
//!
//! This is bench harness code: failures panic with context instead of being propagated.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use criterion::Criterion;
use groundtruth_benches::answers::plan_text;
use groundtruth_benches::{
    delta_table_bytes, ensure_dataset, ingest_fixture, open_store, reset_peak_rss, rss_kib,
    sql_timestamp, Params, TableBytes, SOURCE,
};
use groundtruth_engine::model::{ScrapeRecord, ScrapeStatus};
use groundtruth_engine::session::Engine;
use groundtruth_engine::state::ScrapeStamp;
use serde_json::json;
use tokio::runtime::Runtime;

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

fn log(line: &str) {
    eprintln!("[foundation] {line}");
}

/// A query whose first run takes longer than this is timed by hand (median of
/// [`SLOW_RUNS`] runs) instead of by criterion, whose 10 samples would take too long.
const SLOW_LIMIT: Duration = Duration::from_secs(20);
const SLOW_RUNS: usize = 3;

fn main() {
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    let runtime = Runtime::new().expect("tokio runtime");
    let params = Params::from_env().expect("benchmark parameters");
    let directory = groundtruth_benches::dataset_dir(&params);
    log(&format!("dataset {} ({:?})", directory.display(), params));

    let clock = Instant::now();
    let manifest = runtime
        .block_on(ensure_dataset(&params, &directory, &mut |line| log(line)))
        .expect("building the dataset");
    log(&format!(
        "dataset ready in {:.1}s: {}",
        clock.elapsed().as_secs_f64(),
        manifest.json
    ));
    let group_name = params.dataset_name();
    let history_id = manifest.history_id().expect("manifest");
    let history_kind = history_id.split('-').next().unwrap_or("k3").to_string();

    let store = Arc::new(
        runtime
            .block_on(open_store(&directory))
            .expect("opening store"),
    );
    let engine = runtime
        .block_on(Engine::open(Arc::clone(&store)))
        .expect("opening engine");
    let mid = params.mid_time();
    let hour_later = mid + chrono::Duration::hours(1);
    let queries = [
        (
            "as_of_count",
            format!("SELECT count(*) FROM resources_at({})", sql_timestamp(mid)),
        ),
        (
            "as_of_full",
            format!("SELECT * FROM resources_at({})", sql_timestamp(mid)),
        ),
        (
            "history",
            format!(
                "SELECT * FROM resource_versions WHERE source = '{SOURCE}' AND kind = '{history_kind}' \
                 AND id = '{history_id}' ORDER BY valid_from"
            ),
        ),
        (
            "changes_1h",
            format!(
                "SELECT * FROM changes({}, {})",
                sql_timestamp(mid),
                sql_timestamp(hour_later)
            ),
        ),
    ];

    // Check every answer once against what the generator wrote, and keep the first (cold-ish)
    // timing for the report.
    let mut first_runs = serde_json::Map::new();
    let mut slow = Vec::new();
    for (name, sql) in &queries {
        let clock = Instant::now();
        let batches = runtime
            .block_on(engine.query(sql))
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
        let elapsed = clock.elapsed();
        let count = rows(&batches);
        let expected = match *name {
            "as_of_count" => {
                let value =
                    arrow::compute::cast(batches[0].column(0), &arrow::datatypes::DataType::Int64)
                        .expect("count cast");
                let value = value
                    .as_any()
                    .downcast_ref::<arrow::array::Int64Array>()
                    .expect("count column")
                    .value(0) as u64;
                assert_eq!(value, manifest.live_at_mid().expect("manifest"), "{sql}");
                1
            }
            "as_of_full" => manifest.live_at_mid().expect("manifest") as usize,
            // resource_versions omits deletion markers.
            "history" => count,
            _ => manifest.changes_in_hour().expect("manifest") as usize,
        };
        assert_eq!(count, expected, "{sql}");
        log(&format!(
            "{name}: {count} rows, first run {:.1} ms",
            elapsed.as_secs_f64() * 1e3
        ));
        first_runs.insert(
            name.to_string(),
            json!({"rows": count, "first_run_ms": elapsed.as_secs_f64() * 1e3, "sql": sql}),
        );
        if elapsed > SLOW_LIMIT {
            slow.push(*name);
        }
        // Where the time goes, for the README (after the first run, so caches are warm).
        match runtime.block_on(engine.query(&format!("EXPLAIN ANALYZE {sql}"))) {
            Ok(batches) => {
                let text = plan_text(&batches).expect("plan text");
                std::fs::write(directory.join(format!("explain_{name}.txt")), text)
                    .expect("writing the plan");
            }
            Err(error) => log(&format!("EXPLAIN ANALYZE of {name} refused: {error}")),
        }
    }

    let mut manual_medians = serde_json::Map::new();
    for name in &slow {
        let sql = &queries
            .iter()
            .find(|(candidate, _)| candidate == name)
            .expect("a listed query")
            .1;
        let mut times: Vec<f64> = (0..SLOW_RUNS)
            .map(|_| {
                let clock = Instant::now();
                let batches = runtime
                    .block_on(engine.query(sql))
                    .unwrap_or_else(|error| panic!("{sql}: {error}"));
                rows(&batches);
                clock.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        log(&format!(
            "{name}: over {} s once, timed by hand: {times:?} ms",
            SLOW_LIMIT.as_secs()
        ));
        manual_medians.insert(
            name.to_string(),
            json!({"median_ms": times[times.len() / 2], "runs_ms": times}),
        );
    }

    {
        let mut group = criterion.benchmark_group(&group_name);
        for (name, sql) in &queries {
            if slow.contains(name) {
                continue;
            }
            if *name == "as_of_full" || *name == "as_of_count" {
                group.measurement_time(Duration::from_secs(15));
            } else {
                group.measurement_time(Duration::from_secs(5));
            }
            group.bench_function(*name, |bencher| {
                bencher.iter(|| {
                    let batches = runtime
                        .block_on(engine.query(sql))
                        .unwrap_or_else(|error| panic!("{sql}: {error}"));
                    rows(&batches)
                })
            });
        }
        group.finish();
    }
    drop(engine);
    drop(store);
    let peak_after_queries = rss_kib().map_or(0, |(peak, _)| peak);

    // (d) Ingest: diff a 100k-resource scrape against a 100k-resource index, commit the rows.
    let fixture = ingest_fixture(&params).expect("ingest fixture");
    let scratch = tempfile::Builder::new()
        .prefix("ingest-")
        .tempdir_in(directory.parent().unwrap_or(&directory))
        .expect("scratch directory");
    let scratch_store = runtime
        .block_on(open_store(&scratch.path().join("store")))
        .expect("scratch store");
    // The full snapshot the storage comparison multiplies: the initial scrape, all `added`.
    runtime
        .block_on(scratch_store.commit(
            std::slice::from_ref(&fixture.snapshot.record),
            &fixture.snapshot.rows,
        ))
        .expect("committing the snapshot");
    let snapshot_bytes = delta_table_bytes(&scratch.path().join("store").join("versions"))
        .expect("measuring the snapshot");
    let snapshot_rows = fixture.snapshot.rows.len();

    let (_, rss_before_ingest) = rss_kib().unwrap_or((0, 0));
    let peak_reset = reset_peak_rss();
    let mut plan_time = Duration::ZERO;
    let mut commit_time = Duration::ZERO;
    let mut ingests = 0u32;
    let mut written = 0usize;
    {
        let mut group = criterion.benchmark_group(&group_name);
        group.measurement_time(Duration::from_secs(10));
        group.bench_function("ingest_plan_commit", |bencher| {
            bencher.iter(|| {
                ingests += 1;
                let scrape_id = format!("ingest-{ingests:06}");
                let stamp = ScrapeStamp {
                    source: SOURCE,
                    scrape_id: &scrape_id,
                    started_at: fixture.started_at,
                    provenance: None,
                };
                let clock = Instant::now();
                let changes = fixture
                    .state
                    .plan(&stamp, &fixture.observation)
                    .expect("plan");
                plan_time += clock.elapsed();
                assert_eq!(changes.rows.len(), fixture.expected_rows);
                let record = ScrapeRecord {
                    scrape_id: scrape_id.clone(),
                    source: SOURCE.to_string(),
                    source_type: "synthetic".to_string(),
                    started_at: fixture.started_at,
                    finished_at: fixture.started_at,
                    status: ScrapeStatus::Ok,
                    resources_seen: fixture.observation.resources.len() as i64,
                    versions_written: changes.rows.len() as i64,
                    error: None,
                    warnings: Vec::new(),
                    interval_seconds: Some(params.interval_seconds),
                };
                let clock = Instant::now();
                runtime
                    .block_on(scratch_store.commit(&[record], &changes.rows))
                    .expect("commit");
                commit_time += clock.elapsed();
                written = changes.rows.len();
            })
        });
        group.finish();
    }
    let (peak_during_ingest, _) = rss_kib().unwrap_or((0, 0));

    // (e) Bytes on disk, state checkpoints included.
    let versions = delta_table_bytes(&directory.join("versions")).expect("measuring versions");
    let scrapes = delta_table_bytes(&directory.join("scrapes")).expect("measuring scrapes");
    let checkpoints_dir = directory.join("checkpoints");
    let checkpoints = if checkpoints_dir.join("_delta_log").exists() {
        delta_table_bytes(&checkpoints_dir).expect("measuring checkpoints")
    } else {
        TableBytes::default()
    };
    let store_bytes = versions.total() + scrapes.total() + checkpoints.total();
    let snapshots_bytes = snapshot_bytes.live_bytes * params.scrapes as u64;
    let ratio = store_bytes as f64 / snapshots_bytes as f64;
    let (peak_overall, rss_now) = rss_kib().unwrap_or((0, 0));

    let report = json!({
        "params": manifest.json["params"],
        "dataset": manifest.json,
        "first_runs": first_runs,
        "manual_medians": manual_medians,
        "criterion_group": group_name,
        "peak_rss_after_queries_kib": peak_after_queries,
        "ingest": {
            "resources_in_state": fixture.state.resources.len(),
            "resources_observed": fixture.observation.resources.len(),
            "rows_written_per_ingest": written,
            "iterations": ingests,
            "mean_plan_ms": plan_time.as_secs_f64() * 1e3 / f64::from(ingests.max(1)),
            "mean_commit_ms": commit_time.as_secs_f64() * 1e3 / f64::from(ingests.max(1)),
            "rss_before_ingest_kib": rss_before_ingest,
            "peak_rss_reset_before_ingest": peak_reset,
            "peak_rss_kib": peak_during_ingest,
        },
        "storage": {
            "versions_live_bytes": versions.live_bytes,
            "versions_live_files": versions.live_files.len(),
            "versions_log_bytes": versions.log_bytes,
            "versions_dead_bytes_not_vacuumed": versions.dead_bytes,
            "scrapes_live_bytes": scrapes.live_bytes,
            "scrapes_log_bytes": scrapes.log_bytes,
            "checkpoints_live_bytes": checkpoints.live_bytes,
            "checkpoints_live_files": checkpoints.live_files.len(),
            "checkpoints_log_bytes": checkpoints.log_bytes,
            "store_bytes": store_bytes,
            "snapshot_rows": snapshot_rows,
            "snapshot_bytes": snapshot_bytes.live_bytes,
            "full_snapshots_bytes": snapshots_bytes,
            "ratio": ratio,
        },
        "process_peak_rss_kib": peak_overall,
        "process_rss_kib": rss_now,
    });
    let text = serde_json::to_string_pretty(&report).expect("report");
    std::fs::write(directory.join("report.json"), &text).expect("writing report");
    log(&format!(
        "report ({}):\n{text}",
        directory.join("report.json").display()
    ));
    criterion.final_summary();
}
