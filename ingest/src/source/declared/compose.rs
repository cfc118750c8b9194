//! The `compose` source: docker-compose files (the compose specification), as the declared
//! layer.
//!
//! It reads one compose file (any name), or under a directory every file named
//! `compose.yaml`, `compose.yml`, `docker-compose.yaml` or `docker-compose.yml`, and builds the
//! model `docker compose` would apply ([`project`]): `${VAR}` / `${VAR:-default}` / `$VAR`
//! interpolation from the `.env` file beside the compose file, overlaid by the configured
//! `variables` (the process environment is not read, so a scrape is deterministic; an unset
//! variable becomes empty with a warning, as in compose); the override file beside it
//! (`compose.override.yaml` for `compose.yaml`) merged in by compose's rules; and `include:`
//! files loaded into the same project (a missing included file fails the scrape). A value
//! that interpolates a secret-named variable is redacted whole. The project is the
//! constructor's `project`, else the file's top-level `name:`, else `default`. Identity:
//! services are kind `compose/service`, id `<project>/<service>` (`shop/web`); top-level
//! `networks`, `volumes`, `secrets` and `configs` are `compose/network`, `compose/volume`,
//! `compose/secret`, `compose/config` with the same id scheme. Service attrs are normalized so
//! equivalent spellings compare equal: `ports` (short `"127.0.0.1:8080:80/tcp"` and long
//! syntax) become `{target, published, protocol, host_ip}`, `volumes` become `{type, source,
//! target, read_only}` (long-syntax extras kept), `environment` (list or map) becomes a map,
//! `depends_on` (list or map) a map of `{condition, required}`, `networks` a map, `env_file` a
//! list of paths, `build` an object, `deploy.replicas` `replicas`; every other field is kept
//! as written (`x-*` extensions aside). The compose `labels` (list or map) become resource
//! labels, with `compose.file` (relative path) and `compose.project`. Redacted with
//! [`canonical::redacted`]: every `environment` value and every `build.args` value (names
//! kept; a variable without a value stays `null`), and the inline `content` of a top-level
//! secret or config. Warnings: a port or volume that cannot be read (kept as `{"raw": ...}`),
//! an unset variable, a top-level key the source does not model, and an identity seen in an
//! earlier file (the first is kept). Errors: a file that is not a mapping, or whose `services`
//! (or another top-level section) is not a mapping; no compose file under a directory; a
//! missing or cyclic include.

pub mod project;

use serde::Deserialize;
use std::collections::BTreeMap;

use groundtruth_engine::canonical;
use groundtruth_engine::model::{Layer, Observation, ObservedResource};
use serde_json::{json, Map, Value};

use crate::error::{IngestError, Result};
use crate::input::{self, Input, InputFile};
use crate::source::{read_and_parse, ScrapeContext, Source};

/// Kind of a service.
pub const SERVICE_KIND: &str = "compose/service";
/// Kind of a top-level network.
pub const NETWORK_KIND: &str = "compose/network";
/// Kind of a top-level volume.
pub const VOLUME_KIND: &str = "compose/volume";
/// Kind of a top-level secret.
pub const SECRET_KIND: &str = "compose/secret";
/// Kind of a top-level config.
pub const CONFIG_KIND: &str = "compose/config";
/// Label holding the compose file's path relative to the configured location.
pub const FILE_LABEL: &str = "compose.file";
/// Label holding the project name.
pub const PROJECT_LABEL: &str = "compose.project";

/// The file names `docker compose` looks for.
const COMPOSE_FILE_NAMES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// Settings of the `compose` source, beside its input's.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ComposeConfig {
    /// The project name (default: the file's top-level `name:`, else `default`).
    #[serde(default)]
    pub project: Option<String>,
    /// Interpolation variables for `${VAR}`, over each compose file's `.env` (the process
    /// environment is not read).
    #[serde(default)]
    pub variables: std::collections::BTreeMap<String, String>,
}

/// Reads docker-compose files (the compose specification).
#[derive(Debug, Clone)]
pub struct ComposeSource {
    name: String,
    input: Input,
    project: Option<String>,
    variables: BTreeMap<String, String>,
}

impl ComposeSource {
    /// A source called `name` reading `input`; `project` is the compose project name (default: the top-level `name:` of the file, else `default`).
    pub fn new(name: impl Into<String>, input: Input, project: Option<String>) -> Self {
        Self {
            name: name.into(),
            input,
            project,
            variables: BTreeMap::new(),
        }
    }

    /// Interpolation variables that take precedence over each project's `.env` file.
    pub fn with_variables(mut self, variables: BTreeMap<String, String>) -> Self {
        self.variables = variables;
        self
    }
}

/// A file compose starts from (not an override or an included file).
fn is_compose_file(relative: &str) -> bool {
    let file_name = relative.rsplit('/').next().unwrap_or(relative);
    COMPOSE_FILE_NAMES.contains(&file_name.to_ascii_lowercase().as_str())
}

