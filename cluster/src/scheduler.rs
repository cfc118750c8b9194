//! `groundtruth cluster scheduler`: a Ballista scheduler whose sessions know Groundtruth's
//! tables and functions.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::utils::default_session_builder;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::execution::FunctionRegistry;
use groundtruth_engine::session::Engine;
use tokio_util::sync::CancellationToken;

use crate::catalog::Surface;
use crate::error::{ClusterError, Result};

/// Where the scheduler listens.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// The gRPC address executors and clients connect to.
    pub bind: SocketAddr,
    /// The host name executors use to reach the scheduler (default: the bound address).
    pub external_host: Option<String>,
}

/// Run a scheduler over `engine`'s store until `shutdown` is cancelled.
pub async fn run_scheduler(
    engine: Arc<Engine>,
    options: SchedulerOptions,
    shutdown: CancellationToken,
) -> Result<()> {
    let (surface, logical, physical) = Surface::with_codecs(engine).await?;
    let functions = surface.engine().context().state();
    let config = SchedulerConfig {
        bind_host: options.bind.ip().to_string(),
        bind_port: options.bind.port(),
        external_host: options
            .external_host
            .unwrap_or_else(|| options.bind.ip().to_string()),
        override_logical_codec: Some(logical),
        override_physical_codec: Some(physical),
        // Ballista's session, with Groundtruth's functions added: plans arrive naming them.
        override_session_builder: Some(Arc::new(move |config| {
            let mut state = default_session_builder(config)?;
            for function in functions.scalar_functions().values() {
                state.register_udf(Arc::clone(function))?;
            }
            for function in functions.aggregate_functions().values() {
                state.register_udaf(Arc::clone(function))?;
            }
            Ok(state)
        })),
        ..SchedulerConfig::default()
    };
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|error| ClusterError::ballista("starting the scheduler's state", error))?;
    tokio::select! {
        served = start_server(cluster, options.bind, Arc::new(config)) => {
            served.map_err(|error| ClusterError::ballista("serving the scheduler", error))
        }
        () = shutdown.cancelled() => Ok(()),
    }
}
