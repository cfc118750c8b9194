//! Real-world inputs: every declared source over checked-in copies of public files
//! (tests/corpus, origins and licences in tests/corpus/SOURCES.md), compared exactly with
//! expectations another parser computed (tests/corpus/expect.py: PyYAML, Python's json,
//! python-hcl2, and PostgreSQL itself for SQL schemas).
//!
//! For each input the resources must be exactly the expected `(kind, id)` set, with the
//! expected names, values at the expected JSON pointers, key sets of the expected objects,
//! and redaction markers at exactly the expected pointers. Nothing is fetched at test time.
//!
//! Then the real-schema drift check: pagila's schema loaded into a real PostgreSQL, and the
//! same file read as a migration, must give no drift row but `in_sync`; hand changes (an
//! index dropped, a column added, a type changed, a partition added) must give exactly those
//! rows.
//!
//! The same for Kubernetes: the microservices demo's manifests rendered by
//! `tests/fixtures/kubernetes/render.py` (PyYAML) as a real API server stores them, with its
//! defaults, server-written metadata, status and the objects the control plane and
//! controllers create, served by the fixture API server; the manifests source against the
//! `kubernetes_api` source must give only `in_sync`, then hand changes (a Deployment scaled,
//! an image changed, an object deleted, one added) exactly their rows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use groundtruth_engine::canonical;
use groundtruth_engine::model::{Observation, ObservedResource};
use groundtruth_ingest::config::SourceConfig;
use groundtruth_ingest::source::ScrapeContext;
use groundtruth_tests::{cli, connect, free_port, rows, write_config, Server};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::support::{kubernetes, postgres};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// The expectations of one source type, as expect.py wrote them.
fn expectations(source_type: &str) -> Vec<Value> {
    let path = corpus()
        .join("expected")
        .join(format!("{source_type}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let parsed: Value = serde_json::from_str(&text).expect("expectation JSON");
    parsed["inputs"].as_array().expect("inputs").clone()
}

/// Scrape one corpus input with the source its configuration would build.
async fn scrape(source_type: &str, relative: &str, options: &Value) -> Observation {
    let mut config = json!({
        "type": source_type,
        "name": "corpus",
        "path": corpus().join(relative).display().to_string(),
    });
    if let Some(options) = options.as_object() {
        for (key, value) in options {
            config[key] = value.clone();
        }
    }
    let config: SourceConfig = serde_json::from_value(config).expect("source configuration");
    let epoch = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap();
    let context = ScrapeContext {
        started_at: epoch,
        cancel: CancellationToken::new(),
    };
    config
        .build_source(epoch)
        .scrape(&context)
        .await
        .unwrap_or_else(|error| panic!("{source_type} {relative}: scrape failed: {error}"))
}

fn escape(part: &str) -> String {
    part.replace('~', "~0").replace('/', "~1")
}

/// Pointers of every redaction marker under `value`.
fn redaction_pointers(value: &Value, at: &str, found: &mut Vec<String>) {
    if canonical::is_redacted(value) {
        found.push(at.to_string());
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                redaction_pointers(item, &format!("{at}/{}", escape(key)), found);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                redaction_pointers(item, &format!("{at}/{index}"), found);
            }
        }
        _ => {}
    }
}

