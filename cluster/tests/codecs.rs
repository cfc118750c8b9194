//! Plans crossing process boundaries by description, in one process: a client engine encodes
//! a query's logical plan, a second engine over the same store (the scheduler's) decodes and
//! plans it, a third (an executor's) decodes the physical plan and runs it. Each answer must
//! equal the embedded engine's, and the third engine must catch up with commits made after it
//! opened. Ballista's processes and network are exercised by tests/scripts/cluster.sh.

use std::sync::Arc;

use arrow::util::pretty::pretty_format_batches;
use chrono::{DateTime, Utc};
use datafusion::error::Result as DfResult;
use datafusion::physical_plan::{collect, displayable};
use datafusion_proto::bytes::{
    logical_plan_from_bytes_with_extension_codec, logical_plan_to_bytes_with_extension_codec,
    physical_plan_from_bytes_with_extension_codec, physical_plan_to_bytes_with_extension_codec,
};
use groundtruth_cluster::catalog::Surface;
use groundtruth_engine::drift::{DriftSettings, IgnoreRule};
use groundtruth_engine::model::{Layer, Observation, ObservedResource, ScrapeRecord, ScrapeStatus};
use groundtruth_engine::session::Engine;
use groundtruth_engine::state::{ScrapeStamp, SourceState};
use groundtruth_engine::store::{Store, StoreOptions, StoreUrl};
use serde_json::json;

const QUERIES: [&str; 5] = [
    "SELECT source, kind, id, attrs_hash, first_seen, last_changed FROM resources_at(TIMESTAMP '2026-01-02 12:00:00') ORDER BY kind, id",
    "SELECT kind, id, change, changed_at FROM changes(TIMESTAMP '2026-01-01 06:00:00', TIMESTAMP '2026-01-04 00:00:00') ORDER BY kind, id, changed_at",
    "SELECT kind, count(*) AS versions, count(DISTINCT id) AS ids, count(valid_to) AS closed FROM resource_versions GROUP BY kind ORDER BY kind",
    // The drift UDF over a state at T (this fixture has no live source, so drift_at is empty).
    "SELECT id, attribute_drift(kind, attrs, attrs) AS differences FROM resources_at(TIMESTAMP '2026-01-02 12:00:00') ORDER BY id",
    "SELECT id, change, valid_from FROM storage.versions ORDER BY id, valid_from",
];

fn queue(id: &str, timeout: i64) -> ObservedResource {
    ObservedResource::new(
        "aws_sqs_queue",
        id,
        Layer::Declared,
        json!({"visibility_timeout_seconds": timeout, "name": id}),
    )
    .with_name(id)
}

/// Commit one ok scrape of source `tf` seeing `resources`.
async fn scrape(
    store: &Store,
    state: &mut SourceState,
    id: &str,
    day: u32,
    resources: Vec<ObservedResource>,
) {
    let started_at: DateTime<Utc> = format!("2026-01-0{day}T00:00:00Z").parse().unwrap();
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
        interval_seconds: Some(86_400),
    };
    store.commit(&[record], &changes.rows).await.unwrap();
    state.apply(changes, started_at);
}

/// A store holding one scrape of one queue (the directory lives as long as the guard).
async fn one_scrape_store() -> (tempfile::TempDir, StoreUrl) {
    let directory = tempfile::tempdir().unwrap();
    let url = StoreUrl::parse(directory.path().to_str().unwrap()).unwrap();
    let writer = Store::open(&url, &StoreOptions::default()).await.unwrap();
    scrape(
        &writer,
        &mut SourceState::default(),
        "s1",
        1,
        vec![queue("orders", 30)],
    )
    .await;
    (directory, url)
}

async fn engine(url: &StoreUrl) -> Arc<Engine> {
    engine_with(url, &DriftSettings::default()).await
}

async fn engine_with(url: &StoreUrl, drift: &DriftSettings) -> Arc<Engine> {
    let store = Store::open(url, &StoreOptions::default()).await.unwrap();
    Arc::new(Engine::open_with(Arc::new(store), drift).await.unwrap())
}

/// `sql` planned and optimised by `client`, encoded as the client sends it.
async fn client_plan(client: &Surface, sql: &str) -> Vec<u8> {
    let (_, client_logical, _) = Surface::with_codecs(Arc::clone(client.engine()))
        .await
        .unwrap();
    let frame = client.engine().sql(sql).await.unwrap().pop().unwrap();
    let state = client.engine().context().state();
    let plan = state.optimize(frame.logical_plan()).unwrap();
    logical_plan_to_bytes_with_extension_codec(&plan, client_logical.as_ref())
        .unwrap()
        .to_vec()
}

/// A client's plan decoded and planned by `scheduler`, encoded as it sends its stages.
async fn scheduler_plan(scheduler: &Surface, bytes: &[u8]) -> DfResult<Vec<u8>> {
    let (_, scheduler_logical, scheduler_physical) =
        Surface::with_codecs(Arc::clone(scheduler.engine()))
            .await
            .unwrap();
    let scheduling = scheduler.engine().context();
    let plan = logical_plan_from_bytes_with_extension_codec(
        bytes,
        &scheduling.task_ctx(),
        scheduler_logical.as_ref(),
    )?;
    let physical = scheduling.state().create_physical_plan(&plan).await?;
    let shown = displayable(physical.as_ref()).indent(false).to_string();
    assert!(
        shown.contains("GroundtruthScanExec"),
        "no Groundtruth scan in\n{shown}"
    );
    Ok(
        physical_plan_to_bytes_with_extension_codec(physical, scheduler_physical.as_ref())?
            .to_vec(),
    )
}

