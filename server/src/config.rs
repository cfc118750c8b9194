//! The `groundtruth serve` configuration file (TOML). Every option is documented in
//! `server/groundtruth.example.toml`; environment variables override the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use groundtruth_engine::drift::DriftSettings;
use groundtruth_engine::store::{CheckpointPolicy, StoreOptions};
use groundtruth_ingest::config::{parse_duration, SourceConfig};
use serde::{Deserialize, Deserializer};

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
    /// `[checkpoints]`: when a source's state is checkpointed (see the engine docs).
    #[serde(default)]
    pub checkpoints: CheckpointPolicy,
    /// `[secrets]`: where the key secret markers are sealed with is kept.
    #[serde(default)]
    pub secrets: SecretsConfig,
    /// `[retention]`: when files compaction removed are deleted from disk.
    #[serde(default)]
    pub retention: RetentionConfig,
    /// `[mcp]`: the MCP server for AI agents (`groundtruth mcp`).
    #[serde(default)]
    pub mcp: McpConfig,
    /// `[[alerts]]`: webhooks `serve` calls when a drift interval starts or resolves.
    #[serde(default)]
    pub alerts: Vec<AlertConfig>,
    /// `[[workers]]`: ingest processes sharing the store, each owning some of the sources.
    #[serde(default)]
    pub workers: Vec<WorkerConfig>,
}

/// `[[workers]]`: one of several writers of the store (`groundtruth ingest --worker NAME` or
/// `groundtruth serve --worker NAME`). With workers declared, every source belongs to exactly
/// one of them, so no two processes ever write the same source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    /// Unique name, given on the command line.
    pub name: String,
    /// Names of the `[[sources]]` this worker scrapes and commits.
    pub sources: Vec<String>,
}

/// Refuse worker assignments that would let two writers write one source, or leave a
/// source unwritten: duplicate worker names, unknown sources, a source in two workers or in
/// none.
fn validate_workers(workers: &[WorkerConfig], sources: &[SourceConfig]) -> Result<(), ServerError> {
    if workers.is_empty() {
        return Ok(());
    }
    let configured: std::collections::BTreeSet<&str> =
        sources.iter().map(|source| source.name()).collect();
    let mut owner: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
    let mut names = std::collections::HashSet::new();
    for worker in workers {
        if !names.insert(worker.name.as_str()) {
            return Err(ServerError::Config(format!(
                "[[workers]] '{}': the name is used twice",
                worker.name
            )));
        }
        for source in &worker.sources {
            if !configured.contains(source.as_str()) {
                return Err(ServerError::Config(format!(
                    "[[workers]] '{}': no source named '{source}' in [[sources]]",
                    worker.name
                )));
            }
            if let Some(first) = owner.insert(source.as_str(), worker.name.as_str()) {
                return Err(ServerError::Config(format!(
                    "[[workers]]: source '{source}' belongs to both '{first}' and '{}'; \
                     each source has exactly one writer",
                    worker.name
                )));
            }
        }
    }
    if let Some(orphan) = configured
        .iter()
        .find(|source| !owner.contains_key(**source))
    {
        return Err(ServerError::Config(format!(
            "[[workers]]: source '{orphan}' belongs to no worker; with workers declared, \
             every source needs one"
        )));
    }
    Ok(())
}

