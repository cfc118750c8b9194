//! Smoke test: a small generated history answers the benchmark questions with the counts the
//! generator recorded, and the storage measurement sees the compacted table.

use std::sync::Arc;

use arrow::array::{Array, Int64Array, RecordBatch};
use groundtruth_benches::answers::{nonzero, status_counts};
use groundtruth_benches::drift::{build_drift_dataset, drifted, DriftParams, StatusCounts};
use groundtruth_benches::{
    build_dataset, delta_table_bytes, ingest_fixture, open_store, sql_timestamp, Params, SOURCE,
};
use groundtruth_engine::session::Engine;
use groundtruth_engine::state::ScrapeStamp;

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_history_answers_the_benchmark_questions() {
    let params = Params::small();
    let directory = tempfile::tempdir().unwrap();
    let manifest = build_dataset(&params, directory.path(), &mut |line| eprintln!("{line}"))
        .await
        .unwrap();
    let store = Arc::new(open_store(directory.path()).await.unwrap());
    let engine = Engine::open(Arc::clone(&store)).await.unwrap();
    let mid = params.mid_time();

    let count = engine
        .query(&format!(
            "SELECT count(*) AS n FROM resources_at({})",
            sql_timestamp(mid)
        ))
        .await
        .unwrap();
    let column =
        arrow::compute::cast(count[0].column(0), &arrow::datatypes::DataType::Int64).unwrap();
    let value = column
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(value as u64, manifest.live_at_mid().unwrap());
    assert_eq!(value as usize, params.resources);

    let full = engine
        .query(&format!(
            "SELECT * FROM resources_at({})",
            sql_timestamp(mid)
        ))
        .await
        .unwrap();
    assert_eq!(rows(&full), params.resources);

    let id = manifest.history_id().unwrap();
    let history = engine
        .query(&format!(
            "SELECT * FROM resource_versions WHERE source = '{SOURCE}' AND kind = 'k3' AND id = '{id}' ORDER BY valid_from"
        ))
        .await
        .unwrap();
    assert!(rows(&history) >= 2, "{id} should have several versions");
    assert!(rows(&history) as u64 <= manifest.history_versions().unwrap());

    let changes = engine
        .query(&format!(
            "SELECT * FROM changes({}, {})",
            sql_timestamp(mid),
            sql_timestamp(mid + chrono::Duration::hours(1))
        ))
        .await
        .unwrap();
    assert_eq!(rows(&changes) as u64, manifest.changes_in_hour().unwrap());
    let total = engine
        .query("SELECT count(*) FROM storage.versions")
        .await
        .unwrap();
    let total = total[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert!(!total.is_null(0));
    assert_eq!(total.value(0) as u64, manifest.rows().unwrap());

    let bytes = delta_table_bytes(&directory.path().join("versions")).unwrap();
    assert!(bytes.live_bytes > 0 && bytes.log_bytes > 0);
    assert!(
        bytes.dead_bytes > 0,
        "compaction leaves the replaced files until vacuum"
    );

    let fixture = ingest_fixture(&params).unwrap();
    let stamp = ScrapeStamp {
        source: SOURCE,
        scrape_id: "ingest",
        started_at: fixture.started_at,
        provenance: None,
    };
    let changes = fixture.state.plan(&stamp, &fixture.observation).unwrap();
    assert_eq!(changes.rows.len(), fixture.expected_rows);
    // A modification can happen to restore the value it replaced; then nothing is written.
    assert!(changes.rows.len() <= params.churn_per_scrape());
    assert!(changes.rows.len() * 10 >= params.churn_per_scrape() * 9);
}

/// `drift`, `drift_at(T)` and `drift_history` over the small two-layer history give exactly
/// the statuses the generator's model planted (the model never asks the engine).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_drift_history_matches_what_was_planted() {
    let params = DriftParams::small();
    let directory = tempfile::tempdir().unwrap();
    let manifest = build_drift_dataset(&params, directory.path(), &mut |line| eprintln!("{line}"))
        .await
        .unwrap();
    let store = Arc::new(open_store(directory.path()).await.unwrap());
    let engine = Engine::open(Arc::clone(&store)).await.unwrap();
    let counts = |sql: String| {
        let engine = engine.clone();
        async move { status_counts(&engine.query(&sql).await.unwrap()).unwrap() }
    };

    let now = manifest.counts_now().unwrap();
    for status in ["changed", "in_sync", "missing", "unmanaged"] {
        assert!(
            now[status] > 0,
            "the small history plants {status}: {now:?}"
        );
    }
    assert_eq!(
        counts("SELECT status, count(*) FROM drift GROUP BY status".into()).await,
        nonzero(&now),
        "drift (now)"
    );
    let listed = engine
        .query("SELECT * FROM drift WHERE status <> 'in_sync'")
        .await
        .unwrap();
    assert_eq!(rows(&listed) as u64, drifted(&now));

    let mid = manifest.counts_mid().unwrap();
    assert_ne!(mid, now, "the history moves between mid and end");
    let at = sql_timestamp(params.mid_time());
    assert_eq!(
        counts(format!(
            "SELECT status, count(*) FROM drift_at({at}) GROUP BY status"
        ))
        .await,
        nonzero(&mid),
        "drift_at(mid)"
    );
    let listed = engine
        .query(&format!(
            "SELECT * FROM drift_at({at}) WHERE status <> 'in_sync'"
        ))
        .await
        .unwrap();
    assert_eq!(rows(&listed) as u64, drifted(&mid));

    // One interval per drift episode, and the ongoing ones are today's drift.
    let intervals = manifest.intervals().unwrap();
    assert_eq!(
        counts("SELECT status, count(*) FROM drift_history GROUP BY status".into()).await,
        nonzero(&intervals),
        "drift_history"
    );
    let mut ongoing = nonzero(&now);
    ongoing.remove("in_sync");
    assert_eq!(
        counts("SELECT status, count(*) FROM drift_history WHERE ongoing GROUP BY status".into())
            .await,
        ongoing,
        "ongoing drift_history intervals"
    );

    // Every pair is linked by the same identity.
    assert_eq!(
        counts("SELECT rule, count(*) FROM identity_links GROUP BY rule".into()).await,
        [("same_identity".to_string(), now["in_sync"] + now["changed"])]
            .into_iter()
            .collect::<StatusCounts>()
    );
    let total = engine
        .query("SELECT count(*) FROM storage.versions")
        .await
        .unwrap();
    let total = total[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(total.value(0) as u64, manifest.rows().unwrap());
}
