//! Source configuration: a tagged enum, one variant per source type.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use groundtruth_engine::model::Layer;
use serde::Deserialize;

pub use crate::duration::parse_duration;
use crate::error::{IngestError, Result};
use crate::input::{Input, InputLimits, InputLocation};
use crate::scheduler::ScheduledSource;
pub use crate::source::aws::AwsConfig;
use crate::source::aws::AwsSource;
use crate::source::cloudformation::CloudFormationSource;
pub use crate::source::command::CommandConfig;
use crate::source::command::CommandSource;
use crate::source::compose::ComposeSource;
use crate::source::flagd::FlagdSource;
use crate::source::host::HostSource;
pub use crate::source::kubernetes_api::KubernetesApiConfig;
use crate::source::kubernetes_api::KubernetesApiSource;
use crate::source::kubernetes_manifests::KubernetesManifestsSource;
use crate::source::postgres_catalog::{PasswordSource, PostgresCatalogSource};
use crate::source::simulated::{SimulatedEstate, SimulatedSource};
use crate::source::sql_migrations::{MigrationLayout, SqlMigrationsSource};
use crate::source::terraform_hcl::TerraformHclSource;
use crate::source::terraform_plan::TerraformPlanSource;
use crate::source::terraform_state::TerraformStateSource;
use crate::source::Source;

/// One `[[sources]]` entry.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceConfig {
    /// A Terraform state (v4) file, or `terraform show -json` of a state.
    TerraformState(FileSourceConfig),
    /// `terraform show -json` of a saved plan.
    TerraformPlan(FileSourceConfig),
    /// Terraform configuration: `.tf` files.
    TerraformHcl(FileSourceConfig),
    /// CloudFormation templates (JSON or YAML).
    Cloudformation(CloudFormationConfig),
    /// Kubernetes manifests (YAML or JSON, Helm/Kustomize output included).
    KubernetesManifests(FileSourceConfig),
    /// A directory of SQL migrations, folded into a declared schema.
    SqlMigrations(SqlMigrationsConfig),
    /// A docker-compose file.
    Compose(ComposeConfig),
    /// OpenFeature flagd flag definitions.
    Flagd(FileSourceConfig),
    /// This machine's processes and listening sockets.
    Host(HostConfig),
    /// The seeded synthetic estate used by the demo and benchmarks.
    Simulated(SimulatedConfig),
    /// A running PostgreSQL database's catalog (live layer).
    PostgresCatalog(PostgresCatalogConfig),
    /// The JSON a command prints (argv, no shell), mapped to resources by JSON pointers.
    Command(CommandConfig),
    /// An AWS account's resources, read through the AWS APIs (live layer).
    Aws(AwsConfig),
    /// A Kubernetes cluster's objects through its API server, or `kubectl -o json` output.
    KubernetesApi(KubernetesApiConfig),
}

/// Settings of a source that reads declared files.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// Unique source name.
    pub name: String,
    /// A file, a directory, or an `s3://bucket/key` / `s3://bucket/prefix/` URL.
    pub path: InputLocation,
    /// Most files read from a directory or prefix (default 10000).
    #[serde(default)]
    pub max_files: Option<usize>,
    /// Largest file read, in bytes (default 64 MiB).
    #[serde(default)]
    pub max_file_bytes: Option<u64>,
    /// Time between scrapes, e.g. "5m" (default 5m).
    #[serde(default, deserialize_with = "crate::duration::optional_duration")]
    pub interval: Option<Duration>,
    /// Per-scrape limit, e.g. "2m" (default 2m).
    #[serde(default, deserialize_with = "crate::duration::optional_duration")]
    pub timeout: Option<Duration>,
}

impl FileSourceConfig {
    /// The input with its configured limits.
    pub fn input(&self) -> Input {
        let defaults = InputLimits::default();
        Input::new(self.path.clone()).with_limits(InputLimits {
            max_files: self.max_files.unwrap_or(defaults.max_files),
            max_file_bytes: self.max_file_bytes.unwrap_or(defaults.max_file_bytes),
            max_total_bytes: defaults
                .max_total_bytes
                .max(self.max_file_bytes.unwrap_or(0)),
        })
    }
}

