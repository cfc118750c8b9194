//! Conformance of the `cloudformation` source.

#[allow(unused_imports)]
use super::*;
