//! `groundtruth cluster executor`: a Ballista executor that runs Groundtruth's table scans
//! over its own engine.

use std::net::IpAddr;
use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use groundtruth_engine::session::Engine;
use tokio_util::sync::CancellationToken;

use crate::catalog::Surface;
use crate::error::{ClusterError, Result};

/// Where the executor listens and which scheduler it serves.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The address to bind.
    pub bind_host: IpAddr,
    /// The Arrow Flight port (shuffle data).
    pub port: u16,
    /// The gRPC port (tasks from the scheduler).
    pub grpc_port: u16,
    /// The scheduler's host.
    pub scheduler_host: String,
    /// The scheduler's port.
    pub scheduler_port: u16,
    /// Tasks run at once (default: the cores).
    pub concurrent_tasks: Option<usize>,
    /// Where shuffle files go (default: a temporary directory).
    pub work_dir: Option<String>,
}

/// Run an executor over `engine`'s store until `shutdown` is cancelled.
pub async fn run_executor(
    engine: Arc<Engine>,
    options: ExecutorOptions,
    shutdown: CancellationToken,
) -> Result<()> {
    let (surface, logical, physical) = Surface::with_codecs(engine).await?;
    let registry = BallistaFunctionRegistry::from(&surface.engine().context().state());
    let defaults = ExecutorProcessConfig::default();
    let config = ExecutorProcessConfig {
        bind_host: options.bind_host.to_string(),
        external_host: Some(options.bind_host.to_string()),
        port: options.port,
        grpc_port: options.grpc_port,
        scheduler_host: options.scheduler_host,
        scheduler_port: options.scheduler_port,
        vcores: options.concurrent_tasks.unwrap_or(defaults.vcores),
        work_dir: options.work_dir,
        override_function_registry: Some(Arc::new(registry)),
        override_logical_codec: Some(logical),
        override_physical_codec: Some(physical),
        ..defaults
    };
    tokio::select! {
        ran = start_executor_process(Arc::new(config)) => {
            ran.map_err(|error| ClusterError::ballista("running the executor", error))
        }
        () = shutdown.cancelled() => Ok(()),
    }
}
