//! The crate's one error type.

use datafusion::error::DataFusionError;

/// What went wrong starting or serving a cluster process, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Opening the engine over the store failed.
    #[error("opening the store for the cluster: {0}")]
    Engine(#[from] groundtruth_engine::error::EngineError),
    /// A Ballista scheduler or executor could not start or stopped with an error.
    #[error("{what}: {message}")]
    Ballista {
        /// What was being done.
        what: &'static str,
        /// Ballista's error.
        message: String,
    },
    /// A bad address or option.
    #[error("invalid cluster option {option}: {message}")]
    Config {
        /// The option.
        option: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A DataFusion error while preparing the cluster session.
    #[error("{what}: {source}")]
    Query {
        /// What was being done.
        what: &'static str,
        /// DataFusion's error.
        source: DataFusionError,
    },
}

/// Result with [`ClusterError`].
pub type Result<T> = std::result::Result<T, ClusterError>;

impl ClusterError {
    pub(crate) fn ballista(what: &'static str, error: impl std::fmt::Display) -> Self {
        Self::Ballista {
            what,
            message: error.to_string(),
        }
    }
}

/// A DataFusion error carrying `message`, for codec and execution paths.
pub(crate) fn plan_error(message: impl Into<String>) -> DataFusionError {
    DataFusionError::Plan(message.into())
}
