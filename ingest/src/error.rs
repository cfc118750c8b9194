//! The ingest crate's single error type.

use std::path::PathBuf;

use thiserror::Error;

/// Why a scrape, a source's construction or an ingest run failed.
#[derive(Debug, Error)]
pub enum IngestError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// Input could not be parsed; `line` is set when the parser knows it.
    #[error("{path}{}: {message}", line.map(|line| format!(":{line}")).unwrap_or_default())]
    Parse {
        /// The file (or command, or URL) the input came from.
        path: PathBuf,
        /// The 1-based line, when the parser knows it.
        line: Option<usize>,
        /// What is wrong, naming the construct.
        message: String,
    },

    /// Input was understood but is not acceptable (wrong version, too large, ...).
    #[error("{path}: {message}")]
    Invalid {
        /// The input.
        path: PathBuf,
        /// Why it is refused.
        message: String,
    },

    /// The scrape did not finish in time.
    #[error("source '{source_name}' timed out after {limit:?}")]
    Timeout {
        /// The configured source name.
        source_name: String,
        /// The source's `timeout`.
        limit: std::time::Duration,
    },

    /// The source panicked while scraping (a parser bug); the scrape is recorded as failed
    /// and the process and the other sources go on.
    #[error("source '{source_name}' panicked: {message}")]
    Panicked {
        /// The configured source name.
        source_name: String,
        /// The panic's message.
        message: String,
    },

    /// The scrape was cancelled by shutdown.
    #[error("source '{source_name}' was cancelled")]
    Cancelled {
        /// The configured source name.
        source_name: String,
    },

    /// The configuration is wrong.
    #[error("configuration: {0}")]
    Config(String),

    /// The store refused a commit.
    #[error(transparent)]
    Engine(#[from] groundtruth_engine::error::EngineError),
}

/// Result alias for ingest operations.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;
