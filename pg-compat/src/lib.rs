//! PostgreSQL-client emulation: what makes psql, drivers, BI tools and ORMs work against a
//! DataFusion session that is not PostgreSQL. It owns the catalog tables and their
//! descriptions (`pg_description`, `obj_description`, `information_schema` additions), the
//! session settings clients read (`SHOW`, `current_setting`, `pg_settings`), the functions
//! clients call (`format`, `json_build_object`), the `json` row description of JSON-typed
//! columns, the wire's front of the statement pipeline (`statement_parser`: one parse, client
//! rewrites on the parsed statement, datafusion-pg-catalog's parser only for catalog
//! queries), the client rules
//! (`expression_rewrites` for expression forms, `client_compatibility` for one client's exact
//! query text, each naming its client), and the mapping of errors to SQLSTATEs on the wire.
//!
//! It depends on the engine (the statement pipeline, error variants, descriptions) and on
//! datafusion-postgres; it must not depend on the server (protocol handling, auth, limits and
//! the `groundtruth` binary live there) nor on ingest.

// Library code returns errors (`unwrap`/`expect` only in tests) and documents what it exports
// (see the workspace Cargo.toml).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, missing_docs)
)]

pub mod catalog_descriptions;
pub mod catalog_tables;
pub mod client_compatibility;
pub mod expression_rewrites;
pub mod format_function;
pub mod information_schema;
pub mod json_columns;
pub mod json_functions;
pub mod session_settings;
pub mod sqlstate;
pub mod statement_parser;
