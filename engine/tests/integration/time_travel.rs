//! End-to-end engine behaviour: change-only writes, as-of queries, change events, recovery.

use std::sync::Arc;

use arrow::util::pretty::pretty_format_batches;
use chrono::{DateTime, Utc};
use groundtruth_engine::model::{Layer, Observation, ObservedResource, ScrapeRecord, ScrapeStatus};
use groundtruth_engine::session::Engine;
use groundtruth_engine::state::{ScrapeStamp, SourceState};
use groundtruth_engine::store::{Store, StoreOptions, StoreUrl};
use serde_json::json;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

async fn scrape(
    store: &Store,
    state: &mut SourceState,
    id: &str,
    started: &str,
    resources: Vec<ObservedResource>,
) {
    let started_at = at(started);
    let observation = Observation::complete(resources);
    let stamp = ScrapeStamp {
        source: "tf",
        scrape_id: id,
        started_at,
        provenance: None,
    };
    let changes = state.plan(&stamp, &observation).unwrap();
    let record = ScrapeRecord {
        scrape_id: id.into(),
        source: "tf".into(),
        source_type: "test".into(),
        started_at,
        finished_at: started_at,
        status: ScrapeStatus::Ok,
        resources_seen: observation.resources.len() as i64,
        versions_written: changes.rows.len() as i64,
        error: None,
        warnings: vec![],
        interval_seconds: Some(60),
    };
    store.commit(&[record], &changes.rows).await.unwrap();
    state.apply(changes, started_at);
}

fn queue(id: &str, timeout: i64) -> ObservedResource {
    ObservedResource::new(
        "aws_sqs_queue",
        id,
        Layer::Declared,
        json!({"visibility_timeout_seconds": timeout, "name": id}),
    )
    .with_name(id)
}

async fn text(engine: &Engine, sql: &str) -> String {
    let batches = engine
        .query(sql)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
    pretty_format_batches(&batches).unwrap().to_string()
}

#[tokio::test]
async fn history_as_of_and_changes() {
    let directory = tempfile::tempdir().unwrap();
    let url = StoreUrl::parse(directory.path().to_str().unwrap()).unwrap();
    let store = Arc::new(Store::open(&url, &StoreOptions::default()).await.unwrap());
    let mut state = SourceState::default();
    scrape(
        &store,
        &mut state,
        "s1",
        "2026-01-01T00:00:00Z",
        vec![queue("a", 30), queue("b", 30)],
    )
    .await;
    scrape(
        &store,
        &mut state,
        "s2",
        "2026-01-01T01:00:00Z",
        vec![queue("a", 30), queue("b", 60)],
    )
    .await;
    scrape(
        &store,
        &mut state,
        "s3",
        "2026-01-01T02:00:00Z",
        vec![queue("b", 60)],
    )
    .await;

    let engine = Engine::open(Arc::clone(&store)).await.unwrap();
    let current = text(
        &engine,
        "SELECT id, attrs->>'visibility_timeout_seconds' AS timeout FROM resources ORDER BY id",
    )
    .await;
    assert!(current.contains("| b  | 60"), "{current}");
    assert!(!current.contains("| a "), "{current}");

    let as_of = text(&engine, "SELECT id, attrs->>'visibility_timeout_seconds' AS timeout FROM resources_at(TIMESTAMP '2026-01-01 00:30:00') ORDER BY id").await;
    assert!(
        as_of.contains("| a  | 30") && as_of.contains("| b  | 30"),
        "{as_of}"
    );
    let system_time = text(&engine, "SELECT id, attrs->>'visibility_timeout_seconds' AS timeout FROM resources FOR SYSTEM_TIME AS OF TIMESTAMP '2026-01-01 00:30:00' ORDER BY id").await;
    assert_eq!(as_of, system_time);

    let changes = text(&engine, "SELECT id, change, changed_paths, diff FROM changes(TIMESTAMP '2026-01-01 00:00:00', TIMESTAMP '2026-01-01 02:00:00') ORDER BY id").await;
    assert!(changes.contains("| a  | removed"), "{changes}");
    assert!(
        changes.contains("[visibility_timeout_seconds]"),
        "{changes}"
    );

    let versions = text(&engine, "SELECT id, valid_from, valid_to, change_window_start FROM resource_versions WHERE id = 'b' ORDER BY valid_from").await;
    assert!(
        versions.contains("2026-01-01T01:00:00Z") && versions.contains("2026-01-01T00:00:00Z"),
        "{versions}"
    );

    let sources = text(&engine, "SELECT source, last_status, scrapes FROM sources").await;
    assert!(sources.contains("| tf     | ok          | 3 "), "{sources}");

    // A second engine (another process) sees the same history; a restart rebuilds the index.
    let reopened = Store::open(&url, &StoreOptions::default()).await.unwrap();
    let index = reopened.load_state().await.unwrap();
    assert_eq!(index["tf"].resources.len(), 1);
    assert_eq!(index["tf"].last_success, Some(at("2026-01-01T02:00:00Z")));
}

