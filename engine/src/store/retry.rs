//! Bounded retries of failed reads, under Delta Lake: an [`ObjectStore`] wrapper that retries
//! `get` (ranged gets and `head` included) and listings when they fail with a transient error,
//! with exponential backoff, up to [`ReadRetryPolicy::attempts`] calls and no new attempt once
//! [`ReadRetryPolicy::max_elapsed_ms`] has passed. Every retry and every give-up is logged.
//!
//! Reads are idempotent, so a second attempt can only help. Writes are passed through once:
//! a conditional put (a Delta commit file) that landed but whose answer was lost must not be
//! sent again; Delta's conflict path re-reads the log instead. Deletes (vacuum only) are not
//! retried either: vacuum runs again at its next turn.
//!
//! In production the wrapper sits directly on the local or S3 store (S3's client retries HTTP
//! errors itself first, within its own `RetryConfig`); in the reliability campaign it sits on
//! [`super::FaultyStore`], so the injected faults are what it retries.

use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};

/// The longest wait between two attempts, however many came before.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// How failed reads of the store are retried (`[store_options.read_retries]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadRetryPolicy {
    /// Calls per read at most, the first included (1: never retry).
    pub attempts: u32,
    /// No new attempt starts once this many milliseconds have passed since the first.
    pub max_elapsed_ms: u64,
    /// Wait before the first retry, in milliseconds; doubled before each next one (at most
    /// 2 s).
    pub first_backoff_ms: u64,
}

impl Default for ReadRetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            max_elapsed_ms: 10_000,
            first_backoff_ms: 50,
        }
    }
}

impl ReadRetryPolicy {
    /// The wait before attempt `attempt + 1`, or `None` when the read must fail now: the error
    /// is not transient, or the attempts or the time are used up.
    fn delay_before_retry(
        &self,
        attempt: u32,
        elapsed: Duration,
        error: &object_store::Error,
    ) -> Option<Duration> {
        if !transient(error) || attempt >= self.attempts {
            return None;
        }
        let doubling = 2u32.saturating_pow(attempt.saturating_sub(1));
        let delay = Duration::from_millis(self.first_backoff_ms)
            .saturating_mul(doubling)
            .min(MAX_BACKOFF);
        (elapsed + delay <= Duration::from_millis(self.max_elapsed_ms)).then_some(delay)
    }
}

/// Whether another attempt may succeed. Answers that state a fact about the object or the
/// request (not found, not modified, precondition, permission, bad path) never change.
fn transient(error: &object_store::Error) -> bool {
    matches!(
        error,
        object_store::Error::Generic { .. } | object_store::Error::JoinError { .. }
    )
}

/// An object store whose reads are retried under a [`ReadRetryPolicy`].
#[derive(Debug, Clone)]
pub struct RetryingStore {
    inner: Arc<dyn ObjectStore>,
    policy: ReadRetryPolicy,
}

impl RetryingStore {
    /// Retry the reads of `inner` under `policy`.
    pub fn new(inner: Arc<dyn ObjectStore>, policy: ReadRetryPolicy) -> Self {
        Self { inner, policy }
    }

    async fn retry<T, F, Fut>(
        &self,
        operation: &'static str,
        location: &Path,
        mut call: F,
    ) -> object_store::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = object_store::Result<T>>,
    {
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            let error = match call().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let elapsed = started.elapsed();
            match self.policy.delay_before_retry(attempt, elapsed, &error) {
                Some(delay) => {
                    log_retry(operation, location, attempt, delay, &error);
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                None => {
                    log_give_up(operation, location, attempt, elapsed, &error);
                    return Err(error);
                }
            }
        }
    }

