//! Groundtruth ingest: the sources that observe declared and live infrastructure, the runner
//! that turns each scrape into stored changes, and the scheduler that runs sources on their
//! intervals.
//!
//! This crate owns the [`source::Source`] trait (one implementation per file under `source/`),
//! the source configuration format ([`config::SourceConfig`], a tagged enum), and the single
//! writer of a store ([`runner::Ingestor`]). It depends on `groundtruth-engine` for the model,
//! the diff and the store, and must not depend on the server or on any query-serving code.

pub mod backfill;
pub mod config;
pub mod error;
pub mod git;
pub mod identity;
pub mod input;
pub mod runner;
pub mod scheduler;
pub mod source;
pub mod terraform;
pub mod yaml;