/// Every difference between one scrape and its expectation, as readable lines.
fn compare(observation: &Observation, expected: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let actual: BTreeMap<(String, String), &ObservedResource> = observation
        .resources
        .iter()
        .map(|resource| ((resource.kind.clone(), resource.id.clone()), resource))
        .collect();
    let wanted: BTreeMap<(String, String), &Value> = expected["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let key = (
                entry["kind"].as_str().unwrap().to_string(),
                entry["id"].as_str().unwrap().to_string(),
            );
            (key, entry)
        })
        .collect();
    for key in actual.keys().filter(|key| !wanted.contains_key(*key)) {
        problems.push(format!("unexpected resource {} {}", key.0, key.1));
    }
    for key in wanted.keys().filter(|key| !actual.contains_key(*key)) {
        problems.push(format!("missing resource {} {}", key.0, key.1));
    }
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for resource in &observation.resources {
        *counts.entry(resource.kind.as_str()).or_default() += 1;
    }
    let expected_counts: BTreeMap<&str, u64> = expected["counts"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(kind, count)| (kind.as_str(), count.as_u64().unwrap()))
        .collect();
    if counts != expected_counts {
        problems.push(format!(
            "counts by kind: got {counts:?}, expected {expected_counts:?}"
        ));
    }
    for (key, entry) in &wanted {
        let Some(resource) = actual.get(key) else {
            continue;
        };
        let label = format!("{} {}", key.0, key.1);
        if let Some(name) = entry.get("name") {
            if resource.name.as_deref() != name.as_str() {
                problems.push(format!(
                    "{label}: name {:?}, expected {name}",
                    resource.name
                ));
            }
        }
        for (at, value) in entry["values"].as_object().unwrap() {
            let got = resource.attrs.pointer(at);
            if got != Some(value) {
                problems.push(format!("{label}: {at} is {got:?}, expected {value}"));
            }
        }
        for (at, keys) in entry["keys"].as_object().unwrap() {
            let got: Option<Vec<String>> = resource
                .attrs
                .pointer(at)
                .and_then(Value::as_object)
                .map(|object| object.keys().cloned().collect::<BTreeSet<_>>())
                .map(|keys| keys.into_iter().collect());
            let keys: Vec<String> = keys
                .as_array()
                .unwrap()
                .iter()
                .map(|key| key.as_str().unwrap().to_string())
                .collect();
            if got.as_ref() != Some(&keys) {
                problems.push(format!(
                    "{label}: keys of '{at}' are {got:?}, expected {keys:?}"
                ));
            }
        }
    }
    let mut redacted = BTreeSet::new();
    for resource in &observation.resources {
        let mut found = Vec::new();
        redaction_pointers(&resource.attrs, "", &mut found);
        for at in found {
            redacted.insert(format!("{} {} {at}", resource.kind, resource.id));
        }
    }
    let expected_redacted: BTreeSet<String> = expected["redacted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry.as_str().unwrap().to_string())
        .collect();
    for entry in redacted.difference(&expected_redacted) {
        problems.push(format!("redacted, expected in clear: {entry}"));
    }
    for entry in expected_redacted.difference(&redacted) {
        problems.push(format!("not redacted: {entry}"));
    }
    problems
}

/// Scrape every input of `source_type` and compare; fail with every difference at once.
async fn check_source_type(source_type: &str, minimum_inputs: usize) {
    let inputs = expectations(source_type);
    assert!(
        inputs.len() >= minimum_inputs,
        "{source_type}: {} corpus inputs, expected at least {minimum_inputs}",
        inputs.len()
    );
    let mut report = Vec::new();
    for expected in &inputs {
        let relative = expected["path"].as_str().unwrap();
        let observation = scrape(source_type, relative, &expected["options"]).await;
        let problems = compare(&observation, expected);
        if !problems.is_empty() {
            report.extend(
                problems
                    .iter()
                    .map(|problem| format!("{relative}: {problem}")),
            );
            // The scrape's own warnings usually say why (a statement not folded, ...).
            report.extend(
                observation
                    .warnings
                    .iter()
                    .map(|warning| format!("{relative}: (scrape warning) {warning}")),
            );
        }
    }
    assert!(
        report.is_empty(),
        "{source_type}: {} differences from the independent expectation:\n{}",
        report.len(),
        report.join("\n")
    );
}

#[tokio::test]
async fn kubernetes_manifests_match_the_corpus() {
    check_source_type("kubernetes_manifests", 8).await;
}

#[tokio::test]
async fn cloudformation_matches_the_corpus() {
    check_source_type("cloudformation", 8).await;
}

#[tokio::test]
async fn compose_matches_the_corpus() {
    check_source_type("compose", 8).await;
}

#[tokio::test]
async fn flagd_matches_the_corpus() {
    check_source_type("flagd", 8).await;
}

#[tokio::test]
async fn terraform_hcl_matches_the_corpus() {
    check_source_type("terraform_hcl", 8).await;
}

#[tokio::test]
async fn terraform_state_matches_the_corpus() {
    check_source_type("terraform_state", 8).await;
}

#[tokio::test]
async fn terraform_plan_matches_the_corpus() {
    check_source_type("terraform_plan", 8).await;
}

#[tokio::test]
async fn sql_migrations_match_the_corpus() {
    check_source_type("sql_migrations", 8).await;
}

/// The pagila schema as PostgreSQL's pg_dump wrote it, read as a one-file migration.
const PAGILA: &str = "sql_migrations/pagila";

fn ingest_once(config: &Path) {
    let output = cli(config, &["ingest", "--once"]).expect("run groundtruth ingest");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "ingest failed: {printed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for name in ["declared", "live"] {
        assert!(
            printed
                .lines()
                .any(|line| line.starts_with(&format!("{name}: ok ("))),
            "{name} did not ingest: {printed}"
        );
    }
}

