//! Runs every configured source on its own interval, a bounded number at a time.
//!
//! Each source has its own task, so a hung source only delays itself (and is cut off by its
//! timeout); failures back off exponentially, capped at one hour; every loop stops on the
//! cancellation token.

use std::sync::Arc;
use std::time::Duration;

use groundtruth_engine::model::ScrapeStatus;
use rand::Rng;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::runner::{Ingestor, RunOptions};
use crate::source::Source;

/// One source and how to run it.
#[derive(Debug, Clone)]
pub struct ScheduledSource {
    /// The source.
    pub source: Arc<dyn Source>,
    /// Time between scrape starts.
    pub interval: Duration,
    /// Per-scrape time limit.
    pub timeout: Duration,
}

/// The longest wait after repeated failures.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Delay before the next scrape: the interval with ±10% jitter after success, doubling per
/// consecutive failure (capped) after failures.
pub fn next_delay(interval: Duration, consecutive_failures: u32, jitter_fraction: f64) -> Duration {
    let base = if consecutive_failures == 0 {
        interval
    } else {
        let factor = 2u32.saturating_pow(consecutive_failures.min(16));
        interval
            .saturating_mul(factor)
            .min(MAX_BACKOFF.max(interval))
    };
    base.mul_f64((1.0 + jitter_fraction.clamp(-0.1, 0.1)).max(0.0))
}

/// Run `sources` until `cancel` fires; at most `max_concurrent` scrapes run at once.
pub async fn run(
    ingestor: Arc<Ingestor>,
    sources: Vec<ScheduledSource>,
    max_concurrent: usize,
    cancel: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(max_concurrent.max(1)));
    let mut tasks = JoinSet::new();
    for scheduled in sources {
        let ingestor = Arc::clone(&ingestor);
        let permits = Arc::clone(&permits);
        let cancel = cancel.clone();
        tasks.spawn(async move {
            let mut failures: u32 = 0;
            loop {
                let permit = tokio::select! {
                    permit = permits.acquire() => permit,
                    () = cancel.cancelled() => return,
                };
                let options = RunOptions { timeout: scheduled.timeout, interval: Some(scheduled.interval) };
                let outcome = ingestor.run_once(scheduled.source.as_ref(), options, &cancel).await;
                drop(permit);
                match outcome {
                    Ok(record) if record.status != ScrapeStatus::Failed => failures = 0,
                    Ok(_) => failures = failures.saturating_add(1),
                    Err(error) => {
                        failures = failures.saturating_add(1);
                        tracing::error!(source = scheduled.source.name(), %error, "scrape could not be recorded");
                    }
                }
                let jitter = rand::rng().random_range(-0.1..=0.1);
                let delay = next_delay(scheduled.interval, failures, jitter);
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = cancel.cancelled() => return,
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let minute = Duration::from_secs(60);
        assert_eq!(next_delay(minute, 0, 0.0), minute);
        assert_eq!(next_delay(minute, 1, 0.0), minute * 2);
        assert_eq!(next_delay(minute, 3, 0.0), minute * 8);
        assert_eq!(next_delay(minute, 30, 0.0), MAX_BACKOFF);
        assert_eq!(next_delay(minute, 0, 0.1), Duration::from_secs(66));
        assert_eq!(
            next_delay(minute, 0, 5.0),
            Duration::from_secs(66),
            "jitter is clamped to 10%"
        );
    }
}