/// Settings of the `cloudformation` source.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CloudFormationConfig {
    /// Unique source name.
    pub name: String,
    /// A template, a directory of templates, or an `s3://` URL.
    pub path: InputLocation,
    /// The deployed stack's name, so logical ids map to the live stack's resources
    /// (default: each template's file name without extension).
    #[serde(default)]
    pub stack_name: Option<String>,
    /// Most files read from a directory (default 10000).
    #[serde(default)]
    pub max_files: Option<usize>,
    /// Largest file read, in bytes (default 64 MiB).
    #[serde(default)]
    pub max_file_bytes: Option<u64>,
    /// Time between scrapes (default 5m).
    #[serde(default, deserialize_with = "crate::duration::optional_duration")]
    pub interval: Option<Duration>,
    /// Per-scrape limit (default 2m).
    #[serde(default, deserialize_with = "crate::duration::optional_duration")]
    pub timeout: Option<Duration>,
}

/// Settings of the `sql_migrations` source.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SqlMigrationsConfig {
    /// Unique source name.
    pub name: String,
    /// The migrations directory (or an `s3://` prefix).
    pub path: InputLocation,
    /// auto (default), flyway, golang_migrate, diesel, sqlx or plain.
    #[serde(default)]
    pub layout: MigrationLayout,
    /// Most files read (default 10000).
    #[serde(default)]
    pub max_files: Option<usize>,
    /// Largest file read, in bytes (default 64 MiB).
    #[serde(default)]
    pub max_file_bytes: Option<u64>,
    /// Time between scrapes (default 5m).
    #[serde(default, deserialize_with = "crate::duration::optional_duration")]
    pub interval: Option<Duration>,
    /// Per-scrape limit (default 2m).
    #[serde(default, deserialize_with = "crate::duration::optional_duration")]
    pub timeout: Option<Duration>,
}

/// Settings of the `compose` source.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ComposeConfig {
    /// Unique source name.
    pub name: String,
    /// A compose file, a directory of them, or an `s3://` URL.
    pub path: InputLocation,
    /// The project name (default: the file's top-level `name:`, else `default`).
    #[serde(default)]
    pub project: Option<String>,
    /// Interpolation variables for `${VAR}`, over each compose file's `.env` (the process
    /// environment is not read).
    #[serde(default)]
    pub variables: std::collections::BTreeMap<String, String>,
    /// Most files read from a directory (default 10000).
    #[serde(default)]
    pub max_files: Option<usize>,
    /// Largest file read, in bytes (default 64 MiB).
    #[serde(default)]
    pub max_file_bytes: Option<u64>,
    /// Time between scrapes (default 5m).
    #[serde(default, deserialize_with = "crate::duration::optional_duration")]
    pub interval: Option<Duration>,
    /// Per-scrape limit (default 2m).
    #[serde(default, deserialize_with = "crate::duration::optional_duration")]
    pub timeout: Option<Duration>,
}

/// Settings of the `host` source.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Unique source name.
    pub name: String,
    /// Where procfs is mounted (default /proc).
    #[serde(default)]
    pub proc_root: Option<PathBuf>,
    /// Time between scrapes (default 5m).
    #[serde(default, deserialize_with = "crate::duration::optional_duration")]
    pub interval: Option<Duration>,
    /// Per-scrape limit (default 2m).
    #[serde(default, deserialize_with = "crate::duration::optional_duration")]
    pub timeout: Option<Duration>,
}

/// Settings of the `simulated` source.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimulatedConfig {
    /// Unique source name; the demo uses synthetic_iac and synthetic_cloud.
    pub name: String,
    /// declared or live.
    pub layer: Layer,
    /// Random seed.
    #[serde(default)]
    pub seed: u64,
    /// Number of services in the estate (default 8).
    #[serde(default)]
    pub services: Option<usize>,
    /// Time between scrapes (default 5m).
    #[serde(default, deserialize_with = "crate::duration::optional_duration")]
    pub interval: Option<Duration>,
    /// Per-scrape limit (default 2m).
    #[serde(default, deserialize_with = "crate::duration::optional_duration")]
    pub timeout: Option<Duration>,
}

