//! State checkpoints: when they are written, that the state read through them is the state
//! history defines, that a refresh advances the in-memory current state, and that the reads
//! of `resources_at(T)` are bounded by statistics (EXPLAIN ANALYZE).

use std::sync::Arc;

use arrow::util::pretty::pretty_format_batches;
use chrono::{DateTime, Duration, Utc};
use groundtruth_engine::model::{Layer, Observation, ObservedResource, ScrapeRecord, ScrapeStatus};
use groundtruth_engine::session::Engine;
use groundtruth_engine::state::{ScrapeStamp, SourceState};
use groundtruth_engine::store::{CheckpointPolicy, Store, StoreOptions, StoreUrl};
use serde_json::json;

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn literal(instant: DateTime<Utc>) -> String {
    format!("TIMESTAMP '{}'", instant.format("%Y-%m-%d %H:%M:%S%.6f"))
}

/// Scrape `n` sees resources `r0..r{count}`; every third scrape changes a few, deletes one and
/// re-creates one deleted earlier, so histories have modifications, gaps and new existences.
fn observation(scrape: usize, count: usize) -> Observation {
    let resources = (0..count)
        .filter(|index| !(index + scrape).is_multiple_of(7) || !scrape.is_multiple_of(3))
        .map(|index| {
            let version = if index % 5 == scrape % 5 {
                scrape
            } else {
                index / 5
            };
            ObservedResource::new(
                if index % 2 == 0 { "queue" } else { "function" },
                format!("r{index}"),
                Layer::Live,
                json!({"version": version, "payload": "x".repeat(index % 13)}),
            )
            .with_name(format!("r{index}"))
        })
        .collect();
    Observation::complete(resources)
}

async fn write_history(store: &Store, scrapes: usize, count: usize) -> Vec<DateTime<Utc>> {
    let mut state = SourceState::default();
    let mut instants = Vec::new();
    for scrape in 0..scrapes {
        let started_at = start() + Duration::minutes(10 * scrape as i64);
        let scrape_id = format!("s{scrape}");
        let observed = observation(scrape, count);
        let stamp = ScrapeStamp {
            source: "cloud",
            scrape_id: &scrape_id,
            started_at,
            provenance: None,
        };
        let changes = state.plan(&stamp, &observed).unwrap();
        let record = ScrapeRecord {
            scrape_id: scrape_id.clone(),
            source: "cloud".into(),
            source_type: "test".into(),
            started_at,
            finished_at: started_at,
            status: ScrapeStatus::Ok,
            resources_seen: observed.resources.len() as i64,
            versions_written: changes.rows.len() as i64,
            error: None,
            warnings: vec![],
            interval_seconds: Some(600),
        };
        store.commit(&[record], &changes.rows).await.unwrap();
        state.apply(changes, started_at);
        store.maybe_checkpoint().await.unwrap();
        instants.push(started_at);
    }
    instants
}

async fn open_with_policy(url: &StoreUrl, min_versions: u64, state_ratio: f64) -> Arc<Store> {
    Arc::new(
        Store::open(url, &StoreOptions::default())
            .await
            .unwrap()
            .with_checkpoint_policy(CheckpointPolicy {
                min_versions,
                state_ratio,
            }),
    )
}

async fn text(engine: &Engine, sql: &str) -> String {
    pretty_format_batches(&engine.query(sql).await.unwrap())
        .unwrap()
        .to_string()
}

/// The state at T by its definition, straight from every stored version.
fn naive_at(instant: DateTime<Utc>) -> String {
    format!(
        "SELECT source, kind, id, name, attrs, first_seen, last_changed FROM (
           SELECT *, row_number() OVER (PARTITION BY source, kind, id ORDER BY valid_from DESC) AS recency,
                  max(CASE WHEN change = 'added' THEN valid_from END)
                    OVER (PARTITION BY source, kind, id) AS first_seen,
                  valid_from AS last_changed
           FROM storage.versions WHERE valid_from <= {at})
         WHERE recency = 1 AND change <> 'removed' ORDER BY source, kind, id",
        at = literal(instant)
    )
}

fn fast_at(instant: DateTime<Utc>) -> String {
    format!(
        "SELECT source, kind, id, name, attrs, first_seen, last_changed FROM resources_at({})
         ORDER BY source, kind, id",
        literal(instant)
    )
}

