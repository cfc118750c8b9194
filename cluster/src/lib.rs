//! Groundtruth on Apache Ballista: history-wide queries over a store, run by a scheduler and
//! executors in separate processes (`groundtruth cluster scheduler|executor`).
//!
//! This crate owns how Groundtruth's SQL surface crosses process boundaries. Ballista ships a
//! query as a DataFusion logical plan (client to scheduler) and as physical stages (scheduler
//! to executors), in protobuf; Groundtruth's tables (the Delta tables behind refreshable
//! handles, the in-memory current state, the state at T) cannot be serialised as data, so the
//! codecs here encode each by *what it is*: a catalog name such as `storage.versions`, or
//! "the state at T" ([`identity::Identity`]), plus the Delta log versions the sender read.
//! Every process opens its own [`groundtruth_engine::session::Engine`] over the same store URL
//! (read-only, like a replica), catches up to at least those log versions, and rebuilds the
//! table from its own engine. Views and table functions need nothing: the client inlines them
//! into the plan before it is sent. UDFs (`attribute_drift`, the JSON functions) are found by
//! name in each process's registry, filled from its engine.
//!
//! Formats: Ballista's gRPC and Arrow Flight between processes; the codec payloads are JSON
//! ([`scan_exec::ScanSpec`]) with the pushed-down filters as DataFusion protobuf.
//! It depends on `groundtruth-engine` only; the server depends on it.

// Library code returns errors (`unwrap`/`expect` only in tests) and documents what it exports
// (see the workspace Cargo.toml).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, missing_docs)
)]

/// The function methods of a codec that wraps Ballista's (`inner`): functions travel by name
/// and are found in each process's registry, so they are Ballista's business.
#[macro_export]
#[doc(hidden)]
macro_rules! delegate_function_codecs {
    () => {
        fn try_decode_udf(
            &self,
            name: &str,
            buf: &[u8],
        ) -> Result<Arc<datafusion::logical_expr::ScalarUDF>> {
            self.inner.try_decode_udf(name, buf)
        }

        fn try_encode_udf(
            &self,
            node: &datafusion::logical_expr::ScalarUDF,
            buf: &mut Vec<u8>,
        ) -> Result<()> {
            self.inner.try_encode_udf(node, buf)
        }

        fn try_decode_udaf(
            &self,
            name: &str,
            buf: &[u8],
        ) -> Result<Arc<datafusion::logical_expr::AggregateUDF>> {
            self.inner.try_decode_udaf(name, buf)
        }

        fn try_encode_udaf(
            &self,
            node: &datafusion::logical_expr::AggregateUDF,
            buf: &mut Vec<u8>,
        ) -> Result<()> {
            self.inner.try_encode_udaf(node, buf)
        }

        fn try_decode_udwf(
            &self,
            name: &str,
            buf: &[u8],
        ) -> Result<Arc<datafusion::logical_expr::WindowUDF>> {
            self.inner.try_decode_udwf(name, buf)
        }

        fn try_encode_udwf(
            &self,
            node: &datafusion::logical_expr::WindowUDF,
            buf: &mut Vec<u8>,
        ) -> Result<()> {
            self.inner.try_encode_udwf(node, buf)
        }
    };
}

pub mod catalog;
pub mod client;
pub mod error;
pub mod executor;
pub mod identity;
pub mod logical_codec;
pub mod physical_codec;
pub mod remote_table;
pub mod scan_exec;
pub mod scheduler;

pub use client::{remote_context, ClusterClient};
pub use error::{ClusterError, Result};
pub use executor::{run_executor, ExecutorOptions};
pub use scheduler::{run_scheduler, SchedulerOptions};