/// Compose files, and what they may pull in: `.env`, override and included files.
fn is_read(relative: &str) -> bool {
    let file_name = relative.rsplit('/').next().unwrap_or(relative);
    file_name == ".env" || input::has_extension(relative, &["yaml", "yml"])
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

    async fn scrape(&self, context: &ScrapeContext) -> Result<Observation> {
        read_and_parse(&self.name, &self.input, is_read, context, self.parser()).await
    }

    fn parse_content(&self, files: Vec<InputFile>) -> Option<Result<Observation>> {
        Some(self.parser()(files))
    }
}

impl ComposeSource {
    /// The parse half of a scrape: the compose files (and `.env` files) that were read.
    fn parser(&self) -> impl FnOnce(Vec<InputFile>) -> Result<Observation> + Send + 'static {
        let location = self.input.location().display_path();
        let project = self.project.clone();
        let variables = self.variables.clone();
        move |files| {
            // An empty scrape would read as "every service was deleted".
            let single_file = files.len() == 1 && location.is_file();
            if !single_file && !files.iter().any(|file| is_compose_file(&file.relative)) {
                return Err(IngestError::Invalid {
                    path: location,
                    message: format!("no compose file found (looked for {COMPOSE_FILE_NAMES:?})"),
                });
            }
            parse_files(&files, project.as_deref(), &variables, single_file)
        }
    }
}

