//! Conformance of the `terraform_hcl` source.

#[allow(unused_imports)]
use super::*;
