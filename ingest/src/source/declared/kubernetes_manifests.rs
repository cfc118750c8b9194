//! The `kubernetes_manifests` source: Kubernetes manifests as the declared layer.
//!
//! It reads a file, or every `.yaml`/`.yml`/`.json` file under a directory (except
//! `kustomization.yaml`, Kustomize's configuration rather than an object): multi-document
//! YAML, `List` objects (`kind: List` or any `*List` with `items`, flattened), rendered Helm
//! charts (`# Source:` comments and `---` separators) and Kustomize output. Empty and null
//! documents are skipped. Identity follows [`crate::identity`]: kind `k8s/<group>/<Kind>`
//! (`k8s/apps/Deployment`, `k8s/core/Secret`), id `<namespace>/<name>` (`shop/web`, namespace
//! `default` when absent) or `<name>` for cluster-scoped kinds (`shop` for a Namespace; a
//! custom resource is cluster-scoped when a CustomResourceDefinition among the inputs says
//! `scope: Cluster`).
//! attrs are the object without what the API server writes (`status`,
//! `metadata.{resourceVersion,uid,creationTimestamp,generation,managedFields,selfLink}`) and
//! without the `kubectl.kubernetes.io/last-applied-configuration` annotation, which can hold a
//! Secret's data (`normalize_object`, shared with the `kubernetes_api` live source so an
//! object gives the same attrs from a file and from the cluster); labels are
//! `metadata.labels` plus `k8s.file` (the relative path).
//! Redacted with [`canonical::redacted`] (keys and names kept): every value of a Secret's
//! `data` and `stringData`, and every container `env[].value` in the Pod spec of a Pod,
//! PodTemplate, Deployment, ReplicaSet, ReplicationController, StatefulSet, DaemonSet, Job or
//! CronJob (`valueFrom` references are kept as written). Warnings, not errors: an object with
//! `generateName` but no `metadata.name` (its name only exists once created; skipped), and a
//! second object with an identity already seen (the first is kept; the warning names both
//! files). Anything that is not a Kubernetes object (not a mapping, no `apiVersion`/`kind`, no
//! name) fails the scrape, naming the file, the document and, when found, its line.

use std::collections::BTreeMap;

use groundtruth_engine::canonical;
use groundtruth_engine::model::{Layer, Observation, ObservedResource};
use serde_json::{Map, Value};

use crate::error::{IngestError, Result};
use crate::identity;
use crate::input::{self, Input, InputFile};
use crate::source::{read_and_parse, ScrapeContext, Source};
use crate::yaml;

/// Label holding the manifest's path relative to the configured location.
pub const FILE_LABEL: &str = "k8s.file";

/// Metadata fields the API server writes; a manifest that carries them (exported with
/// `kubectl get -o yaml`) must not look different from one that does not.
const SERVER_WRITTEN_METADATA: &[&str] = &[
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
];

/// The annotation `kubectl apply` writes: a full copy of the object, Secret data included.
const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Reads Kubernetes manifests (multi-document YAML, List objects, rendered Helm and Kustomize output).
#[derive(Debug, Clone)]
pub struct KubernetesManifestsSource {
    name: String,
    input: Input,
}

impl KubernetesManifestsSource {
    /// A source called `name` reading `input`.
    pub fn new(name: impl Into<String>, input: Input) -> Self {
        Self {
            name: name.into(),
            input,
        }
    }
}

/// Kustomize's own configuration is not an object it applies; a directory of Kustomize
/// sources has one beside the manifests, which are read as they are.
const KUSTOMIZATION_FILE_NAMES: &[&str] = &["kustomization.yaml", "kustomization.yml"];

fn is_manifest_file(relative: &str) -> bool {
    let file_name = relative.rsplit('/').next().unwrap_or(relative);
    input::has_extension(relative, &["yaml", "yml", "json"])
        && !KUSTOMIZATION_FILE_NAMES.contains(&file_name.to_ascii_lowercase().as_str())
}

#[async_trait::async_trait]
impl Source for KubernetesManifestsSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn source_type(&self) -> &'static str {
        "kubernetes_manifests"
    }

    fn input(&self) -> Option<&Input> {
        Some(&self.input)
    }

    async fn scrape(&self, context: &ScrapeContext) -> Result<Observation> {
        read_and_parse(
            &self.name,
            &self.input,
            is_manifest_file,
            context,
            |files| parse_files(&files),
        )
        .await
    }

    fn parse_content(&self, files: Vec<InputFile>) -> Option<Result<Observation>> {
        Some(parse_files(&files))
    }
}

