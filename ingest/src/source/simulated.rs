//! The `simulated` source: one layer of a [`groundtruth_sim::SimulatedEstate`] (the seeded
//! synthetic estate behind `groundtruth demo`, the benchmarks and the tests), scraped at the
//! scrape's own instant so simulated history can be written in the past.

use std::sync::Arc;

use groundtruth_engine::model::{Layer, Observation};
pub use groundtruth_sim::{demo_epoch, SimulatedEstate};
use serde::Deserialize;

use crate::error::Result;
use crate::source::{ScrapeContext, Source};

/// Settings of the `simulated` source.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimulatedConfig {
    /// declared or live (the demo names its two sources synthetic_iac and synthetic_cloud).
    pub layer: Layer,
    /// Random seed.
    #[serde(default)]
    pub seed: u64,
    /// Number of services in the estate (default 8).
    #[serde(default)]
    pub services: Option<usize>,
}

/// One layer of a [`SimulatedEstate`], as a source. The demo runs two over one shared estate:
/// `synthetic_iac` (declared) and `synthetic_cloud` (live).
#[derive(Debug, Clone)]
pub struct SimulatedSource {
    name: String,
    layer: Layer,
    estate: Arc<SimulatedEstate>,
}

impl SimulatedSource {
    /// A source called `name` reporting `layer` of `estate`.
    pub fn new(name: impl Into<String>, layer: Layer, estate: Arc<SimulatedEstate>) -> Self {
        Self {
            name: name.into(),
            layer,
            estate,
        }
    }
}

#[async_trait::async_trait]
impl Source for SimulatedSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn source_type(&self) -> &'static str {
        "simulated"
    }

    async fn scrape(&self, context: &ScrapeContext) -> Result<Observation> {
        // The scrape instant, not the wall clock: simulated history is scraped in the past.
        Ok(Observation::complete(
            self.estate.snapshot_at(context.started_at, self.layer),
        ))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeDelta, TimeZone, Utc};
    use tokio_util::sync::CancellationToken;

    use super::*;

    fn epoch() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 3, 0, 0, 0).unwrap()
    }

    #[tokio::test]
    async fn source_scrapes_its_layer_at_the_scrape_instant() {
        let estate = Arc::new(SimulatedEstate::new(9, epoch(), 6));
        let live = SimulatedSource::new("synthetic_cloud", Layer::Live, estate.clone());
        let declared = SimulatedSource::new("synthetic_iac", Layer::Declared, estate.clone());
        assert_eq!(live.name(), "synthetic_cloud");
        assert_eq!(live.source_type(), "simulated");
        let at = epoch() + TimeDelta::days(21);
        let context = ScrapeContext {
            started_at: at,
            cancel: CancellationToken::new(),
        };
        let observation = live.scrape(&context).await.unwrap();
        assert_eq!(
            observation.coverage,
            groundtruth_engine::model::Coverage::Complete
        );
        assert_eq!(observation.resources, estate.snapshot_at(at, Layer::Live));
        let observation = declared.scrape(&context).await.unwrap();
        assert_eq!(
            observation.resources,
            estate.snapshot_at(at, Layer::Declared)
        );
    }
}
