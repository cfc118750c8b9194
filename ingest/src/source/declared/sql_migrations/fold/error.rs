//! Why a statement could not be folded. Every variant becomes a warning on the scrape (quoted
//! with the migration file and statement), never a silent skip; the texts follow PostgreSQL's
//! own messages where it has one.

/// A statement PostgreSQL would refuse, or one the fold does not model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FoldError {
    /// The statement names an object that does not exist at that point of the history.
    #[error("{what} {name} does not exist")]
    Missing {
        /// relation, table, type, schema, constraint, ...
        what: String,
        /// The object's name as PostgreSQL would print it.
        name: String,
    },
    /// The statement creates an object whose name is taken.
    #[error("{what} {name} already exists")]
    Exists {
        /// relation, type, schema, extension, ...
        what: String,
        /// The object's name as PostgreSQL would print it.
        name: String,
    },
    /// A construct the fold does not model (it is reported, and the rest of the file goes on).
    #[error("{construct} is not folded into the schema")]
    NotFolded {
        /// The statement kind or clause, e.g. `CREATE FUNCTION`.
        construct: String,
    },
    /// Anything else PostgreSQL would refuse (dependencies, invalid names, wrong object types).
    #[error("{0}")]
    Refused(String),
}