/// Every object of every file, sorted by identity, first occurrence kept.
pub fn parse_files(files: &[InputFile]) -> Result<Observation> {
    let mut warnings = Vec::new();
    let mut seen: BTreeMap<(String, String), (ObservedResource, String)> = BTreeMap::new();
    let mut parsed = Vec::new();
    for file in files {
        parsed.push((file, file_objects(file)?));
    }
    let scopes = custom_resource_scopes(parsed.iter().flat_map(|(_, objects)| objects));
    for (file, objects) in parsed {
        for (object, place) in objects {
            let Some(resource) = object_resource(file, &place, object, &scopes, &mut warnings)?
            else {
                continue;
            };
            let key = (resource.kind.clone(), resource.id.clone());
            if let Some((_, first_file)) = seen.get(&key) {
                warnings.push(format!(
                    "{} {} in {} ({place}) is also defined in {first_file}; kept the first",
                    key.0, key.1, file.relative
                ));
            } else {
                seen.insert(key, (resource, file.relative.clone()));
            }
        }
    }
    let resources = seen.into_values().map(|(resource, _)| resource).collect();
    Ok(Observation {
        warnings,
        ..Observation::complete(resources)
    })
}

/// Where an object sits in its file, for errors and warnings: `document 3 (line 41)`, with
/// `items[2]` appended inside a List.
#[derive(Debug, Clone)]
struct Place {
    document: usize,
    line: Option<usize>,
    items: Vec<usize>,
}

impl std::fmt::Display for Place {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "document {}", self.document)?;
        for item in &self.items {
            write!(formatter, " items[{item}]")?;
        }
        Ok(())
    }
}

/// The non-null documents of a file with their place, Lists flattened.
fn file_objects(file: &InputFile) -> Result<Vec<(Value, Place)>> {
    let (documents, lines) = if input::has_extension(&file.relative, &["json"]) {
        (vec![parse_json(file)?], vec![Some(1)])
    } else {
        let documents = yaml::parse_documents(file)?;
        let starts = document_start_lines(file.text()?);
        // The line scan is a heuristic; only trust it when it agrees with the parser.
        let lines = if starts.len() == documents.len() {
            starts.into_iter().map(Some).collect()
        } else {
            vec![None; documents.len()]
        };
        (documents, lines)
    };
    let mut objects = Vec::new();
    for (index, (document, line)) in documents.into_iter().zip(lines).enumerate() {
        let place = Place {
            document: index + 1,
            line,
            items: Vec::new(),
        };
        flatten(file, document, place, &mut objects, 0)?;
    }
    Ok(objects)
}

fn parse_json(file: &InputFile) -> Result<Value> {
    crate::terraform::parse_json(&file.path, file.text()?.as_bytes())
}

/// Lists nest at most once in practice; the bound only stops a hostile file.
const MAX_LIST_DEPTH: usize = 8;

fn flatten(
    file: &InputFile,
    document: Value,
    place: Place,
    objects: &mut Vec<(Value, Place)>,
    depth: usize,
) -> Result<()> {
    if document.is_null() {
        return Ok(());
    }
    let is_list = document
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|kind| kind.ends_with("List"))
        && document.get("items").is_some_and(Value::is_array);
    if !is_list {
        objects.push((document, place));
        return Ok(());
    }
    if depth >= MAX_LIST_DEPTH {
        return Err(invalid(file, &place, "Lists nested too deeply".to_string()));
    }
    let Value::Object(mut list) = document else {
        return Ok(());
    };
    if let Some(Value::Array(items)) = list.remove("items") {
        for (index, item) in items.into_iter().enumerate() {
            let mut item_place = place.clone();
            item_place.items.push(index);
            flatten(file, item, item_place, objects, depth + 1)?;
        }
    }
    Ok(())
}

fn invalid(file: &InputFile, place: &Place, message: String) -> IngestError {
    match place.line {
        Some(line) => IngestError::Parse {
            path: file.path.clone(),
            line: Some(line),
            message: format!("{place}: {message}"),
        },
        None => IngestError::Invalid {
            path: file.path.clone(),
            message: format!("{place}: {message}"),
        },
    }
}