#[tokio::test]
async fn checkpoints_follow_the_policy_and_the_state_through_them_is_the_defined_state() {
    let directory = tempfile::tempdir().unwrap();
    let url = StoreUrl::parse(directory.path().to_str().unwrap()).unwrap();
    let store = open_with_policy(&url, 10, 0.5).await;
    let instants = write_history(&store, 30, 40).await;
    let engine = Engine::open(Arc::clone(&store)).await.unwrap();

    let checkpoints = engine
        .query("SELECT count(DISTINCT checkpoint_at_us) AS n FROM internals.checkpoints")
        .await
        .unwrap();
    let count =
        arrow::compute::cast(checkpoints[0].column(0), &arrow::datatypes::DataType::Int64).unwrap();
    let count = count
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .unwrap()
        .value(0);
    assert!(
        (3..30).contains(&count),
        "a checkpoint after the first scrape and then whenever 10+ versions accumulated: {count}"
    );

    // On scrape instants, just before and after them, between them, before and after history.
    let mut probes = vec![
        start() - Duration::seconds(1),
        *instants.last().unwrap() + Duration::days(1),
    ];
    for instant in &instants {
        probes.push(*instant);
        probes.push(*instant - Duration::microseconds(1));
        probes.push(*instant + Duration::minutes(5));
    }
    for probe in probes {
        assert_eq!(
            text(&engine, &fast_at(probe)).await,
            text(&engine, &naive_at(probe)).await,
            "resources_at({probe})"
        );
    }
    // The current state equals the state after the last scrape.
    let now = text(
        &engine,
        "SELECT source, kind, id, name, attrs, first_seen, last_changed FROM resources ORDER BY source, kind, id",
    )
    .await;
    assert_eq!(
        now,
        text(&engine, &naive_at(*instants.last().unwrap())).await
    );
}

#[tokio::test]
async fn a_refresh_advances_the_current_state_and_a_store_without_checkpoints_reads_the_same() {
    let directory = tempfile::tempdir().unwrap();
    let url = StoreUrl::parse(directory.path().to_str().unwrap()).unwrap();
    // A policy that never checkpoints: the state comes from versions alone.
    let store = open_with_policy(&url, u64::MAX, 0.0).await;
    let engine = Engine::open(Arc::clone(&store)).await.unwrap();
    assert_eq!(
        text(&engine, "SELECT count(*) AS n FROM resources").await,
        text(&engine, "SELECT 0 AS n").await
    );
    let instants = write_history(&store, 12, 25).await;
    engine.refresh().await.unwrap();
    let now = "SELECT source, kind, id, name, attrs, first_seen, last_changed FROM resources ORDER BY source, kind, id";
    assert_eq!(
        text(&engine, now).await,
        text(&engine, &naive_at(*instants.last().unwrap())).await
    );
    let none = engine
        .query("SELECT count(*) FROM internals.checkpoints")
        .await
        .unwrap();
    assert_eq!(
        pretty_format_batches(&none)
            .unwrap()
            .to_string()
            .matches(" 0 ")
            .count(),
        1
    );

    // Forcing a checkpoint changes no answer.
    let before = text(&engine, &fast_at(instants[7] + Duration::minutes(1))).await;
    let report = store.checkpoint("cloud").await.unwrap().unwrap();
    assert_eq!(report.at, *instants.last().unwrap());
    assert!(
        store.checkpoint("cloud").await.unwrap().is_none(),
        "one checkpoint per instant"
    );
    engine.refresh().await.unwrap();
    assert_eq!(
        text(&engine, &fast_at(instants[7] + Duration::minutes(1))).await,
        before
    );
    assert_eq!(
        text(&engine, &fast_at(*instants.last().unwrap())).await,
        text(&engine, &naive_at(*instants.last().unwrap())).await
    );

    // A reader that opens the store later starts from that checkpoint.
    let reader = Engine::open(Arc::new(
        Store::open(&url, &StoreOptions::default()).await.unwrap(),
    ))
    .await
    .unwrap();
    assert_eq!(text(&reader, now).await, text(&engine, now).await);
}

#[tokio::test]
async fn as_of_reads_only_one_checkpoint_and_the_versions_after_it() {
    let directory = tempfile::tempdir().unwrap();
    let url = StoreUrl::parse(directory.path().to_str().unwrap()).unwrap();
    let store = open_with_policy(&url, 20, 0.0).await;
    let instants = write_history(&store, 30, 40).await;
    let engine = Engine::open(Arc::clone(&store)).await.unwrap();
    let probe = instants[20] + Duration::minutes(1);
    let plan = text(
        &engine,
        &format!(
            "EXPLAIN ANALYZE SELECT count(*) FROM resources_at({})",
            literal(probe)
        ),
    )
    .await;
    assert!(plan.contains("StateMergeExec"), "{plan}");
    // Without attrs in the query, attrs is not read.
    assert!(!plan.contains("attrs"), "{plan}");
    // 30 commits wrote 30 version files; the read of the tail after the checkpoint opens
    // only the files whose valid_from statistics can hold rows in (checkpoint, T].
    let version_files = std::fs::read_dir(directory.path().join("versions"))
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|entry| entry.file_name().to_string_lossy().ends_with(".parquet"))
        })
        .count();
    let scanned: usize = plan
        .lines()
        .filter(|line| line.contains("DataSourceExec") && line.contains("/versions/"))
        .map(|line| line.matches(".parquet").count())
        .sum();
    assert!(version_files >= 30, "{version_files}");
    assert!(
        scanned > 0 && scanned < version_files / 2,
        "scanned {scanned} of {version_files} version files:\n{plan}"
    );
}
