//! Declared sources: files people wrote to say what should run. Each reads an
//! [`crate::input::Input`] (a file, a directory or an `s3://` prefix) and parses it on the
//! blocking pool through [`super::read_and_parse`]; each records the file (and line, when the
//! parser knows it) in its errors.

pub mod cloudformation;
pub mod compose;
pub mod flagd;
pub mod kubernetes_manifests;
pub mod sql_migrations;
pub mod terraform_hcl;
pub mod terraform_plan;
pub mod terraform_state;