/// Every resource of every compose file (with its `.env`, override and includes applied),
/// sorted by identity, first occurrence kept. With `single_file`, the one file is the
/// compose file whatever its name.
pub fn parse_files(
    files: &[InputFile],
    project: Option<&str>,
    variables: &BTreeMap<String, String>,
    single_file: bool,
) -> Result<Observation> {
    let mut warnings = Vec::new();
    let mut seen: BTreeMap<(String, String), (ObservedResource, String)> = BTreeMap::new();
    let index = project::Files::new(files);
    let roots = files
        .iter()
        .filter(|file| single_file || is_compose_file(&file.relative));
    for root in roots {
        let assembled = project::assemble(root, &index, variables, &mut warnings)?;
        // Included files belong to the including file's project.
        let project = project
            .map(str::to_string)
            .or_else(|| {
                assembled
                    .first()
                    .and_then(|first| first.root.get("name"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .filter(|project| !project.is_empty())
            .unwrap_or_else(|| "default".to_string());
        for part in &assembled {
            for resource in file_resources(&part.file, &part.root, &project, &mut warnings)? {
                let key = (resource.kind.clone(), resource.id.clone());
                if let Some((_, first_file)) = seen.get(&key) {
                    warnings.push(format!(
                        "{} {} in {} is also defined in {first_file}; kept the first",
                        key.0, key.1, part.file.relative
                    ));
                } else {
                    seen.insert(key, (resource, part.file.relative.clone()));
                }
            }
        }
    }
    Ok(Observation {
        warnings,
        ..Observation::complete(seen.into_values().map(|(resource, _)| resource).collect())
    })
}

fn invalid(file: &InputFile, message: String) -> IngestError {
    IngestError::Invalid {
        path: file.path.clone(),
        message,
    }
}

/// A top-level section as a mapping (absent or `null` = empty).
fn section<'a>(
    file: &InputFile,
    root: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a Map<String, Value>>> {
    match root.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(section)) => Ok(Some(section)),
        Some(_) => Err(invalid(file, format!("\"{name}\" is not a mapping"))),
    }
}

fn file_resources(
    file: &InputFile,
    root: &Map<String, Value>,
    project: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<ObservedResource>> {
    let root = root.clone();
    let project = project.to_string();
    let mut resources = Vec::new();
    let base = |kind: &str, name: &str, attrs: Value| {
        ObservedResource::new(kind, format!("{project}/{name}"), Layer::Declared, attrs)
            .with_name(name)
            .with_label(FILE_LABEL, file.relative.clone())
            .with_label(PROJECT_LABEL, project.clone())
    };
    let no_settings = Map::new();
    if let Some(services) = section(file, &root, "services")? {
        for (name, service) in services {
            let context = format!("{}: service {name}", file.relative);
            let service = match service {
                Value::Object(service) => service,
                Value::Null => &no_settings,
                _ => return Err(invalid(file, format!("service {name} is not a mapping"))),
            };
            let attrs = service_attrs(service, &context, warnings);
            let mut resource = base(SERVICE_KIND, name, attrs);
            for (key, value) in key_values(service.get("labels")) {
                resource = resource.with_label(key, value.unwrap_or_default());
            }
            resources.push(resource);
        }
    }
    for (section_name, kind) in [("networks", NETWORK_KIND), ("volumes", VOLUME_KIND)] {
        if let Some(definitions) = section(file, &root, section_name)? {
            for (name, definition) in definitions {
                let attrs = match definition {
                    Value::Null => json!({}),
                    other => other.clone(),
                };
                resources.push(base(kind, name, attrs));
            }
        }
    }
    for (section_name, kind) in [("secrets", SECRET_KIND), ("configs", CONFIG_KIND)] {
        if let Some(definitions) = section(file, &root, section_name)? {
            for (name, definition) in definitions {
                let mut attrs = match definition {
                    Value::Object(definition) => definition.clone(),
                    _ => Map::new(),
                };
                // Inline content is the secret itself; the hash still shows a rotation.
                if let Some(content) = attrs.get_mut("content") {
                    *content = canonical::redacted(content);
                }
                resources.push(base(kind, name, Value::Object(attrs)));
            }
        }
    }
    Ok(resources)
}

/// The text of a scalar as compose reads it (`8080`, `true` and `"8080"` alike).
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// `KEY=VALUE` lists and `KEY: VALUE` maps as (key, value) pairs; `KEY` alone has no value.
fn key_values(value: Option<&Value>) -> Vec<(String, Option<String>)> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(scalar_text)
            .map(|item| match item.split_once('=') {
                Some((key, value)) => (key.to_string(), Some(value.to_string())),
                None => (item, None),
            })
            .collect(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(key, value)| (key.clone(), scalar_text(value)))
            .collect(),
        _ => Vec::new(),
    }
}

/// Names with their values redacted (a name without a value stays `null`).
fn redacted_map(value: Option<&Value>) -> Value {
    let map: Map<String, Value> = key_values(value)
        .into_iter()
        .map(|(key, value)| {
            let value = value
                .map(|value| canonical::redacted(&Value::String(value)))
                .unwrap_or(Value::Null);
            (key, value)
        })
        .collect();
    Value::Object(map)
}

fn service_attrs(service: &Map<String, Value>, context: &str, warnings: &mut Vec<String>) -> Value {
    let mut attrs = Map::new();
    for field in [
        "image",
        "command",
        "entrypoint",
        "healthcheck",
        "restart",
        "container_name",
        "profiles",
        "secrets",
        "configs",
    ] {
        if let Some(value) = service.get(field) {
            attrs.insert(field.to_string(), value.clone());
        }
    }
    if let Some(build) = service.get("build") {
        attrs.insert("build".to_string(), build_attrs(build));
    }
    if let Some(Value::Array(ports)) = service.get("ports") {
        let ports = ports
            .iter()
            .map(|port| {
                normalize_port(port).unwrap_or_else(|| {
                    warnings.push(format!("{context}: cannot read port {port}; kept as raw"));
                    json!({ "raw": port })
                })
            })
            .collect();
        attrs.insert("ports".to_string(), Value::Array(ports));
    }
    if service.contains_key("environment") {
        attrs.insert(
            "environment".to_string(),
            redacted_map(service.get("environment")),
        );
    }
    if let Some(env_file) = service.get("env_file") {
        attrs.insert("env_file".to_string(), env_files(env_file));
    }
    if let Some(Value::Array(volumes)) = service.get("volumes") {
        let volumes = volumes
            .iter()
            .map(|volume| {
                normalize_volume(volume).unwrap_or_else(|| {
                    warnings.push(format!(
                        "{context}: cannot read volume {volume}; kept as raw"
                    ));
                    json!({ "raw": volume })
                })
            })
            .collect();
        attrs.insert("volumes".to_string(), Value::Array(volumes));
    }
    if let Some(networks) = service.get("networks") {
        attrs.insert("networks".to_string(), name_map(networks, |_| json!({})));
    }
    if let Some(depends_on) = service.get("depends_on") {
        let normalized = match name_map(depends_on, |_| Value::Null) {
            Value::Object(map) => map
                .into_iter()
                .map(|(name, condition)| {
                    let mut condition = match condition {
                        Value::Object(condition) => condition,
                        _ => Map::new(),
                    };
                    condition
                        .entry("condition")
                        .or_insert_with(|| json!("service_started"));
                    condition.entry("required").or_insert(json!(true));
                    (name, Value::Object(condition))
                })
                .collect(),
            _ => Map::new(),
        };
        attrs.insert("depends_on".to_string(), Value::Object(normalized));
    }
    if let Some(replicas) = service
        .get("deploy")
        .and_then(|deploy| deploy.get("replicas"))
    {
        attrs.insert("replicas".to_string(), replicas.clone());
    }
    // Every other field compose accepts (user, privileged, cap_add, logging, deploy's other
    // settings, ...) is kept as written, not dropped: a change to it is a change here too.
    for (field, value) in service {
        if attrs.contains_key(field) || field == "labels" || field.starts_with("x-") {
            continue;
        }
        let value = match (field.as_str(), value) {
            ("deploy", Value::Object(deploy)) => {
                let mut deploy = deploy.clone();
                deploy.remove("replicas");
                if deploy.is_empty() {
                    continue;
                }
                Value::Object(deploy)
            }
            _ => value.clone(),
        };
        attrs.insert(field.clone(), value);
    }
    Value::Object(attrs)
}

/// `build: ./dir` and `build: {context: ./dir}` alike; build args are redacted like env.
fn build_attrs(build: &Value) -> Value {
    match build {
        Value::String(context) => json!({ "context": context }),
        Value::Object(build) => {
            let mut build = build.clone();
            if build.contains_key("args") {
                let args = redacted_map(build.get("args"));
                build.insert("args".to_string(), args);
            }
            Value::Object(build)
        }
        other => other.clone(),
    }
}

fn env_files(value: &Value) -> Value {
    let entries = match value {
        Value::Array(entries) => entries.clone(),
        other => vec![other.clone()],
    };
    Value::Array(
        entries
            .into_iter()
            .filter_map(|entry| match entry {
                Value::String(path) => Some(Value::String(path)),
                Value::Object(entry) => entry.get("path").cloned(),
                _ => None,
            })
            .collect(),
    )
}

/// A list of names or a map of name → settings, as a map (`empty` fills list entries).
fn name_map(value: &Value, empty: impl Fn(&str) -> Value) -> Value {
    match value {
        Value::Array(names) => Value::Object(
            names
                .iter()
                .filter_map(scalar_text)
                .map(|name| {
                    let settings = empty(&name);
                    (name, settings)
                })
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(name, settings)| {
                    let settings = match settings {
                        Value::Null => empty(name),
                        other => other.clone(),
                    };
                    (name.clone(), settings)
                })
                .collect(),
        ),
        _ => json!({}),
    }
}

