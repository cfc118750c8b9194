//! Groundtruth's integration tests, as one test binary: they drive the real `groundtruth`
//! binary over the Postgres protocol, and several link the engine and ingest crates (hundreds
//! of megabytes unoptimized each), so one binary instead of nineteen saves gigabytes of CI disk
//! and the links. Run one part with `cargo test -p groundtruth-tests --test integration
//! <module>::` (for example `secrets::`).

mod backfill;
mod compose_host;
mod corpus;
mod declared;
mod drift_aws;
mod drift_check;
mod drift_config;
mod foundation;
mod limits;
mod live;
mod mcp;
mod metrics;
mod panic_containment;
mod queries;
mod secrets;
mod security;
mod sql;
mod time_properties;
mod vacuum;

/// The live-source test servers (PostgreSQL, moto, the Kubernetes fixture API), shared with
/// the ingest crate's integration tests.
#[path = "../../../ingest/tests/integration/support.rs"]
mod support;
