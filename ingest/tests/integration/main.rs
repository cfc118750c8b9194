//! The ingest crate's integration tests, as one test binary: every binary links the whole crate
//! and its dependencies (hundreds of megabytes unoptimized), so one binary instead of nine
//! saves gigabytes of CI disk and eight links. Run one part with
//! `cargo test -p groundtruth-ingest --test integration <module>::` (for example
//! `store_faults::`). The parser fuzzer (`parser_fuzz.rs`) stays a binary of its own: it
//! installs a panic hook and times every input, so it must not share a process with other tests.

mod aws;
mod command;
mod conformance;
mod kubernetes_api;
mod postgres_catalog;
mod scheduler;
mod sql_migrations_postgres;
mod store_faults;
mod support;