    /// A listing that is opened again when it fails before yielding anything. A listing that
    /// fails after yielding entries passes the error on: restarting it would repeat them.
    fn retried_list(
        &self,
        location: Path,
        open: impl Fn() -> BoxStream<'static, object_store::Result<ObjectMeta>> + Send + 'static,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        struct Listing<F> {
            open: F,
            current: Option<BoxStream<'static, object_store::Result<ObjectMeta>>>,
            yielded: bool,
            attempt: u32,
            started: Instant,
            policy: ReadRetryPolicy,
            location: Path,
        }
        let listing = Listing {
            open,
            current: None,
            yielded: false,
            attempt: 1,
            started: Instant::now(),
            policy: self.policy,
            location,
        };
        stream::unfold(listing, |mut listing| async move {
            loop {
                let current = listing.current.get_or_insert_with(|| (listing.open)());
                let error = match current.next().await? {
                    Ok(meta) => {
                        listing.yielded = true;
                        return Some((Ok(meta), listing));
                    }
                    Err(error) => error,
                };
                let elapsed = listing.started.elapsed();
                let delay = (!listing.yielded)
                    .then(|| {
                        listing
                            .policy
                            .delay_before_retry(listing.attempt, elapsed, &error)
                    })
                    .flatten();
                match delay {
                    Some(delay) => {
                        log_retry("list", &listing.location, listing.attempt, delay, &error);
                        tokio::time::sleep(delay).await;
                        listing.attempt += 1;
                        listing.current = None;
                    }
                    None => {
                        log_give_up("list", &listing.location, listing.attempt, elapsed, &error);
                        return Some((Err(error), listing));
                    }
                }
            }
        })
        .boxed()
    }
}

fn log_retry(
    operation: &str,
    location: &Path,
    attempt: u32,
    delay: Duration,
    error: &object_store::Error,
) {
    tracing::warn!(
        operation,
        %location,
        attempt,
        retry_in_ms = delay.as_millis() as u64,
        %error,
        "object-store read failed; retrying"
    );
}

fn log_give_up(
    operation: &str,
    location: &Path,
    attempts: u32,
    elapsed: Duration,
    error: &object_store::Error,
) {
    // A first failure that is not transient (a missing object) is an answer, not a fault.
    if attempts > 1 {
        tracing::warn!(
            operation,
            %location,
            attempts,
            elapsed_ms = elapsed.as_millis() as u64,
            %error,
            "object-store read failed; giving up"
        );
    }
}

