//! The `compose` source: docker-compose files (the compose specification), as the declared layer.
//!
//! NOT IMPLEMENTED YET: this placeholder exists so the configuration and module layout are
//! fixed while the source is written.

use groundtruth_engine::model::Observation;

use crate::error::{IngestError, Result};
use crate::input::Input;
use crate::source::{ScrapeContext, Source};

/// Reads docker-compose files (the compose specification).
#[derive(Debug, Clone)]
pub struct ComposeSource {
    name: String,
    input: Input,
    project: Option<String>,
}

impl ComposeSource {
    /// A source called `name` reading `input`; `project` is the compose project name (default: the top-level `name:` of the file, else `default`).
    pub fn new(name: impl Into<String>, input: Input, project: Option<String>) -> Self {
        Self {
            name: name.into(),
            input,
            project,
        }
    }
}

#[async_trait::async_trait]
impl Source for ComposeSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn source_type(&self) -> &'static str {
        "compose"
    }

    fn input(&self) -> Option<&Input> {
        Some(&self.input)
    }

    async fn scrape(&self, _context: &ScrapeContext) -> Result<Observation> {
        Err(IngestError::Invalid {
            path: self.input.location().display_path(),
            message: "the compose source is not implemented yet".to_string(),
        })
    }
}
