//! The reliability campaign, part 2 (object-store faults), and panic containment per source.
//!
//! A writer commits 40 scrapes (20 on S3) of a changing source through an object store that fails,
//! stalls and slows puts, gets, lists and deletes on a seeded schedule (local store, then
//! moto's S3). Afterwards, read without faults: every acknowledged scrape is present exactly
//! once, no version is duplicated or redundant (a failed commit never makes the next scrape
//! diff against the wrong state), each commit ended within a bound (retries are bounded), the
//! writer reopens through the faults every 10 rounds (its reads are retried by the store's
//! `RetryingStore`; its writes are not), and a reader whose refreshes fail keeps answering from
//! its last good snapshot.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, StringArray};
use arrow::datatypes::DataType;
use groundtruth_engine::clock::SystemClock;
use groundtruth_engine::model::{Layer, Observation, ObservedResource, ScrapeStatus};
use groundtruth_engine::session::Engine;
use groundtruth_engine::store::{
    CheckpointPolicy, FaultPlan, ReadRetryPolicy, Store, StoreOptions, StoreUrl,
};
use groundtruth_ingest::error::Result;
use groundtruth_ingest::runner::{Ingestor, RunOptions};
use groundtruth_ingest::source::{ScrapeContext, Source};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::support::moto;

/// Resources of the generated estate, besides the marker.
const ITEMS: u64 = 300;

/// A source whose output is a pure function of a round number: each round changes a fifth
/// of the items, removes six (back the next round) and moves a marker whose `round` attribute
/// identifies the scrape that wrote it.
#[derive(Debug)]
struct Generated {
    round: Arc<AtomicU64>,
}

fn generation(round: u64) -> Vec<ObservedResource> {
    let mut resources: Vec<ObservedResource> = (0..ITEMS)
        .filter(|i| i % 50 != round % 50)
        .map(|i| {
            ObservedResource::new(
                "item",
                format!("i{i}"),
                Layer::Live,
                json!({"n": i, "v": (round + i % 5) / 5}),
            )
        })
        .collect();
    resources.push(ObservedResource::new(
        "marker",
        "marker",
        Layer::Live,
        json!({"round": round}),
    ));
    resources
}

#[async_trait::async_trait]
impl Source for Generated {
    fn name(&self) -> &str {
        "generated"
    }
    fn source_type(&self) -> &'static str {
        "test"
    }
    async fn scrape(&self, _context: &ScrapeContext) -> Result<Observation> {
        Ok(Observation::complete(generation(
            self.round.load(Ordering::SeqCst),
        )))
    }
}

/// A source whose parser has a bug.
#[derive(Debug)]
struct Panicking;

#[async_trait::async_trait]
impl Source for Panicking {
    fn name(&self) -> &str {
        "panicking"
    }
    fn source_type(&self) -> &'static str {
        "test"
    }
    async fn scrape(&self, _context: &ScrapeContext) -> Result<Observation> {
        let input: &[u8] = b"";
        panic!(
            "index out of bounds: the len is {} but the index is 3",
            input.len()
        )
    }
}

/// Every row of a query, each column cast to text (NULL as "NULL").
async fn rows(engine: &Engine, sql: &str) -> Vec<Vec<String>> {
    let batches = engine
        .query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut rows = Vec::new();
    for batch in batches {
        let columns: Vec<_> = batch
            .columns()
            .iter()
            .map(|column| arrow::compute::cast(column, &DataType::Utf8).expect("cast to text"))
            .collect();
        for row in 0..batch.num_rows() {
            rows.push(
                columns
                    .iter()
                    .map(|column| {
                        let text = column.as_any().downcast_ref::<StringArray>().expect("text");
                        if text.is_null(row) {
                            "NULL".to_string()
                        } else {
                            text.value(row).to_string()
                        }
                    })
                    .collect(),
            );
        }
    }
    rows
}

async fn open_store(url: &StoreUrl, options: &StoreOptions) -> std::result::Result<Store, String> {
    Store::open(url, options)
        .await
        .map(|store| {
            store.with_checkpoint_policy(CheckpointPolicy {
                min_versions: 50,
                state_ratio: 0.2,
            })
        })
        .map_err(|error| error.to_string())
}

/// Open a writer through the faults, as a restarting process would (opening reads, so it may
/// fail too; each attempt is a new process).
async fn open_writer(url: &StoreUrl, options: &StoreOptions) -> Ingestor {
    let mut last = String::new();
    for attempt in 0..30 {
        // Each attempt is a new process: a new draw of the schedule (the same seed would
        // replay the same faults and fail the same way every time).
        let mut options = options.clone();
        if let Some(plan) = options.faults.as_mut() {
            plan.seed += attempt;
        }
        match open_store(url, &options).await {
            Ok(store) => match Ingestor::open(Arc::new(store), Arc::new(SystemClock)).await {
                Ok(ingestor) => return ingestor,
                Err(error) => last = error.to_string(),
            },
            Err(error) => last = error,
        }
    }
    panic!("the writer could not open in 30 attempts through the faults: {last}");
}