/// The first content line of each non-empty document: documents are separated by `---`
/// (or ended by `...`), and a document of only comments, blank lines and directives is empty.
fn document_start_lines(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut current: Option<usize> = None;
    for (index, line) in text.lines().enumerate() {
        let is_separator = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        if is_separator || line == "..." {
            if let Some(start) = current.take() {
                starts.push(start);
            }
            // `--- {inline: document}` starts its document on the separator line.
            let inline = line.get(3..).map(str::trim).unwrap_or("");
            if is_separator && !inline.is_empty() && !inline.starts_with('#') {
                current = Some(index + 1);
            }
            continue;
        }
        let trimmed = line.trim();
        if current.is_none()
            && !trimmed.is_empty()
            && !trimmed.starts_with('#')
            && !line.starts_with('%')
        {
            current = Some(index + 1);
        }
    }
    if let Some(start) = current {
        starts.push(start);
    }
    starts
}

fn required_string<'a>(
    file: &InputFile,
    place: &Place,
    object: &'a Map<String, Value>,
    field: &str,
) -> Result<&'a str> {
    match object.get(field) {
        Some(Value::String(text)) if !text.is_empty() => Ok(text),
        _ => Err(invalid(
            file,
            place,
            format!("not a Kubernetes object: no string \"{field}\""),
        )),
    }
}

/// The resource for one object, or `None` (with a warning) when it is skipped.
/// Whether each custom kind (`(group, Kind)`) a CustomResourceDefinition among the inputs
/// defines is cluster-scoped (`spec.scope: Cluster`), so its objects get the identity the API
/// server's discovery gives the live side.
fn custom_resource_scopes<'a>(
    objects: impl Iterator<Item = &'a (Value, Place)>,
) -> BTreeMap<(String, String), bool> {
    objects
        .filter(|(object, _)| object["kind"] == "CustomResourceDefinition")
        .filter_map(|(object, _)| {
            let spec = object.get("spec")?;
            let group = spec.get("group")?.as_str()?.to_string();
            let kind = spec.get("names")?.get("kind")?.as_str()?.to_string();
            Some(((group, kind), spec["scope"] == "Cluster"))
        })
        .collect()
}

fn object_resource(
    file: &InputFile,
    place: &Place,
    object: Value,
    scopes: &BTreeMap<(String, String), bool>,
    warnings: &mut Vec<String>,
) -> Result<Option<ObservedResource>> {
    let Value::Object(mut object) = object else {
        return Err(invalid(
            file,
            place,
            "not a Kubernetes object: not a mapping".to_string(),
        ));
    };
    let api_version = required_string(file, place, &object, "apiVersion")?.to_string();
    let kind = required_string(file, place, &object, "kind")?.to_string();
    let Some(Value::Object(metadata)) = object.get_mut("metadata") else {
        return Err(invalid(file, place, format!("{kind} has no metadata")));
    };
    let name = match metadata.get("name") {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        _ if metadata.get("generateName").is_some_and(Value::is_string) => {
            warnings.push(format!(
                "{} ({place}): {kind} with generateName and no name has no identity until created; skipped",
                file.relative
            ));
            return Ok(None);
        }
        _ => return Err(invalid(file, place, format!("{kind} has no metadata.name"))),
    };
    let namespace = metadata
        .get("namespace")
        .and_then(Value::as_str)
        .map(str::to_string);
    let normalized = normalize_object(&api_version, &kind, &mut object);

    let mut resource = ObservedResource::new(
        identity::kubernetes_kind(&api_version, &kind),
        match scopes.get(&(
            identity::kubernetes_group(&api_version).to_string(),
            kind.clone(),
        )) {
            Some(cluster_scoped) => {
                identity::kubernetes_scoped_id(*cluster_scoped, namespace.as_deref(), &name)
            }
            None => identity::kubernetes_id(&kind, namespace.as_deref(), &name),
        },
        Layer::Declared,
        Value::Object(object),
    )
    .with_name(name);
    for (key, value) in normalized.labels {
        resource = resource.with_label(key, value);
    }
    Ok(Some(resource.with_label(FILE_LABEL, file.relative.clone())))
}

/// What [`normalize_object`] takes out of an object besides the fields it drops.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Normalized {
    /// `metadata.labels`, values that are not strings written as JSON.
    pub labels: Vec<(String, String)>,
    /// The object's `status`, when it has one (a live source keeps it as its own resource).
    pub status: Option<Value>,
}

