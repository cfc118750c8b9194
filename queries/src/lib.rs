//! Groundtruth's query library: named, documented SQL for the questions people and agents ask
//! (which sources are stale, what changed in a window, what did a resource look like at T).
//!
//! It depends on no workspace crate; the server loads these queries into its catalog. The
//! library itself arrives with the drift views; until then this crate only reserves its place
//! in the dependency graph (`server` → `queries`).
