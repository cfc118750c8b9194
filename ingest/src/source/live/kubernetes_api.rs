//! The `kubernetes_api` source: the objects a running Kubernetes cluster holds, as the live
//! layer, read from its API server with the `kube` client, or from a file of
//! `kubectl get ... -A -o json` output.
//!
//! Against an API server it runs discovery (`/api`, `/apis`, then the preferred version of
//! each group, at most `max_in_flight` at once), keeps every resource whose verbs include
//! `list` (custom resources included), drops the configured `exclude_kinds` (default [`DEFAULT_EXCLUDED_KINDS`]:
//! events, leases, endpoints, endpoint slices and metrics, which change every few seconds
//! without anyone configuring anything) or keeps only the configured `kinds`, and LISTs each
//! kind across all namespaces (or in each configured namespace) in pages of `page_size` with
//! `limit`/`continue`, at most `max_in_flight` LISTs at once. Every request is bounded by
//! `request_timeout` (connect, read and the whole page), every page by [`MAX_PAGE_BYTES`].
//!
//! Identity is the manifests source's ([`crate::identity`]): kind `k8s/<group>/<Kind>`
//! (`k8s/apps/Deployment`, `k8s/example.com/Widget`), id `<namespace>/<name>` (`shop/web`) or
//! `<name>` for cluster-scoped kinds, the scope coming from discovery so custom resources are
//! right; name `metadata.name`; labels `metadata.labels`. attrs come from the function the
//! manifests source uses (`kubernetes_manifests::normalize_object`): without `status`,
//! `metadata.{resourceVersion,uid,creationTimestamp,generation,managedFields,selfLink}` and
//! the last-applied annotation, with Secret `data`/`stringData` values and container
//! `env[].value`s redacted by [`groundtruth_engine::canonical::redacted`]. An object's
//! `status` becomes its own resource, kind `k8s-status/<group>/<Kind>`, same id, attrs the
//! status, so replicas and conditions stay queryable over time without counting as
//! configuration changes of the object (status resources carry the name, no labels).
//!
//! Coverage: a scrape whose LISTs all succeed is complete (so the objects of a kind the
//! cluster no longer serves, an uninstalled CRD's, are deleted). A failed client setup, `/api`
//! or `/apis` fails the scrape (nothing is deleted); a group whose discovery fails (an
//! aggregated API whose backend is down answers 503) makes the scrape partial, its kinds not
//! covered (`discovery of metrics.k8s.io/v1beta1: HTTP 503 ...`). A kind
//! whose LIST fails (403, 500, timeout, not JSON) makes the scrape partial: the kinds listed
//! (with their status kinds; with a `namespaces` filter, each kind in each namespace, as an
//! id prefix `<ns>/`) are covered and every failure is named (`apps/v1 deployments: HTTP 403
//! Forbidden: ...`); when every LIST fails the scrape fails. With a `namespaces` filter,
//! cluster-scoped kinds are still listed whole. A `token_file` is read at every scrape (so a
//! rotated token is used), handed to the client and never stored in the source, a resource
//! or an error.
//!
//! With `path`, the file (or every `.json` file of a directory or `s3://` prefix) is a
//! `List` (`kubectl get deployments,configmaps -A -o json`) or a single object, normalized and
//! identified the same way; without discovery, cluster scope comes from
//! [`identity::kubernetes_cluster_scoped`] (a cluster-scoped custom kind therefore gets
//! `default/<name>` ids there). Such a file only proves what it contains, so its
//! scrape is partial with the kinds present (and their status kinds) as covered scopes: an
//! object missing from the next file is deleted only if its kind is still in it, and an empty
//! list proves nothing.
//!
//! Warnings, not errors: a configured kind the cluster does not serve, an object without a
//! name (skipped) and a second object with an identity already seen (the first is kept).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use futures::{AsyncReadExt, StreamExt};
use groundtruth_engine::model::{Coverage, Layer, Observation, ObservedResource, Scope};
use kube::api::{DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersion, Resource};
use kube::discovery::{verbs, ApiGroup};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{IngestError, Result};
use crate::identity;
use crate::input::{self, Input, InputFile, InputLocation};
use crate::settings::InputSettings;
use crate::source::declared::kubernetes_manifests::normalize_object;
use crate::source::{read_and_parse, ScrapeContext, Source};

/// Kinds not listed unless `exclude_kinds` is set: high-churn records of what happened
/// rather than configuration (events, leader-election leases, endpoint bookkeeping derived
/// from Services and Pods, metrics samples, and the deprecated ComponentStatus probe).
pub const DEFAULT_EXCLUDED_KINDS: &[&str] = &[
    "core/Event",
    "events.k8s.io/Event",
    "coordination.k8s.io/Lease",
    "core/Endpoints",
    "discovery.k8s.io/EndpointSlice",
    "core/ComponentStatus",
    "metrics.k8s.io/PodMetrics",
    "metrics.k8s.io/NodeMetrics",
];

/// Default objects per LIST page.
pub const DEFAULT_PAGE_SIZE: u32 = 500;
/// Default LISTs running at once.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4;
/// Default bound on connecting and on each request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest LIST page read; a server sending more is refused rather than buffered.
pub const MAX_PAGE_BYTES: u64 = 128 * 1024 * 1024;
/// Pages read for one kind before giving up: a server handing out `continue` tokens forever
/// must not keep the scrape going.
const MAX_PAGES_PER_LIST: usize = 10_000;

