//! Conformance of the `compose` source.

#[allow(unused_imports)]
use super::*;