/// Settings of the `postgres_catalog` source.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PostgresCatalogConfig {
    /// Unique source name.
    pub name: String,
    /// `host=... port=... user=... dbname=...` or a `postgres://user@host/db` URL, without
    /// password. No TLS.
    pub connection: String,
    /// Environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the password (trailing newline ignored).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Only these schemas (default: all but PostgreSQL's own).
    #[serde(default)]
    pub include_schemas: Vec<String>,
    /// Never these schemas.
    #[serde(default)]
    pub exclude_schemas: Vec<String>,
    /// Bound on connecting and authenticating (default 10s).
    #[serde(default, deserialize_with = "crate::duration::optional_duration")]
    pub connect_timeout: Option<Duration>,
    /// Bound on each catalog query (default 30s).
    #[serde(default, deserialize_with = "crate::duration::optional_duration")]
    pub statement_timeout: Option<Duration>,
    /// Time between scrapes (default 5m).
    #[serde(default, deserialize_with = "crate::duration::optional_duration")]
    pub interval: Option<Duration>,
    /// Per-scrape limit (default 2m).
    #[serde(default, deserialize_with = "crate::duration::optional_duration")]
    pub timeout: Option<Duration>,
}

impl PostgresCatalogConfig {
    /// Refuse settings that cannot both apply.
    fn validate(&self) -> Result<()> {
        if self.password_env.is_some() && self.password_file.is_some() {
            return Err(IngestError::Config(format!(
                "source '{}': set password_env or password_file, not both",
                self.name
            )));
        }
        Ok(())
    }

    /// The source this configures (`password_env` wins if both are set; [`SourceConfig::build`]
    /// refuses that).
    pub fn source(&self) -> PostgresCatalogSource {
        let password = match (&self.password_env, &self.password_file) {
            (Some(variable), _) => PasswordSource::Env(variable.clone()),
            (None, Some(path)) => PasswordSource::File(path.clone()),
            (None, None) => PasswordSource::None,
        };
        PostgresCatalogSource::new(self.name.clone(), self.connection.clone(), password)
            .with_schemas(self.include_schemas.clone(), self.exclude_schemas.clone())
            .with_timeouts(
                self.connect_timeout
                    .unwrap_or(crate::source::postgres_catalog::DEFAULT_CONNECT_TIMEOUT),
                self.statement_timeout
                    .unwrap_or(crate::source::postgres_catalog::DEFAULT_STATEMENT_TIMEOUT),
            )
    }
}

const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The fields every source configuration has, borrowed.
struct Common<'a> {
    name: &'a str,
    interval: Option<Duration>,
    timeout: Option<Duration>,
}

/// The input of a file-reading configuration, built from its shared fields.
fn file_input(
    path: &InputLocation,
    max_files: Option<usize>,
    max_file_bytes: Option<u64>,
) -> Input {
    FileSourceConfig {
        name: String::new(),
        path: path.clone(),
        max_files,
        max_file_bytes,
        interval: None,
        timeout: None,
    }
    .input()
}