/// Settings of the `kubernetes_api` source (`type = "kubernetes_api"` in `[[sources]]`).
/// Exactly one of `kubeconfig`, `cluster_url`, `in_cluster` and `path` says where it reads.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KubernetesApiConfig {
    /// A kubeconfig file (its credentials, exec plugins included, are the client's).
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    #[serde(default)]
    pub context: Option<String>,
    /// The API server URL, e.g. `https://10.0.0.1:6443`.
    #[serde(default)]
    pub cluster_url: Option<String>,
    /// A file holding the bearer token for `cluster_url` (re-read at every scrape).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// A PEM bundle of the CAs that sign the API server's certificate.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate (test clusters only).
    #[serde(default)]
    pub insecure_skip_tls_verify: bool,
    /// Use the service account of the Pod the server runs in.
    #[serde(default)]
    pub in_cluster: bool,
    /// A file, directory or `s3://` URL of `kubectl get ... -A -o json` output.
    #[serde(default)]
    pub path: Option<InputLocation>,
    /// Most files read from a directory or prefix (default 10000).
    #[serde(default)]
    pub max_files: Option<usize>,
    /// Largest file read, in bytes (default 64 MiB).
    #[serde(default)]
    pub max_file_bytes: Option<u64>,
    /// Only these kinds, as `<group>/<Kind>` (`apps/Deployment`, `core/ConfigMap`,
    /// `example.com/Widget`); default: every listable kind.
    #[serde(default)]
    pub kinds: Option<Vec<String>>,
    /// Kinds never listed when `kinds` is not set (default [`DEFAULT_EXCLUDED_KINDS`]);
    /// setting it replaces the default list.
    #[serde(default)]
    pub exclude_kinds: Option<Vec<String>>,
    /// Only objects in these namespaces (cluster-scoped kinds are still listed whole).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Objects per LIST page (default 500).
    #[serde(default)]
    pub page_size: Option<u32>,
    /// LISTs at once (default 4).
    #[serde(default)]
    pub max_in_flight: Option<usize>,
    /// Bound on connecting and on each request (default 30s).
    #[serde(default, deserialize_with = "crate::duration::optional_duration")]
    pub request_timeout: Option<Duration>,
}

impl KubernetesApiConfig {
    /// Check what serde cannot: exactly one target, options that belong to it, well-formed
    /// kinds and positive sizes.
    pub fn validate(&self, source_name: &str) -> Result<()> {
        let fail = |message: String| {
            Err(IngestError::Config(format!(
                "source '{source_name}': {message}"
            )))
        };
        let targets = [
            self.kubeconfig.is_some(),
            self.cluster_url.is_some(),
            self.in_cluster,
            self.path.is_some(),
        ];
        if targets.iter().filter(|set| **set).count() != 1 {
            return fail(
                "set exactly one of kubeconfig, cluster_url, in_cluster = true and path"
                    .to_string(),
            );
        }
        if self.context.is_some() && self.kubeconfig.is_none() {
            return fail("context needs kubeconfig".to_string());
        }
        if (self.token_file.is_some() || self.ca_file.is_some() || self.insecure_skip_tls_verify)
            && self.cluster_url.is_none()
        {
            return fail(
                "token_file, ca_file and insecure_skip_tls_verify need cluster_url".to_string(),
            );
        }
        if self.kinds.is_some() && self.exclude_kinds.is_some() {
            return fail(
                "set kinds (the kinds to read) or exclude_kinds (the kinds to skip), not both"
                    .to_string(),
            );
        }
        if (self.max_files.is_some() || self.max_file_bytes.is_some()) && self.path.is_none() {
            return fail("max_files and max_file_bytes need path".to_string());
        }
        if let Some(url) = &self.cluster_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return fail(format!(
                    "cluster_url '{url}' must start with https:// or http://"
                ));
            }
        }
        for kind in self
            .kinds
            .iter()
            .flatten()
            .chain(self.exclude_kinds.iter().flatten())
        {
            match kind.split_once('/') {
                Some((group, name))
                    if !group.is_empty() && !name.is_empty() && !name.contains('/') => {}
                _ => {
                    return fail(format!(
                    "kind '{kind}' must be <group>/<Kind>, e.g. apps/Deployment or core/ConfigMap"
                ))
                }
            }
        }
        if self.page_size == Some(0) {
            return fail("page_size must be positive".to_string());
        }
        if self.max_in_flight == Some(0) {
            return fail("max_in_flight must be positive".to_string());
        }
        if self
            .request_timeout
            .is_some_and(|timeout| timeout.is_zero())
        {
            return fail("request_timeout must be positive".to_string());
        }
        Ok(())
    }
}

/// Where the objects come from.
#[derive(Debug, Clone)]
enum Target {
    Kubeconfig {
        path: PathBuf,
        context: Option<String>,
    },
    Url {
        url: String,
        token_file: Option<PathBuf>,
        ca_file: Option<PathBuf>,
        insecure: bool,
    },
    InCluster,
    File(Input),
}

/// Which kinds are read, by `<group>/<Kind>`.
#[derive(Debug, Clone)]
struct KindFilter {
    only: Option<Vec<String>>,
    excluded: Vec<String>,
}

impl KindFilter {
    fn accepts(&self, kind_key: &str) -> bool {
        match &self.only {
            Some(only) => only.iter().any(|kind| kind == kind_key),
            None => !self.excluded.iter().any(|kind| kind == kind_key),
        }
    }
}

