//! Real servers the live-source tests start on loopback and stop by PID. The tests crate
//! (`tests/tests/integration`) includes this file with `#[path]`; the explicit paths below
//! make the modules resolve the same from either crate.

#[path = "support/kubernetes.rs"]
pub mod kubernetes;
#[path = "support/moto.rs"]
pub mod moto;
#[path = "support/postgres.rs"]
pub mod postgres;