#[tokio::test]
async fn compaction_keeps_every_version_exactly_once() {
    let directory = tempfile::tempdir().unwrap();
    let url = StoreUrl::parse(directory.path().to_str().unwrap()).unwrap();
    let store = Arc::new(Store::open(&url, &StoreOptions::default()).await.unwrap());
    let mut state = SourceState::default();
    for hour in 0..12 {
        let queues: Vec<ObservedResource> = (0..20)
            .map(|index| queue(&format!("q{index:02}"), 30 + (hour * index) % 7))
            .collect();
        scrape(
            &store,
            &mut state,
            &format!("s{hour}"),
            &format!("2026-01-01T{hour:02}:00:00Z"),
            queues,
        )
        .await;
    }
    let engine = Engine::open(Arc::clone(&store)).await.unwrap();
    let questions = [
        "SELECT count(*) FROM resource_versions",
        "SELECT id, valid_from, valid_to, attrs FROM resource_versions ORDER BY id, valid_from",
        "SELECT * FROM resources_at(TIMESTAMP '2026-01-01 05:30:00') ORDER BY id",
        "SELECT id, change, diff FROM changes(TIMESTAMP '2026-01-01 02:00:00', TIMESTAMP '2026-01-01 08:00:00') ORDER BY changed_at, id",
    ];
    let mut before = Vec::new();
    for question in questions {
        before.push(text(&engine, question).await);
    }
    let files_before = std::fs::read_dir(directory.path().join("versions"))
        .unwrap()
        .count();
    let report = store.compact().await.unwrap();
    assert!(
        report.files_removed > 1 && report.files_added >= 1,
        "{report:?} ({files_before} entries before)"
    );
    engine.refresh().await.unwrap();
    for (question, expected) in questions.iter().zip(&before) {
        assert_eq!(&text(&engine, question).await, expected, "{question}");
    }
    // Another process opening the store after compaction sees the same.
    let reopened = Arc::new(Store::open(&url, &StoreOptions::default()).await.unwrap());
    let other = Engine::open(reopened).await.unwrap();
    assert_eq!(text(&other, questions[0]).await, before[0]);
}

#[tokio::test]
async fn a_commit_interrupted_between_its_steps_is_finished_by_the_writer() {
    let directory = tempfile::tempdir().unwrap();
    let url = StoreUrl::parse(directory.path().to_str().unwrap()).unwrap();
    let store = Arc::new(Store::open(&url, &StoreOptions::default()).await.unwrap());
    let mut state = SourceState::default();
    scrape(
        &store,
        &mut state,
        "s1",
        "2026-01-01T00:00:00Z",
        vec![queue("a", 30)],
    )
    .await;

    // Step 2 of the protocol happened (versions committed), step 3 (the scrape record) did not.
    let stamp = ScrapeStamp {
        source: "tf",
        scrape_id: "s2",
        started_at: at("2026-01-01T01:00:00Z"),
        provenance: None,
    };
    let changes = state
        .plan(&stamp, &Observation::complete(vec![queue("a", 45)]))
        .unwrap();
    store.commit(&[], &changes.rows).await.unwrap();

    let reader = Engine::open(Arc::new(
        Store::open(&url, &StoreOptions::default()).await.unwrap(),
    ))
    .await
    .unwrap();
    assert_eq!(
        text(&reader, "SELECT count(*) AS n FROM scrapes").await,
        text(&reader, "SELECT 1 AS n").await,
        "readers never recover"
    );

    let writer = Arc::new(Store::open(&url, &StoreOptions::default()).await.unwrap());
    writer.recover().await.unwrap();
    writer.recover().await.unwrap();
    let engine = Engine::open(Arc::clone(&writer)).await.unwrap();
    let scrapes = text(
        &engine,
        "SELECT scrape_id, status, versions_written, error FROM scrapes ORDER BY started_at",
    )
    .await;
    assert!(
        scrapes.contains("| s2        | ok     | 1                | recovered on restart"),
        "{scrapes}"
    );
    assert_eq!(
        text(&engine, "SELECT count(*) AS n FROM scrapes").await,
        text(&engine, "SELECT 2 AS n").await,
        "recovery is idempotent"
    );
    let index = writer.load_state().await.unwrap();
    assert_eq!(index["tf"].last_success, Some(at("2026-01-01T01:00:00Z")));
    let current = text(
        &engine,
        "SELECT attrs->>'visibility_timeout_seconds' AS timeout FROM resources",
    )
    .await;
    assert!(current.contains("45"), "{current}");
}