impl Config {
    /// The sources worker `name` owns (`None` without `[[workers]]`: this process owns all).
    pub fn worker_sources(
        &self,
        name: Option<&str>,
    ) -> Result<Option<std::collections::BTreeSet<String>>, ServerError> {
        match (name, self.workers.is_empty()) {
            (None, true) => Ok(None),
            (None, false) => Err(ServerError::Config(format!(
                "this configuration declares [[workers]] ({}): pass --worker NAME so only one \
                 process writes each source (or --no-ingest to serve queries only)",
                self.workers
                    .iter()
                    .map(|worker| worker.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            (Some(name), true) => Err(ServerError::Config(format!(
                "--worker {name}: the configuration declares no [[workers]]"
            ))),
            (Some(name), false) => self
                .workers
                .iter()
                .find(|worker| worker.name == name)
                .map(|worker| Some(worker.sources.iter().cloned().collect()))
                .ok_or_else(|| {
                    ServerError::Config(format!("--worker {name}: no such [[workers]] entry"))
                }),
        }
    }
}

/// `[[alerts]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
    /// Unique name, shown in `alert_deliveries` (the URL is not: it often holds a token).
    pub name: String,
    /// Where to POST: `http://` or `https://`.
    pub url: String,
    /// Drift statuses that alert: any of missing, unmanaged, changed (default all three).
    #[serde(default = "default_alert_statuses")]
    pub statuses: Vec<String>,
    /// Kinds that alert: exact, a prefix ending in `*`, or `*` (default every kind).
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Tries per event before it is recorded as undelivered (default 3).
    #[serde(default = "default_alert_attempts")]
    pub max_attempts: u32,
    /// Limit of one try, e.g. `"10s"` (default 10 s).
    #[serde(default = "default_alert_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
}

/// Drift statuses an alert can watch.
pub const ALERT_STATUSES: &[&str] = &["missing", "unmanaged", "changed"];

fn default_alert_statuses() -> Vec<String> {
    ALERT_STATUSES
        .iter()
        .map(|status| status.to_string())
        .collect()
}

fn default_alert_attempts() -> u32 {
    3
}

fn default_alert_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Refuse alerts that cannot work: a duplicate name, a URL that is not HTTP, an unknown
/// status, no attempts.
fn validate_alerts(alerts: &[AlertConfig]) -> Result<(), ServerError> {
    let mut names = std::collections::HashSet::new();
    for alert in alerts {
        let problem = if !names.insert(alert.name.as_str()) {
            Some("the name is used twice".to_string())
        } else if !(alert.url.starts_with("http://") || alert.url.starts_with("https://")) {
            Some("url must start with http:// or https://".to_string())
        } else if let Some(status) = alert
            .statuses
            .iter()
            .find(|status| !ALERT_STATUSES.contains(&status.as_str()))
        {
            Some(format!(
                "unknown status '{status}' (use {})",
                ALERT_STATUSES.join(", ")
            ))
        } else if alert.max_attempts == 0 {
            Some("max_attempts must be at least 1".to_string())
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(ServerError::Config(format!(
                "[[alerts]] '{}': {problem}",
                alert.name
            )));
        }
    }
    Ok(())
}

/// `[mcp]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpConfig {
    /// Address of the streamable HTTP transport, for `groundtruth mcp --http` and, when set,
    /// also served by `groundtruth serve`. Loopback only (the transport has no
    /// authentication).
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// Most rows one tool call returns; more are cut and the answer says `truncated`.
    #[serde(default = "default_mcp_max_rows")]
    pub max_rows: usize,
    /// Longest one tool's statement may run, e.g. `"30s"`.
    #[serde(
        default = "default_mcp_statement_timeout",
        deserialize_with = "duration"
    )]
    pub statement_timeout: Duration,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            listen: None,
            max_rows: default_mcp_max_rows(),
            statement_timeout: default_mcp_statement_timeout(),
        }
    }
}

impl McpConfig {
    /// Refuse a non-loopback HTTP address: the transport has no authentication.
    pub fn validate(&self) -> Result<(), ServerError> {
        match self.listen {
            Some(address) if !address.ip().is_loopback() => Err(ServerError::Config(format!(
                "[mcp] listen = \"{address}\": the MCP HTTP transport has no authentication, \
                 so it listens on loopback only (127.0.0.1 or ::1)"
            ))),
            _ => Ok(()),
        }
    }

    /// The per-call limits the MCP server applies.
    pub fn limits(&self) -> groundtruth_mcp::Limits {
        groundtruth_mcp::Limits {
            max_rows: self.max_rows,
            statement_timeout: self.statement_timeout,
        }
    }
}

fn default_mcp_max_rows() -> usize {
    500
}

fn default_mcp_statement_timeout() -> Duration {
    Duration::from_secs(30)
}

/// `[retention]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// A file compaction removed from a table is deleted once the removal is older than this
    /// (default `"168h"`). A query whose snapshot is younger than this keeps reading; history
    /// itself is kept forever.
    #[serde(default = "default_vacuum_after", deserialize_with = "duration")]
    pub vacuum_after: Duration,
    /// How often `serve` vacuums (default `"24h"`); `"off"` leaves it to `groundtruth vacuum`.
    #[serde(default = "default_vacuum_every", deserialize_with = "duration_or_off")]
    pub vacuum_every: Option<Duration>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            vacuum_after: default_vacuum_after(),
            vacuum_every: default_vacuum_every(),
        }
    }
}

fn default_vacuum_after() -> Duration {
    Duration::from_secs(168 * 3600)
}