/// Rounds of a campaign: `default` (the bounded run of `cargo test`), or `STORE_FAULT_ROUNDS`
/// for a long run.
fn rounds(default: u64) -> u64 {
    std::env::var("STORE_FAULT_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(default)
}

/// Run the campaign against `url`; `seed` picks the fault schedule.
async fn commits_land_whole_under_faults(
    url: StoreUrl,
    base: StoreOptions,
    seed: u64,
    rounds: u64,
) {
    let plan = FaultPlan::parse(&format!(
        "seed={seed},error=0.02,timeout=0.005,timeout_ms=150,slow=0.05,slow_ms=10"
    ))
    .unwrap();
    let faulty = StoreOptions {
        faults: Some(plan),
        ..base.clone()
    };
    let round = Arc::new(AtomicU64::new(1));
    let source = Generated {
        round: Arc::clone(&round),
    };
    let options = RunOptions {
        timeout: Duration::from_secs(30),
        interval: None,
    };
    let cancel = CancellationToken::new();
    // A reader (its refreshes fail at times), as a server would hold. Its reads are not
    // retried, so that refreshes really fail and the last good snapshot is what answers.
    let reader_plan = FaultPlan::parse(&format!("seed={seed},error=0.3,ops=list")).unwrap();
    let mut attempt = 0;
    let reader_store = loop {
        let mut plan = reader_plan.clone();
        plan.seed += attempt;
        let options = StoreOptions {
            faults: Some(plan),
            read_retries: ReadRetryPolicy {
                attempts: 1,
                ..ReadRetryPolicy::default()
            },
            ..base.clone()
        };
        if let Ok(store) = open_store(&url, &options).await {
            break Arc::new(store);
        }
        attempt += 1;
        assert!(attempt < 50, "the reader could not open in 50 attempts");
    };
    eprintln!("reader store open");
    let reader = Engine::open(reader_store).await.expect("reader engine");
    eprintln!("reader engine open");

    let mut writer = open_writer(&url, &faulty).await;
    eprintln!("writer open");
    let (mut acknowledged, mut failed, mut reader_failures) = (Vec::new(), 0, 0);
    let mut reader_saw: Option<String> = None;
    for r in 1..=rounds {
        round.store(r, Ordering::SeqCst);
        let started = Instant::now();
        match writer.run_once(&source, options, &cancel).await {
            Ok(record) => {
                assert_eq!(record.status, ScrapeStatus::Ok, "{record:?}");
                acknowledged.push(r);
            }
            Err(_) => failed += 1,
        }
        // Retries are bounded: no commit outlives a few timeouts.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "round {r} took {:?}",
            started.elapsed()
        );
        if r % 10 == 0 {
            // A restart in the middle of the campaign.
            writer = open_writer(&url, &faulty).await;
        }
        // The reader answers whether or not its refresh worked, from its last good snapshot.
        let refreshed = reader.refresh().await.is_ok();
        if !refreshed {
            reader_failures += 1;
        }
        let marker = rows(
            &reader,
            "SELECT attrs->>'round' FROM resources WHERE id = 'marker'",
        )
        .await;
        let seen = marker.first().map(|row| row[0].clone());
        if refreshed {
            if acknowledged.last() == Some(&r) {
                assert_eq!(seen.as_deref(), Some(r.to_string().as_str()), "round {r}");
            }
        } else {
            assert_eq!(
                seen, reader_saw,
                "round {r}: a failed refresh changed the answer"
            );
        }
        reader_saw = seen;
        eprintln!(
            "round {r}: {} acknowledged, {failed} failed, {:?} this round",
            acknowledged.len(),
            started.elapsed()
        );
    }
    // The schedule really injected faults, and most commits still went through.
    assert!(failed > 0, "no commit failed: the faults were not injected");
    // At least half of the rounds (the first version required 20 whatever the rounds, which
    // the 20 rounds on S3 could only meet with no failed commit, contradicting the line above).
    assert!(
        acknowledged.len() as u64 >= rounds / 2,
        "only {} of {rounds} acknowledged",
        acknowledged.len()
    );
    assert!(reader_failures > 0, "no reader refresh failed");
    drop(writer);

    // A last scrape without faults, then every check reads the store without faults.
    let clean = Arc::new(open_store(&url, &base).await.expect("clean open"));
    let writer = Ingestor::open(Arc::clone(&clean), Arc::new(SystemClock))
        .await
        .expect("clean writer");
    let last = rounds + 1;
    round.store(last, Ordering::SeqCst);
    writer
        .run_once(&source, options, &cancel)
        .await
        .expect("clean scrape");
    acknowledged.push(last);
    let engine = Engine::open(clean).await.expect("engine");

    let markers: HashMap<u64, u64> = rows(
        &engine,
        "SELECT attrs->>'round', count(*) FROM storage.versions \
         WHERE id = 'marker' AND change <> 'removed' GROUP BY 1",
    )
    .await
    .into_iter()
    .map(|row| (row[0].parse().unwrap(), row[1].parse().unwrap()))
    .collect();
    for r in &acknowledged {
        assert_eq!(
            markers.get(r),
            Some(&1),
            "acknowledged scrape {r} not present exactly once"
        );
    }
    assert!(markers.values().all(|count| *count == 1), "{markers:?}");
    let duplicated = rows(
        &engine,
        "SELECT kind, id, valid_from, count(*) FROM storage.versions \
         GROUP BY kind, id, valid_from HAVING count(*) > 1",
    )
    .await;
    assert!(duplicated.is_empty(), "duplicated versions: {duplicated:?}");
    // A scrape diffed against the wrong state writes a version equal to the one before.
    let redundant = rows(
        &engine,
        "SELECT id, valid_from FROM (SELECT id, valid_from, change, attrs_hash, \
           lag(attrs_hash) OVER (PARTITION BY kind, id ORDER BY valid_from) AS before, \
           lag(change) OVER (PARTITION BY kind, id ORDER BY valid_from) AS change_before \
         FROM storage.versions) \
         WHERE (change <> 'removed' AND change_before IS NOT NULL AND change_before <> 'removed' \
                AND attrs_hash = before) \
            OR (change = 'removed' AND change_before = 'removed')",
    )
    .await;
    assert!(redundant.is_empty(), "redundant versions: {redundant:?}");
    let orphans = rows(
        &engine,
        "SELECT DISTINCT v.scrape_id FROM storage.versions v \
         LEFT ANTI JOIN storage.scrapes s ON v.scrape_id = s.scrape_id",
    )
    .await;
    assert!(
        orphans.is_empty(),
        "versions without a scrape record: {orphans:?}"
    );
    let doubled = rows(
        &engine,
        "SELECT scrape_id FROM storage.scrapes GROUP BY scrape_id HAVING count(*) > 1",
    )
    .await;
    assert!(
        doubled.is_empty(),
        "scrape records written twice: {doubled:?}"
    );
    // The current state is exactly the last scrape's.
    let expected = generation(last);
    let state = rows(
        &engine,
        "SELECT count(*), sum(CAST(attrs->>'v' AS BIGINT) * (CAST(attrs->>'n' AS BIGINT) + 1)) \
         FROM resources WHERE kind = 'item'",
    )
    .await;
    let checksum: u64 = (0..ITEMS)
        .filter(|i| i % 50 != last % 50)
        .map(|i| ((last + i % 5) / 5) * (i + 1))
        .sum();
    assert_eq!(
        state,
        vec![vec![(expected.len() - 1).to_string(), checksum.to_string()]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_land_whole_under_faults_on_a_local_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::parse(dir.path().to_str().unwrap()).unwrap();
    commits_land_whole_under_faults(url, StoreOptions::default(), 20261206, rounds(40)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_land_whole_under_faults_on_s3() {
    let server = moto::MotoServer::start();
    let status = std::process::Command::new(moto::venv().join("bin/python"))
        .args([
            "-c",
            "import sys, boto3; boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1').create_bucket(Bucket='faults')",
            &server.endpoint(),
        ])
        .status()
        .expect("run boto3");
    assert!(status.success(), "creating the bucket failed");
    let url = StoreUrl::parse("s3://faults/history").unwrap();
    let options = StoreOptions {
        endpoint: Some(server.endpoint()),
        region: Some("us-east-1".into()),
        allow_http: true,
        ..StoreOptions::default()
    };
    commits_land_whole_under_faults(url, options, 7, rounds(20)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_source_is_a_failed_scrape_and_the_writer_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::parse(dir.path().to_str().unwrap()).unwrap();
    let store = Arc::new(open_store(&url, &StoreOptions::default()).await.unwrap());
    let writer = Ingestor::open(Arc::clone(&store), Arc::new(SystemClock))
        .await
        .unwrap();
    let cancel = CancellationToken::new();
    let record = writer
        .run_once(&Panicking, RunOptions::default(), &cancel)
        .await
        .expect("a panic is recorded, not propagated");
    assert_eq!(record.status, ScrapeStatus::Failed);
    let error = record.error.clone().unwrap_or_default();
    assert!(
        error.contains("source 'panicking' panicked: index out of bounds"),
        "{error}"
    );
    // The same writer goes on with the other sources.
    let healthy = Generated {
        round: Arc::new(AtomicU64::new(3)),
    };
    let record = writer
        .run_once(&healthy, RunOptions::default(), &cancel)
        .await
        .unwrap();
    assert_eq!(record.status, ScrapeStatus::Ok);
    let engine = Engine::open(store).await.unwrap();
    let scrapes = rows(
        &engine,
        "SELECT source, status FROM scrapes ORDER BY started_at",
    )
    .await;
    assert_eq!(
        scrapes,
        vec![
            vec!["panicking".to_string(), "failed".to_string()],
            vec!["generated".to_string(), "ok".to_string()],
        ]
    );
}
