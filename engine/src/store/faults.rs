//! Fault injection under the store, for the reliability campaign (`tests/campaign/`): an
//! [`ObjectStore`] wrapper that fails, stalls or slows put/get/list/delete calls on a seeded
//! schedule, and can abort the process at the N-th write so a crash lands inside the commit
//! protocol. It is off unless a [`FaultPlan`] is set in [`super::StoreOptions::faults`], which
//! only the `GROUNDTRUTH_STORE_FAULTS` environment variable does (never the config file).
//!
//! An injected error or timeout happens *instead of* the call: the object store is not touched,
//! as when a request never reaches S3. A "slow" call waits, then runs.

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::{EngineError, Result};

/// The environment variable that turns fault injection on (see [`FaultPlan::parse`]).
pub const FAULTS_ENV: &str = "GROUNDTRUTH_STORE_FAULTS";

/// Classes of object-store calls a plan can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultOp {
    /// `put`, multipart uploads, copy and rename: everything that writes.
    Put,
    /// `get`, ranged gets and `head`.
    Get,
    /// Listings.
    List,
    /// Deletes.
    Delete,
}

impl FaultOp {
    const ALL: [FaultOp; 4] = [FaultOp::Put, FaultOp::Get, FaultOp::List, FaultOp::Delete];

    fn name(self) -> &'static str {
        match self {
            FaultOp::Put => "put",
            FaultOp::Get => "get",
            FaultOp::List => "list",
            FaultOp::Delete => "delete",
        }
    }
}

/// A seeded schedule of faults. Rates are per mille of the targeted calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultPlan {
    /// Seed of the schedule: the same seed and the same calls give the same faults.
    pub seed: u64,
    /// Calls that fail at once with an error.
    pub error_permille: u32,
    /// Calls that hang for `timeout`, then fail.
    pub timeout_permille: u32,
    /// Calls that wait `slow`, then run.
    pub slow_permille: u32,
    /// How long a timed-out call hangs.
    pub timeout: Duration,
    /// How long a slow call waits.
    pub slow: Duration,
    /// The call classes the rates apply to.
    pub ops: Vec<FaultOp>,
    /// Abort the process just before issuing this write (1-based count of write calls).
    pub crash_before_write: Option<u64>,
    /// Abort the process just after this write returned.
    pub crash_after_write: Option<u64>,
}

impl Default for FaultPlan {
    fn default() -> Self {
        Self {
            seed: 0,
            error_permille: 0,
            timeout_permille: 0,
            slow_permille: 0,
            timeout: Duration::from_millis(500),
            slow: Duration::from_millis(50),
            ops: FaultOp::ALL.to_vec(),
            crash_before_write: None,
            crash_after_write: None,
        }
    }
}