/// Turn a Kubernetes object into its configuration attrs, in place; shared by the manifests
/// and the `kubernetes_api` sources so that the same object gives the same attrs whether it
/// was read from a file or from the API server: drops what the API server writes
/// (`status`, [`SERVER_WRITTEN_METADATA`], the last-applied annotation, and the
/// `annotations` map when that leaves it empty), and redacts Secret `data`/`stringData`
/// values and container `env[].value`s of Pod-bearing kinds.
pub(crate) fn normalize_object(
    api_version: &str,
    kind: &str,
    object: &mut Map<String, Value>,
) -> Normalized {
    let mut labels = Vec::new();
    if let Some(Value::Object(metadata)) = object.get_mut("metadata") {
        for field in SERVER_WRITTEN_METADATA {
            metadata.remove(*field);
        }
        if let Some(Value::Object(annotations)) = metadata.get_mut("annotations") {
            annotations.remove(LAST_APPLIED_ANNOTATION);
            if annotations.is_empty() {
                metadata.remove("annotations");
            }
        }
        if let Some(Value::Object(object_labels)) = metadata.get("labels") {
            labels = object_labels
                .iter()
                .map(|(key, value)| {
                    let value = match value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    (key.clone(), value)
                })
                .collect();
        }
    }
    let status = object.remove("status").filter(|status| !status.is_null());

    if identity::kubernetes_group(api_version) == "core" && kind == "Secret" {
        for field in ["data", "stringData"] {
            if let Some(Value::Object(values)) = object.get_mut(field) {
                for value in values.values_mut() {
                    *value = canonical::redacted(value);
                }
            }
        }
    }
    if let Some(pod_spec) = pod_spec_mut(kind, object) {
        redact_container_env(pod_spec);
    }
    Normalized { labels, status }
}

/// The Pod spec inside a workload object, by where each built-in kind keeps it.
fn pod_spec_mut<'a>(kind: &str, object: &'a mut Map<String, Value>) -> Option<&'a mut Value> {
    let path: &[&str] = match kind {
        "Pod" => &["spec"],
        "PodTemplate" => &["template", "spec"],
        "Deployment"
        | "ReplicaSet"
        | "ReplicationController"
        | "StatefulSet"
        | "DaemonSet"
        | "Job" => &["spec", "template", "spec"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => return None,
    };
    let (first, rest) = path.split_first()?;
    let mut value = object.get_mut(*first)?;
    for step in rest {
        value = value.get_mut(*step)?;
    }
    Some(value)
}