/// A port number stays a number; a range (`8000-8010`) or a variable stays text.
fn port_value(text: &str) -> Value {
    text.parse::<u64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::String(text.to_string()))
}

/// `[host_ip:][published:]target[/protocol]`, or the long syntax, as
/// `{target, published, protocol, host_ip}`.
fn normalize_port(port: &Value) -> Option<Value> {
    match port {
        Value::Number(_) => Some(json!({
            "target": port, "published": null, "protocol": "tcp", "host_ip": null,
        })),
        Value::String(text) => {
            let (address, protocol) = match text.rsplit_once('/') {
                Some((address, protocol)) => (address, protocol),
                None => (text.as_str(), "tcp"),
            };
            let (host_ip, rest) = if let Some(bracketed) = address.strip_prefix('[') {
                let (ip, rest) = bracketed.split_once("]:")?;
                (Some(ip), rest)
            } else {
                (None, address)
            };
            let parts: Vec<&str> = rest.split(':').collect();
            let (host_ip, published, target) = match (host_ip, parts.as_slice()) {
                (None, [target]) => (None, None, *target),
                (host_ip, [published, target]) if host_ip.is_some() => {
                    (host_ip, Some(*published), *target)
                }
                (None, [published, target]) => (None, Some(*published), *target),
                (None, [host_ip, published, target]) => (Some(*host_ip), Some(*published), *target),
                _ => return None,
            };
            if target.is_empty() {
                return None;
            }
            Some(json!({
                "target": port_value(target),
                "published": published.filter(|published| !published.is_empty()).map(port_value),
                "protocol": protocol,
                "host_ip": host_ip,
            }))
        }
        Value::Object(long) => {
            let target = long.get("target")?;
            let published = long.get("published").and_then(scalar_text);
            Some(json!({
                "target": scalar_text(target).map(|target| port_value(&target)),
                "published": published.map(|published| port_value(&published)),
                "protocol": long.get("protocol").cloned().unwrap_or(json!("tcp")),
                "host_ip": long.get("host_ip").cloned().unwrap_or(Value::Null),
            }))
        }
        _ => None,
    }
}

/// A bind mount's source is a path; anything else names a volume.
fn is_path(source: &str) -> bool {
    source.starts_with('.') || source.starts_with('/') || source.starts_with('~')
}