impl FaultPlan {
    /// Parse `key=value` pairs separated by commas: `seed=N`, `error=R`, `timeout=R`,
    /// `slow=R` (R a fraction from 0 to 1), `timeout_ms=N`, `slow_ms=N`,
    /// `ops=put+get+list+delete`, `crash_before_write=N`, `crash_after_write=N`.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid =
            |reason: String| EngineError::Config(format!("{FAULTS_ENV} '{text}': {reason}"));
        let mut plan = FaultPlan::default();
        for pair in text
            .split(',')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
        {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| invalid(format!("'{pair}' is not key=value")))?;
            let number = || {
                value
                    .parse::<u64>()
                    .map_err(|_| invalid(format!("{key} needs a whole number, not '{value}'")))
            };
            let rate = || -> Result<u32> {
                match value.parse::<f64>() {
                    Ok(rate) if (0.0..=1.0).contains(&rate) => Ok((rate * 1000.0).round() as u32),
                    _ => Err(invalid(format!(
                        "{key} needs a fraction between 0 and 1, not '{value}'"
                    ))),
                }
            };
            match key {
                "seed" => plan.seed = number()?,
                "error" => plan.error_permille = rate()?,
                "timeout" => plan.timeout_permille = rate()?,
                "slow" => plan.slow_permille = rate()?,
                "timeout_ms" => plan.timeout = Duration::from_millis(number()?),
                "slow_ms" => plan.slow = Duration::from_millis(number()?),
                "crash_before_write" => plan.crash_before_write = Some(number()?),
                "crash_after_write" => plan.crash_after_write = Some(number()?),
                "ops" => {
                    plan.ops = value
                        .split('+')
                        .map(|name| {
                            FaultOp::ALL
                                .into_iter()
                                .find(|op| op.name() == name)
                                .ok_or_else(|| {
                                    invalid(format!(
                                        "unknown operation '{name}' (put, get, list, delete)"
                                    ))
                                })
                        })
                        .collect::<Result<_>>()?;
                }
                other => return Err(invalid(format!("unknown key '{other}'"))),
            }
        }
        if plan.error_permille + plan.timeout_permille + plan.slow_permille > 1000 {
            return Err(invalid("error + timeout + slow must not exceed 1".into()));
        }
        Ok(plan)
    }

    /// The plan in `GROUNDTRUTH_STORE_FAULTS`, if set.
    pub fn from_env() -> Result<Option<Self>> {
        match std::env::var(FAULTS_ENV) {
            Ok(text) if !text.trim().is_empty() => Self::parse(&text).map(Some),
            _ => Ok(None),
        }
    }
}

/// What happens to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    Error,
    Timeout(Duration),
    Slow(Duration),
}

/// Calls seen and faults injected so far, shared by every table of a store.
#[derive(Debug)]
pub struct FaultCounters {
    rng: Mutex<StdRng>,
    writes: AtomicU64,
    injected: AtomicU64,
}

impl FaultCounters {
    /// Faults (errors and timeouts) injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    /// Write calls issued so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }
}

/// One fault schedule (a plan, its seeded random stream and its counters), shared by every
/// object store it wraps: a store's three tables count their writes together.
#[derive(Debug, Clone)]
pub struct FaultSchedule {
    plan: Arc<FaultPlan>,
    counters: Arc<FaultCounters>,
}

impl FaultSchedule {
    /// Start the schedule of `plan`.
    pub fn new(plan: FaultPlan) -> Self {
        let counters = Arc::new(FaultCounters {
            rng: Mutex::new(StdRng::seed_from_u64(plan.seed)),
            writes: AtomicU64::new(0),
            injected: AtomicU64::new(0),
        });
        Self {
            plan: Arc::new(plan),
            counters,
        }
    }

    /// Inject this schedule's faults into `inner`.
    pub fn wrap(&self, inner: Arc<dyn ObjectStore>) -> FaultyStore {
        FaultyStore {
            inner,
            plan: Arc::clone(&self.plan),
            counters: Arc::clone(&self.counters),
        }
    }

    /// Calls seen and faults injected so far.
    pub fn counters(&self) -> &FaultCounters {
        &self.counters
    }
}

/// An object store that injects the faults of a [`FaultSchedule`] into another.
#[derive(Debug, Clone)]
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    plan: Arc<FaultPlan>,
    counters: Arc<FaultCounters>,
}

impl FaultyStore {
    fn decide(&self, op: FaultOp) -> Fault {
        if !self.plan.ops.contains(&op) {
            return Fault::None;
        }
        let roll = self
            .counters
            .rng
            .lock()
            .map(|mut rng| rng.random_range(0..1000u32))
            .unwrap_or(1000);
        let plan = &self.plan;
        let fault = if roll < plan.error_permille {
            Fault::Error
        } else if roll < plan.error_permille + plan.timeout_permille {
            Fault::Timeout(plan.timeout)
        } else if roll < plan.error_permille + plan.timeout_permille + plan.slow_permille {
            Fault::Slow(plan.slow)
        } else {
            Fault::None
        };
        if matches!(fault, Fault::Error | Fault::Timeout(_)) {
            self.counters.injected.fetch_add(1, Ordering::Relaxed);
        }
        fault
    }