fn default_vacuum_every() -> Option<Duration> {
    Some(Duration::from_secs(24 * 3600))
}

fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

fn duration_or_off<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.trim() == "off" {
        return Ok(None);
    }
    let every = parse_duration(&text).map_err(serde::de::Error::custom)?;
    if every.is_zero() {
        return Err(serde::de::Error::custom(
            "a zero interval would vacuum continuously; use \"off\" to disable",
        ));
    }
    Ok(Some(every))
}

/// `[secrets]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    /// The key file (64 hex digits, mode 0600), created on first use; a relative path is
    /// relative to the configuration file's directory (the working directory without one).
    /// Default: `groundtruth.secret-key`. `GROUNDTRUTH_SECRET_KEY` (the key itself) wins.
    #[serde(default = "default_key_file")]
    pub key_file: PathBuf,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        Self {
            key_file: default_key_file(),
        }
    }
}

fn default_key_file() -> PathBuf {
    PathBuf::from("groundtruth.secret-key")
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Connections beyond this are refused with SQLSTATE 53300.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// How clients authenticate: `trust` (loopback only) or `scram-sha-256`.
    #[serde(default)]
    pub auth: AuthMethod,
    /// `[[server.users]]`: who may log in with `scram-sha-256`.
    #[serde(default)]
    pub users: Vec<UserConfig>,
    /// `[server.tls]`: serve TLS (clients choose it with `sslmode`).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Longest a statement may run (planning and execution), e.g. `"5m"`; a client's
    /// `SET statement_timeout` can only shorten it. Exceeding it is SQLSTATE 57014.
    #[serde(
        default = "default_statement_timeout",
        deserialize_with = "groundtruth_ingest::duration::optional_duration"
    )]
    pub statement_timeout: Option<Duration>,
    /// Most rows one result may have; more is SQLSTATE 54000.
    #[serde(default = "default_max_result_rows")]
    pub max_result_rows: Option<u64>,
    /// Memory all running queries may hold together, e.g. `"4GiB"` (default: unbounded). A query
    /// that needs more fails with SQLSTATE 53200; the others go on.
    #[serde(default, deserialize_with = "optional_bytes")]
    pub memory_limit: Option<usize>,
    /// Memory one query may hold, e.g. `"1GiB"`, within `memory_limit` (default: a quarter of
    /// `memory_limit`; unbounded without one). A query needing more fails with SQLSTATE 53200
    /// while the others go on.
    #[serde(default, deserialize_with = "optional_bytes")]
    pub query_memory_limit: Option<usize>,
    /// A connection that has not finished its startup (TLS, authentication) within this is
    /// closed (default `"30s"`), so stalled clients cannot hold connection slots. pgwire
    /// itself gives up after 60 s, so a longer value acts as 60 s.
    #[serde(
        default = "default_startup_timeout",
        deserialize_with = "groundtruth_ingest::duration::optional_duration"
    )]
    pub startup_timeout: Option<Duration>,
    /// A session idle between statements for this long is closed with SQLSTATE 57P05
    /// (default: never).
    #[serde(
        default,
        deserialize_with = "groundtruth_ingest::duration::optional_duration"
    )]
    pub idle_session_timeout: Option<Duration>,
    /// Address of the HTTP `/metrics` and `/health` listener; none by default.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// How often `serve --no-ingest` (a query replica) looks for commits other processes
    /// made (default `"2s"`): its answers lag the writers by at most about this much.
    #[serde(default = "default_refresh_every", deserialize_with = "duration")]
    pub refresh_every: Duration,
    /// A Ballista scheduler (`groundtruth cluster scheduler`) to hand history-wide queries to:
    /// queries reading `storage.versions`, checkpoints or a state at T (directly or through
    /// views and table functions) and nothing outside Groundtruth's tables. None by default:
    /// every query runs in this process.
    #[serde(default)]
    pub cluster: Option<SocketAddr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            max_connections: default_max_connections(),
            auth: AuthMethod::default(),
            users: Vec::new(),
            tls: None,
            statement_timeout: default_statement_timeout(),
            max_result_rows: default_max_result_rows(),
            memory_limit: None,
            query_memory_limit: None,
            startup_timeout: default_startup_timeout(),
            idle_session_timeout: None,
            metrics_listen: None,
            refresh_every: default_refresh_every(),
            cluster: None,
        }
    }
}