/// Every drift row that is not `in_sync`: status, kind, id, differences; and at least
/// `minimum_in_sync` rows must be `in_sync` (so a link that matched nothing cannot pass).
async fn drifted(config: &Path, minimum_in_sync: u64) -> Vec<Vec<String>> {
    let port = free_port();
    let mut server = Server::serve(config, port).await.expect("serve");
    let client = connect(port).await.expect("connect");
    let drift = rows(
        &client,
        "SELECT status, kind, id, coalesce(CAST(differences AS VARCHAR), '') FROM drift \
         WHERE status <> 'in_sync' ORDER BY status, kind, id",
    )
    .await
    .expect("query drift");
    let in_sync = rows(
        &client,
        "SELECT count(*) FROM drift WHERE status = 'in_sync'",
    )
    .await
    .expect("count in_sync");
    assert!(
        in_sync[0][0].parse::<u64>().unwrap() >= minimum_in_sync,
        "expected at least {minimum_in_sync} resources in sync: {in_sync:?}"
    );
    drop(client);
    server.stop().expect("stop");
    drift
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_schema_gives_zero_false_drift_and_exactly_the_planted_changes() {
    let database = postgres::PostgresServer::start();
    let admin = database.connect("postgres").await;
    admin
        .batch_execute("CREATE DATABASE pagila")
        .await
        .expect("create database");
    let pagila = database.connect("pagila").await;
    let schema = std::fs::read_to_string(corpus().join(PAGILA).join("V1__pagila_schema.sql"))
        .expect("read pagila");
    pagila
        .batch_execute(&schema)
        .await
        .expect("PostgreSQL loads the pagila schema");

    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let sources = format!(
        "[[sources]]\ntype = \"sql_migrations\"\nname = \"declared\"\npath = {:?}\ninterval = \"1h\"\n\n\
         [[sources]]\ntype = \"postgres_catalog\"\nname = \"live\"\nconnection = {:?}\ninterval = \"1h\"\n",
        corpus().join(PAGILA).display().to_string(),
        database.connection("pagila"),
    );
    let config = write_config(work.path(), &store, &sources).unwrap();

    ingest_once(&config);
    // pagila has hundreds of tables, columns, indexes and constraints.
    let false_drift = drifted(&config, 500).await;
    assert!(
        false_drift.is_empty(),
        "the same schema, declared and live, drifts in {} rows:\n{}",
        false_drift.len(),
        false_drift
            .iter()
            .map(|row| row.join(" | "))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Hand changes nobody wrote back.
    pagila
        .batch_execute(
            "DROP INDEX public.idx_actor_last_name; \
             ALTER TABLE public.customer ADD COLUMN loyalty_tier text; \
             ALTER TABLE public.staff ALTER COLUMN username TYPE varchar(32); \
             CREATE TABLE public.payment_p2026_08 PARTITION OF public.payment \
               FOR VALUES FROM ('2026-08-01 00:00:00+00') TO ('2026-09-01 00:00:00+00');",
        )
        .await
        .expect("hand-made DDL");
    ingest_once(&config);
    let drift: Vec<[String; 3]> = drifted(&config, 500)
        .await
        .into_iter()
        .map(|row| [row[0].clone(), row[1].clone(), row[2].clone()])
        .collect();
    // Exactly the planted changes: the new partition brings its columns and the primary key
    // PostgreSQL gives it (with that key's index), nothing else moves.
    let mut expected: Vec<[String; 3]> = [
        ("changed", "postgres/column", "public.staff.username"),
        ("missing", "postgres/index", "public.idx_actor_last_name"),
        (
            "unmanaged",
            "postgres/column",
            "public.customer.loyalty_tier",
        ),
        ("unmanaged", "postgres/table", "public.payment_p2026_08"),
        (
            "unmanaged",
            "postgres/constraint",
            "public.payment_p2026_08.payment_p2026_08_pkey",
        ),
        (
            "unmanaged",
            "postgres/index",
            "public.payment_p2026_08_pkey",
        ),
    ]
    .into_iter()
    .chain(
        [
            "amount",
            "customer_id",
            "payment_date",
            "payment_id",
            "rental_id",
            "staff_id",
        ]
        .map(|column| ("unmanaged", "postgres/column", column)),
    )
    .map(|(status, kind, id)| {
        let id = if kind == "postgres/column" && !id.contains('.') {
            format!("public.payment_p2026_08.{id}")
        } else {
            id.to_string()
        };
        [status.to_string(), kind.to_string(), id]
    })
    .collect();
    expected.sort();
    assert_eq!(drift, expected, "drift after the hand changes");
}

/// The microservices demo's plain manifests.
const MICROSERVICES_DEMO: &str = "kubernetes/manifests";

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_str(&text).expect("rendered JSON")
}

fn write_json(path: &Path, value: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).expect("state directory");
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).expect("write state");
}