/// `[source:]target[:mode]`, or the long syntax, as `{type, source, target, read_only}`
/// (long-syntax extras such as `bind`, `volume`, `tmpfs` kept).
fn normalize_volume(volume: &Value) -> Option<Value> {
    match volume {
        Value::String(text) => {
            let parts: Vec<&str> = text.split(':').collect();
            let (source, target, mode) = match parts.as_slice() {
                [target] => (None, *target, None),
                [source, target] => (Some(*source), *target, None),
                [source, target, mode] => (Some(*source), *target, Some(*mode)),
                _ => return None,
            };
            if target.is_empty() {
                return None;
            }
            let kind = match source {
                Some(source) if is_path(source) => "bind",
                _ => "volume",
            };
            let read_only = mode.is_some_and(|mode| mode.split(',').any(|flag| flag == "ro"));
            Some(json!({
                "type": kind,
                "source": source,
                "target": target,
                "read_only": read_only,
            }))
        }
        Value::Object(long) => {
            let mut normalized = long.clone();
            normalized.get("target")?;
            normalized.entry("type").or_insert(json!("volume"));
            normalized.entry("source").or_insert(Value::Null);
            normalized.entry("read_only").or_insert(json!(false));
            Some(Value::Object(normalized))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::InputLocation;
    use chrono::{TimeZone, Utc};
    use std::path::PathBuf;
    use tokio_util::sync::CancellationToken;

    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/compose/shop"
    );

    fn context() -> ScrapeContext {
        ScrapeContext {
            started_at: Utc
                .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
                .single()
                .expect("valid time"),
            cancel: CancellationToken::new(),
        }
    }

    async fn scrape_fixture(project: Option<&str>) -> Observation {
        ComposeSource::new(
            "compose",
            Input::new(InputLocation::Path(PathBuf::from(FIXTURES))),
            project.map(str::to_string),
        )
        .scrape(&context())
        .await
        .expect("fixture parses")
    }

    fn find<'a>(observation: &'a Observation, kind: &str, id: &str) -> &'a ObservedResource {
        observation
            .resources
            .iter()
            .find(|resource| resource.kind == kind && resource.id == id)
            .unwrap_or_else(|| panic!("no {kind} {id}"))
    }

    fn secret(text: &str) -> Value {
        canonical::redacted(&json!(text))
    }

    fn file(relative: &str, text: &str) -> InputFile {
        InputFile {
            path: PathBuf::from(format!("/repo/{relative}")),
            relative: relative.to_string(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[tokio::test]
    async fn every_section_becomes_resources_under_the_file_project() {
        let observation = scrape_fixture(None).await;
        let keys: Vec<(&str, &str)> = observation
            .resources
            .iter()
            .map(|resource| (resource.kind.as_str(), resource.id.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![
                (CONFIG_KIND, "shop/flags_json"),
                (NETWORK_KIND, "shop/backend"),
                (NETWORK_KIND, "shop/frontend"),
                (SECRET_KIND, "shop/db_password"),
                (SECRET_KIND, "shop/stripe_key"),
                (SERVICE_KIND, "shop/cache"),
                (SERVICE_KIND, "shop/db"),
                (SERVICE_KIND, "shop/flagd"),
                (SERVICE_KIND, "shop/web"),
                (SERVICE_KIND, "shop/worker"),
                (VOLUME_KIND, "shop/db-data"),
                (VOLUME_KIND, "shop/web-uploads"),
            ]
        );
        assert!(
            observation.warnings.is_empty(),
            "{:?}",
            observation.warnings
        );
        assert_eq!(
            find(&observation, NETWORK_KIND, "shop/backend").attrs,
            json!({"driver": "bridge", "internal": true})
        );
        assert_eq!(
            find(&observation, NETWORK_KIND, "shop/frontend").attrs,
            json!({})
        );
        assert_eq!(
            find(&observation, VOLUME_KIND, "shop/web-uploads").attrs,
            json!({"external": true})
        );
        assert_eq!(
            find(&observation, SECRET_KIND, "shop/db_password").attrs,
            json!({"file": "./secrets/db_password.txt"})
        );
        assert_eq!(
            find(&observation, SECRET_KIND, "shop/stripe_key").attrs,
            json!({"environment": "STRIPE_API_KEY"})
        );
        let renamed = scrape_fixture(Some("shop-dev")).await;
        assert!(renamed
            .resources
            .iter()
            .all(|resource| resource.id.starts_with("shop-dev/")
                && resource.labels[PROJECT_LABEL] == "shop-dev"));
    }

    #[tokio::test]
    async fn web_service_is_normalized_and_redacted() {
        let observation = scrape_fixture(None).await;
        let web = find(&observation, SERVICE_KIND, "shop/web");
        assert_eq!(web.name.as_deref(), Some("web"));
        assert_eq!(
            web.attrs,
            json!({
                // ${WEB_TAG:-2.14.0} with WEB_TAG unset: the default.
                "image": "ghcr.io/acme/shop-web:2.14.0",
                "build": {
                    "context": "./web",
                    "dockerfile": "Dockerfile.prod",
                    "args": {"NPM_TOKEN": secret("npm_fixture_token_0c1d")},
                },
                "command": ["bin/server", "--port", "8080"],
                "ports": [
                    {"target": 8080, "published": 8080, "protocol": "tcp", "host_ip": null},
                    {"target": 9229, "published": 9229, "protocol": "tcp", "host_ip": "127.0.0.1"},
                ],
                "environment": {
                    "DATABASE_URL": secret("postgres://shop:compose-fixture-pg-5521@db:5432/shop"),
                    "REDIS_URL": secret("redis://cache:6379/0"),
                    "LOG_LEVEL": secret("debug"),
                    "WORKERS": secret("4"),
                    "SENTRY_DSN": null,
                },
                "env_file": [".env", ".env.local"],
                "volumes": [
                    {"type": "bind", "source": "./web/public", "target": "/app/public", "read_only": true},
                    {"type": "volume", "source": "web-uploads", "target": "/app/uploads", "read_only": false},
                ],
                "networks": {"frontend": {}, "backend": {}},
                "depends_on": {
                    "db": {"condition": "service_healthy", "restart": true, "required": true},
                    "cache": {"condition": "service_started", "required": true},
                },
                "healthcheck": {
                    "test": ["CMD", "curl", "-fsS", "http://localhost:8080/healthz"],
                    "interval": "10s",
                    "retries": 5,
                },
                "restart": "unless-stopped",
                "secrets": ["stripe_key"],
            })
        );
        assert_eq!(
            web.labels,
            BTreeMap::from([
                ("com.acme.team".to_string(), "commerce".to_string()),
                ("traefik.enable".to_string(), "true".to_string()),
                (FILE_LABEL.to_string(), "compose.yaml".to_string()),
                (PROJECT_LABEL.to_string(), "shop".to_string()),
            ])
        );
    }

    #[tokio::test]
    async fn list_forms_and_long_syntax_normalize_like_the_short_ones() {
        let observation = scrape_fixture(None).await;
        let worker = find(&observation, SERVICE_KIND, "shop/worker");
        assert_eq!(
            worker.attrs["environment"],
            json!({
                "QUEUE": secret("orders"),
                "DATABASE_URL": secret("postgres://shop:compose-fixture-pg-5521@db:5432/shop"),
                "HTTP_PROXY": null,
            })
        );
        assert_eq!(
            worker.attrs["depends_on"],
            json!({
                "db": {"condition": "service_started", "required": true},
                "cache": {"condition": "service_started", "required": true},
            })
        );
        assert_eq!(
            worker.attrs["networks"],
            json!({"backend": {"aliases": ["jobs"]}})
        );
        assert_eq!(worker.attrs["replicas"], json!(2));
        assert_eq!(worker.attrs["entrypoint"], json!("/usr/local/bin/worker"));
        assert_eq!(worker.labels["com.acme.team"], "commerce");

        let db = find(&observation, SERVICE_KIND, "shop/db");
        assert_eq!(
            db.attrs["ports"],
            json!([{"target": 5432, "published": 5432, "protocol": "tcp", "host_ip": "127.0.0.1"}])
        );
        assert_eq!(
            db.attrs["volumes"],
            json!([
                {"type": "volume", "source": "db-data", "target": "/var/lib/postgresql/data", "read_only": false},
                {"type": "bind", "source": "./db/init", "target": "/docker-entrypoint-initdb.d", "read_only": true},
            ])
        );
        assert_eq!(db.attrs["networks"], json!({"backend": {}}));

        let cache = find(&observation, SERVICE_KIND, "shop/cache");
        assert_eq!(
            cache.attrs["ports"],
            json!([{"target": 6379, "published": null, "protocol": "tcp", "host_ip": null}])
        );
        assert_eq!(
            cache.attrs["volumes"],
            json!([{"type": "volume", "source": null, "target": "/data", "read_only": false}])
        );
        let everything = format!("{:?}", observation.resources);
        for plaintext in ["compose-fixture-pg-5521", "npm_fixture_token_0c1d"] {
            assert!(!everything.contains(plaintext), "{plaintext} leaked");
        }
    }

    #[test]
    fn port_short_syntax_variants() {
        assert_eq!(
            normalize_port(&json!("[::1]:8080:80/udp")),
            Some(json!({"target": 80, "published": 8080, "protocol": "udp", "host_ip": "::1"}))
        );
        assert_eq!(
            normalize_port(&json!("8000-8010:8000-8010")),
            Some(
                json!({"target": "8000-8010", "published": "8000-8010", "protocol": "tcp", "host_ip": null})
            )
        );
        assert_eq!(
            normalize_port(&json!("127.0.0.1::80")),
            Some(
                json!({"target": 80, "published": null, "protocol": "tcp", "host_ip": "127.0.0.1"})
            )
        );
        assert_eq!(normalize_port(&json!("a:b:c:d")), None);
    }

    #[test]
    fn unreadable_ports_warn_duplicates_keep_the_first_and_bad_shapes_fail() {
        let first = file(
            "a/compose.yaml",
            "services:\n  api:\n    image: api:1\n    ports: [\"1:2:3:4\"]\n",
        );
        let second = file("b/compose.yaml", "services:\n  api:\n    image: api:2\n");
        let observation = parse_files(&[first, second], None, &BTreeMap::new(), false).unwrap();
        assert_eq!(observation.resources.len(), 1);
        assert_eq!(observation.resources[0].id, "default/api");
        assert_eq!(observation.resources[0].attrs["image"], json!("api:1"));
        assert_eq!(
            observation.resources[0].attrs["ports"],
            json!([{"raw": "1:2:3:4"}])
        );
        assert_eq!(
            observation.warnings,
            vec![
                "a/compose.yaml: service api: cannot read port \"1:2:3:4\"; kept as raw".to_string(),
                "compose/service default/api in b/compose.yaml is also defined in a/compose.yaml; kept the first".to_string(),
            ]
        );
        let error = parse_files(
            &[file("compose.yaml", "services: [web]\n")],
            None,
            &BTreeMap::new(),
            false,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(error, "/repo/compose.yaml: \"services\" is not a mapping");
        let error = parse_files(
            &[file("compose.yaml", "- web\n")],
            None,
            &BTreeMap::new(),
            false,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "/repo/compose.yaml: not a compose file: the document is not a mapping"
        );
    }

    #[test]
    fn inline_secret_content_is_redacted() {
        let observation = parse_files(
            &[file(
                "compose.yaml",
                "name: app\nsecrets:\n  token:\n    content: tok-fixture-123\nconfigs:\n  app_conf:\n    content: |\n      debug = false\n    name: app-conf-v2\n",
            )],
            None,
            &BTreeMap::new(),
            false,
        )
        .unwrap();
        assert_eq!(
            find(&observation, SECRET_KIND, "app/token").attrs,
            json!({"content": secret("tok-fixture-123")})
        );
        assert_eq!(
            find(&observation, CONFIG_KIND, "app/app_conf").attrs,
            json!({"content": secret("debug = false\n"), "name": "app-conf-v2"})
        );
        assert!(!format!("{:?}", observation.resources).contains("tok-fixture-123"));
    }

    #[test]
    fn only_compose_file_names_are_read_from_directories() {
        assert!(is_compose_file("compose.yaml"));
        assert!(is_compose_file("svc/docker-compose.yml"));
        assert!(!is_compose_file("compose.override.yaml"));
        assert!(!is_compose_file("dev.compose.yaml"));
        assert!(!is_compose_file("k8s/deployment.yaml"));
    }

    fn project_of(files: &[InputFile], variables: &[(&str, &str)]) -> Observation {
        let variables = variables
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        parse_files(files, None, &variables, false).expect("project parses")
    }

    #[test]
    fn variables_come_from_env_then_configuration_and_secrets_stay_redacted() {
        let observation = project_of(
            &[
                file(
                    "compose.yaml",
                    "services:\n  api:\n    image: \"shop/api:${TAG:-latest}\"\n    \
                     command: [\"serve\", \"--db-password=${DB_PASSWORD}\", \"--cost=$$5\"]\n    \
                     environment:\n      - DATABASE_PASSWORD=${DB_PASSWORD}\n    \
                     restart: ${RESTART:-unless-stopped}\n    hostname: ${HOST}\n",
                ),
                file(
                    ".env",
                    "# versions\nTAG=1.4.2\nDB_PASSWORD='env-fixture-pw-77'\nRESTART=always\n",
                ),
            ],
            &[("RESTART", "on-failure")],
        );
        let api = find(&observation, SERVICE_KIND, "default/api");
        assert_eq!(api.attrs["image"], json!("shop/api:1.4.2"));
        // Configuration overrides .env.
        assert_eq!(api.attrs["restart"], json!("on-failure"));
        assert_eq!(api.attrs["command"][0], json!("serve"));
        assert_eq!(
            api.attrs["command"][1],
            secret("--db-password=env-fixture-pw-77")
        );
        assert_eq!(api.attrs["command"][2], json!("--cost=$5"));
        assert_eq!(
            api.attrs["environment"]["DATABASE_PASSWORD"],
            secret("env-fixture-pw-77")
        );
        assert_eq!(api.attrs["hostname"], json!(""));
        assert_eq!(
            observation.warnings,
            vec!["compose.yaml: variable HOST is not set (no .env entry or configured variable); empty".to_string()]
        );
        assert!(!format!("{:?}", observation.resources).contains("env-fixture-pw-77"));
    }

    #[test]
    fn interpolation_forms() {
        let environment: BTreeMap<String, String> = [("SET", "x"), ("EMPTY", "")]
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        let run = |text: &str| {
            let mut secret = false;
            let mut problems = Vec::new();
            let out = project::interpolate(text, &environment, &mut secret, &mut problems);
            (out, problems.len())
        };
        assert_eq!(
            run("${SET}-$SET-${SET:-d}-${SET-d}"),
            ("x-x-x-x".to_string(), 0)
        );
        assert_eq!(run("${EMPTY:-d}|${EMPTY-d}"), ("d|".to_string(), 0));
        assert_eq!(run("${UNSET:-${SET}}"), ("x".to_string(), 0));
        assert_eq!(
            run("${SET:+on}|${EMPTY:+on}|${EMPTY+on}"),
            ("on||on".to_string(), 0)
        );
        assert_eq!(run("${UNSET:?needed}"), (String::new(), 1));
        assert_eq!(run("$$SET costs $5"), ("$SET costs $5".to_string(), 0));
    }

    #[test]
    fn override_files_merge_and_includes_join_the_project() {
        let observation = project_of(
            &[
                file(
                    "compose.yaml",
                    "name: shop\ninclude:\n  - infra/db.yaml\nservices:\n  web:\n    image: web:1\n    \
                     ports: [\"8080:80\"]\n    environment:\n      MODE: prod\n      LOG: info\n",
                ),
                file(
                    "compose.override.yaml",
                    "services:\n  web:\n    image: web:2-dev\n    ports: [\"9229:9229\"]\n    \
                     environment: [\"LOG=debug\"]\n",
                ),
                file(
                    "infra/db.yaml",
                    "services:\n  db:\n    image: postgres:16\nvolumes:\n  pgdata: {}\nx-notes: kept out\n",
                ),
            ],
            &[],
        );
        let web = find(&observation, SERVICE_KIND, "shop/web");
        assert_eq!(web.attrs["image"], json!("web:2-dev"));
        let targets: Vec<&Value> = web.attrs["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|port| &port["target"])
            .collect();
        assert_eq!(targets, vec![&json!(80), &json!(9229)]);
        assert_eq!(
            web.attrs["environment"],
            json!({"LOG": secret("debug"), "MODE": secret("prod")})
        );
        let db = find(&observation, SERVICE_KIND, "shop/db");
        assert_eq!(db.labels[FILE_LABEL], "infra/db.yaml");
        find(&observation, VOLUME_KIND, "shop/pgdata");
        assert!(
            observation.warnings.is_empty(),
            "{:?}",
            observation.warnings
        );

        let error = parse_files(
            &[file(
                "compose.yaml",
                "include: [missing.yaml]\nservices: {}\n",
            )],
            None,
            &BTreeMap::new(),
            false,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "/repo/compose.yaml: included file missing.yaml not found"
        );
    }

    #[test]
    fn extends_merges_the_named_service_from_this_or_another_file() {
        let observation = project_of(
            &[
                file(
                    "compose.yaml",
                    "name: shop\nservices:\n  base:\n    image: app:1\n    environment: [\"LOG=info\"]\n    \
                     ports: [\"8080:80\"]\n  web:\n    extends: base\n    environment:\n      LOG: debug\n    \
                     ports: [\"9090:90\"]\n  worker:\n    extends: {service: job, file: common/jobs.yaml}\n    \
                     command: [work]\n",
                ),
                file(
                    "common/jobs.yaml",
                    "services:\n  job:\n    extends: runner\n    restart: always\n  runner:\n    image: runner:3\n",
                ),
            ],
            &[],
        );
        let web = find(&observation, SERVICE_KIND, "shop/web");
        assert_eq!(web.attrs["image"], json!("app:1"));
        assert_eq!(web.attrs["environment"], json!({"LOG": secret("debug")}));
        let targets: Vec<&Value> = web.attrs["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|port| &port["target"])
            .collect();
        assert_eq!(targets, vec![&json!(80), &json!(90)]);
        assert!(web.attrs.get("extends").is_none(), "{}", web.attrs);
        let worker = find(&observation, SERVICE_KIND, "shop/worker");
        assert_eq!(worker.attrs["image"], json!("runner:3"));
        assert_eq!(worker.attrs["restart"], json!("always"));
        assert_eq!(worker.attrs["command"], json!(["work"]));

        let error = parse_files(
            &[file(
                "compose.yaml",
                "services:\n  a: {extends: b}\n  b: {extends: a}\n",
            )],
            None,
            &BTreeMap::new(),
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("extends cycle"), "{error}");
    }

    #[test]
    fn unmodelled_top_level_keys_and_service_fields_are_not_dropped_silently() {
        let observation = project_of(
            &[file(
                "compose.yaml",
                "services:\n  web:\n    image: web:1\n    user: \"1000\"\n    cap_add: [NET_ADMIN]\n    \
                 deploy:\n      replicas: 2\n      resources: {limits: {memory: 256M}}\n\
                 models:\n  llm: {model: ai/smollm2}\n",
            )],
            &[],
        );
        let web = find(&observation, SERVICE_KIND, "default/web");
        assert_eq!(web.attrs["user"], json!("1000"));
        assert_eq!(web.attrs["cap_add"], json!(["NET_ADMIN"]));
        assert_eq!(web.attrs["replicas"], json!(2));
        assert_eq!(
            web.attrs["deploy"],
            json!({"resources": {"limits": {"memory": "256M"}}})
        );
        assert_eq!(
            observation.warnings,
            vec!["compose.yaml: top-level \"models\" is not modelled; ignored".to_string()]
        );
    }
}
