//! Conformance of the `flagd` source.

#[allow(unused_imports)]
use super::*;
