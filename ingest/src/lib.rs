//! Groundtruth ingest: the sources that observe declared and live infrastructure, the runner
//! that turns each scrape into stored changes, and the scheduler that runs sources on their
//! intervals.
//!
//! This crate owns the [`source::Source`] trait (one implementation per file under `source/`),
//! the source configuration format ([`config::SourceConfig`], a tagged enum), and the single
//! writer of a store ([`runner::Ingestor`]). It depends on `groundtruth-engine` for the model,
//! the diff and the store, and must not depend on the server or on any query-serving code.
//!
//! Declared sources share three pieces, so they behave alike:
//! - [`input`]: where files come from (a file, a directory walked recursively, or an `s3://`
//!   object or prefix), with limits on file size, file count and total bytes enforced before
//!   anything is held in memory, and binary or non-UTF-8 files refused by name.
//! - [`yaml`]: multi-document YAML with a parser budget (alias bombs fail fast) and YAML 1.2
//!   booleans.
//! - [`identity`]: the `(kind, id)` scheme declared and live sources agree on, so drift can
//!   join them.
//!
//! [`git`] records where a declaration came from: a declared source whose path lies in a git
//! work tree gets `{"git": {commit, author, committed_at, path, dirty}}` as the provenance of
//! every version it writes, and [`backfill`] replays a path's git history into the store.

// Library code returns errors; `unwrap`/`expect` only in tests (see the workspace Cargo.toml).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod backfill;
pub mod config;
pub mod duration;
pub mod error;
pub mod git;
pub mod identity;
pub mod input;
pub mod runner;
pub mod scheduler;
pub mod secrets;
pub mod settings;
pub mod source;
pub mod terraform;
pub mod yaml;
