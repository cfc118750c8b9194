//! Groundtruth's engine (placeholder docs; replaced below)
pub mod canonical;
pub mod clock;
pub mod error;
pub mod model;
pub mod session;
pub mod sql;
pub mod state;
pub mod store;
