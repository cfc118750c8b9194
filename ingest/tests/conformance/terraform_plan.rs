//! Conformance of the `terraform_plan` source.

#[allow(unused_imports)]
use super::*;
