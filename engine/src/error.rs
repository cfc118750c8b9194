//! The engine's single error type.

use thiserror::Error;

/// Everything that can go wrong inside the engine, with the context needed to act on it.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The store URL could not be understood.
    #[error("invalid store URL '{url}': {reason}")]
    InvalidStoreUrl { url: String, reason: String },

    /// A Delta Lake operation on one of the store's tables failed.
    #[error("store table '{table}': {operation} failed: {source}")]
    Delta {
        table: &'static str,
        operation: &'static str,
        // Boxed: the error types of the libraries below are large, and every `Result` of the
        // workspace carries an `EngineError` in its `Err` (clippy's result_large_err).
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },

    /// An object of one of the store's tables could not be read, listed or deleted.
    #[error("store table '{table}': {operation} of {path} failed: {source}")]
    Object {
        table: &'static str,
        operation: &'static str,
        path: String,
        #[source]
        source: Box<object_store::Error>,
    },

    /// A DataFusion planning or execution error.
    #[error("{context}: {source}")]
    Query {
        context: String,
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },

    /// Arrow could not build a record batch (a schema mismatch inside the engine).
    #[error("building {what}: {source}")]
    Arrow {
        what: &'static str,
        #[source]
        source: arrow::error::ArrowError,
    },

    /// The SQL text could not be parsed.
    #[error("syntax error: {0}")]
    Syntax(String),

    /// The statement would change data or read server files; the SQL surface is read-only.
    #[error("{0} is not allowed: Groundtruth's SQL surface is read-only")]
    ReadOnly(String),

    /// Stored data did not have the shape the engine wrote (corruption or a foreign writer).
    #[error("store data is malformed: {0}")]
    Corrupt(String),

    /// Settings handed to the engine are invalid (e.g. a drift link rule's template).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A JSON value could not be serialized.
    #[error("serializing {what}: {source}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl EngineError {
    pub(crate) fn query(
        context: impl Into<String>,
        source: datafusion::error::DataFusionError,
    ) -> Self {
        EngineError::Query {
            context: context.into(),
            source: Box::new(source),
        }
    }
}

/// Result alias for engine operations.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
