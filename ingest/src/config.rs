//! Source configuration: one `[[sources]]` entry is the fields every source has
//! ([`CommonSettings`]), a `type`, and that type's own settings ([`SourceKind`]); sources that
//! read files add [`InputSettings`] ([`FileSourced`]). Each type's own settings live beside its
//! source; this module only names the types and builds sources from them.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Deserializer};

pub use crate::duration::parse_duration;
use crate::error::{IngestError, Result};
use crate::input::InputLocation;
use crate::scheduler::ScheduledSource;
pub use crate::settings::{CommonSettings, FileSourced, InputSettings, NoSettings};
pub use crate::source::declared::cloudformation::CloudFormationConfig;
use crate::source::declared::cloudformation::CloudFormationSource;
pub use crate::source::declared::compose::ComposeConfig;
use crate::source::declared::compose::ComposeSource;
use crate::source::declared::flagd::FlagdSource;
use crate::source::declared::kubernetes_manifests::KubernetesManifestsSource;
pub use crate::source::declared::sql_migrations::SqlMigrationsConfig;
use crate::source::declared::sql_migrations::SqlMigrationsSource;
use crate::source::declared::terraform_hcl::TerraformHclSource;
use crate::source::declared::terraform_plan::TerraformPlanSource;
use crate::source::declared::terraform_state::TerraformStateSource;
pub use crate::source::live::aws::AwsConfig;
use crate::source::live::aws::AwsSource;
pub use crate::source::live::command::CommandConfig;
use crate::source::live::command::CommandSource;
pub use crate::source::live::host::HostConfig;
use crate::source::live::host::HostSource;
pub use crate::source::live::kubernetes_api::KubernetesApiConfig;
use crate::source::live::kubernetes_api::KubernetesApiSource;
pub use crate::source::live::postgres_catalog::PostgresCatalogConfig;
pub use crate::source::simulated::SimulatedConfig;
use crate::source::simulated::{SimulatedEstate, SimulatedSource};
use crate::source::Source;

/// One `[[sources]]` entry: the shared fields and the type's own settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceConfig {
    /// Name, interval and timeout.
    pub common: CommonSettings,
    /// The `type` and what is particular to it.
    pub kind: SourceKind,
}

impl<'de> Deserialize<'de> for SourceConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let (common, kind) = crate::settings::split::<CommonSettings, SourceKind, D>(deserializer)?;
        Ok(Self { common, kind })
    }
}

/// A source type and its own settings, tagged by `type`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceKind {
    /// A Terraform state (v4) file, or `terraform show -json` of a state.
    TerraformState(FileSourced<NoSettings>),
    /// `terraform show -json` of a saved plan.
    TerraformPlan(FileSourced<NoSettings>),
    /// Terraform configuration: `.tf` and `.tf.json` files.
    TerraformHcl(FileSourced<NoSettings>),
    /// CloudFormation templates (JSON or YAML).
    Cloudformation(FileSourced<CloudFormationConfig>),
    /// Kubernetes manifests (YAML or JSON, Helm/Kustomize output included).
    KubernetesManifests(FileSourced<NoSettings>),
    /// A directory of SQL migrations, folded into a declared schema.
    SqlMigrations(FileSourced<SqlMigrationsConfig>),
    /// A docker-compose file.
    Compose(FileSourced<ComposeConfig>),
    /// OpenFeature flagd flag definitions.
    Flagd(FileSourced<NoSettings>),
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

impl SourceKind {
    /// The input of a file-reading source; `None` for sources that read no files (or, like
    /// `kubernetes_api`, read `kubectl` output only optionally: see [`SourceConfig::location`]).
    fn input_settings(&self) -> Option<&InputSettings> {
        match self {
            SourceKind::TerraformState(config)
            | SourceKind::TerraformPlan(config)
            | SourceKind::TerraformHcl(config)
            | SourceKind::KubernetesManifests(config)
            | SourceKind::Flagd(config) => Some(&config.input),
            SourceKind::Cloudformation(config) => Some(&config.input),
            SourceKind::SqlMigrations(config) => Some(&config.input),
            SourceKind::Compose(config) => Some(&config.input),
            SourceKind::Host(_)
            | SourceKind::Simulated(_)
            | SourceKind::PostgresCatalog(_)
            | SourceKind::Command(_)
            | SourceKind::Aws(_)
            | SourceKind::KubernetesApi(_) => None,
        }
    }

    /// Check what serde cannot, naming the source in the message.
    fn validate(&self, name: &str) -> Result<()> {
        match self {
            SourceKind::PostgresCatalog(config) => config.validate(name),
            SourceKind::Command(config) => config.validate(name),
            SourceKind::Aws(config) => config.validate(name),
            SourceKind::KubernetesApi(config) => config.validate(name),
            _ => Ok(()),
        }
    }
}

impl SourceConfig {
    /// The configured name.
    pub fn name(&self) -> &str {
        &self.common.name
    }

