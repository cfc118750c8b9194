//! The engine's single error type.

use thiserror::Error;

/// Everything that can go wrong inside the engine, with the context needed to act on it.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The store URL could not be understood.
    #[error("invalid store URL '{url}': {reason}")]
    InvalidStoreUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A Delta Lake operation on one of the store's tables failed.
    #[error("store table '{table}': {operation} failed: {source}")]
    Delta {
        /// `versions`, `scrapes` or `checkpoints`.
        table: &'static str,
        /// What was being done (open, commit, compact, vacuum, ...).
        operation: &'static str,
        // Boxed: the error types of the libraries below are large, and every `Result` of the
        // workspace carries an `EngineError` in its `Err` (clippy's result_large_err).
        /// Delta Lake's error.
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },

    /// An object of one of the store's tables could not be read, listed or deleted.
    #[error("store table '{table}': {operation} of {path} failed: {source}")]
    Object {
        /// `versions`, `scrapes` or `checkpoints`.
        table: &'static str,
        /// get, list, delete, ...
        operation: &'static str,
        /// The object's path under the store.
        path: String,
        /// object_store's error.
        #[source]
        source: Box<object_store::Error>,
    },

    /// A DataFusion planning or execution error.
    #[error("{context}: {source}")]
    Query {
        /// What the engine was doing (the view or statement).
        context: String,
        /// DataFusion's error.
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },

    /// Arrow could not build a record batch (a schema mismatch inside the engine).
    #[error("building {what}: {source}")]
    Arrow {
        /// The batch being built.
        what: &'static str,
        /// Arrow's error.
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
        /// The value being serialized.
        what: &'static str,
        /// serde_json's error.
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
