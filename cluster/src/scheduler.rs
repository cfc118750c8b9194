//! `groundtruth cluster scheduler`: a Ballista scheduler whose sessions know Groundtruth's
//! tables and functions.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::extension::SessionConfigExt;
use ballista_core::utils::default_session_builder;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use ballista_scheduler::SessionBuilder;
use datafusion::execution::FunctionRegistry;
use datafusion::execution::SessionState;
use datafusion::prelude::SessionConfig;
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

/// Ballista's session for each job, with Groundtruth's functions added (plans arrive naming
/// them) and the static planner, whatever the client asks: Ballista 55's adaptive planner (its
/// default) loses jobs with many joins, such as drift_at's: tasks of one stage report different
/// numbers of operator metrics, the scheduler rejects their status ("task metrics array size
/// 17 does not equal with the stage metrics array size 18") and the job never finishes.
fn session_builder(functions: SessionState) -> SessionBuilder {
    Arc::new(move |config: SessionConfig| {
        let config = config.with_ballista_adaptive_query_planner(false);
        let mut state = default_session_builder(config)?;
        for function in functions.scalar_functions().values() {
            state.register_udf(Arc::clone(function))?;
        }
        for function in functions.aggregate_functions().values() {
            state.register_udaf(Arc::clone(function))?;
        }
        Ok(state)
    })
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
        override_session_builder: Some(session_builder(functions)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_planned_statically_with_groundtruths_functions() {
        let functions = datafusion::prelude::SessionContext::new().state();
        let asked = SessionConfig::new().with_ballista_adaptive_query_planner(true);
        let state = session_builder(functions)(asked).unwrap();
        assert!(!state.config().ballista_adaptive_query_planner_enabled());
        assert!(state.scalar_functions().contains_key("abs"));
    }
}