/// `<group>/<Kind>` with `core` for the core group, as in `kinds` and `exclude_kinds`.
fn kind_key(api_version: &str, kind: &str) -> String {
    format!("{}/{kind}", identity::kubernetes_group(api_version))
}

/// Reads a Kubernetes cluster through its API server, or `kubectl -o json` output.
#[derive(Debug, Clone)]
pub struct KubernetesApiSource {
    name: String,
    target: Target,
    filter: KindFilter,
    namespaces: Vec<String>,
    page_size: u32,
    max_in_flight: usize,
    request_timeout: Duration,
}

impl KubernetesApiSource {
    /// The source a configuration describes (call [`KubernetesApiConfig::validate`] first:
    /// when several targets are set, the first of kubeconfig, cluster_url, in_cluster, path
    /// wins).
    pub fn new(name: impl Into<String>, config: &KubernetesApiConfig) -> Self {
        let target = if let Some(path) = &config.kubeconfig {
            Target::Kubeconfig {
                path: path.clone(),
                context: config.context.clone(),
            }
        } else if let Some(url) = &config.cluster_url {
            Target::Url {
                url: url.clone(),
                token_file: config.token_file.clone(),
                ca_file: config.ca_file.clone(),
                insecure: config.insecure_skip_tls_verify,
            }
        } else if config.in_cluster {
            Target::InCluster
        } else {
            let location = config
                .path
                .clone()
                .unwrap_or_else(|| InputLocation::Path(PathBuf::new()));
            Target::File(
                InputSettings {
                    path: location,
                    max_files: config.max_files,
                    max_file_bytes: config.max_file_bytes,
                }
                .input(),
            )
        };
        Self {
            name: name.into(),
            target,
            filter: KindFilter {
                only: config.kinds.clone(),
                excluded: config.exclude_kinds.clone().unwrap_or_else(|| {
                    DEFAULT_EXCLUDED_KINDS
                        .iter()
                        .map(|kind| kind.to_string())
                        .collect()
                }),
            },
            namespaces: config.namespaces.clone(),
            page_size: config.page_size.unwrap_or(DEFAULT_PAGE_SIZE),
            max_in_flight: config.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT),
            request_timeout: config.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT),
        }
    }

    /// What errors name: the kubeconfig (and context), the URL, or `in-cluster`.
    fn target_name(&self) -> PathBuf {
        match &self.target {
            Target::Kubeconfig { path, context } => match context {
                Some(context) => PathBuf::from(format!("{} (context {context})", path.display())),
                None => path.clone(),
            },
            Target::Url { url, .. } => PathBuf::from(url_without_credentials(url)),
            Target::InCluster => PathBuf::from("in-cluster API server"),
            Target::File(input) => input.location().display_path(),
        }
    }

    fn failure(&self, message: String) -> IngestError {
        IngestError::Invalid {
            path: self.target_name(),
            message,
        }
    }

    async fn client(&self) -> Result<kube::Client> {
        // kube builds a rustls configuration even for http:// URLs, and rustls cannot pick a
        // provider when both ring and aws-lc-rs are compiled in (the AWS SDK brings the
        // latter). An error only means a provider is already installed, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut config = match &self.target {
            Target::Kubeconfig { path, context } => {
                let kubeconfig = kube::config::Kubeconfig::read_from(path).map_err(|error| {
                    self.failure(format!("cannot load kubeconfig: {}", describe(&error)))
                })?;
                let options = kube::config::KubeConfigOptions {
                    context: context.clone(),
                    cluster: None,
                    user: None,
                };
                kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|error| {
                        self.failure(format!("cannot use kubeconfig: {}", describe(&error)))
                    })?
            }
            Target::Url {
                url,
                token_file,
                ca_file,
                insecure,
            } => {
                let uri = url
                    .parse()
                    .map_err(|error| self.failure(format!("invalid cluster_url: {error}")))?;
                let mut config = kube::Config::new(uri);
                if let Some(path) = token_file {
                    // Read at every scrape (each builds its own client), so a rotated token is
                    // picked up; trimmed, as `echo token > file` leaves a newline kube refuses.
                    let token =
                        std::fs::read_to_string(path).map_err(|source| IngestError::Read {
                            path: path.clone(),
                            source,
                        })?;
                    config.auth_info.token = Some(token.trim().to_string().into());
                }
                config.root_cert_file = ca_file.clone();
                config.accept_invalid_certs = *insecure;
                config
            }
            Target::InCluster => kube::Config::incluster().map_err(|error| {
                self.failure(format!("not running in a cluster: {}", describe(&error)))
            })?,
            Target::File(_) => {
                return Err(self.failure("a file input has no API server".to_string()))
            }
        };
        config.connect_timeout = Some(self.request_timeout);
        config.read_timeout = Some(self.request_timeout);
        config.write_timeout = Some(self.request_timeout);
        // The read timeout then counts from the request, not from when a pooled connection
        // went idle.
        config.reset_reader_on_write = true;
        // Retries with backoff would stretch a failing scrape past its bounds; the next
        // scheduled scrape is the retry.
        config.default_retry = false;
        kube::Client::try_from(config)
            .map_err(|error| self.failure(format!("cannot build the client: {}", describe(&error))))
    }

    async fn scrape_api(&self, context: &ScrapeContext) -> Result<Observation> {
        let client = self.client().await?;
        let discovery_failed = |error: kube::Error| {
            self.failure(format!(
                "API discovery failed: {}",
                self.describe_request_error(&error)
            ))
        };
        let core_versions = client
            .list_core_api_versions()
            .await
            .map_err(discovery_failed)?;
        let group_list = client.list_api_groups().await.map_err(discovery_failed)?;

        // The preferred version of every group the filter can want: core's from `/api`, the
        // others' from `/apis`.
        let wanted_group = |group: &str| match &self.filter.only {
            Some(only) => only
                .iter()
                .any(|kind| kind.split_once('/').is_some_and(|(g, _)| g == group)),
            None => true,
        };
        let mut group_versions = Vec::new();
        if wanted_group("core") {
            let version = core_versions
                .versions
                .iter()
                .find(|version| *version == "v1")
                .or_else(|| core_versions.versions.first());
            if let Some(version) = version {
                group_versions.push(GroupVersion::gv("", version));
            }
        }
        for group in &group_list.groups {
            if !wanted_group(&group.name) {
                continue;
            }
            let version = group
                .preferred_version
                .as_ref()
                .or_else(|| group.versions.first())
                .map(|version| version.version.clone());
            if let Some(version) = version {
                group_versions.push(GroupVersion::gv(&group.name, &version));
            }
        }
        // One broken group (an aggregated API whose backend is down answers 503) must not hide
        // the others: its kinds are simply not covered.
        let discovered: Vec<(GroupVersion, std::result::Result<ApiGroup, kube::Error>)> =
            futures::stream::iter(group_versions.into_iter().map(|group_version| {
                let client = client.clone();
                async move {
                    let group = kube::discovery::pinned_group(&client, &group_version).await;
                    (group_version, group)
                }
            }))
            .buffered(self.max_in_flight)
            .collect()
            .await;
        if context.cancel.is_cancelled() {
            return Err(IngestError::Cancelled {
                source_name: self.name.clone(),
            });
        }

        let mut warnings = Vec::new();
        let mut failures = Vec::new();
        let mut failed_groups = Vec::new();
        let mut listed_kinds: BTreeMap<String, (ApiResource, bool)> = BTreeMap::new();
        for (group_version, group) in discovered {
            let group = match group {
                Ok(group) => group,
                Err(error) => {
                    failures.push(format!(
                        "discovery of {}: {}",
                        group_version.api_version(),
                        self.describe_request_error(&error)
                    ));
                    failed_groups.push(if group_version.group.is_empty() {
                        "core".to_string()
                    } else {
                        group_version.group.clone()
                    });
                    continue;
                }
            };
            for (resource, capabilities) in group.recommended_resources() {
                if !capabilities.supports_operation(verbs::LIST) {
                    continue;
                }
                let key = kind_key(&resource.api_version, &resource.kind);
                if !self.filter.accepts(&key) {
                    continue;
                }
                let cluster_scoped = capabilities.scope == kube::discovery::Scope::Cluster;
                listed_kinds
                    .entry(key)
                    .or_insert((resource, cluster_scoped));
            }
        }
        for kind in self.filter.only.iter().flatten() {
            let group_failed = kind
                .split_once('/')
                .is_some_and(|(group, _)| failed_groups.iter().any(|failed| failed == group));
            if !listed_kinds.contains_key(kind) && !group_failed {
                warnings.push(format!(
                    "kind {kind} is not served (or not listable) by the cluster"
                ));
            }
        }

        let mut jobs = Vec::new();
        for (resource, cluster_scoped) in listed_kinds.values() {
            if *cluster_scoped || self.namespaces.is_empty() {
                jobs.push(ListJob {
                    resource: resource.clone(),
                    cluster_scoped: *cluster_scoped,
                    namespace: None,
                });
            } else {
                for namespace in &self.namespaces {
                    jobs.push(ListJob {
                        resource: resource.clone(),
                        cluster_scoped: false,
                        namespace: Some(namespace.clone()),
                    });
                }
            }
        }
        let mut outcomes: Vec<(usize, std::result::Result<Vec<Value>, String>)> =
            futures::stream::iter(jobs.clone().into_iter().enumerate().map(|(index, job)| {
                let client = client.clone();
                async move { (index, self.list(&client, &job, context).await) }
            }))
            .buffer_unordered(self.max_in_flight)
            .collect()
            .await;
        if context.cancel.is_cancelled() {
            return Err(IngestError::Cancelled {
                source_name: self.name.clone(),
            });
        }
        outcomes.sort_by_key(|(index, _)| *index);

        let mut collector = Collector::default();
        let mut covered = Vec::new();
        let discovery_failures = failures.len();
        let mut listed = 0;
        for (index, outcome) in outcomes {
            let job = &jobs[index];
            match outcome {
                Ok(objects) => {
                    listed += 1;
                    for object in objects {
                        if let Err(message) = collector.add(
                            &job.resource.api_version,
                            &job.resource.kind,
                            job.cluster_scoped,
                            object,
                        ) {
                            warnings.push(format!("{}: {message}; skipped", job.describe()));
                        }
                    }
                    let kind =
                        identity::kubernetes_kind(&job.resource.api_version, &job.resource.kind);
                    let status_kind = identity::kubernetes_status_kind(
                        &job.resource.api_version,
                        &job.resource.kind,
                    );
                    let id_prefix = job
                        .namespace
                        .as_ref()
                        .map(|namespace| format!("{namespace}/"));
                    for kind in [kind, status_kind] {
                        covered.push(Scope {
                            kind: Some(kind),
                            id_prefix: id_prefix.clone(),
                        });
                    }
                }
                Err(message) => failures.push(format!("{}: {message}", job.describe())),
            }
        }
        if listed == 0 && !failures.is_empty() {
            let what = if discovery_failures == 0 {
                "every LIST failed"
            } else {
                "nothing could be read"
            };
            return Err(self.failure(format!("{what}: {}", failures.join("; "))));
        }
        let (resources, duplicates) = collector.finish();
        warnings.extend(duplicates);
        let coverage = if failures.is_empty() {
            Coverage::Complete
        } else {
            Coverage::Partial { covered, failures }
        };
        Ok(Observation {
            resources,
            coverage,
            warnings,
        })
    }

    /// Every object of one kind (in one namespace), page by page, `kind`/`apiVersion` filled
    /// from discovery (a LIST's items lack them).
    async fn list(
        &self,
        client: &kube::Client,
        job: &ListJob,
        context: &ScrapeContext,
    ) -> std::result::Result<Vec<Value>, String> {
        let url_path = DynamicObject::url_path(&job.resource, job.namespace.as_deref());
        let mut objects = Vec::new();
        let mut continue_token: Option<String> = None;
        for _ in 0..MAX_PAGES_PER_LIST {
            if context.cancel.is_cancelled() {
                return Err("cancelled".to_string());
            }
            let mut parameters = ListParams::default().limit(self.page_size);
            if let Some(token) = &continue_token {
                parameters = parameters.continue_token(token);
            }
            let page = tokio::time::timeout(
                self.request_timeout,
                self.read_page(client, &url_path, &parameters),
            )
            .await
            .map_err(|_| format!("no answer within {} s", self.request_timeout.as_secs_f64()))??;
            let Value::Object(mut page) = page else {
                return Err("the response is not a JSON object".to_string());
            };
            match page.remove("items") {
                Some(Value::Array(items)) => {
                    for item in items {
                        let Value::Object(mut item) = item else {
                            return Err("an item of the list is not an object".to_string());
                        };
                        item.insert(
                            "apiVersion".to_string(),
                            Value::String(job.resource.api_version.clone()),
                        );
                        item.insert("kind".to_string(), Value::String(job.resource.kind.clone()));
                        objects.push(Value::Object(item));
                    }
                }
                Some(Value::Null) | None => {}
                Some(_) => return Err("the response's items is not an array".to_string()),
            }
            continue_token = page
                .get("metadata")
                .and_then(|metadata| metadata.get("continue"))
                .and_then(Value::as_str)
                .filter(|token| !token.is_empty())
                .map(str::to_string);
            if continue_token.is_none() {
                return Ok(objects);
            }
        }
        Err(format!(
            "more than {MAX_PAGES_PER_LIST} pages; the server keeps answering with a continue token"
        ))
    }

    /// One LIST page, read up to [`MAX_PAGE_BYTES`] and parsed as JSON.
    async fn read_page(
        &self,
        client: &kube::Client,
        url_path: &str,
        parameters: &ListParams,
    ) -> std::result::Result<Value, String> {
        let request = kube::core::Request::new(url_path)
            .list(parameters)
            .map_err(|error| format!("cannot build the request: {error}"))?;
        let body = client
            .request_stream(request)
            .await
            .map_err(|error| self.describe_request_error(&error))?;
        let mut bytes = Vec::new();
        body.take(MAX_PAGE_BYTES + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(|error| {
                if is_timeout(&error) {
                    format!("no answer within {} s", self.request_timeout.as_secs_f64())
                } else {
                    format!("reading the response failed: {}", describe(&error))
                }
            })?;
        if bytes.len() as u64 > MAX_PAGE_BYTES {
            return Err(format!(
                "a response page is larger than {MAX_PAGE_BYTES} bytes (lower page_size)"
            ));
        }
        // Pages run to megabytes: parse them off the async workers.
        tokio::task::spawn_blocking(move || {
            serde_json::from_slice(&bytes).map_err(|error| {
                let start = String::from_utf8_lossy(&bytes[..bytes.len().min(60)]).into_owned();
                format!("the response is not JSON ({error}); it starts with {start:?}")
            })
        })
        .await
        .map_err(|error| format!("parsing task failed: {error}"))?
    }

    /// A request error in words: the API status for HTTP errors, "no answer within" for
    /// timeouts, the cause chain otherwise.
    fn describe_request_error(&self, error: &kube::Error) -> String {
        match error {
            kube::Error::Api(status) => {
                let mut text = format!("HTTP {}", status.code);
                if !status.reason.is_empty() {
                    text.push(' ');
                    text.push_str(&status.reason);
                }
                let message = status.message.trim();
                if !message.is_empty() && message != status.reason {
                    text.push_str(": ");
                    text.push_str(&message.chars().take(300).collect::<String>());
                }
                if status.code == 401 {
                    text.push_str(" (the credentials were refused)");
                }
                text
            }
            _ if is_timeout(error) => {
                format!("no answer within {} s", self.request_timeout.as_secs_f64())
            }
            kube::Error::SerdeError(inner) => {
                format!("the response is not the JSON expected: {inner}")
            }
            other => describe(other),
        }
    }

    async fn scrape_file(&self, input: &Input, context: &ScrapeContext) -> Result<Observation> {
        let filter = self.filter.clone();
        let namespaces = self.namespaces.clone();
        read_and_parse(
            &self.name,
            input,
            |relative| input::has_extension(relative, &["json"]),
            context,
            move |files| parse_kubectl_files(&files, &filter, &namespaces),
        )
        .await
    }
}

