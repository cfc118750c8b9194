//! What a Groundtruth table is, as sent between processes.

use serde::{Deserialize, Serialize};

/// A table of Groundtruth's SQL surface, by what it is rather than what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Identity {
    /// A table of the engine's catalog, `schema.table` (`storage.versions`, `public.resources`).
    Table(String),
    /// The state at an instant (µs since the epoch), as `resources_at(T)` (or, `shared`, as the
    /// drift templates) build it.
    StateAt {
        /// The instant.
        at: i64,
        /// One computation for every scan in a process.
        shared: bool,
    },
}

impl std::fmt::Display for Identity {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Table(name) => formatter.write_str(name),
            Self::StateAt { at, shared } => {
                write!(
                    formatter,
                    "state_at({at}{})",
                    if *shared { ", shared" } else { "" }
                )
            }
        }
    }
}
