//! The `kubernetes_api` source against the fixture API server
//! (`tests/fixtures/kubernetes/api_server.py`, recorded discovery and LIST answers of a small
//! cluster): identities, normalization and status resources field by field, paging, a real
//! store recording exactly the configuration changes between two states, partial scrapes
//! that delete nothing of a failed kind, failures in bounded time without the token, and the
//! real kubectl agreeing with the fixture and with the source (its `-o json` output read back
//! through the file form gives the same resources, and through the manifests source the same
//! identities and attrs).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::{TimeZone, Utc};
use groundtruth_engine::canonical;
use groundtruth_engine::clock::SystemClock;
use groundtruth_engine::model::{
    Coverage, Layer, Observation, ObservedResource, Scope, ScrapeStatus,
};
use groundtruth_engine::session::Engine;
use groundtruth_engine::store::{Store, StoreOptions, StoreUrl};
use groundtruth_ingest::input::{Input, InputLocation};
use groundtruth_ingest::runner::{Ingestor, RunOptions};
use groundtruth_ingest::source::declared::kubernetes_manifests::KubernetesManifestsSource;
use groundtruth_ingest::source::live::kubernetes_api::{KubernetesApiConfig, KubernetesApiSource};
use groundtruth_ingest::source::{ScrapeContext, Source};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::support::kubernetes::{kubectl, FixtureApiServer};

const TOKEN: &str = "fixture-token-3f9a77c1e2";
/// Planted in the recorded cluster: a Secret value (plain and base64), a container env value.
const PAYMENT_KEY: &str = "pgw_live_fixture_Zx81Kq";
const PAYMENT_KEY_BASE64: &str = "cGd3X2xpdmVfZml4dHVyZV9aeDgxS3E=";
const ENV_SECRET: &str = "sk_live_fixture_api_4242";
const KUBECTL_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/kubernetes/kubectl/shop-get-A.json"
);

fn context() -> ScrapeContext {
    ScrapeContext {
        started_at: Utc
            .with_ymd_and_hms(2025, 6, 1, 12, 0, 0)
            .single()
            .expect("valid instant"),
        cancel: CancellationToken::new(),
    }
}

/// The token in a file, as a mounted service-account token is.
struct TokenFile {
    _directory: tempfile::TempDir,
    path: PathBuf,
}

fn token_file(token: &str) -> TokenFile {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("token");
    std::fs::write(&path, format!("{token}\n")).expect("write token");
    TokenFile {
        _directory: directory,
        path,
    }
}

fn api_config(server: &FixtureApiServer, token: &TokenFile) -> KubernetesApiConfig {
    KubernetesApiConfig {
        cluster_url: Some(server.url()),
        token_file: Some(token.path.clone()),
        request_timeout: Some(Duration::from_secs(5)),
        ..KubernetesApiConfig::default()
    }
}

fn source(config: &KubernetesApiConfig) -> KubernetesApiSource {
    config.validate("cluster").expect("valid configuration");
    KubernetesApiSource::new("cluster", config)
}

fn find<'a>(observation: &'a Observation, kind: &str, id: &str) -> &'a ObservedResource {
    observation
        .resources
        .iter()
        .find(|resource| resource.kind == kind && resource.id == id)
        .unwrap_or_else(|| panic!("no {kind} {id}"))
}

