//! The server crate's one error type. SQLSTATEs for wire errors are chosen from engine error
//! variants in `groundtruth_engine::sqlstate` (applied by `groundtruth_pg_compat::sqlstate`);
//! these are start-up and operations errors, reported by `main` and never sent to clients.

use std::net::SocketAddr;

/// Errors of the server crate.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration file or an override is wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// The listening address is unavailable.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// pg_catalog emulation could not be installed.
    #[error("installing pg_catalog: {0}")]
    Catalog(String),
    /// The store could not be read (the health check, seeding metrics).
    #[error("reading the store: {0}")]
    Store(String),
}