    /// Apply the fault for one call: `Err` when the call must not run.
    async fn before(&self, op: FaultOp, location: &Path) -> object_store::Result<()> {
        let fault = self.decide(op);
        match fault {
            Fault::None => Ok(()),
            Fault::Slow(delay) => {
                tokio::time::sleep(delay).await;
                Ok(())
            }
            Fault::Error => Err(injected(op, location, "error")),
            Fault::Timeout(delay) => {
                tokio::time::sleep(delay).await;
                Err(injected(op, location, "timeout"))
            }
        }
    }

    /// Count a write and abort there if the plan says so; returns the write's number.
    fn count_write(&self, location: &Path) -> u64 {
        let number = self.counters.writes.fetch_add(1, Ordering::SeqCst) + 1;
        if self.plan.crash_before_write == Some(number) {
            crash(number, "before", location);
        }
        number
    }

    fn after_write(&self, number: u64, location: &Path) {
        if self.plan.crash_after_write == Some(number) {
            crash(number, "after", location);
        }
    }

    async fn write<T>(
        &self,
        location: &Path,
        call: impl std::future::Future<Output = object_store::Result<T>>,
    ) -> object_store::Result<T> {
        self.before(FaultOp::Put, location).await?;
        let number = self.count_write(location);
        let result = call.await;
        self.after_write(number, location);
        result
    }
}

/// Stop the process as SIGKILL would: no destructors, no flushing of buffered writes.
fn crash(number: u64, when: &str, location: &Path) -> ! {
    eprintln!("{FAULTS_ENV}: aborting {when} write {number} ({location})");
    std::process::abort()
}

fn injected(op: FaultOp, location: &Path, what: &str) -> object_store::Error {
    object_store::Error::Generic {
        store: "faults",
        source: format!("injected {what} on {} {location}", op.name()).into(),
    }
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

/// A stream that applies `fault` before yielding anything of `inner`.
fn faulted_stream<T: Send + 'static>(
    fault: Result<(), (Duration, object_store::Error)>,
    delay: Duration,
    inner: BoxStream<'static, object_store::Result<T>>,
) -> BoxStream<'static, object_store::Result<T>> {
    match fault {
        Ok(()) if delay.is_zero() => inner,
        Ok(()) => stream::once(async move {
            tokio::time::sleep(delay).await;
            inner
        })
        .flatten()
        .boxed(),
        Err((delay, error)) => stream::once(async move {
            tokio::time::sleep(delay).await;
            Err(error)
        })
        .boxed(),
    }
}

