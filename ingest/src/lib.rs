//! Groundtruth ingest (docs expanded later)
pub mod error;
pub mod source;