fn redact_container_env(pod_spec: &mut Value) {
    for containers in ["containers", "initContainers", "ephemeralContainers"] {
        let Some(Value::Array(containers)) = pod_spec.get_mut(containers) else {
            continue;
        };
        for container in containers {
            let Some(Value::Array(env)) = container.get_mut("env") else {
                continue;
            };
            for variable in env {
                if let Some(value) = variable.get_mut("value") {
                    *value = canonical::redacted(value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::InputLocation;
    use chrono::{TimeZone, Utc};
    use serde_json::json;
    use std::path::PathBuf;
    use tokio_util::sync::CancellationToken;

    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/kubernetes/shop"
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

    async fn scrape_fixtures() -> Observation {
        KubernetesManifestsSource::new(
            "manifests",
            Input::new(InputLocation::Path(PathBuf::from(FIXTURES))),
        )
        .scrape(&context())
        .await
        .expect("fixtures parse")
    }

    fn find<'a>(observation: &'a Observation, kind: &str, id: &str) -> &'a ObservedResource {
        observation
            .resources
            .iter()
            .find(|resource| resource.kind == kind && resource.id == id)
            .unwrap_or_else(|| panic!("no {kind} {id}"))
    }

    fn file(name: &str, text: &str) -> InputFile {
        InputFile {
            path: PathBuf::from(format!("/repo/deploy/{name}")),
            relative: name.to_string(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[tokio::test]
    async fn fixture_bundle_gives_every_object_once() {
        let observation = scrape_fixtures().await;
        let keys: Vec<(&str, &str)> = observation
            .resources
            .iter()
            .map(|resource| (resource.kind.as_str(), resource.id.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("k8s/apps/Deployment", "shop/web"),
                ("k8s/apps/StatefulSet", "shop/worker"),
                ("k8s/batch/CronJob", "shop/cache-redis-backup"),
                ("k8s/core/ConfigMap", "shop/cache-redis-configuration"),
                ("k8s/core/ConfigMap", "shop/web-config"),
                ("k8s/core/Namespace", "shop"),
                ("k8s/core/Secret", "shop/web-secrets"),
                ("k8s/core/Service", "shop/cache-redis"),
                ("k8s/core/Service", "shop/web"),
                ("k8s/core/ServiceAccount", "shop/worker"),
                ("k8s/monitoring.coreos.com/ServiceMonitor", "shop/web"),
                ("k8s/networking.k8s.io/Ingress", "shop/web"),
                ("k8s/rbac.authorization.k8s.io/ClusterRole", "shop-reader"),
                (
                    "k8s/rbac.authorization.k8s.io/RoleBinding",
                    "shop/worker-reader"
                ),
            ]
        );
        assert_eq!(
            observation.warnings,
            vec![
                "config.yaml (document 4): Job with generateName and no name has no identity until created; skipped".to_string(),
                "k8s/core/ConfigMap shop/web-config in duplicate-config.yaml (document 1) is also defined in config.yaml; kept the first".to_string(),
            ]
        );
        // The first definition won.
        let config = find(&observation, "k8s/core/ConfigMap", "shop/web-config");
        assert_eq!(
            config.attrs["data"],
            json!({"FEATURE_FLAGS_URL": "http://flagd.shop.svc:8013", "on": "yes"})
        );
    }

    #[tokio::test]
    async fn server_fields_and_last_applied_are_dropped_labels_kept() {
        let observation = scrape_fixtures().await;
        let web = find(&observation, "k8s/apps/Deployment", "shop/web");
        assert_eq!(web.name.as_deref(), Some("web"));
        assert_eq!(
            web.attrs["metadata"],
            json!({"name": "web", "namespace": "shop", "labels": {"app": "web", "tier": "frontend"}})
        );
        assert!(web.attrs.get("status").is_none());
        assert_eq!(web.attrs["spec"]["replicas"], json!(3));
        assert_eq!(
            web.labels,
            BTreeMap::from([
                ("app".to_string(), "web".to_string()),
                ("tier".to_string(), "frontend".to_string()),
                (FILE_LABEL.to_string(), "web.yaml".to_string()),
            ])
        );
        let redis = find(&observation, "k8s/core/Service", "shop/cache-redis");
        assert_eq!(redis.labels[FILE_LABEL], "helm/redis.yaml");
        assert_eq!(redis.labels["helm.sh/chart"], "redis-19.0.2");
        let ingress = find(&observation, "k8s/networking.k8s.io/Ingress", "shop/web");
        assert_eq!(
            ingress.attrs["metadata"]["annotations"],
            json!({"cert-manager.io/cluster-issuer": "letsencrypt"})
        );
        let namespace = find(&observation, "k8s/core/Namespace", "shop");
        assert_eq!(namespace.labels["team"], "commerce");
        let role = find(
            &observation,
            "k8s/rbac.authorization.k8s.io/ClusterRole",
            "shop-reader",
        );
        assert_eq!(role.labels[FILE_LABEL], "rbac-list.yaml");
        assert_eq!(
            role.attrs["rules"][0]["verbs"],
            json!(["get", "list", "watch"])
        );
        let worker = find(&observation, "k8s/apps/StatefulSet", "shop/worker");
        assert_eq!(worker.labels[FILE_LABEL], "worker.json");
    }

    #[tokio::test]
    async fn secret_data_and_env_values_are_redacted() {
        let observation = scrape_fixtures().await;
        let secret = find(&observation, "k8s/core/Secret", "shop/web-secrets");
        assert_eq!(
            secret.attrs["data"]["db-password"],
            canonical::redacted(&json!("cGctZml4dHVyZS1wYXNzLTc3MzE="))
        );
        assert_eq!(
            secret.attrs["stringData"]["stripe-webhook-secret"],
            canonical::redacted(&json!("whsec_fixture_9f8e7d"))
        );
        assert_eq!(secret.attrs["type"], json!("Opaque"));

        let web = find(&observation, "k8s/apps/Deployment", "shop/web");
        let pod = &web.attrs["spec"]["template"]["spec"];
        let env = &pod["containers"][0]["env"];
        assert_eq!(env[0]["name"], json!("LOG_LEVEL"));
        assert_eq!(env[0]["value"], canonical::redacted(&json!("info")));
        assert_eq!(env[1]["name"], json!("STRIPE_API_KEY"));
        assert!(canonical::is_redacted(&env[1]["value"]));
        assert_eq!(
            env[2],
            json!({"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "web-secrets", "key": "db-password"}}})
        );
        assert!(canonical::is_redacted(
            &pod["initContainers"][0]["env"][0]["value"]
        ));
        let backup = find(&observation, "k8s/batch/CronJob", "shop/cache-redis-backup");
        assert!(canonical::is_redacted(
            &backup.attrs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
                ["env"][0]["value"]
        ));
        let everything = format!("{:?}", observation.resources);
        for plaintext in [
            "pg-fixture-pass-7731",
            "sk_live_fixture_51HxQ2",
            "whsec_fixture_9f8e7d",
            "cGctZml4dHVyZS1wYXNzLTc3MzE=",
            "redis-fixture-pw-42",
            "last-applied",
        ] {
            assert!(!everything.contains(plaintext), "{plaintext} leaked");
        }
    }

    #[test]
    fn cluster_scoped_and_default_namespace_ids() {
        let observation = parse_files(&[file(
            "app.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\n---\n~\n---\napiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: fast, namespace: ignored}\nprovisioner: ebs.csi.aws.com\n",
        )])
        .unwrap();
        let ids: Vec<_> = observation
            .resources
            .iter()
            .map(|resource| (resource.kind.as_str(), resource.id.as_str()))
            .collect();
        assert_eq!(
            ids,
            vec![
                ("k8s/core/ConfigMap", "default/plain"),
                ("k8s/storage.k8s.io/StorageClass", "fast"),
            ]
        );
        assert!(observation.warnings.is_empty());
    }

    #[test]
    fn non_objects_are_errors_naming_file_document_and_line() {
        let error = parse_files(&[file(
            "app.yaml",
            "# Source: chart/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n# comment\n\nkind: ConfigMap\nmetadata: {name: b}\n",
        )])
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "/repo/deploy/app.yaml:8: document 2: not a Kubernetes object: no string \"apiVersion\""
        );
        let error = parse_files(&[file("list.yaml", "- a\n- b\n")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "/repo/deploy/list.yaml:1: document 1: not a Kubernetes object: not a mapping"
        );
        let error = parse_files(&[file(
            "items.json",
            r#"{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Pod", "metadata": {}}]}"#,
        )])
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "/repo/deploy/items.json:1: document 1 items[0]: Pod has no metadata.name"
        );
        let error = parse_files(&[file("bad.json", "{\"apiVersion\": \"v1\",\n\"kind\": ")])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("/repo/deploy/bad.json:2: invalid JSON"),
            "{error}"
        );
    }

    #[test]
    fn directories_skip_kustomization_files() {
        assert!(is_manifest_file("base/deployment.yaml"));
        assert!(is_manifest_file("rendered.JSON"));
        assert!(!is_manifest_file("base/kustomization.yaml"));
        assert!(!is_manifest_file("overlays/prod/Kustomization.yml"));
        assert!(!is_manifest_file("README.md"));
    }

    #[test]
    fn document_lines_skip_comments_and_empty_documents() {
        assert_eq!(
            document_start_lines("---\n# Source: a\napiVersion: v1\n---\n# only a comment\n---\nkind: X\n...\n--- {a: 1}\n"),
            vec![3, 7, 9]
        );
    }

    #[test]
    fn a_crd_among_the_inputs_gives_its_custom_resources_their_scope() {
        let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
                   metadata:\n  name: clusterissuers.certs.example.com\nspec:\n  group: certs.example.com\n  \
                   scope: Cluster\n  names:\n    kind: Issuer2\n    plural: clusterissuers\n---\n\
                   apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
                   metadata:\n  name: backups.db.example.com\nspec:\n  group: db.example.com\n  \
                   scope: Namespaced\n  names:\n    kind: Backup\n    plural: backups\n";
        let objects = "apiVersion: certs.example.com/v1\nkind: Issuer2\nmetadata:\n  name: letsencrypt\n---\n\
                       apiVersion: db.example.com/v1\nkind: Backup\nmetadata:\n  name: nightly\n  namespace: shop\n---\n\
                       apiVersion: other.example.com/v1\nkind: Widget\nmetadata:\n  name: w\n";
        let observation =
            parse_files(&[file("crds.yaml", crd), file("objects.yaml", objects)]).unwrap();
        let ids: Vec<(&str, &str)> = observation
            .resources
            .iter()
            .map(|resource| (resource.kind.as_str(), resource.id.as_str()))
            .collect();
        assert!(
            ids.contains(&("k8s/certs.example.com/Issuer2", "letsencrypt")),
            "{ids:?}"
        );
        assert!(
            ids.contains(&("k8s/db.example.com/Backup", "shop/nightly")),
            "{ids:?}"
        );
        // No CRD in sight: namespaced, as the API server would default it.
        assert!(
            ids.contains(&("k8s/other.example.com/Widget", "default/w")),
            "{ids:?}"
        );
    }
}
