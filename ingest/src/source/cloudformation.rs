//! The `cloudformation` source: CloudFormation templates (JSON and YAML, short-form intrinsic tags included), as the declared layer.
//!
//! NOT IMPLEMENTED YET: this placeholder exists so the configuration and module layout are
//! fixed while the source is written.

use groundtruth_engine::model::Observation;

use crate::error::{IngestError, Result};
use crate::input::Input;
use crate::source::{ScrapeContext, Source};

/// Reads CloudFormation templates (JSON and YAML, short-form intrinsic tags included).
#[derive(Debug, Clone)]
pub struct CloudFormationSource {
    name: String,
    input: Input,
    stack_name: Option<String>,
}

impl CloudFormationSource {
    /// A source called `name` reading `input`; `stack_name` is the stack the template is deployed as; ids are `<stack>/<LogicalId>` (default: the file name without extension).
    pub fn new(name: impl Into<String>, input: Input, stack_name: Option<String>) -> Self {
        Self {
            name: name.into(),
            input,
            stack_name,
        }
    }
}

#[async_trait::async_trait]
impl Source for CloudFormationSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn source_type(&self) -> &'static str {
        "cloudformation"
    }

    fn input(&self) -> Option<&Input> {
        Some(&self.input)
    }

    async fn scrape(&self, _context: &ScrapeContext) -> Result<Observation> {
        Err(IngestError::Invalid {
            path: self.input.location().display_path(),
            message: "the cloudformation source is not implemented yet".to_string(),
        })
    }
}