impl ServerConfig {
    /// The budget of one query: `query_memory_limit`, else a quarter of `memory_limit`.
    pub fn query_memory_limit(&self) -> Option<usize> {
        self.query_memory_limit
            .or(self.memory_limit.map(|limit| (limit / 4).max(1)))
    }

    /// Refuse settings that would expose data or cannot work: trust on a non-loopback
    /// address, SCRAM without users, malformed verifiers.
    pub fn validate(&self) -> Result<(), ServerError> {
        match self.auth {
            AuthMethod::Trust if !self.listen.ip().is_loopback() => {
                return Err(ServerError::Config(format!(
                    "refusing to listen on {} without authentication: set [server] auth = \
                     \"scram-sha-256\" and add [[server.users]] (or listen on 127.0.0.1)",
                    self.listen
                )));
            }
            AuthMethod::ScramSha256 if self.users.is_empty() => {
                return Err(ServerError::Config(
                    "[server] auth = \"scram-sha-256\" needs at least one [[server.users]] entry"
                        .into(),
                ));
            }
            _ => {}
        }
        for user in &self.users {
            crate::scram_verifier::Verifier::parse(&user.password_verifier).map_err(|error| {
                ServerError::Config(format!(
                    "[[server.users]] '{}': password_verifier: {error}",
                    user.name
                ))
            })?;
        }
        Ok(())
    }
}

/// `[server] auth`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum AuthMethod {
    /// Anyone who can connect is in: only allowed on a loopback address.
    #[default]
    #[serde(rename = "trust")]
    Trust,
    /// SCRAM-SHA-256 passwords checked against `[[server.users]]` verifiers.
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
}

/// `[[server.users]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    /// The user name clients give.
    pub name: String,
    /// A SCRAM-SHA-256 verifier in PostgreSQL's format, from `groundtruth hash-password`
    /// (never the password itself).
    pub password_verifier: String,
}

/// `[server.tls]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

fn default_refresh_every() -> Duration {
    Duration::from_secs(2)
}

fn default_startup_timeout() -> Option<Duration> {
    Some(Duration::from_secs(30))
}

fn default_statement_timeout() -> Option<Duration> {
    Some(Duration::from_secs(300))
}

fn default_max_result_rows() -> Option<u64> {
    Some(10_000_000)
}

/// `"512MiB"`, `"4GiB"`, `"1000000"` (bytes).
fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let digits = text
        .find(|character: char| !character.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: usize = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size such as 512MiB or 4GiB"))?;
    let multiplier: usize = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "kB" | "KB" => 1 << 10,
        "MiB" | "MB" => 1 << 20,
        "GiB" | "GB" => 1 << 30,
        "TiB" | "TB" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit '{other}' in '{text}' (use KiB, MiB, GiB)"
            ))
        }
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("'{text}' is too large"))
}

fn optional_bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<usize>, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    text.map(|text| parse_bytes(&text).map_err(serde::de::Error::custom))
        .transpose()
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
            checkpoints: CheckpointPolicy::default(),
            secrets: SecretsConfig::default(),
            retention: RetentionConfig::default(),
            mcp: McpConfig::default(),
            alerts: Vec::new(),
            workers: Vec::new(),
        }
    }
}

