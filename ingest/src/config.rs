//! Source configuration: a tagged enum, one variant per source type.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use groundtruth_engine::model::Layer;
use serde::{Deserialize, Deserializer};

use crate::error::{IngestError, Result};
use crate::scheduler::ScheduledSource;
use crate::source::host::HostSource;
use crate::source::simulated::{SimulatedEstate, SimulatedSource};
use crate::source::terraform_state::TerraformStateSource;
use crate::source::Source;

/// One `[[sources]]` entry.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// A Terraform state (v4) file.
    TerraformState {
        /// Unique source name.
        name: String,
        /// Path to the `.tfstate` file.
        path: PathBuf,
        /// Time between scrapes, e.g. "5m" (default 5m).
        #[serde(default, deserialize_with = "optional_duration")]
        interval: Option<Duration>,
        /// Per-scrape limit, e.g. "2m" (default 2m).
        #[serde(default, deserialize_with = "optional_duration")]
        timeout: Option<Duration>,
    },
    /// This machine's processes and listening sockets.
    Host {
        /// Unique source name.
        name: String,
        /// Where procfs is mounted (default /proc).
        #[serde(default)]
        proc_root: Option<PathBuf>,
        /// Time between scrapes (default 5m).
        #[serde(default, deserialize_with = "optional_duration")]
        interval: Option<Duration>,
        /// Per-scrape limit (default 2m).
        #[serde(default, deserialize_with = "optional_duration")]
        timeout: Option<Duration>,
    },
    /// The seeded synthetic estate used by the demo and benchmarks.
    Simulated {
        /// Unique source name; the demo uses synthetic_iac and synthetic_cloud.
        name: String,
        /// declared or live.
        layer: Layer,
        /// Random seed.
        #[serde(default)]
        seed: u64,
        /// Number of services in the estate (default 8).
        #[serde(default)]
        services: Option<usize>,
        /// Time between scrapes (default 5m).
        #[serde(default, deserialize_with = "optional_duration")]
        interval: Option<Duration>,
        /// Per-scrape limit (default 2m).
        #[serde(default, deserialize_with = "optional_duration")]
        timeout: Option<Duration>,
    },
}

const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

impl SourceConfig {
    /// The configured name.
    pub fn name(&self) -> &str {
        match self {
            SourceConfig::TerraformState { name, .. }
            | SourceConfig::Host { name, .. }
            | SourceConfig::Simulated { name, .. } => name,
        }
    }

    fn schedule(&self) -> (Duration, Duration) {
        let (interval, timeout) = match self {
            SourceConfig::TerraformState {
                interval, timeout, ..
            }
            | SourceConfig::Host {
                interval, timeout, ..
            }
            | SourceConfig::Simulated {
                interval, timeout, ..
            } => (interval, timeout),
        };
        (
            interval.unwrap_or(DEFAULT_INTERVAL),
            timeout.unwrap_or(DEFAULT_TIMEOUT),
        )
    }

    /// Build the source. `epoch` anchors the simulator's timeline.
    pub fn build(&self, epoch: chrono::DateTime<chrono::Utc>) -> Result<ScheduledSource> {
        let source: Arc<dyn Source> = match self {
            SourceConfig::TerraformState { name, path, .. } => {
                Arc::new(TerraformStateSource::new(name.clone(), path.clone()))
            }
            SourceConfig::Host {
                name, proc_root, ..
            } => Arc::new(HostSource::new(
                name.clone(),
                proc_root.clone().unwrap_or_else(|| PathBuf::from("/proc")),
            )),
            SourceConfig::Simulated {
                name,
                layer,
                seed,
                services,
                ..
            } => {
                let estate = Arc::new(SimulatedEstate::new(*seed, epoch, services.unwrap_or(8)));
                Arc::new(SimulatedSource::new(name.clone(), *layer, estate))
            }
        };
        let (interval, timeout) = self.schedule();
        if interval.is_zero() {
            return Err(IngestError::Config(format!(
                "source '{}': interval must be positive",
                self.name()
            )));
        }
        Ok(ScheduledSource {
            source,
            interval,
            timeout,
        })
    }
}

/// Build every source, refusing duplicate names.
pub fn build_all(
    configs: &[SourceConfig],
    epoch: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<ScheduledSource>> {
    let mut names = std::collections::HashSet::new();
    configs
        .iter()
        .map(|config| {
            if !names.insert(config.name().to_string()) {
                return Err(IngestError::Config(format!(
                    "two sources are named '{}'",
                    config.name()
                )));
            }
            config.build(epoch)
        })
        .collect()
}

/// Parse "90s", "5m", "2h", "1d" or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|character: char| !character.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number.parse().map_err(|_| {
        IngestError::Config(format!(
            "invalid duration '{text}' (use e.g. 30s, 5m, 2h, 1d)"
        ))
    })?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "m" => value * 60,
        "h" => value * 3600,
        "d" => value * 86_400,
        other => {
            return Err(IngestError::Config(format!(
                "invalid duration unit '{other}' in '{text}' (use s, m, h or d)"
            )))
        }
    };
    Ok(Duration::from_secs(seconds))
}

fn optional_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<Duration>, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    text.map(|text| parse_duration(&text).map_err(serde::de::Error::custom))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert!(parse_duration("5 minutes")
            .unwrap_err()
            .to_string()
            .contains("unit"));
        assert!(parse_duration("x").is_err());
    }
}
