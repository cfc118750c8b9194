//! `serve`'s scheduled vacuum: files compaction removed are deleted once the removal is older
//! than `[retention] vacuum_after`, so disk use stops growing without breaking readers.

use std::sync::Arc;
use std::time::Duration;

use groundtruth_engine::store::Store;
use tokio_util::sync::CancellationToken;

/// Vacuum every `every` until `cancel` fires. A failure is logged and retried next time: the
/// files it would have deleted are only disk space.
pub async fn vacuum_periodically(
    store: Arc<Store>,
    every: Duration,
    retention: Duration,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = cancel.cancelled() => return,
        }
        match store.vacuum(retention, chrono::Utc::now(), false).await {
            Ok(report) => tracing::info!(
                files_deleted = report.files_deleted(),
                retention_hours = retention.as_secs() / 3600,
                "vacuumed files removed by compaction"
            ),
            Err(error) => tracing::error!(%error, "vacuum failed; will retry"),
        }
    }
}
