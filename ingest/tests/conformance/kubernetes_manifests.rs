//! Conformance of the `kubernetes_manifests` source.

#[allow(unused_imports)]
use super::*;