/// One LIST to make: a kind, across all namespaces or in one.
#[derive(Debug, Clone)]
struct ListJob {
    resource: ApiResource,
    cluster_scoped: bool,
    namespace: Option<String>,
}

impl ListJob {
    /// `apps/v1 deployments` (`in namespace shop`): what a failure line names.
    fn describe(&self) -> String {
        let mut text = format!("{} {}", self.resource.api_version, self.resource.plural);
        if let Some(namespace) = &self.namespace {
            text.push_str(&format!(" in namespace {namespace}"));
        }
        text
    }
}

fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
        }
        let text = error.to_string().to_ascii_lowercase();
        if text.contains("timed out") || text.contains("deadline has elapsed") {
            return true;
        }
        current = error.source();
    }
    false
}

/// An error with its causes, each once.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text = format!("{text}: {inner_text}");
        }
        cause = inner.source();
    }
    text
}

/// The URL without `user:password@`, for error messages.
fn url_without_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = match rest.find('/') {
                Some(index) => rest.split_at(index),
                None => (rest, ""),
            };
            let host = authority.rsplit('@').next().unwrap_or(authority);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_string(),
    }
}

/// Resources by identity, first kept, duplicates remembered as warnings.
#[derive(Default)]
struct Collector {
    resources: BTreeMap<(String, String), ObservedResource>,
    duplicates: Vec<String>,
}