/// The object named `name` in a rendered list.
fn object_mut<'a>(items: &'a mut Value, name: &str) -> &'a mut Value {
    items
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|item| item["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not rendered"))
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_against_the_api_server_give_zero_false_drift_and_exactly_the_hand_changes() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("api");
    let rendered = std::process::Command::new(groundtruth_tests::test_python())
        .arg(kubernetes::RENDER_SCRIPT)
        .arg(corpus().join(MICROSERVICES_DEMO))
        .arg(Path::new(kubernetes::API_DATA).join("discovery"))
        .arg(&data)
        .output()
        .expect("run render.py");
    assert!(
        rendered.status.success(),
        "render.py: {}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let server = kubernetes::FixtureApiServer::serving(&data, None);

    let store = work.path().join("store");
    let sources = format!(
        "[[sources]]\ntype = \"kubernetes_manifests\"\nname = \"declared\"\npath = {:?}\ninterval = \"1h\"\n\n\
         [[sources]]\ntype = \"kubernetes_api\"\nname = \"live\"\ncluster_url = {:?}\ninterval = \"1h\"\n",
        corpus().join(MICROSERVICES_DEMO).display().to_string(),
        server.url(),
    );
    let config = write_config(work.path(), &store, &sources).unwrap();

    ingest_once(&config);
    // 12 Deployments, 12 Services (the frontend has two, loadgenerator none), 11 ServiceAccounts.
    let false_drift = drifted(&config, 35).await;
    assert!(
        false_drift.is_empty(),
        "the same manifests, declared and as the API server stores them, drift in {} rows:\n{}",
        false_drift.len(),
        false_drift
            .iter()
            .map(|row| row.join(" | "))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Hand changes, as `kubectl scale/set image/delete/create` would leave them.
    let base = data.join("state/base");
    let changed = data.join("state/changed");
    let deployments_path = "apis/apps/v1/deployments.json";
    let mut deployments = read_json(&base.join(deployments_path));
    // loadgenerator's manifest states `replicas: 1`; frontend's states no replica count, so
    // scaling it is not drift.
    object_mut(&mut deployments, "loadgenerator")["spec"]["replicas"] = json!(3);
    object_mut(&mut deployments, "frontend")["spec"]["replicas"] = json!(5);
    object_mut(&mut deployments, "frontend")["spec"]["template"]["spec"]["containers"][0]
        ["image"] = json!("frontend:v0.10.2-hotfix");
    let mut debug = object_mut(&mut deployments, "emailservice").clone();
    debug["metadata"]["name"] = json!("debug-shell");
    debug["metadata"]["uid"] = json!("0b6f8f0e-0000-4000-8000-00000000d3b6");
    debug["metadata"]["annotations"]
        .as_object_mut()
        .unwrap()
        .remove("kubectl.kubernetes.io/last-applied-configuration");
    deployments.as_array_mut().unwrap().push(debug);
    write_json(&changed.join(deployments_path), &deployments);
    // The debug Deployment's ReplicaSet, owned by it: not unmanaged itself.
    let replica_sets_path = "apis/apps/v1/replicasets.json";
    let mut replica_sets = read_json(&base.join(replica_sets_path));
    let mut child = replica_sets[0].clone();
    child["metadata"]["name"] = json!("debug-shell-7d9f8b6c5d");
    child["metadata"]["ownerReferences"][0]["name"] = json!("debug-shell");
    replica_sets.as_array_mut().unwrap().push(child);
    write_json(&changed.join(replica_sets_path), &replica_sets);
    let services_path = "api/v1/services.json";
    let mut services = read_json(&base.join(services_path));
    services
        .as_array_mut()
        .unwrap()
        .retain(|service| service["metadata"]["name"] != "adservice");
    write_json(&changed.join(services_path), &services);
    server.set_state("changed");

    ingest_once(&config);
    let drift = drifted(&config, 32).await;
    let statuses: Vec<[&str; 3]> = drift
        .iter()
        .map(|row| [row[0].as_str(), row[1].as_str(), row[2].as_str()])
        .collect();
    assert_eq!(
        statuses,
        vec![
            ["changed", "k8s/apps/Deployment", "default/frontend"],
            ["changed", "k8s/apps/Deployment", "default/loadgenerator"],
            ["missing", "k8s/core/Service", "default/adservice"],
            ["unmanaged", "k8s/apps/Deployment", "default/debug-shell"],
        ],
        "drift after the hand changes: {drift:#?}"
    );
    let differences = |row: &Vec<String>| -> Vec<(String, Value, Value)> {
        let parsed: Value = serde_json::from_str(&row[3]).expect("differences JSON");
        parsed
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| {
                (
                    entry["path"].as_str().unwrap().to_string(),
                    entry["declared"].clone(),
                    entry["live"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(
        differences(&drift[0]),
        vec![(
            "spec.template.spec.containers[name=server].image".to_string(),
            json!("frontend"),
            json!("frontend:v0.10.2-hotfix")
        )]
    );
    assert_eq!(
        differences(&drift[1]),
        vec![("spec.replicas".to_string(), json!(1), json!(3))]
    );
}
