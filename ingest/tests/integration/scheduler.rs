//! The scheduler against a real store: a source that hangs is cut off by its timeout, backs
//! off, and never stops the others from being scraped, even when only one scrape may run at
//! a time; the concurrency bound holds; shutdown is prompt while a scrape hangs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, StringArray};
use arrow::datatypes::DataType;
use groundtruth_engine::clock::SystemClock;
use groundtruth_engine::model::{Layer, Observation, ObservedResource};
use groundtruth_engine::session::Engine;
use groundtruth_engine::store::{Store, StoreOptions, StoreUrl};
use groundtruth_ingest::error::Result;
use groundtruth_ingest::runner::Ingestor;
use groundtruth_ingest::scheduler::{self, ScheduledSource};
use groundtruth_ingest::source::{ScrapeContext, Source};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// A source whose scrape never returns and ignores cancellation, like a client stuck on a
/// dead TCP connection.
#[derive(Debug)]
struct HungSource {
    attempts: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl Source for HungSource {
    fn name(&self) -> &str {
        "hung"
    }
    fn source_type(&self) -> &'static str {
        "test"
    }
    async fn scrape(&self, _context: &ScrapeContext) -> Result<Observation> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        std::future::pending().await
    }
}

/// A source that takes `work` to answer and records how many scrapes ran at once.
#[derive(Debug)]
struct HealthySource {
    name: String,
    work: Duration,
    completed: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl Source for HealthySource {
    fn name(&self) -> &str {
        &self.name
    }
    fn source_type(&self) -> &'static str {
        "test"
    }
    async fn scrape(&self, _context: &ScrapeContext) -> Result<Observation> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.work).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let count = self.completed.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Observation::complete(vec![ObservedResource::new(
            "test/counter",
            "count",
            Layer::Live,
            json!({ "count": count }),
        )]))
    }
}

struct Counters {
    completed: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
}