fn ids_by_kind(observation: &Observation) -> BTreeMap<String, Vec<String>> {
    let mut ids: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for resource in &observation.resources {
        ids.entry(resource.kind.clone())
            .or_default()
            .push(resource.id.clone());
    }
    ids
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

#[tokio::test]
async fn every_listable_kind_is_read_with_manifest_identities_status_apart_and_secrets_redacted() {
    let server = FixtureApiServer::start(Some(TOKEN));
    let token = token_file(TOKEN);
    let config = KubernetesApiConfig {
        page_size: Some(2),
        ..api_config(&server, &token)
    };
    let observation = source(&config)
        .scrape(&context())
        .await
        .expect("scrape the fixture cluster");
    assert_eq!(observation.coverage, Coverage::Complete);
    assert!(
        observation.warnings.is_empty(),
        "{:?}",
        observation.warnings
    );
    assert!(observation
        .resources
        .iter()
        .all(|resource| resource.layer == Layer::Live));

    let pods = [
        "kube-system/coredns-5dd5756b68-4jx2m",
        "kube-system/coredns-5dd5756b68-wh8tn",
        "shop/web-7c9f8d6b5d-2xkqp",
        "shop/web-7c9f8d6b5d-8zvtn",
        "shop/web-7c9f8d6b5d-qmf4r",
        "shop/worker-5d8f7b9c4-l9xwz",
    ];
    let crds = ["gadgets.example.com", "widgets.example.com"];
    let deployments = ["kube-system/coredns", "shop/web", "shop/worker"];
    let replica_sets = [
        "kube-system/coredns-5dd5756b68",
        "shop/web-7c9f8d6b5d",
        "shop/worker-5d8f7b9c4",
    ];
    let namespaces = ["default", "kube-system", "shop"];
    let services = ["default/kubernetes", "kube-system/kube-dns", "shop/web"];
    let expected: BTreeMap<String, Vec<String>> = [
        (
            "k8s-status/apiextensions.k8s.io/CustomResourceDefinition",
            &crds[..],
        ),
        ("k8s-status/apps/Deployment", &deployments[..]),
        ("k8s-status/apps/ReplicaSet", &replica_sets[..]),
        ("k8s-status/core/Namespace", &namespaces[..]),
        ("k8s-status/core/Pod", &pods[..]),
        ("k8s-status/core/Service", &services[..]),
        (
            "k8s-status/example.com/Widget",
            &["shop/storefront-banner"][..],
        ),
        (
            "k8s/apiextensions.k8s.io/CustomResourceDefinition",
            &crds[..],
        ),
        ("k8s/apps/Deployment", &deployments[..]),
        ("k8s/apps/ReplicaSet", &replica_sets[..]),
        (
            "k8s/core/ConfigMap",
            &[
                "default/kube-root-ca.crt",
                "kube-system/coredns",
                "shop/kube-root-ca.crt",
                "shop/legacy-flags",
                "shop/web-config",
            ][..],
        ),
        ("k8s/core/Namespace", &namespaces[..]),
        ("k8s/core/Pod", &pods[..]),
        ("k8s/core/Secret", &["shop/payment-gateway"][..]),
        ("k8s/core/Service", &services[..]),
        (
            "k8s/core/ServiceAccount",
            &[
                "default/default",
                "kube-system/coredns",
                "shop/default",
                "shop/worker",
            ][..],
        ),
        // Cluster-scoped although no built-in list says so: discovery does.
        ("k8s/example.com/Gadget", &["edge-router"][..]),
        (
            "k8s/example.com/Widget",
            &["default/demo-widget", "shop/storefront-banner"][..],
        ),
        (
            "k8s/rbac.authorization.k8s.io/ClusterRole",
            &["shop-reader", "system:coredns"][..],
        ),
    ]
    .into_iter()
    .map(|(kind, ids)| (kind.to_string(), strings(ids)))
    .collect();
    assert_eq!(ids_by_kind(&observation), expected);

    // The object: what the API server writes is gone, the rest is as served.
    let web = find(&observation, "k8s/apps/Deployment", "shop/web");
    assert_eq!(web.name.as_deref(), Some("web"));
    assert_eq!(
        web.labels,
        BTreeMap::from([
            ("app".to_string(), "web".to_string()),
            ("tier".to_string(), "frontend".to_string()),
        ])
    );
    assert_eq!(web.attrs["apiVersion"], "apps/v1");
    assert_eq!(web.attrs["kind"], "Deployment");
    assert_eq!(
        web.attrs["metadata"],
        json!({
            "name": "web",
            "namespace": "shop",
            "labels": {"app": "web", "tier": "frontend"},
            "annotations": {"deployment.kubernetes.io/revision": "1"},
        })
    );
    assert!(web.attrs.get("status").is_none());
    assert_eq!(web.attrs["spec"]["replicas"], 3);
    let env = &web.attrs["spec"]["template"]["spec"]["containers"][0]["env"];
    assert_eq!(env[0]["value"], canonical::redacted(&json!("info")));
    assert_eq!(env[1]["name"], "STRIPE_API_KEY");
    assert_eq!(env[1]["value"], canonical::redacted(&json!(ENV_SECRET)));
    assert_eq!(
        env[2],
        json!({"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "payment-gateway", "key": "db-password"}}})
    );

    // Its status: a resource of its own, same id, no labels.
    let web_status = find(&observation, "k8s-status/apps/Deployment", "shop/web");
    assert_eq!(web_status.name.as_deref(), Some("web"));
    assert!(web_status.labels.is_empty());
    assert_eq!(web_status.attrs["replicas"], 3);
    assert_eq!(web_status.attrs["availableReplicas"], 3);
    assert_eq!(web_status.attrs["conditions"][0]["type"], "Available");

    let secret = find(&observation, "k8s/core/Secret", "shop/payment-gateway");
    assert_eq!(
        secret.attrs["data"]["api-key"],
        canonical::redacted(&json!(PAYMENT_KEY_BASE64))
    );
    assert!(canonical::is_redacted(&secret.attrs["data"]["db-password"]));
    assert_eq!(secret.attrs["type"], "Opaque");
    // The last-applied annotation held the data; it was the only annotation.
    assert_eq!(
        secret.attrs["metadata"],
        json!({"name": "payment-gateway", "namespace": "shop", "labels": {"app": "web"}})
    );

    let pod = find(&observation, "k8s/core/Pod", "shop/worker-5d8f7b9c4-l9xwz");
    assert_eq!(
        pod.attrs["metadata"],
        json!({
            "name": "worker-5d8f7b9c4-l9xwz",
            "namespace": "shop",
            "generateName": "worker-5d8f7b9c4-",
            "labels": {"app": "worker", "pod-template-hash": "5d8f7b9c4"},
            "ownerReferences": [{
                "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "worker-5d8f7b9c4",
                "uid": "07d6c2d8-9b3e-4c70-9d3b-6ec18fd03e77",
                "controller": true, "blockOwnerDeletion": true,
            }],
        })
    );
    assert_eq!(pod.attrs["spec"]["nodeName"], "shop-worker");
    assert!(canonical::is_redacted(
        &pod.attrs["spec"]["containers"][0]["env"][0]["value"]
    ));
    let pod_status = find(
        &observation,
        "k8s-status/core/Pod",
        "shop/worker-5d8f7b9c4-l9xwz",
    );
    assert_eq!(pod_status.attrs["phase"], "Running");
    assert_eq!(pod_status.attrs["podIP"], "10.244.2.9");
    assert_eq!(pod_status.attrs["containerStatuses"][0]["restartCount"], 0);

    let gadget = find(&observation, "k8s/example.com/Gadget", "edge-router");
    assert_eq!(
        gadget.attrs,
        json!({
            "apiVersion": "example.com/v1", "kind": "Gadget",
            "metadata": {"name": "edge-router"},
            "spec": {"region": "eu-west-1", "size": 2},
        })
    );
    let crd = find(
        &observation,
        "k8s/apiextensions.k8s.io/CustomResourceDefinition",
        "widgets.example.com",
    );
    assert_eq!(crd.attrs["spec"]["scope"], "Namespaced");
    let namespace = find(&observation, "k8s/core/Namespace", "shop");
    assert_eq!(namespace.labels["team"], "commerce");
    assert_eq!(
        find(&observation, "k8s-status/core/Namespace", "shop").attrs,
        json!({"phase": "Active"})
    );

    let everything = format!("{:?}", observation.resources);
    for secret in [
        PAYMENT_KEY,
        PAYMENT_KEY_BASE64,
        ENV_SECRET,
        TOKEN,
        "last-applied",
    ] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }

    // Pages of two with continue tokens; events, leases and non-listable kinds never asked.
    let requests = server.requests();
    let pod_requests: Vec<&String> = requests
        .iter()
        .filter(|request| request.starts_with("/api/v1/pods?"))
        .collect();
    assert_eq!(pod_requests.len(), 3, "{pod_requests:?}");
    assert_eq!(pod_requests[0], "/api/v1/pods?&limit=2");
    assert!(pod_requests[1].contains("continue="), "{pod_requests:?}");
    for never in [
        "/api/v1/events",
        "/leases",
        "/api/v1/endpoints",
        "componentstatuses",
        "subjectaccessreviews",
        "/api/v1/bindings",
    ] {
        assert!(
            requests.iter().all(|request| !request.contains(never)),
            "{never} was requested: {requests:?}"
        );
    }
}

#[tokio::test]
async fn kinds_namespaces_and_exclusions_narrow_the_scrape_and_its_scopes() {
    let server = FixtureApiServer::start(Some(TOKEN));
    let token = token_file(TOKEN);
    let config = KubernetesApiConfig {
        kinds: Some(strings(&[
            "apps/Deployment",
            "core/ConfigMap",
            "example.com/Gadget",
            "example.com/Sprocket",
        ])),
        namespaces: strings(&["shop", "default"]),
        ..api_config(&server, &token)
    };
    let observation = source(&config).scrape(&context()).await.expect("scrape");
    let expected: BTreeMap<String, Vec<String>> = [
        (
            "k8s-status/apps/Deployment",
            &["shop/web", "shop/worker"][..],
        ),
        ("k8s/apps/Deployment", &["shop/web", "shop/worker"][..]),
        (
            "k8s/core/ConfigMap",
            &[
                "default/kube-root-ca.crt",
                "shop/kube-root-ca.crt",
                "shop/legacy-flags",
                "shop/web-config",
            ][..],
        ),
        ("k8s/example.com/Gadget", &["edge-router"][..]),
    ]
    .into_iter()
    .map(|(kind, ids)| (kind.to_string(), strings(ids)))
    .collect();
    assert_eq!(ids_by_kind(&observation), expected);
    assert_eq!(
        observation.warnings,
        vec!["kind example.com/Sprocket is not served (or not listable) by the cluster"]
    );
    assert_eq!(observation.coverage, Coverage::Complete);
    // Only the groups of the configured kinds are discovered; namespaced kinds are listed
    // per namespace, cluster-scoped ones whole.
    let requests = server.requests();
    assert!(
        requests.iter().all(|request| !request.contains("rbac")),
        "{requests:?}"
    );
    for expected in [
        "/apis/apps/v1/namespaces/shop/deployments?&limit=500",
        "/apis/apps/v1/namespaces/default/deployments?&limit=500",
        "/api/v1/namespaces/shop/configmaps?&limit=500",
        "/apis/example.com/v1/gadgets?&limit=500",
    ] {
        assert!(
            requests.iter().any(|request| request == expected),
            "{expected} not in {requests:?}"
        );
    }

    // A failure with a namespace filter: scopes are per kind and namespace.
    server.fail("deployments", "500");
    let observation = source(&config).scrape(&context()).await.expect("scrape");
    let Coverage::Partial { covered, failures } = &observation.coverage else {
        panic!("expected partial: {:?}", observation.coverage);
    };
    let scope = |kind: &str, prefix: Option<&str>| Scope {
        kind: Some(kind.to_string()),
        id_prefix: prefix.map(str::to_string),
    };
    assert_eq!(
        covered.clone(),
        vec![
            scope("k8s/core/ConfigMap", Some("shop/")),
            scope("k8s-status/core/ConfigMap", Some("shop/")),
            scope("k8s/core/ConfigMap", Some("default/")),
            scope("k8s-status/core/ConfigMap", Some("default/")),
            scope("k8s/example.com/Gadget", None),
            scope("k8s-status/example.com/Gadget", None),
        ]
    );
    assert_eq!(
        failures.clone(),
        vec![
            "apps/v1 deployments in namespace shop: HTTP 500 InternalError: Internal error \
             occurred: etcdserver: request timed out"
                .to_string(),
            "apps/v1 deployments in namespace default: HTTP 500 InternalError: Internal error \
             occurred: etcdserver: request timed out"
                .to_string(),
        ]
    );

    // Replacing the default exclusions lets events and leases in.
    let everything = KubernetesApiConfig {
        kinds: None,
        namespaces: Vec::new(),
        exclude_kinds: Some(Vec::new()),
        ..config.clone()
    };
    server.control("/fixture/reset");
    let observation = source(&everything)
        .scrape(&context())
        .await
        .expect("scrape");
    let kinds = ids_by_kind(&observation);
    assert_eq!(
        kinds["k8s/core/Event"],
        strings(&["shop/web-7c9f8d6b5d-2xkqp.1842f0c1a9b3d7e2"])
    );
    assert_eq!(
        kinds["k8s/coordination.k8s.io/Lease"],
        strings(&["kube-system/kube-controller-manager"])
    );
}

/// Every row of a query, each column formatted as text.
async fn rows(engine: &Engine, sql: &str) -> BTreeSet<Vec<String>> {
    let batches = engine
        .query(sql)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
    let mut rows = BTreeSet::new();
    for batch in &batches {
        let formatters: Vec<ArrayFormatter> = batch
            .columns()
            .iter()
            .map(|column| {
                ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())
                    .expect("formatter")
            })
            .collect();
        for row in 0..batch.num_rows() {
            rows.insert(
                formatters
                    .iter()
                    .map(|formatter| formatter.value(row).to_string())
                    .collect(),
            );
        }
    }
    rows
}

fn row(kind: &str, id: &str, change: &str) -> Vec<String> {
    vec![kind.to_string(), id.to_string(), change.to_string()]
}

struct StoreUnderTest {
    _directory: tempfile::TempDir,
    store: Arc<Store>,
    ingestor: Ingestor,
}

async fn open_store() -> StoreUnderTest {
    let directory = tempfile::tempdir().expect("tempdir");
    let url = StoreUrl::parse(directory.path().to_str().expect("utf-8 path")).expect("url");
    let store = Arc::new(
        Store::open(&url, &StoreOptions::default())
            .await
            .expect("open store"),
    );
    let ingestor = Ingestor::open(Arc::clone(&store), Arc::new(SystemClock))
        .await
        .expect("ingestor");
    StoreUnderTest {
        _directory: directory,
        store,
        ingestor,
    }
}

async fn changes_since(store: &Arc<Store>, since: chrono::DateTime<Utc>) -> BTreeSet<Vec<String>> {
    let engine = Engine::open(Arc::clone(store)).await.expect("engine");
    let since = since.format("%Y-%m-%d %H:%M:%S%.6f");
    rows(
        &engine,
        &format!(
            "SELECT kind, id, change FROM changes(TIMESTAMP '{since}', now()) \
             WHERE source = 'cluster'"
        ),
    )
    .await
}

#[tokio::test]
async fn store_records_exactly_the_configuration_changes_and_status_apart() {
    let server = FixtureApiServer::start(Some(TOKEN));
    let token = token_file(TOKEN);
    let under_test = open_store().await;
    let source = source(&api_config(&server, &token));
    let cancel = CancellationToken::new();
    let first = under_test
        .ingestor
        .run_once(&source, RunOptions::default(), &cancel)
        .await
        .expect("first ingest");
    assert_eq!(first.status, ScrapeStatus::Ok, "{:?}", first.error);

    // Scale web to 4, add a key to web-config, delete legacy-flags, and let the worker Pod
    // restart (status, resourceVersion and managedFields only).
    server.set_state("changed");
    let second = under_test
        .ingestor
        .run_once(&source, RunOptions::default(), &cancel)
        .await
        .expect("second ingest");
    assert_eq!(second.status, ScrapeStatus::Ok, "{:?}", second.error);

    let changes = changes_since(&under_test.store, first.started_at).await;
    let (status, configuration): (BTreeSet<Vec<String>>, BTreeSet<Vec<String>>) = changes
        .into_iter()
        .partition(|row| row[0].starts_with("k8s-status/"));
    assert_eq!(
        configuration,
        BTreeSet::from([
            row("k8s/apps/Deployment", "shop/web", "modified"),
            row("k8s/apps/ReplicaSet", "shop/web-7c9f8d6b5d", "modified"),
            row("k8s/core/ConfigMap", "shop/web-config", "modified"),
            row("k8s/core/ConfigMap", "shop/legacy-flags", "removed"),
        ])
    );
    assert_eq!(
        status,
        BTreeSet::from([
            row("k8s-status/apps/Deployment", "shop/web", "modified"),
            row(
                "k8s-status/apps/ReplicaSet",
                "shop/web-7c9f8d6b5d",
                "modified"
            ),
            row(
                "k8s-status/core/Pod",
                "shop/worker-5d8f7b9c4-l9xwz",
                "modified"
            ),
        ])
    );

    let engine = Engine::open(Arc::clone(&under_test.store))
        .await
        .expect("engine");
    assert_eq!(
        rows(
            &engine,
            "SELECT id, attrs->>'replicas' FROM resources \
             WHERE source = 'cluster' AND kind = 'k8s-status/apps/Deployment' AND id = 'shop/web'",
        )
        .await,
        BTreeSet::from([vec!["shop/web".to_string(), "4".to_string()]])
    );
}

#[tokio::test]
async fn a_failing_kind_makes_a_partial_scrape_that_deletes_nothing_of_that_kind() {
    let server = FixtureApiServer::start(Some(TOKEN));
    let token = token_file(TOKEN);
    let under_test = open_store().await;
    let source = source(&api_config(&server, &token));
    let cancel = CancellationToken::new();
    let first = under_test
        .ingestor
        .run_once(&source, RunOptions::default(), &cancel)
        .await
        .expect("first ingest");
    assert_eq!(first.status, ScrapeStatus::Ok, "{:?}", first.error);

    server.set_state("changed");
    server.fail("configmaps", "403");
    let second = under_test
        .ingestor
        .run_once(&source, RunOptions::default(), &cancel)
        .await
        .expect("second ingest");
    assert_eq!(second.status, ScrapeStatus::Partial);
    let error = second.error.clone().unwrap_or_default();
    assert!(
        error.contains(
            "v1 configmaps: HTTP 403 Forbidden: configmaps is forbidden: User \
             \"system:serviceaccount:groundtruth:reader\" cannot list resource \"configmaps\""
        ),
        "{error}"
    );
    let changes = changes_since(&under_test.store, first.started_at).await;
    let configuration: BTreeSet<Vec<String>> = changes
        .into_iter()
        .filter(|row| !row[0].starts_with("k8s-status/"))
        .collect();
    // legacy-flags is gone from the cluster, but ConfigMaps were not read: not deleted.
    assert_eq!(
        configuration,
        BTreeSet::from([
            row("k8s/apps/Deployment", "shop/web", "modified"),
            row("k8s/apps/ReplicaSet", "shop/web-7c9f8d6b5d", "modified"),
        ])
    );

    // 500, an answer that is not JSON and one that never comes: each a named failure.
    server.control("/fixture/reset");
    server.fail("configmaps", "500");
    server.fail("secrets", "garbage");
    server.fail("serviceaccounts", "hang");
    let config = KubernetesApiConfig {
        request_timeout: Some(Duration::from_secs(1)),
        ..api_config(&server, &token)
    };
    let started = Instant::now();
    let observation = self::source(&config)
        .scrape(&context())
        .await
        .expect("partial scrape");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let Coverage::Partial { covered, failures } = &observation.coverage else {
        panic!("expected partial: {:?}", observation.coverage);
    };
    assert_eq!(
        failures.clone(),
        vec![
            "v1 configmaps: HTTP 500 InternalError: Internal error occurred: etcdserver: \
             request timed out"
                .to_string(),
            "v1 secrets: the response is not JSON (expected value at line 1 column 1); it \
             starts with \"upstream connect error or disconnect/reset before headers\""
                .to_string(),
            "v1 serviceaccounts: no answer within 1 s".to_string(),
        ]
    );
    let covered_kinds: BTreeSet<&str> = covered
        .iter()
        .filter_map(|scope| scope.kind.as_deref())
        .collect();
    assert!(covered_kinds.contains("k8s/core/Pod"));
    assert!(covered_kinds.contains("k8s-status/core/Pod"));
    for failed in [
        "k8s/core/ConfigMap",
        "k8s/core/Secret",
        "k8s/core/ServiceAccount",
    ] {
        assert!(!covered_kinds.contains(failed), "{failed} covered");
        assert!(observation
            .resources
            .iter()
            .all(|resource| resource.kind != failed));
    }

    // A group whose discovery fails (an aggregated API with its backend down): the other
    // groups are read, that group's kinds are neither reported nor covered.
    server.control("/fixture/reset");
    server.control("/fixture/fail-group/example.com/503");
    let observation = self::source(&api_config(&server, &token))
        .scrape(&context())
        .await
        .expect("partial scrape");
    let Coverage::Partial { covered, failures } = &observation.coverage else {
        panic!("expected partial: {:?}", observation.coverage);
    };
    assert_eq!(
        failures.clone(),
        vec![
            "discovery of example.com/v1: HTTP 503 ServiceUnavailable: the server is currently \
             unable to handle the request"
                .to_string()
        ]
    );
    assert!(observation
        .resources
        .iter()
        .all(|resource| !resource.kind.contains("example.com")));
    assert!(covered.iter().all(|scope| !scope
        .kind
        .as_deref()
        .unwrap_or("")
        .contains("example.com")));
    assert!(covered
        .iter()
        .any(|scope| scope.kind.as_deref() == Some("k8s/apps/Deployment")));
}

#[tokio::test]
async fn unusable_servers_fail_in_bounded_time_without_the_token() {
    let server = FixtureApiServer::start(Some(TOKEN));
    let token = token_file(TOKEN);

    // Wrong credentials.
    let wrong = token_file("not-the-token-8d1e2f");
    let error = source(&api_config(&server, &wrong))
        .scrape(&context())
        .await
        .expect_err("wrong token")
        .to_string();
    assert_eq!(
        error,
        format!(
            "{}: API discovery failed: HTTP 401 Unauthorized (the credentials were refused)",
            server.url()
        )
    );
    assert!(!error.contains("not-the-token") && !error.contains(TOKEN));

    // Discovery answered with HTML.
    server.control("/fixture/fail-discovery/garbage");
    let error = source(&api_config(&server, &token))
        .scrape(&context())
        .await
        .expect_err("discovery not JSON")
        .to_string();
    assert!(
        error.starts_with(&format!(
            "{}: API discovery failed: the response is not the JSON expected: ",
            server.url()
        )),
        "{error}"
    );

    // Every LIST failing fails the scrape.
    server.control("/fixture/reset");
    server.fail("configmaps", "500");
    let only_config_maps = KubernetesApiConfig {
        kinds: Some(strings(&["core/ConfigMap"])),
        ..api_config(&server, &token)
    };
    let error = source(&only_config_maps)
        .scrape(&context())
        .await
        .expect_err("every list failed")
        .to_string();
    assert_eq!(
        error,
        format!(
            "{}: every LIST failed: v1 configmaps: HTTP 500 InternalError: Internal error \
             occurred: etcdserver: request timed out",
            server.url()
        )
    );

    // Only the kinds of a group whose discovery fails: nothing read, the scrape fails.
    server.control("/fixture/reset");
    server.control("/fixture/fail-group/example.com/503");
    let only_widgets = KubernetesApiConfig {
        kinds: Some(strings(&["example.com/Widget"])),
        ..api_config(&server, &token)
    };
    let error = source(&only_widgets)
        .scrape(&context())
        .await
        .expect_err("nothing read")
        .to_string();
    assert_eq!(
        error,
        format!(
            "{}: nothing could be read: discovery of example.com/v1: HTTP 503 \
             ServiceUnavailable: the server is currently unable to handle the request",
            server.url()
        )
    );

    // Nothing listens: refused at once.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let refused = KubernetesApiConfig {
        cluster_url: Some(format!("http://127.0.0.1:{closed_port}")),
        ..api_config(&server, &token)
    };
    let started = Instant::now();
    let error = source(&refused)
        .scrape(&context())
        .await
        .expect_err("refused")
        .to_string();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        error.starts_with(&format!(
            "http://127.0.0.1:{closed_port}: API discovery failed: "
        )),
        "{error}"
    );
    assert!(error.to_lowercase().contains("refused"), "{error}");

    // A server that accepts and never answers: fails within request_timeout.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_port = listener.local_addr().expect("address").port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let silent_config = KubernetesApiConfig {
        cluster_url: Some(format!("http://127.0.0.1:{silent_port}")),
        request_timeout: Some(Duration::from_secs(1)),
        ..api_config(&server, &token)
    };
    let started = Instant::now();
    let error = source(&silent_config)
        .scrape(&context())
        .await
        .expect_err("silent server")
        .to_string();
    let elapsed = started.elapsed();
    silent.abort();
    assert_eq!(
        error,
        format!("http://127.0.0.1:{silent_port}: API discovery failed: no answer within 1 s")
    );
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[tokio::test]
async fn kubeconfig_with_a_context_reaches_the_same_cluster() {
    let server = FixtureApiServer::start(Some(TOKEN));
    let directory = tempfile::tempdir().expect("tempdir");
    let kubeconfig = directory.path().join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: other\n\
             clusters:\n- name: fixture\n  cluster:\n    server: {url}\n\
             - name: elsewhere\n  cluster:\n    server: http://127.0.0.1:9\n\
             users:\n- name: reader\n  user:\n    token: {TOKEN}\n\
             contexts:\n- name: fixture\n  context:\n    cluster: fixture\n    user: reader\n\
             - name: other\n  context:\n    cluster: elsewhere\n    user: reader\n",
            url = server.url()
        ),
    )
    .expect("write kubeconfig");
    let config = KubernetesApiConfig {
        kubeconfig: Some(kubeconfig.clone()),
        context: Some("fixture".to_string()),
        kinds: Some(strings(&["apps/Deployment"])),
        ..KubernetesApiConfig::default()
    };
    let observation = source(&config).scrape(&context()).await.expect("scrape");
    assert_eq!(
        ids_by_kind(&observation)["k8s/apps/Deployment"],
        strings(&["kube-system/coredns", "shop/web", "shop/worker"])
    );
    let error = source(&KubernetesApiConfig {
        context: Some("nope".to_string()),
        ..config
    })
    .scrape(&context())
    .await
    .expect_err("unknown context")
    .to_string();
    assert!(
        error.starts_with(&format!(
            "{} (context nope): cannot use kubeconfig: ",
            kubeconfig.display()
        )),
        "{error}"
    );
}

