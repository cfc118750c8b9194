//! The MCP crate's single error type, and its SQLSTATE (through the engine's mapping for
//! engine errors, so a tool reports the code psql would show).

use std::net::SocketAddr;
use std::time::Duration;

use groundtruth_engine::error::EngineError;
use groundtruth_engine::sqlstate::{self, codes};
use groundtruth_queries::QueryError;

/// Everything a tool call or a transport can fail with.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// Planning or running the statement failed (bad SQL, a write refused, ...).
    #[error("{context}: {source}")]
    Engine {
        /// What the tool was doing.
        context: String,
        /// The engine's error (its SQLSTATE is reported with the message).
        #[source]
        source: EngineError,
    },
    /// A named query was unknown or its parameters did not fit.
    #[error(transparent)]
    NamedQuery(#[from] QueryError),
    /// A tool argument is missing or has the wrong shape.
    #[error("tool '{tool}': argument '{argument}': {message}")]
    Argument {
        /// The tool called.
        tool: String,
        /// The argument at fault.
        argument: String,
        /// What is wrong with it.
        message: String,
    },
    /// No tool has this name.
    #[error("no tool named '{0}'")]
    UnknownTool(String),
    /// No resource has this URI.
    #[error("no resource '{0}'; known: groundtruth://schema, groundtruth://queries")]
    UnknownResource(String),
    /// The statement ran past the time limit.
    #[error("canceling statement due to statement timeout ({0:?}, the MCP server's limit)")]
    Timeout(Duration),
    /// Results could not be turned into JSON.
    #[error("encoding {what} as JSON: {message}")]
    Encoding {
        /// What was being encoded.
        what: &'static str,
        /// serde_json's message.
        message: String,
    },
    /// The HTTP address cannot be used.
    #[error("cannot serve MCP on {address}: {message}")]
    Listen {
        /// The configured address.
        address: SocketAddr,
        /// Why it cannot be used.
        message: String,
    },
    /// The MCP session over stdio failed.
    #[error("MCP transport: {0}")]
    Transport(String),
}

impl McpError {
    /// An engine error with what was being done.
    pub(crate) fn engine(context: impl Into<String>, source: EngineError) -> Self {
        McpError::Engine {
            context: context.into(),
            source,
        }
    }

    /// The SQLSTATE a PostgreSQL client would get for this failure, and the message.
    pub fn sqlstate(&self) -> (&'static str, String) {
        match self {
            McpError::Engine { source, .. } => sqlstate::for_engine(source),
            McpError::NamedQuery(_) | McpError::Argument { .. } => {
                (codes::INVALID_PARAMETER, self.to_string())
            }
            McpError::UnknownTool(_) | McpError::UnknownResource(_) => {
                (codes::UNDEFINED_FUNCTION, self.to_string())
            }
            McpError::Timeout(_) => (codes::QUERY_CANCELED, self.to_string()),
            McpError::Encoding { .. } | McpError::Listen { .. } | McpError::Transport(_) => {
                (codes::INTERNAL, self.to_string())
            }
        }
    }
}

/// Result alias of the crate.
pub type Result<T, E = McpError> = std::result::Result<T, E>;