/// A scheduler's physical plan decoded and run by `executor`.
async fn executor_run(executor: &Surface, bytes: &[u8]) -> DfResult<String> {
    let (_, _, executor_physical) = Surface::with_codecs(Arc::clone(executor.engine()))
        .await
        .unwrap();
    let running = executor.engine().context().task_ctx();
    let physical =
        physical_plan_from_bytes_with_extension_codec(bytes, &running, executor_physical.as_ref())?;
    let batches = collect(physical, running).await?;
    Ok(pretty_format_batches(&batches)?.to_string())
}

/// `sql` planned by `client`, planned again by `scheduler`, run by `executor`.
async fn across(client: &Surface, scheduler: &Surface, executor: &Surface, sql: &str) -> String {
    let bytes = client_plan(client, sql).await;
    let bytes = scheduler_plan(scheduler, &bytes)
        .await
        .unwrap_or_else(|error| panic!("{sql}: scheduler: {error}"));
    executor_run(executor, &bytes)
        .await
        .unwrap_or_else(|error| panic!("{sql}: executor: {error}"))
}

async fn embedded(engine: &Engine, sql: &str) -> String {
    let batches = engine.query(sql).await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_cross_engines_by_description_and_answer_alike() {
    let directory = tempfile::tempdir().unwrap();
    let url = StoreUrl::parse(directory.path().to_str().unwrap()).unwrap();
    let writer = Store::open(&url, &StoreOptions::default()).await.unwrap();
    let mut state = SourceState::default();
    scrape(
        &writer,
        &mut state,
        "s1",
        1,
        vec![queue("orders", 30), queue("billing", 30)],
    )
    .await;
    scrape(
        &writer,
        &mut state,
        "s2",
        2,
        vec![queue("orders", 60), queue("billing", 30)],
    )
    .await;

    // The scheduler's and the executor's engines open before the last commit: they must catch
    // up with the client's snapshot, not answer from their own.
    let scheduler = Surface::new(engine(&url).await).await.unwrap();
    let executor = Surface::new(engine(&url).await).await.unwrap();
    scrape(
        &writer,
        &mut state,
        "s3",
        3,
        vec![queue("orders", 60), queue("audit", 10)],
    )
    .await;
    let client = Surface::new(engine(&url).await).await.unwrap();

    for sql in QUERIES {
        let expected = embedded(client.engine(), sql).await;
        assert!(expected.lines().count() > 4, "{sql}: no rows\n{expected}");
        assert_eq!(
            across(&client, &scheduler, &executor, sql).await,
            expected,
            "{sql}"
        );
    }
    let latest = across(&client, &scheduler, &executor, QUERIES[4]).await;
    assert!(
        latest.contains("audit"),
        "the executor answered from before the last commit:\n{latest}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_table_is_refused_by_name() {
    let (_directory, url) = one_scrape_store().await;
    let surface = Surface::new(engine(&url).await).await.unwrap();
    let error = surface
        .resolve(&groundtruth_cluster::identity::Identity::Table(
            "storage.nonexistent".into(),
        ))
        .unwrap_err()
        .to_string();
    assert!(error.contains("storage.nonexistent"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_with_other_drift_settings_refuses_the_query() {
    let (_directory, url) = one_scrape_store().await;
    // One ignore rule more: attribute_drift would hide a difference the client's shows.
    let other = DriftSettings {
        ignores: vec![IgnoreRule::new(
            "aws_sqs_queue",
            "visibility_timeout_seconds",
        )],
        ..DriftSettings::default()
    };
    let client = Surface::new(engine(&url).await).await.unwrap();
    let alike = Surface::new(engine(&url).await).await.unwrap();
    let different = Surface::new(engine_with(&url, &other).await).await.unwrap();
    let sql = QUERIES[3];

    let refused_for_drift = |refused: DfResult<()>| {
        let error = refused.unwrap_err().to_string();
        assert!(
            error.contains("[drift] settings") && error.contains("differ"),
            "{error}"
        );
    };
    // Refused by the scheduler, and by an executor when the scheduler agrees with the client.
    let plan = client_plan(&client, sql).await;
    refused_for_drift(scheduler_plan(&different, &plan).await.map(|_| ()));
    let stages = scheduler_plan(&alike, &plan).await.unwrap();
    refused_for_drift(executor_run(&different, &stages).await.map(|_| ()));
    // Processes that all have the extra rule answer.
    let client = Surface::new(engine_with(&url, &other).await).await.unwrap();
    let plan = client_plan(&client, sql).await;
    let stages = scheduler_plan(&different, &plan).await.unwrap();
    let answer = executor_run(&different, &stages).await.unwrap();
    assert!(answer.contains("orders"), "{answer}");
}