fn run_kubectl(server: &FixtureApiServer, arguments: &[&str]) -> String {
    let output = Command::new(kubectl())
        .env("KUBECONFIG", "/dev/null")
        .env("HOME", std::env::temp_dir())
        .arg("--server")
        .arg(server.url())
        .args(arguments)
        .output()
        .expect("run kubectl");
    assert!(
        output.status.success(),
        "kubectl {arguments:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("kubectl prints UTF-8")
}

fn without_status(observation: &Observation) -> Vec<&ObservedResource> {
    observation
        .resources
        .iter()
        .filter(|resource| !resource.kind.starts_with("k8s-status/"))
        .collect()
}

#[tokio::test]
async fn kubectl_agrees_with_the_fixture_and_its_output_reads_back_identically() {
    // kubectl sends no token over plain HTTP: this server asks for none.
    let server = FixtureApiServer::start(None);
    let all_kinds = KubernetesApiConfig {
        cluster_url: Some(server.url()),
        exclude_kinds: Some(Vec::new()),
        ..KubernetesApiConfig::default()
    };
    let api = source(&all_kinds).scrape(&context()).await.expect("scrape");

    // kubectl's listable resources are exactly those the source listed.
    let kubectl_resources: BTreeSet<String> =
        run_kubectl(&server, &["api-resources", "--verbs=list", "-o", "name"])
            .lines()
            .map(str::to_string)
            .collect();
    let listed: BTreeSet<String> = server
        .requests()
        .iter()
        .filter(|request| request.contains("limit="))
        .map(|request| {
            let path = request.split('?').next().unwrap_or_default();
            let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            match parts.as_slice() {
                ["api", _version, resource] => resource.to_string(),
                ["apis", group, _version, resource] => format!("{resource}.{group}"),
                _ => panic!("unexpected LIST path {path}"),
            }
        })
        .collect();
    assert_eq!(listed, kubectl_resources);
    assert!(kubectl_resources.contains("widgets.example.com"));

    // kubectl's own LIST of Deployments names the same objects.
    let deployments: Value = serde_json::from_str(&run_kubectl(
        &server,
        &["get", "deployments", "-A", "-o", "json"],
    ))
    .expect("kubectl JSON");
    let kubectl_ids: Vec<String> = deployments["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            format!(
                "{}/{}",
                item["metadata"]["namespace"].as_str().unwrap_or_default(),
                item["metadata"]["name"].as_str().unwrap_or_default()
            )
        })
        .collect();
    let mut sorted_ids = kubectl_ids.clone();
    sorted_ids.sort();
    assert_eq!(sorted_ids, ids_by_kind(&api)["k8s/apps/Deployment"]);

    // The same kinds through `kubectl get -A -o json` and the file form: identical resources.
    let kinds = "deployments,replicasets,pods,services,configmaps,secrets,serviceaccounts,\
                 namespaces,clusterroles,customresourcedefinitions,widgets";
    let output = run_kubectl(&server, &["get", kinds, "-A", "-o", "json"]);
    let directory = tempfile::tempdir().expect("tempdir");
    let file = directory.path().join("cluster.json");
    std::fs::write(&file, output).expect("write kubectl output");
    let from_file = source(&KubernetesApiConfig {
        path: Some(InputLocation::Path(file)),
        ..KubernetesApiConfig::default()
    })
    .scrape(&context())
    .await
    .expect("file scrape");
    let file_kinds: BTreeSet<String> = from_file
        .resources
        .iter()
        .map(|resource| resource.kind.clone())
        .collect();
    let api_same_kinds: Vec<&ObservedResource> = api
        .resources
        .iter()
        .filter(|resource| file_kinds.contains(&resource.kind))
        .collect();
    assert_eq!(from_file.resources.len(), api_same_kinds.len());
    for (file_resource, api_resource) in from_file.resources.iter().zip(api_same_kinds) {
        assert_eq!(file_resource, api_resource);
    }
    assert_eq!(without_status(&from_file).len(), 34);
    assert!(from_file.warnings.is_empty(), "{:?}", from_file.warnings);

    // The manifests source reading the same file: the same identities and attrs, declared.
    let manifests = KubernetesManifestsSource::new(
        "manifests",
        Input::new(InputLocation::Path(directory.path().to_path_buf())),
    )
    .scrape(&context())
    .await
    .expect("manifests scrape");
    let live = without_status(&api);
    let live_by_key: BTreeMap<(&str, &str), &ObservedResource> = live
        .iter()
        .map(|resource| ((resource.kind.as_str(), resource.id.as_str()), *resource))
        .collect();
    assert_eq!(manifests.resources.len(), 34);
    for declared in &manifests.resources {
        let live = live_by_key
            .get(&(declared.kind.as_str(), declared.id.as_str()))
            .unwrap_or_else(|| panic!("{} {} not live", declared.kind, declared.id));
        assert_eq!(declared.layer, Layer::Declared);
        assert_eq!(
            declared.attrs, live.attrs,
            "{} {}",
            declared.kind, declared.id
        );
        assert_eq!(declared.name, live.name);
        let mut labels = declared.labels.clone();
        assert_eq!(labels.remove("k8s.file").as_deref(), Some("cluster.json"));
        assert_eq!(labels, live.labels);
    }
}