impl Collector {
    /// Add an object (and its status); `Err` says why it was skipped.
    fn add(
        &mut self,
        api_version: &str,
        kind: &str,
        cluster_scoped: bool,
        object: Value,
    ) -> std::result::Result<(), String> {
        let Value::Object(mut object) = object else {
            return Err(format!("a {kind} that is not an object"));
        };
        let metadata = object.get("metadata");
        let name = match metadata.and_then(|metadata| metadata.get("name")) {
            Some(Value::String(name)) if !name.is_empty() => name.clone(),
            _ => return Err(format!("a {kind} without metadata.name")),
        };
        let namespace = metadata
            .and_then(|metadata| metadata.get("namespace"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let normalized = normalize_object(api_version, kind, &mut object);
        let id = identity::kubernetes_scoped_id(cluster_scoped, namespace.as_deref(), &name);
        let object_kind = identity::kubernetes_kind(api_version, kind);
        if self
            .resources
            .contains_key(&(object_kind.clone(), id.clone()))
        {
            self.duplicates
                .push(format!("{object_kind} {id} was seen twice; kept the first"));
            return Ok(());
        }
        let mut resource = ObservedResource::new(
            object_kind.clone(),
            id.clone(),
            Layer::Live,
            Value::Object(object),
        )
        .with_name(name.clone());
        for (key, value) in normalized.labels {
            resource = resource.with_label(key, value);
        }
        self.resources.insert((object_kind, id.clone()), resource);
        if let Some(status) = normalized.status {
            let status_kind = identity::kubernetes_status_kind(api_version, kind);
            let status =
                ObservedResource::new(status_kind.clone(), id.clone(), Layer::Live, status)
                    .with_name(name);
            self.resources.insert((status_kind, id), status);
        }
        Ok(())
    }

    fn finish(self) -> (Vec<ObservedResource>, Vec<String>) {
        (self.resources.into_values().collect(), self.duplicates)
    }
}

/// The objects of `kubectl get ... -o json` files: each file a `*List` with `items` or one
/// object (items of a typed list such as a `DeploymentList` get their kind and apiVersion
/// from it). Anything else fails the scrape naming the file (and the item).
fn parse_kubectl_files(
    files: &[InputFile],
    filter: &KindFilter,
    namespaces: &[String],
) -> Result<Observation> {
    let mut collector = Collector::default();
    let mut warnings = Vec::new();
    // Kinds present, with whether they are cluster-scoped: the covered scopes.
    let mut present: BTreeMap<(String, String), bool> = BTreeMap::new();
    for file in files {
        let document: Value =
            serde_json::from_str(file.text()?).map_err(|error| IngestError::Parse {
                path: file.path.clone(),
                line: Some(error.line()),
                message: format!("invalid JSON: {error}"),
            })?;
        let invalid = |message: String| IngestError::Invalid {
            path: file.path.clone(),
            message,
        };
        let is_list = document
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|kind| kind.ends_with("List"))
            && document.get("items").is_some_and(Value::is_array);
        let objects: Vec<(String, Value)> = if is_list {
            // `kubectl get -o json` items carry kind and apiVersion; those of a raw typed
            // list (`kubectl get --raw .../deployments`: a DeploymentList) do not.
            let item_kind = document
                .get("kind")
                .and_then(Value::as_str)
                .and_then(|kind| kind.strip_suffix("List"))
                .filter(|kind| !kind.is_empty())
                .map(|kind| Value::String(kind.to_string()));
            let item_api_version = document.get("apiVersion").cloned();
            match document.get("items") {
                Some(Value::Array(items)) => items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| {
                        let mut item = item.clone();
                        if let Value::Object(fields) = &mut item {
                            if let (Some(kind), Some(api_version)) = (&item_kind, &item_api_version)
                            {
                                if !fields.contains_key("kind") {
                                    fields.insert("kind".to_string(), kind.clone());
                                    fields.insert("apiVersion".to_string(), api_version.clone());
                                }
                            }
                        }
                        (format!("items[{index}]"), item)
                    })
                    .collect(),
                _ => Vec::new(),
            }
        } else if document.is_object() {
            vec![("the object".to_string(), document)]
        } else {
            return Err(invalid(
                "not kubectl JSON output: neither a List nor an object".to_string(),
            ));
        };
        for (place, object) in objects {
            let field = |name: &str| -> Result<String> {
                match object.get(name) {
                    Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
                    _ => Err(invalid(format!(
                        "{place}: not a Kubernetes object: no string \"{name}\""
                    ))),
                }
            };
            let api_version = field("apiVersion")?;
            let kind = field("kind")?;
            let key = kind_key(&api_version, &kind);
            if !filter.accepts(&key) {
                continue;
            }
            let namespace = object
                .get("metadata")
                .and_then(|metadata| metadata.get("namespace"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let cluster_scoped = identity::kubernetes_cluster_scoped(&kind);
            if !cluster_scoped
                && !namespaces.is_empty()
                && !namespaces.iter().any(|wanted| wanted == namespace)
            {
                continue;
            }
            present.insert((api_version.clone(), kind.clone()), cluster_scoped);
            collector
                .add(&api_version, &kind, cluster_scoped, object)
                .map_err(|message| invalid(format!("{place}: {message}")))?;
        }
    }
    let (resources, duplicates) = collector.finish();
    warnings.extend(duplicates);
    let mut covered = Vec::new();
    for ((api_version, kind), cluster_scoped) in &present {
        let prefixes: Vec<Option<String>> = if *cluster_scoped || namespaces.is_empty() {
            vec![None]
        } else {
            namespaces
                .iter()
                .map(|namespace| Some(format!("{namespace}/")))
                .collect()
        };
        for kind in [
            identity::kubernetes_kind(api_version, kind),
            identity::kubernetes_status_kind(api_version, kind),
        ] {
            for prefix in &prefixes {
                covered.push(Scope {
                    kind: Some(kind.clone()),
                    id_prefix: prefix.clone(),
                });
            }
        }
    }
    Ok(Observation {
        resources,
        coverage: Coverage::Partial {
            covered,
            failures: Vec::new(),
        },
        warnings,
    })
}

#[async_trait::async_trait]
impl Source for KubernetesApiSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn source_type(&self) -> &'static str {
        "kubernetes_api"
    }