impl SourceConfig {
    fn common(&self) -> Common<'_> {
        match self {
            SourceConfig::TerraformState(config)
            | SourceConfig::TerraformPlan(config)
            | SourceConfig::TerraformHcl(config)
            | SourceConfig::KubernetesManifests(config)
            | SourceConfig::Flagd(config) => Common {
                name: &config.name,
                interval: config.interval,
                timeout: config.timeout,
            },
            SourceConfig::Cloudformation(config) => Common {
                name: &config.name,
                interval: config.interval,
                timeout: config.timeout,
            },
            SourceConfig::SqlMigrations(config) => Common {
                name: &config.name,
                interval: config.interval,
                timeout: config.timeout,
            },
            SourceConfig::Compose(config) => Common {
                name: &config.name,
                interval: config.interval,
                timeout: config.timeout,
            },
            SourceConfig::Host(config) => Common {
                name: &config.name,
                interval: config.interval,
                timeout: config.timeout,
            },
            SourceConfig::Simulated(config) => Common {
                name: &config.name,
                interval: config.interval,
                timeout: config.timeout,
            },
            SourceConfig::PostgresCatalog(config) => Common {
                name: &config.name,
                interval: config.interval,
                timeout: config.timeout,
            },
            SourceConfig::Command(config) => Common {
                name: &config.name,
                interval: config.interval,
                timeout: config.timeout,
            },
            SourceConfig::Aws(config) => Common {
                name: &config.name,
                interval: config.interval,
                timeout: config.timeout,
            },
            SourceConfig::KubernetesApi(config) => Common {
                name: &config.name,
                interval: config.interval,
                timeout: config.timeout,
            },
        }
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        self.common().name
    }

    /// Where a file-reading source reads from; `None` for live sources.
    pub fn location(&self) -> Option<&InputLocation> {
        match self {
            SourceConfig::TerraformState(config)
            | SourceConfig::TerraformPlan(config)
            | SourceConfig::TerraformHcl(config)
            | SourceConfig::KubernetesManifests(config)
            | SourceConfig::Flagd(config) => Some(&config.path),
            SourceConfig::Cloudformation(config) => Some(&config.path),
            SourceConfig::SqlMigrations(config) => Some(&config.path),
            SourceConfig::Compose(config) => Some(&config.path),
            SourceConfig::KubernetesApi(config) => config.path.as_ref(),
            SourceConfig::Host(_)
            | SourceConfig::Simulated(_)
            | SourceConfig::PostgresCatalog(_)
            | SourceConfig::Command(_)
            | SourceConfig::Aws(_) => None,
        }
    }

    /// The same source reading from another location (a git backfill points a copy at a
    /// checkout of an old commit). `None` for sources that read no files.
    pub fn with_location(&self, location: InputLocation) -> Option<SourceConfig> {
        let mut copy = self.clone();
        match &mut copy {
            SourceConfig::TerraformState(config)
            | SourceConfig::TerraformPlan(config)
            | SourceConfig::TerraformHcl(config)
            | SourceConfig::KubernetesManifests(config)
            | SourceConfig::Flagd(config) => config.path = location,
            SourceConfig::Cloudformation(config) => config.path = location,
            SourceConfig::SqlMigrations(config) => config.path = location,
            SourceConfig::Compose(config) => config.path = location,
            SourceConfig::KubernetesApi(config) if config.path.is_some() => {
                config.path = Some(location)
            }
            SourceConfig::KubernetesApi(_) => return None,
            SourceConfig::Host(_)
            | SourceConfig::Simulated(_)
            | SourceConfig::PostgresCatalog(_)
            | SourceConfig::Command(_)
            | SourceConfig::Aws(_) => return None,
        }
        Some(copy)
    }

    fn schedule(&self) -> (Duration, Duration) {
        let common = self.common();
        (
            common.interval.unwrap_or(DEFAULT_INTERVAL),
            common.timeout.unwrap_or(DEFAULT_TIMEOUT),
        )
    }

    /// Build the source alone, without its schedule. `epoch` anchors the simulator's timeline.
    pub fn build_source(&self, epoch: chrono::DateTime<chrono::Utc>) -> Arc<dyn Source> {
        match self {
            SourceConfig::TerraformState(config) => Arc::new(TerraformStateSource::from_input(
                config.name.clone(),
                config.input(),
            )),
            SourceConfig::TerraformPlan(config) => Arc::new(TerraformPlanSource::new(
                config.name.clone(),
                config.input(),
            )),
            SourceConfig::TerraformHcl(config) => {
                Arc::new(TerraformHclSource::new(config.name.clone(), config.input()))
            }
            SourceConfig::Cloudformation(config) => Arc::new(CloudFormationSource::new(
                config.name.clone(),
                file_input(&config.path, config.max_files, config.max_file_bytes),
                config.stack_name.clone(),
            )),
            SourceConfig::KubernetesManifests(config) => Arc::new(KubernetesManifestsSource::new(
                config.name.clone(),
                config.input(),
            )),
            SourceConfig::SqlMigrations(config) => Arc::new(SqlMigrationsSource::new(
                config.name.clone(),
                file_input(&config.path, config.max_files, config.max_file_bytes),
                config.layout,
            )),
            SourceConfig::Compose(config) => Arc::new(
                ComposeSource::new(
                    config.name.clone(),
                    file_input(&config.path, config.max_files, config.max_file_bytes),
                    config.project.clone(),
                )
                .with_variables(config.variables.clone()),
            ),
            SourceConfig::Flagd(config) => {
                Arc::new(FlagdSource::new(config.name.clone(), config.input()))
            }
            SourceConfig::Host(config) => Arc::new(HostSource::new(
                config.name.clone(),
                config
                    .proc_root
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("/proc")),
            )),
            SourceConfig::Simulated(config) => {
                let estate = Arc::new(SimulatedEstate::new(
                    config.seed,
                    epoch,
                    config.services.unwrap_or(8),
                ));
                Arc::new(SimulatedSource::new(
                    config.name.clone(),
                    config.layer,
                    estate,
                ))
            }
            SourceConfig::PostgresCatalog(config) => Arc::new(config.source()),
            SourceConfig::Command(config) => Arc::new(CommandSource::new(config.clone())),
            SourceConfig::Aws(config) => Arc::new(AwsSource::new(config.clone())),
            SourceConfig::KubernetesApi(config) => Arc::new(KubernetesApiSource::new(config)),
        }
    }

    /// Build the source with its schedule. `epoch` anchors the simulator's timeline.
    pub fn build(&self, epoch: chrono::DateTime<chrono::Utc>) -> Result<ScheduledSource> {
        let (interval, timeout) = self.schedule();
        if interval.is_zero() {
            return Err(IngestError::Config(format!(
                "source '{}': interval must be positive",
                self.name()
            )));
        }
        match self {
            SourceConfig::PostgresCatalog(config) => config.validate()?,
            SourceConfig::Command(config) => config.validate()?,
            SourceConfig::Aws(config) => config.validate()?,
            SourceConfig::KubernetesApi(config) => config.validate()?,
            _ => {}
        }
        Ok(ScheduledSource {
            source: self.build_source(epoch),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> std::result::Result<Vec<SourceConfig>, toml::de::Error> {
        #[derive(Deserialize)]
        struct File {
            sources: Vec<SourceConfig>,
        }
        toml::from_str::<File>(text).map(|file| file.sources)
    }

    #[test]
    fn every_source_type_parses_and_unknown_fields_are_refused() {
        let sources = parse(
            r#"
            [[sources]]
            type = "kubernetes_manifests"
            name = "manifests"
            path = "deploy/"
            interval = "1m"

            [[sources]]
            type = "sql_migrations"
            name = "schema"
            path = "db/migrations"
            layout = "flyway"

            [[sources]]
            type = "terraform_state"
            name = "prod"
            path = "s3://tfstate/prod/terraform.tfstate"
            "#,
        )
        .unwrap();
        assert_eq!(sources[0].name(), "manifests");
        assert_eq!(sources[0].schedule().0, Duration::from_secs(60));
        assert!(matches!(
            &sources[1],
            SourceConfig::SqlMigrations(SqlMigrationsConfig {
                layout: MigrationLayout::Flyway,
                ..
            })
        ));
        assert_eq!(
            sources[2].location().unwrap().to_string(),
            "s3://tfstate/prod/terraform.tfstate"
        );
        let moved = sources[0]
            .with_location(InputLocation::Path(PathBuf::from("/tmp/checkout/deploy")))
            .unwrap();
        assert_eq!(
            moved.location().unwrap().to_string(),
            "/tmp/checkout/deploy"
        );
        assert_eq!(moved.name(), "manifests");

        let error = parse(
            r#"
            [[sources]]
            type = "flagd"
            name = "flags"
            path = "flags.json"
            pth = "typo"
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("pth"), "{error}");
        let error = parse("[[sources]]\ntype = \"nope\"\nname = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("nope"), "{error}");
    }

    #[test]
    fn postgres_catalog_parses_and_refuses_two_passwords() {
        let sources = parse(
            r#"
            [[sources]]
            type = "postgres_catalog"
            name = "orders-db"
            connection = "host=127.0.0.1 port=5432 user=app dbname=shop"
            password_env = "SHOP_DB_PASSWORD"
            include_schemas = ["public"]
            statement_timeout = "5s"

            [[sources]]
            type = "postgres_catalog"
            name = "both"
            connection = "postgres://app@db/shop"
            password_env = "SHOP_DB_PASSWORD"
            password_file = "/run/secrets/db"
            "#,
        )
        .unwrap();
        let SourceConfig::PostgresCatalog(config) = &sources[0] else {
            panic!("not postgres_catalog: {:?}", sources[0]);
        };
        assert_eq!(config.password_env.as_deref(), Some("SHOP_DB_PASSWORD"));
        assert_eq!(config.include_schemas, vec!["public".to_string()]);
        assert_eq!(config.statement_timeout, Some(Duration::from_secs(5)));
        assert!(sources[0].location().is_none());
        assert!(sources[0]
            .with_location(InputLocation::Path(PathBuf::from("/tmp")))
            .is_none());
        let built = sources[0].build(chrono::Utc::now()).unwrap();
        assert_eq!(built.source.source_type(), "postgres_catalog");
        let error = sources[1]
            .build(chrono::Utc::now())
            .unwrap_err()
            .to_string();
        assert!(error.contains("not both"), "{error}");
        let error = parse(
            "[[sources]]\ntype = \"postgres_catalog\"\nname = \"x\"\nconnection = \"host=db\"\npassword = \"hunter2\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("unknown field `password`"), "{error}");
    }

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