impl Counters {
    fn new() -> Self {
        Self {
            completed: Arc::new(AtomicUsize::new(0)),
            in_flight: Arc::new(AtomicUsize::new(0)),
            most_in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn source(&self, name: &str, work: Duration, interval: Duration) -> ScheduledSource {
        ScheduledSource {
            source: Arc::new(HealthySource {
                name: name.to_string(),
                work,
                completed: Arc::clone(&self.completed),
                in_flight: Arc::clone(&self.in_flight),
                most_in_flight: Arc::clone(&self.most_in_flight),
            }),
            interval,
            timeout: Duration::from_secs(30),
        }
    }
}

async fn open_store(directory: &tempfile::TempDir) -> (Arc<Store>, Arc<Ingestor>) {
    let url = StoreUrl::parse(directory.path().to_str().expect("utf-8 path")).expect("url");
    let store = Arc::new(
        Store::open(&url, &StoreOptions::default())
            .await
            .expect("open store"),
    );
    let ingestor = Arc::new(
        Ingestor::open(Arc::clone(&store), Arc::new(SystemClock))
            .await
            .expect("ingestor"),
    );
    (store, ingestor)
}

/// Run the scheduler for `duration`, then cancel it; returns how long shutdown took.
async fn run_for(
    ingestor: Arc<Ingestor>,
    sources: Vec<ScheduledSource>,
    max_concurrent: usize,
    duration: Duration,
) -> Duration {
    let cancel = CancellationToken::new();
    let running = tokio::spawn(scheduler::run(
        ingestor,
        sources,
        max_concurrent,
        cancel.clone(),
    ));
    tokio::time::sleep(duration).await;
    let stopping = Instant::now();
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the scheduler stops on cancellation")
        .expect("the scheduler task does not panic");
    stopping.elapsed()
}

/// `(status, error)` of every scrape of `source`, oldest first.
async fn scrapes(store: &Arc<Store>, source: &str) -> Vec<(String, Option<String>)> {
    let engine = Engine::open(Arc::clone(store)).await.expect("engine");
    let batches = engine
        .query(&format!(
            "SELECT status, error FROM scrapes WHERE source = '{source}' ORDER BY started_at"
        ))
        .await
        .expect("scrapes query");
    let mut rows = Vec::new();
    for batch in batches {
        let text = |index: usize| {
            arrow::compute::cast(batch.column(index), &DataType::Utf8).expect("cast to text")
        };
        let (status, error) = (text(0), text(1));
        let status = status
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("status is text");
        let error = error
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("error is text");
        for row in 0..batch.num_rows() {
            rows.push((
                status.value(row).to_string(),
                (!error.is_null(row)).then(|| error.value(row).to_string()),
            ));
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_source_is_cut_off_backs_off_and_never_stalls_the_others() {
    let directory = tempfile::tempdir().expect("tempdir");
    let (store, ingestor) = open_store(&directory).await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let hung = ScheduledSource {
        source: Arc::new(HungSource {
            attempts: Arc::clone(&attempts),
        }),
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(300),
    };
    let healthy = Counters::new();
    let sources = vec![
        hung,
        healthy.source("healthy", Duration::ZERO, Duration::from_millis(50)),
    ];
    // One scrape at a time: the hung source holds the only permit until its timeout, and the
    // healthy one must still get its turns in between.
    run_for(ingestor, sources, 1, Duration::from_secs(4)).await;

    let hung_scrapes = scrapes(&store, "hung").await;
    assert!(!hung_scrapes.is_empty(), "the hung source was attempted");
    for (status, error) in &hung_scrapes {
        assert_eq!(status, "failed");
        let error = error.as_deref().unwrap_or_default();
        assert!(
            error.contains("timed out after 300ms") || error.contains("cancelled"),
            "{error}"
        );
    }
    // Without backoff the hung source would be tried every 0.4 s (about 10 times in 4 s);
    // doubling the wait after each failure allows at most 5 (0, 0.5, 1.1, 2.1, 3.9 s).
    let attempted = attempts.load(Ordering::SeqCst);
    assert!(
        (1..=5).contains(&attempted),
        "{attempted} attempts: backoff after failures"
    );
    assert_eq!(attempted, hung_scrapes.len(), "every attempt is recorded");

    let healthy_scrapes = scrapes(&store, "healthy").await;
    assert!(
        healthy_scrapes.len() >= 5,
        "the healthy source kept being scraped: {} scrapes",
        healthy_scrapes.len()
    );
    assert!(healthy_scrapes.iter().all(|(status, _)| status == "ok"));
    assert_eq!(
        healthy.completed.load(Ordering::SeqCst),
        healthy_scrapes.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_than_the_configured_number_of_scrapes_run_at_once() {
    let directory = tempfile::tempdir().expect("tempdir");
    let (_store, ingestor) = open_store(&directory).await;
    let counters = Counters::new();
    let sources = (0..5)
        .map(|index| {
            counters.source(
                &format!("slow-{index}"),
                Duration::from_millis(150),
                Duration::from_millis(10),
            )
        })
        .collect();
    run_for(ingestor, sources, 2, Duration::from_secs(2)).await;
    assert_eq!(
        counters.most_in_flight.load(Ordering::SeqCst),
        2,
        "two scrapes overlapped, never three"
    );
    assert!(counters.completed.load(Ordering::SeqCst) >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_prompt_while_a_scrape_hangs_and_the_cut_scrape_is_recorded() {
    let directory = tempfile::tempdir().expect("tempdir");
    let (store, ingestor) = open_store(&directory).await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let hung = ScheduledSource {
        source: Arc::new(HungSource {
            attempts: Arc::clone(&attempts),
        }),
        interval: Duration::from_secs(60),
        timeout: Duration::from_secs(3600),
    };
    let took = run_for(ingestor, vec![hung], 4, Duration::from_millis(500)).await;
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    let recorded = scrapes(&store, "hung").await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].0, "failed");
    assert!(recorded[0]
        .1
        .as_deref()
        .is_some_and(|error| error.contains("cancelled")));
}