    /// Where a file-reading source reads from; `None` for live sources.
    pub fn location(&self) -> Option<&InputLocation> {
        match &self.kind {
            SourceKind::KubernetesApi(config) => config.path.as_ref(),
            kind => kind.input_settings().map(|input| &input.path),
        }
    }

    /// The same source reading from another location (a git backfill points a copy at a
    /// checkout of an old commit). `None` for sources that read no files.
    pub fn with_location(&self, location: InputLocation) -> Option<SourceConfig> {
        let mut copy = self.clone();
        match &mut copy.kind {
            SourceKind::KubernetesApi(config) if config.path.is_some() => {
                config.path = Some(location);
            }
            kind => {
                let input = kind.input_settings()?.clone();
                let moved = InputSettings {
                    path: location,
                    ..input
                };
                set_input(kind, moved);
            }
        }
        Some(copy)
    }

    /// Build the source alone, without its schedule. `epoch` anchors the simulator's timeline.
    pub fn build_source(&self, epoch: chrono::DateTime<chrono::Utc>) -> Arc<dyn Source> {
        let name = self.common.name.clone();
        match &self.kind {
            SourceKind::TerraformState(config) => {
                Arc::new(TerraformStateSource::from_input(name, config.input.input()))
            }
            SourceKind::TerraformPlan(config) => {
                Arc::new(TerraformPlanSource::new(name, config.input.input()))
            }
            SourceKind::TerraformHcl(config) => {
                Arc::new(TerraformHclSource::new(name, config.input.input()))
            }
            SourceKind::Cloudformation(config) => Arc::new(CloudFormationSource::new(
                name,
                config.input.input(),
                config.own.stack_name.clone(),
            )),
            SourceKind::KubernetesManifests(config) => {
                Arc::new(KubernetesManifestsSource::new(name, config.input.input()))
            }
            SourceKind::SqlMigrations(config) => Arc::new(SqlMigrationsSource::new(
                name,
                config.input.input(),
                config.own.layout,
            )),
            SourceKind::Compose(config) => Arc::new(
                ComposeSource::new(name, config.input.input(), config.own.project.clone())
                    .with_variables(config.own.variables.clone()),
            ),
            SourceKind::Flagd(config) => Arc::new(FlagdSource::new(name, config.input.input())),
            SourceKind::Host(config) => Arc::new(HostSource::new(
                name,
                config
                    .proc_root
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("/proc")),
            )),
            SourceKind::Simulated(config) => {
                let estate = Arc::new(SimulatedEstate::new(
                    config.seed,
                    epoch,
                    config.services.unwrap_or(8),
                ));
                Arc::new(SimulatedSource::new(name, config.layer, estate))
            }
            SourceKind::PostgresCatalog(config) => Arc::new(config.source(name)),
            SourceKind::Command(config) => Arc::new(CommandSource::new(name, config.clone())),
            SourceKind::Aws(config) => Arc::new(AwsSource::new(name, config.clone())),
            SourceKind::KubernetesApi(config) => Arc::new(KubernetesApiSource::new(name, config)),
        }
    }

    /// Build the source with its schedule. `epoch` anchors the simulator's timeline.
    pub fn build(&self, epoch: chrono::DateTime<chrono::Utc>) -> Result<ScheduledSource> {
        let (interval, timeout) = self.common.schedule();
        if interval.is_zero() {
            return Err(IngestError::Config(format!(
                "source '{}': interval must be positive",
                self.name()
            )));
        }
        self.kind.validate(self.name())?;
        Ok(ScheduledSource {
            source: self.build_source(epoch),
            interval,
            timeout,
        })
    }
}

/// Replace the input of a file-reading source (no-op for others).
fn set_input(kind: &mut SourceKind, input: InputSettings) {
    match kind {
        SourceKind::TerraformState(config)
        | SourceKind::TerraformPlan(config)
        | SourceKind::TerraformHcl(config)
        | SourceKind::KubernetesManifests(config)
        | SourceKind::Flagd(config) => config.input = input,
        SourceKind::Cloudformation(config) => config.input = input,
        SourceKind::SqlMigrations(config) => config.input = input,
        SourceKind::Compose(config) => config.input = input,
        _ => {}
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
pub(crate) mod tests {
    use super::*;
    use crate::source::declared::sql_migrations::MigrationLayout;
    use std::time::Duration;

    /// The `[[sources]]` entries of a configuration text.
    pub(crate) fn parse(text: &str) -> std::result::Result<Vec<SourceConfig>, toml::de::Error> {
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
        assert_eq!(sources[0].common.schedule().0, Duration::from_secs(60));
        assert!(matches!(
            &sources[1].kind,
            SourceKind::SqlMigrations(FileSourced {
                own: SqlMigrationsConfig {
                    layout: MigrationLayout::Flyway,
                },
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
        let SourceKind::PostgresCatalog(config) = &sources[0].kind else {
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