impl FaultyStore {
    fn stream_fault(
        &self,
        op: FaultOp,
        location: &Path,
    ) -> (Result<(), (Duration, object_store::Error)>, Duration) {
        match self.decide(op) {
            Fault::None => (Ok(()), Duration::ZERO),
            Fault::Slow(delay) => (Ok(()), delay),
            Fault::Error => (
                Err((Duration::ZERO, injected(op, location, "error"))),
                Duration::ZERO,
            ),
            Fault::Timeout(delay) => (
                Err((delay, injected(op, location, "timeout"))),
                Duration::ZERO,
            ),
        }
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.write(location, self.inner.put_opts(location, payload, opts))
            .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.write(location, self.inner.put_multipart_opts(location, opts))
            .await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.before(FaultOp::Get, location).await?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        self.before(FaultOp::Get, location).await?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let (fault, delay) = self.stream_fault(FaultOp::Delete, &Path::from("(delete)"));
        match fault {
            Ok(()) => faulted_stream(Ok(()), delay, self.inner.delete_stream(locations)),
            // Every path of the batch fails, as when the batch request does.
            Err((delay, _)) => locations
                .then(move |location| async move {
                    tokio::time::sleep(delay).await;
                    let location = location?;
                    Err(injected(FaultOp::Delete, &location, "error"))
                })
                .boxed(),
        }
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let (fault, delay) = self.stream_fault(FaultOp::List, prefix.unwrap_or(&Path::default()));
        faulted_stream(fault, delay, self.inner.list(prefix))
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let (fault, delay) = self.stream_fault(FaultOp::List, prefix.unwrap_or(&Path::default()));
        faulted_stream(fault, delay, self.inner.list_with_offset(prefix, offset))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.before(FaultOp::List, prefix.unwrap_or(&Path::default()))
            .await?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.write(to, self.inner.copy_opts(from, to, options))
            .await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.write(to, self.inner.rename_opts(from, to, options))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::ObjectStoreExt;

    #[test]
    fn plans_parse_and_bad_plans_name_the_problem() {
        let plan = FaultPlan::parse(
            "seed=7,error=0.1,timeout=0.02,slow=0.3,slow_ms=5,ops=put+list,crash_before_write=12",
        )
        .unwrap();
        assert_eq!(plan.seed, 7);
        assert_eq!(
            (
                plan.error_permille,
                plan.timeout_permille,
                plan.slow_permille
            ),
            (100, 20, 300)
        );
        assert_eq!(plan.slow, Duration::from_millis(5));
        assert_eq!(plan.ops, vec![FaultOp::Put, FaultOp::List]);
        assert_eq!(plan.crash_before_write, Some(12));
        for (text, expected) in [
            ("error=2", "fraction"),
            ("ops=put+fly", "unknown operation 'fly'"),
            ("colour=red", "unknown key 'colour'"),
            ("seed", "not key=value"),
            ("error=0.6,timeout=0.6", "must not exceed 1"),
        ] {
            let message = FaultPlan::parse(text).unwrap_err().to_string();
            assert!(message.contains(expected), "{text}: {message}");
        }
    }

    #[tokio::test]
    async fn the_same_seed_gives_the_same_faults_and_failed_puts_write_nothing() {
        let outcomes = |seed: u64| async move {
            let memory = Arc::new(InMemory::new());
            let plan = FaultPlan::parse(&format!("seed={seed},error=0.3,ops=put")).unwrap();
            let schedule = FaultSchedule::new(plan);
            let store = schedule.wrap(memory.clone());
            let mut outcomes = Vec::new();
            for i in 0..200 {
                let path = Path::from(format!("f{i}"));
                let ok = store
                    .put(&path, PutPayload::from_static(b"x"))
                    .await
                    .is_ok();
                // A failed put never reaches the store underneath.
                assert_eq!(memory.head(&path).await.is_ok(), ok);
                outcomes.push(ok);
            }
            (outcomes, schedule.counters().injected())
        };
        let (first, injected) = outcomes(42).await;
        assert_eq!(first, outcomes(42).await.0);
        assert_ne!(first, outcomes(43).await.0);
        // About 30 % of 200 calls fail.
        assert!((30..=90).contains(&injected), "{injected}");
        assert_eq!(first.iter().filter(|ok| !**ok).count() as u64, injected);
    }

    #[tokio::test]
    async fn untargeted_operations_pass_and_timeouts_wait_first() {
        let memory = Arc::new(InMemory::new());
        memory
            .put(&Path::from("a"), PutPayload::from_static(b"x"))
            .await
            .unwrap();
        let plan = FaultPlan::parse("seed=1,timeout=1,timeout_ms=30,ops=list").unwrap();
        let store = FaultSchedule::new(plan).wrap(memory);
        assert!(store.get(&Path::from("a")).await.is_ok());
        let started = std::time::Instant::now();
        let listed: Vec<_> = store.list(None).collect().await;
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert_eq!(listed.len(), 1);
        let message = listed[0].as_ref().unwrap_err().to_string();
        assert!(message.contains("injected timeout on list"), "{message}");
    }
}
