//! The `flagd` source: OpenFeature flagd flag definition files, as the declared layer.
//!
//! NOT IMPLEMENTED YET: this placeholder exists so the configuration and module layout are
//! fixed while the source is written.

use groundtruth_engine::model::Observation;

use crate::error::{IngestError, Result};
use crate::input::Input;
use crate::source::{ScrapeContext, Source};

/// Reads OpenFeature flagd flag definition files.
#[derive(Debug, Clone)]
pub struct FlagdSource {
    name: String,
    input: Input,
}

impl FlagdSource {
    /// A source called `name` reading `input`.
    pub fn new(name: impl Into<String>, input: Input) -> Self {
        Self {
            name: name.into(),
            input,
        }
    }
}

#[async_trait::async_trait]
impl Source for FlagdSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn source_type(&self) -> &'static str {
        "flagd"
    }

    fn input(&self) -> Option<&Input> {
        Some(&self.input)
    }

    async fn scrape(&self, _context: &ScrapeContext) -> Result<Observation> {
        Err(IngestError::Invalid {
            path: self.input.location().display_path(),
            message: "the flagd source is not implemented yet".to_string(),
        })
    }
}
