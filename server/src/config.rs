//! The `groundtruth serve` configuration file (TOML). Every option is documented in
//! `server/groundtruth.example.toml`; environment variables override the file.

use std::net::SocketAddr;
use std::path::Path;

use groundtruth_engine::drift::DriftSettings;
use groundtruth_engine::store::StoreOptions;
use groundtruth_ingest::config::SourceConfig;
use serde::Deserialize;

use crate::ServerError;

/// Top-level configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Store URL: a local path, `file:///path` or `s3://bucket/prefix`.
    #[serde(default = "default_store")]
    pub store: String,
    /// Object-store connection settings (S3 endpoint, region).
    #[serde(default)]
    pub store_options: StoreOptions,
    /// Postgres-wire server settings.
    #[serde(default)]
    pub server: ServerConfig,
    /// Scheduler settings.
    #[serde(default)]
    pub scheduler: SchedulerConfig,
    /// The sources to collect.
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    /// `[drift]`: configured link rules (`[[drift.link]]`) and ignore rules
    /// (`[[drift.ignore]]`); validated while parsing.
    #[serde(default)]
    pub drift: DriftSettings,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Connections beyond this are refused.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Address of the HTTP `/metrics` and `/health` listener; none by default.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            max_connections: default_max_connections(),
            metrics_listen: None,
        }
    }
}

/// `[scheduler]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Scrapes running at once.
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            max_concurrent: default_max_concurrent(),
        }
    }
}

fn default_store() -> String {
    "./groundtruth-data".into()
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5433))
}

fn default_max_connections() -> usize {
    64
}

fn default_max_concurrent() -> usize {
    4
}

impl Default for Config {
    fn default() -> Self {
        Self {
            store: default_store(),
            store_options: StoreOptions::default(),
            server: ServerConfig::default(),
            scheduler: SchedulerConfig::default(),
            sources: Vec::new(),
            drift: DriftSettings::default(),
        }
    }
}

impl Config {
    /// Parse TOML text; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ServerError> {
        toml::from_str(text).map_err(|error| ServerError::Config(format!("{origin}: {error}")))
    }

    /// Read the file (if given), then apply `GROUNDTRUTH_STORE`, `GROUNDTRUTH_LISTEN` and
    /// `GROUNDTRUTH_METRICS_LISTEN`.
    pub fn load(path: Option<&Path>) -> Result<Self, ServerError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| {
                    ServerError::Config(format!("cannot read {}: {error}", path.display()))
                })?;
                Self::parse(&text, &path.display().to_string())?
            }
            None => Self::default(),
        };
        if let Ok(store) = std::env::var("GROUNDTRUTH_STORE") {
            config.store = store;
        }
        if let Ok(listen) = std::env::var("GROUNDTRUTH_LISTEN") {
            config.server.listen = listen.parse().map_err(|error| {
                ServerError::Config(format!("GROUNDTRUTH_LISTEN '{listen}': {error}"))
            })?;
        }
        if let Ok(listen) = std::env::var("GROUNDTRUTH_METRICS_LISTEN") {
            config.server.metrics_listen = Some(listen.parse().map_err(|error| {
                ServerError::Config(format!("GROUNDTRUTH_METRICS_LISTEN '{listen}': {error}"))
            })?);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses() {
        let text = include_str!("../groundtruth.example.toml");
        let config = Config::parse(text, "example").unwrap();
        assert_eq!(config.sources.len(), 15);
        // Every source type is documented by an example.
        let types: std::collections::HashSet<_> =
            config.sources.iter().map(std::mem::discriminant).collect();
        assert_eq!(types.len(), 14);
        assert_eq!(config.server.listen.port(), 5433);
        assert_eq!(config.server.metrics_listen, None);
        assert_eq!(config.drift.links.len(), 1);
        assert_eq!(config.drift.links[0].rule_name(), "config:queue-by-arn");
        assert_eq!(config.drift.ignores.len(), 2);
    }

    #[test]
    fn drift_section_errors_name_the_rule_and_the_field() {
        let error = Config::parse(
            "[[drift.link]]\nname = 'queue-by-url'\ndeclared_kind = 'a'\nlive_kind = 'b'\n\
             live_id = 'x/{attrs.url}/{region}'",
            "test.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("test.toml")
                && error.contains("drift link rule 'queue-by-url'")
                && error.contains("unknown placeholder '{region}'"),
            "{error}"
        );
        let error = Config::parse(
            "[[drift.link]]\nname = 'n'\ndeclared_kind = 'a'\nlive_kind = 'b'\n\
             live_id = '{id}'\nlive_name = '{name}'",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("live_name"), "{error}");
        let error = Config::parse("[[drift.ignore]]\nkind = 'a'\npaths = 'b'", "t")
            .unwrap_err()
            .to_string();
        assert!(error.contains("paths"), "{error}");
        let error = Config::parse("[drift]\nignores = []", "t")
            .unwrap_err()
            .to_string();
        assert!(error.contains("ignores"), "{error}");
    }

    #[test]
    fn unknown_fields_are_named() {
        let error = Config::parse("stor = 'x'", "test.toml")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("stor") && error.contains("test.toml"),
            "{error}"
        );
        let error = Config::parse("[[sources]]\ntype = 'nope'\nname = 'x'", "t")
            .unwrap_err()
            .to_string();
        assert!(error.contains("nope"), "{error}");
    }
}