impl fmt::Display for RetryingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RetryingStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for RetryingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.retry("get", location, || {
            self.inner.get_opts(location, options.clone())
        })
        .await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        self.retry("get", location, || self.inner.get_ranges(location, ranges))
            .await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let inner = Arc::clone(&self.inner);
        let owned = prefix.cloned();
        self.retried_list(prefix.cloned().unwrap_or_default(), move || {
            inner.list(owned.as_ref())
        })
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let inner = Arc::clone(&self.inner);
        let (owned, offset) = (prefix.cloned(), offset.clone());
        self.retried_list(prefix.cloned().unwrap_or_default(), move || {
            inner.list_with_offset(owned.as_ref(), &offset)
        })
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let location = prefix.cloned().unwrap_or_default();
        self.retry("list", &location, || self.inner.list_with_delimiter(prefix))
            .await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{FaultPlan, FaultSchedule};
    use object_store::memory::InMemory;
    use object_store::ObjectStoreExt;

    fn policy(attempts: u32, max_elapsed_ms: u64) -> ReadRetryPolicy {
        ReadRetryPolicy {
            attempts,
            max_elapsed_ms,
            first_backoff_ms: 1,
        }
    }

    async fn seeded(plan: &str) -> (Arc<InMemory>, FaultSchedule) {
        let memory = Arc::new(InMemory::new());
        for name in ["a", "b", "c"] {
            memory
                .put(&Path::from(name), PutPayload::from_static(b"x"))
                .await
                .unwrap();
        }
        (memory, FaultSchedule::new(FaultPlan::parse(plan).unwrap()))
    }

    #[tokio::test]
    async fn reads_through_faults_succeed_within_the_attempts() {
        // 30 % of all calls fail: with 12 attempts a read fails about once in two million.
        let (memory, faults) = seeded("seed=3,error=0.3,ops=get+list").await;
        let store = RetryingStore::new(Arc::new(faults.wrap(memory)), policy(12, 10_000));
        for _ in 0..50 {
            assert_eq!(
                store
                    .get(&Path::from("b"))
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap(),
                "x"
            );
            assert!(store.head(&Path::from("c")).await.is_ok());
            let listed: Vec<_> = store.list(None).collect().await;
            assert_eq!(listed.len(), 3, "{listed:?}");
            assert!(listed.iter().all(Result::is_ok), "{listed:?}");
            let by_delimiter = store.list_with_delimiter(None).await.unwrap();
            assert_eq!(by_delimiter.objects.len(), 3);
        }
        // The faults were there, and the retries went through them.
        assert!(faults.counters().injected() > 30);
    }

    #[tokio::test]
    async fn retries_stop_at_the_attempt_and_time_bounds() {
        // Every read fails: the error comes back after exactly `attempts` calls.
        let (memory, faults) = seeded("seed=1,error=1,ops=get+list").await;
        let store = RetryingStore::new(Arc::new(faults.wrap(memory.clone())), policy(4, 10_000));
        let message = store.get(&Path::from("a")).await.unwrap_err().to_string();
        assert!(message.contains("injected error on get"), "{message}");
        assert_eq!(faults.counters().injected(), 4);
        let listed: Vec<_> = store.list(None).collect().await;
        assert_eq!(listed.len(), 1);
        assert!(listed[0].is_err());
        assert_eq!(faults.counters().injected(), 8);

        // Timeouts of 40 ms with a 100 ms budget: no attempt starts after the budget.
        let (memory, faults) = seeded("seed=1,timeout=1,timeout_ms=40,ops=get").await;
        let store = RetryingStore::new(Arc::new(faults.wrap(memory)), policy(1000, 100));
        let started = Instant::now();
        assert!(store.get(&Path::from("a")).await.is_err());
        assert!(started.elapsed() < Duration::from_millis(400));
        // Two or three attempts (one when a loaded machine stretched the first wait past
        // the budget), never more.
        assert!((1..=3).contains(&faults.counters().injected()));
    }

    #[tokio::test]
    async fn writes_and_final_answers_are_never_retried() {
        let (memory, faults) = seeded("seed=1,error=1,ops=put").await;
        let store = RetryingStore::new(Arc::new(faults.wrap(memory.clone())), policy(5, 10_000));
        assert!(store
            .put(&Path::from("d"), PutPayload::from_static(b"y"))
            .await
            .is_err());
        assert_eq!(faults.counters().injected(), 1);
        assert_eq!(faults.counters().writes(), 0);
        // A missing object is an answer: one call, returned as is.
        let (memory, faults) = seeded("seed=1,slow=1,slow_ms=200,ops=get").await;
        let store = RetryingStore::new(Arc::new(faults.wrap(memory)), policy(5, 10_000));
        let started = Instant::now();
        let error = store.get(&Path::from("missing")).await.unwrap_err();
        assert!(
            matches!(error, object_store::Error::NotFound { .. }),
            "{error}"
        );
        // A second call would have waited 200 ms more.
        assert!(started.elapsed() < Duration::from_millis(390));
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let error = object_store::Error::Generic {
            store: "test",
            source: "boom".into(),
        };
        let policy = ReadRetryPolicy {
            attempts: 10,
            max_elapsed_ms: 60_000,
            first_backoff_ms: 100,
        };
        let delays: Vec<_> = (1..=6)
            .map(|attempt| policy.delay_before_retry(attempt, Duration::ZERO, &error))
            .collect();
        let ms = |ms| Some(Duration::from_millis(ms));
        assert_eq!(
            delays,
            vec![ms(100), ms(200), ms(400), ms(800), ms(1600), ms(2000)]
        );
        assert_eq!(policy.delay_before_retry(10, Duration::ZERO, &error), None);
        assert_eq!(
            policy.delay_before_retry(1, Duration::from_millis(59_950), &error),
            None
        );
    }
}