    fn input(&self) -> Option<&Input> {
        match &self.target {
            Target::File(input) => Some(input),
            _ => None,
        }
    }

    async fn scrape(&self, context: &ScrapeContext) -> Result<Observation> {
        match &self.target {
            Target::File(input) => self.scrape_file(input, context).await,
            _ => self.scrape_api(context).await,
        }
    }

    /// `kubectl -o json` files, when the source reads files rather than an API server.
    fn parse_content(&self, files: Vec<InputFile>) -> Option<Result<Observation>> {
        match &self.target {
            Target::File(_) => Some(parse_kubectl_files(&files, &self.filter, &self.namespaces)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::parse;
    use crate::config::{SourceConfig, SourceKind};
    use serde_json::json;

    fn parsed(extra: &str) -> SourceConfig {
        let sources = parse(&format!(
            "[[sources]]\ntype = \"kubernetes_api\"\nname = \"cluster\"\n{extra}"
        ))
        .unwrap_or_else(|error| panic!("{extra}: {error}"));
        sources.into_iter().next().expect("one source")
    }

    fn config(extra: &str) -> KubernetesApiConfig {
        match parsed(extra).kind {
            SourceKind::KubernetesApi(config) => config,
            other => panic!("not kubernetes_api: {other:?}"),
        }
    }

    fn refusal(extra: &str) -> String {
        config(extra).validate("cluster").unwrap_err().to_string()
    }

    #[test]
    fn configuration_parses_with_every_option_and_defaults() {
        let full = config(
            "cluster_url = \"https://10.0.0.1:6443\"\ntoken_file = \"/run/token\"\n\
             ca_file = \"/etc/ca.pem\"\ninsecure_skip_tls_verify = false\n\
             kinds = [\"apps/Deployment\", \"example.com/Widget\"]\n\
             namespaces = [\"shop\"]\npage_size = 100\nmax_in_flight = 2\n\
             request_timeout = \"10s\"\ninterval = \"1m\"\ntimeout = \"90s\"\n",
        );
        full.validate("cluster").unwrap();
        assert_eq!(full.request_timeout, Some(Duration::from_secs(10)));
        let common = parsed("in_cluster = true\ninterval = \"1m\"\ntimeout = \"90s\"\n").common;
        assert_eq!(common.timeout, Some(Duration::from_secs(90)));
        let source = KubernetesApiSource::new("cluster", &full);
        assert_eq!(source.page_size, 100);
        assert_eq!(source.max_in_flight, 2);
        assert!(source.filter.accepts("example.com/Widget"));
        assert!(!source.filter.accepts("core/ConfigMap"));
        assert!(source.input().is_none());
        assert_eq!(source.target_name(), PathBuf::from("https://10.0.0.1:6443"));

        let defaults = KubernetesApiSource::new("cluster", &config("in_cluster = true\n"));
        assert_eq!(defaults.page_size, DEFAULT_PAGE_SIZE);
        assert_eq!(defaults.max_in_flight, DEFAULT_MAX_IN_FLIGHT);
        assert_eq!(defaults.request_timeout, DEFAULT_REQUEST_TIMEOUT);
        assert!(defaults.filter.accepts("apps/Deployment"));
        for noisy in DEFAULT_EXCLUDED_KINDS {
            assert!(!defaults.filter.accepts(noisy), "{noisy}");
        }

        let error = parse(
            "[[sources]]\ntype = \"kubernetes_api\"\nname = \"c\"\nin_cluster = true\ntoken = \"x\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("unknown field `token`"), "{error}");
    }

    #[test]
    fn contradictory_or_malformed_settings_are_refused() {
        let one_target = "set exactly one of kubeconfig, cluster_url, in_cluster = true and path";
        assert!(refusal("").contains(one_target));
        assert!(refusal("in_cluster = true\npath = \"get.json\"\n").contains(one_target));
        assert!(
            refusal("in_cluster = true\ncontext = \"prod\"\n").contains("context needs kubeconfig")
        );
        assert!(refusal("kubeconfig = \"k\"\ntoken_file = \"t\"\n").contains("need cluster_url"));
        assert!(refusal("in_cluster = true\nmax_files = 3\n").contains("need path"));
        assert!(refusal("cluster_url = \"10.0.0.1:6443\"\n").contains("must start with https://"));
        assert!(refusal("in_cluster = true\nkinds = [\"Deployment\"]\n")
            .contains("kind 'Deployment' must be <group>/<Kind>"));
        assert!(
            refusal("in_cluster = true\nkinds = [\"apps/Deployment\"]\nexclude_kinds = []\n")
                .contains("not both")
        );
        assert!(
            refusal("in_cluster = true\npage_size = 0\n").contains("page_size must be positive")
        );
        assert!(refusal("in_cluster = true\nmax_in_flight = 0\n").contains("max_in_flight"));
        assert!(
            refusal("in_cluster = true\nrequest_timeout = \"0s\"\n").contains("request_timeout")
        );
        let error = refusal("");
        assert!(
            error.starts_with("configuration: source 'cluster': "),
            "{error}"
        );
    }

    #[test]
    fn only_the_file_form_has_a_location_to_move() {
        let sources = parse(
            "[[sources]]\ntype = \"kubernetes_api\"\nname = \"snapshot\"\npath = \"ops/cluster.json\"\n\
             [[sources]]\ntype = \"kubernetes_api\"\nname = \"live\"\nin_cluster = true\n",
        )
        .unwrap();
        assert_eq!(
            sources[0].location().unwrap().to_string(),
            "ops/cluster.json"
        );
        let moved = sources[0]
            .with_location(InputLocation::Path(PathBuf::from(
                "/tmp/checkout/ops/cluster.json",
            )))
            .unwrap();
        assert_eq!(
            moved.location().unwrap().to_string(),
            "/tmp/checkout/ops/cluster.json"
        );
        assert!(sources[1].location().is_none());
        assert!(sources[1]
            .with_location(InputLocation::Path(PathBuf::from("/tmp")))
            .is_none());
        let built = sources[0].build(chrono::Utc::now()).unwrap();
        assert_eq!(built.source.source_type(), "kubernetes_api");
        assert!(built.source.input().is_some());
    }

    #[test]
    fn urls_in_errors_lose_their_credentials() {
        assert_eq!(
            url_without_credentials("https://admin:hunter2@10.0.0.1:6443/k8s"),
            "https://10.0.0.1:6443/k8s"
        );
        assert_eq!(
            url_without_credentials("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080"
        );
    }

    #[test]
    fn objects_give_resources_status_apart_and_duplicates_warned() {
        let mut collector = Collector::default();
        let object = json!({
            "apiVersion": "example.com/v1", "kind": "Gadget",
            "metadata": {"name": "edge", "namespace": "ignored", "uid": "u-1", "resourceVersion": "7",
                         "labels": {"tier": "edge", "replicas": 2}},
            "spec": {"size": 2},
            "status": {"ready": true},
        });
        collector
            .add("example.com/v1", "Gadget", true, object.clone())
            .unwrap();
        collector
            .add("example.com/v1", "Gadget", true, object)
            .unwrap();
        assert_eq!(
            collector
                .add("v1", "ConfigMap", false, json!({"metadata": {}}))
                .unwrap_err(),
            "a ConfigMap without metadata.name"
        );
        let (resources, duplicates) = collector.finish();
        assert_eq!(
            duplicates,
            vec!["k8s/example.com/Gadget edge was seen twice; kept the first"]
        );
        assert_eq!(resources.len(), 2);
        assert_eq!(resources[0].kind, "k8s-status/example.com/Gadget");
        assert_eq!(resources[0].attrs, json!({"ready": true}));
        assert_eq!(resources[1].kind, "k8s/example.com/Gadget");
        assert_eq!(resources[1].id, "edge");
        assert_eq!(resources[1].layer, Layer::Live);
        assert_eq!(
            resources[1].attrs["metadata"],
            json!({"name": "edge", "namespace": "ignored", "labels": {"tier": "edge", "replicas": 2}})
        );
        assert_eq!(resources[1].labels["replicas"], "2");
    }
}
