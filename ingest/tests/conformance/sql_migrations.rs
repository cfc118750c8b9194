//! Conformance of the `sql_migrations` source.

#[allow(unused_imports)]
use super::*;