impl Config {
    /// Parse TOML text; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ServerError> {
        let config: Self = toml::from_str(text)
            .map_err(|error| ServerError::Config(format!("{origin}: {error}")))?;
        config.server.validate()?;
        config.mcp.validate()?;
        validate_alerts(&config.alerts)
            .map_err(|error| ServerError::Config(format!("{origin}: {error}")))?;
        validate_workers(&config.workers, &config.sources)
            .map_err(|error| ServerError::Config(format!("{origin}: {error}")))?;
        config
            .checkpoints
            .validate()
            .map_err(|error| ServerError::Config(format!("{origin}: {error}")))?;
        Ok(config)
    }

    /// Read the file (if given), then apply `GROUNDTRUTH_STORE`, `GROUNDTRUTH_LISTEN`,
    /// `GROUNDTRUTH_METRICS_LISTEN`, `GROUNDTRUTH_MCP_LISTEN` and `GROUNDTRUTH_STORE_FAULTS`
    /// (test-only fault injection under the store, see the engine's `store::FaultPlan`).
    pub fn load(path: Option<&Path>) -> Result<Self, ServerError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|error| {
                    ServerError::Config(format!("cannot read {}: {error}", path.display()))
                })?;
                let mut config = Self::parse(&text, &path.display().to_string())?;
                // The key lives with the configuration, wherever the process starts.
                if config.secrets.key_file.is_relative() {
                    if let Some(directory) = path.parent() {
                        config.secrets.key_file = directory.join(&config.secrets.key_file);
                    }
                }
                config
            }
            None => Self::default(),
        };
        if let Ok(store) = std::env::var("GROUNDTRUTH_STORE") {
            config.store = store;
        }
        // Fault injection for the reliability campaign (tests/campaign): environment only.
        config.store_options.faults = groundtruth_engine::store::FaultPlan::from_env()
            .map_err(|error| ServerError::Config(error.to_string()))?;
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
        if let Ok(scheduler) = std::env::var("GROUNDTRUTH_CLUSTER") {
            config.server.cluster = Some(scheduler.parse().map_err(|error| {
                ServerError::Config(format!("GROUNDTRUTH_CLUSTER '{scheduler}': {error}"))
            })?);
        }
        if let Ok(listen) = std::env::var("GROUNDTRUTH_MCP_LISTEN") {
            config.mcp.listen = Some(listen.parse().map_err(|error| {
                ServerError::Config(format!("GROUNDTRUTH_MCP_LISTEN '{listen}': {error}"))
            })?);
        }
        config.server.validate()?;
        config.mcp.validate()?;
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
        let types: std::collections::HashSet<_> = config
            .sources
            .iter()
            .map(|source| std::mem::discriminant(&source.kind))
            .collect();
        assert_eq!(types.len(), 14);
        assert_eq!(config.server.listen.port(), 5433);
        assert_eq!(config.server.metrics_listen, None);
        assert_eq!(config.drift.links.len(), 1);
        assert_eq!(config.drift.links[0].rule_name(), "config:queue-by-arn");
        assert_eq!(config.drift.ignores.len(), 2);
        assert_eq!(config.mcp.max_rows, 500);
        assert_eq!(config.mcp.statement_timeout, Duration::from_secs(30));
        assert_eq!(config.mcp.listen, None);
        assert_eq!(config.alerts.len(), 1);
        assert_eq!(config.alerts[0].statuses, vec!["missing", "changed"]);
        // The example shows the read retries' defaults.
        assert_eq!(
            config.store_options.read_retries,
            groundtruth_engine::store::ReadRetryPolicy::default()
        );
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
    fn exposing_the_server_needs_authentication() {
        let error = Config::parse("[server]\nlisten = '0.0.0.0:5433'", "t")
            .unwrap_err()
            .to_string();
        assert!(error.contains("without authentication"), "{error}");
        let error = Config::parse(
            "[server]\nlisten = '0.0.0.0:5433'\nauth = 'scram-sha-256'",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("[[server.users]]"), "{error}");
        let error = Config::parse(
            "[server]\nauth = 'scram-sha-256'\n[[server.users]]\nname = 'ops'\npassword_verifier = 'hunter2'",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("'ops'") && error.contains("SCRAM-SHA-256$"),
            "{error}"
        );
        let verifier =
            crate::scram_verifier::Verifier::from_password("pw", b"saltsaltsaltsalt", 4096);
        let config = Config::parse(
            &format!(
                "[server]\nlisten = '0.0.0.0:5433'\nauth = 'scram-sha-256'\nmemory_limit = '512MiB'\n\
                 statement_timeout = '30s'\n[[server.users]]\nname = 'ops'\npassword_verifier = '{verifier}'"
            ),
            "t",
        )
        .unwrap();
        assert_eq!(config.server.memory_limit, Some(512 << 20));
        assert_eq!(
            config.server.statement_timeout,
            Some(Duration::from_secs(30))
        );
        assert!(Config::parse("[server]\nmemory_limit = '4 parsecs'", "t").is_err());
        let error = Config::parse("[mcp]\nlisten = '0.0.0.0:5434'", "t")
            .unwrap_err()
            .to_string();
        assert!(error.contains("loopback only"), "{error}");
        let error = Config::parse(
            "[[alerts]]\nname = 'ops'\nurl = 'http://127.0.0.1:1/'\nstatuses = ['drifting']",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("'ops'") && error.contains("'drifting'"),
            "{error}"
        );
        let error = Config::parse("[[alerts]]\nname = 'ops'\nurl = 'ftp://x'", "t")
            .unwrap_err()
            .to_string();
        assert!(error.contains("http://"), "{error}");
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
