//! The `terraform_hcl` source: Terraform configuration (.tf files) through an HCL parser, as the declared layer.
//!
//! NOT IMPLEMENTED YET: this placeholder exists so the configuration and module layout are
//! fixed while the source is written.

use groundtruth_engine::model::Observation;

use crate::error::{IngestError, Result};
use crate::input::Input;
use crate::source::{ScrapeContext, Source};

/// Reads Terraform configuration (.tf files) through an HCL parser.
#[derive(Debug, Clone)]
pub struct TerraformHclSource {
    name: String,
    input: Input,
}

impl TerraformHclSource {
    /// A source called `name` reading `input`.
    pub fn new(name: impl Into<String>, input: Input) -> Self {
        Self {
            name: name.into(),
            input,
        }
    }
}

#[async_trait::async_trait]
impl Source for TerraformHclSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn source_type(&self) -> &'static str {
        "terraform_hcl"
    }

    fn input(&self) -> Option<&Input> {
        Some(&self.input)
    }

    async fn scrape(&self, _context: &ScrapeContext) -> Result<Observation> {
        Err(IngestError::Invalid {
            path: self.input.location().display_path(),
            message: "the terraform_hcl source is not implemented yet".to_string(),
        })
    }
}