#[tokio::test]
async fn a_kubectl_file_covers_only_the_kinds_it_holds() {
    let config = KubernetesApiConfig {
        path: Some(InputLocation::Path(PathBuf::from(KUBECTL_FILE))),
        namespaces: strings(&["shop"]),
        ..KubernetesApiConfig::default()
    };
    let observation = source(&config).scrape(&context()).await.expect("scrape");
    let expected: BTreeMap<String, Vec<String>> = [
        (
            "k8s-status/apps/Deployment",
            &["shop/web", "shop/worker"][..],
        ),
        (
            "k8s-status/core/Pod",
            &[
                "shop/web-7c9f8d6b5d-2xkqp",
                "shop/web-7c9f8d6b5d-8zvtn",
                "shop/web-7c9f8d6b5d-qmf4r",
                "shop/worker-5d8f7b9c4-l9xwz",
            ][..],
        ),
        ("k8s/apps/Deployment", &["shop/web", "shop/worker"][..]),
        (
            "k8s/core/ConfigMap",
            &[
                "shop/kube-root-ca.crt",
                "shop/legacy-flags",
                "shop/web-config",
            ][..],
        ),
        (
            "k8s/core/Pod",
            &[
                "shop/web-7c9f8d6b5d-2xkqp",
                "shop/web-7c9f8d6b5d-8zvtn",
                "shop/web-7c9f8d6b5d-qmf4r",
                "shop/worker-5d8f7b9c4-l9xwz",
            ][..],
        ),
        ("k8s/core/Secret", &["shop/payment-gateway"][..]),
    ]
    .into_iter()
    .map(|(kind, ids)| (kind.to_string(), strings(ids)))
    .collect();
    assert_eq!(ids_by_kind(&observation), expected);
    let Coverage::Partial { covered, failures } = &observation.coverage else {
        panic!("a file proves only its kinds: {:?}", observation.coverage);
    };
    assert!(failures.is_empty());
    let scope = |kind: &str| Scope {
        kind: Some(kind.to_string()),
        id_prefix: Some("shop/".to_string()),
    };
    assert_eq!(
        covered.clone(),
        vec![
            scope("k8s/apps/Deployment"),
            scope("k8s-status/apps/Deployment"),
            scope("k8s/core/ConfigMap"),
            scope("k8s-status/core/ConfigMap"),
            scope("k8s/core/Pod"),
            scope("k8s-status/core/Pod"),
            scope("k8s/core/Secret"),
            scope("k8s-status/core/Secret"),
        ]
    );
    let everything = format!("{:?}", observation.resources);
    for secret in [PAYMENT_KEY, PAYMENT_KEY_BASE64, ENV_SECRET] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }

    // Not kubectl output: errors naming the file and the item.
    let directory = tempfile::tempdir().expect("tempdir");
    let bad = directory.path().join("get.json");
    std::fs::write(
        &bad,
        r#"{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}]}"#,
    )
    .expect("write");
    let error = source(&KubernetesApiConfig {
        path: Some(InputLocation::Path(bad.clone())),
        namespaces: Vec::new(),
        ..config.clone()
    })
    .scrape(&context())
    .await
    .expect_err("no name")
    .to_string();
    assert_eq!(
        error,
        format!(
            "{}: items[0]: a ConfigMap without metadata.name",
            bad.display()
        )
    );
    // A raw typed list, as the API sends it: kind and apiVersion come from the list.
    std::fs::write(
        &bad,
        r#"{"apiVersion": "apps/v1", "kind": "DeploymentList", "metadata": {"resourceVersion": "9"}, "items": [{"metadata": {"name": "web", "namespace": "shop", "uid": "u"}, "spec": {"replicas": 2}, "status": {"replicas": 2}}]}"#,
    )
    .expect("write");
    let raw = source(&KubernetesApiConfig {
        path: Some(InputLocation::Path(bad.clone())),
        namespaces: Vec::new(),
        ..config.clone()
    })
    .scrape(&context())
    .await
    .expect("raw list");
    assert_eq!(
        find(&raw, "k8s/apps/Deployment", "shop/web").attrs,
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": "shop"}, "spec": {"replicas": 2}})
    );
    assert_eq!(
        find(&raw, "k8s-status/apps/Deployment", "shop/web").attrs,
        json!({"replicas": 2})
    );
    std::fs::write(&bad, "[1, 2]").expect("write");
    let error = source(&KubernetesApiConfig {
        path: Some(InputLocation::Path(bad.clone())),
        ..config
    })
    .scrape(&context())
    .await
    .expect_err("not an object")
    .to_string();
    assert_eq!(
        error,
        format!(
            "{}: not kubectl JSON output: neither a List nor an object",
            bad.display()
        )
    );
    assert!(Path::new(KUBECTL_FILE).exists());
}
