//! The `command` source against real commands (`sh`, `printf`, `cat`, `python3`, `head`,
//! `yes`): output shapes, pointer mappings, redaction, env and working directory, and every way
//! a command can fail, including one that hangs (its processes must be gone afterwards) and
//! one that prints a gigabyte.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use groundtruth_engine::canonical;
use groundtruth_engine::model::{Layer, Observation};
use groundtruth_ingest::config::{CommandConfig, CommonSettings, SourceConfig, SourceKind};
use groundtruth_ingest::error::IngestError;
use groundtruth_ingest::source::live::command::CommandSource;
use groundtruth_ingest::source::{ScrapeContext, Source};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const PODS_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/command/kubectl-get-pods.json"
);
/// The database password planted in the fixture's env and last-applied annotation.
const FIXTURE_SECRET: &str = "pg-fixture-s3cr3t-7Qx";

fn context() -> ScrapeContext {
    ScrapeContext {
        started_at: Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap(),
        cancel: CancellationToken::new(),
    }
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|word| word.to_string()).collect()
}

/// A source printing `script`'s output through `sh -c`, items keyed by `/id`, kind `thing`.
fn shell(script: &str) -> CommandConfig {
    CommandConfig {
        command: argv(&["sh", "-c", script]),
        id_pointer: Some("/id".into()),
        kind: Some("thing".into()),
        ..CommandConfig::default()
    }
}

async fn scrape(config: CommandConfig) -> Result<Observation, IngestError> {
    CommandSource::new("cli", config).scrape(&context()).await
}

async fn scrape_error(config: CommandConfig) -> String {
    match scrape(config).await {
        Ok(observation) => panic!("expected an error, got {:?}", observation.resources),
        Err(error) => error.to_string(),
    }
}

fn ids(observation: &Observation) -> Vec<(&str, &str)> {
    observation
        .resources
        .iter()
        .map(|resource| (resource.kind.as_str(), resource.id.as_str()))
        .collect()
}

/// The `kubectl get pods -A -o json` mapping of the README.
pub fn pods_config() -> CommandConfig {
    CommandConfig {
        command: vec!["cat".into(), PODS_FIXTURE.into()],
        kind: Some("k8s/core/Pod".into()),
        id_template: Some("{/metadata/namespace}/{/metadata/name}".into()),
        name_pointer: Some("/metadata/name".into()),
        labels_pointer: Some("/metadata/labels".into()),
        exclude_pointers: argv(&["/status", "/metadata/resourceVersion"]),
        redact_pointers: argv(&[
            "/spec/containers/*/env/*/value",
            "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
        ]),
        ..CommandConfig::default()
    }
}

#[tokio::test]
async fn kubectl_pods_are_mapped_excluded_and_redacted() {
    let observation = scrape(pods_config()).await.unwrap();
    assert_eq!(
        ids(&observation),
        [
            ("k8s/core/Pod", "kube-system/coredns-76f75df574-8kq2w"),
            ("k8s/core/Pod", "shop/checkout-7d9f8b6c5-x2x9q"),
            ("k8s/core/Pod", "shop/debug-psql"),
            ("k8s/core/Pod", "shop/orders-5c6b9d7f8-m4p7t"),
        ]
    );
    assert!(
        observation.warnings.is_empty(),
        "{:?}",
        observation.warnings
    );

    let checkout = &observation.resources[1];
    assert_eq!(checkout.layer, Layer::Live);
    assert_eq!(checkout.name.as_deref(), Some("checkout-7d9f8b6c5-x2x9q"));
    assert_eq!(
        checkout.labels,
        BTreeMap::from([
            ("app.kubernetes.io/name".to_string(), "checkout".to_string()),
            ("app.kubernetes.io/part-of".to_string(), "shop".to_string()),
            ("pod-template-hash".to_string(), "7d9f8b6c5".to_string()),
        ])
    );
    let attrs = &checkout.attrs;
    assert!(attrs.get("status").is_none(), "status is excluded");
    assert!(attrs["metadata"].get("resourceVersion").is_none());
    assert_eq!(
        attrs["metadata"]["uid"],
        "5e8f2a61-1c4d-4b7a-a9e3-72d0c6b18f44"
    );
    let env = &attrs["spec"]["containers"][0]["env"];
    assert_eq!(env[1]["name"], "DATABASE_PASSWORD");
    assert!(canonical::is_redacted(&env[1]["value"]), "{}", env[1]);
    assert_eq!(env[1]["value"], canonical::redacted(&json!(FIXTURE_SECRET)));
    assert_eq!(
        attrs["spec"]["containers"][0]["image"],
        "ghcr.io/acme/checkout:2.14.0"
    );

    let debug = &observation.resources[2];
    let annotation =
        &debug.attrs["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"];
    assert!(canonical::is_redacted(annotation), "{annotation}");
    // The orders pod takes its password from a Secret: nothing to redact, valueFrom is kept.
    let orders_env = &observation.resources[3].attrs["spec"]["containers"][0]["env"];
    assert_eq!(
        orders_env[1]["valueFrom"]["secretKeyRef"]["name"],
        "orders-db"
    );
    assert!(orders_env[1].get("value").is_none());

    for resource in &observation.resources {
        let text = format!(
            "{} {:?} {:?}",
            resource.attrs, resource.labels, resource.name
        );
        assert!(!text.contains(FIXTURE_SECRET), "{}: {text}", resource.id);
    }
}

#[tokio::test]
async fn attrs_pointer_and_layer_declared() {
    let observation = scrape(CommandConfig {
        layer: Some(Layer::Declared),
        attrs_pointer: Some("/spec".into()),
        ..pods_config()
    })
    .await
    .unwrap();
    assert_eq!(observation.resources.len(), 4);
    let coredns = &observation.resources[0];
    assert_eq!(coredns.layer, Layer::Declared);
    assert_eq!(coredns.attrs["nodeName"], "ip-10-0-1-21.eu-west-1a");
    assert!(coredns.attrs.get("metadata").is_none());
}

#[tokio::test]
async fn a_json_array_with_kind_pointer_and_number_ids() {
    let observation = scrape(CommandConfig {
        command: argv(&[
            "printf",
            r#"[{"id": "orders", "type": "queue", "tags": {"team": "core", "fifo": false, "retries": 3}}, {"id": 42, "type": "bucket", "title": "assets"}]"#,
        ]),
        id_pointer: Some("/id".into()),
        kind_pointer: Some("/type".into()),
        name_pointer: Some("/title".into()),
        labels_pointer: Some("/tags".into()),
        ..CommandConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(ids(&observation), [("bucket", "42"), ("queue", "orders")]);
    assert_eq!(observation.resources[0].name.as_deref(), Some("assets"));
    assert_eq!(observation.resources[1].name, None);
    assert_eq!(
        observation.resources[1].labels,
        BTreeMap::from([
            ("fifo".to_string(), "false".to_string()),
            ("retries".to_string(), "3".to_string()),
            ("team".to_string(), "core".to_string()),
        ])
    );
    assert_eq!(
        observation.resources[1].attrs,
        json!({"id": "orders", "type": "queue", "tags": {"team": "core", "fifo": false, "retries": 3}})
    );
}

#[tokio::test]
async fn ndjson_with_skipped_items_and_duplicates() {
    let script = r#"
import json
rows = [
    {"ID": "c1", "Names": "web", "State": "running"},
    {"Names": "orphan"},
    {"ID": {"nested": True}},
    {"ID": "a0", "Names": "db", "State": "running"},
    {"ID": "c1", "Names": "web-again", "State": "exited"},
]
for row in rows:
    print(json.dumps(row))
"#;
    let observation = scrape(CommandConfig {
        command: argv(&["python3", "-c", script]),
        id_pointer: Some("/ID".into()),
        kind: Some("container".into()),
        name_pointer: Some("/Names".into()),
        ..CommandConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(
        ids(&observation),
        [("container", "a0"), ("container", "c1")]
    );
    // The first of the duplicates, in output order, is kept.
    assert_eq!(observation.resources[1].name.as_deref(), Some("web"));
    assert_eq!(observation.resources[1].attrs["State"], "running");
    assert_eq!(
        observation.warnings,
        [
            "2 of 5 items skipped: no string or number id at '/ID' (first at item index 1)",
            "1 items skipped: duplicate (kind, id), the first was kept (e.g. container c1)",
        ]
    );
}

#[tokio::test]
async fn items_pointer_and_empty_estates() {
    let observation = scrape(CommandConfig {
        items_pointer: Some("/Buckets".into()),
        id_pointer: Some("/Name".into()),
        ..shell(
            r#"printf '{"Buckets": [{"Name": "logs"}, {"Name": "assets"}], "Owner": {"ID": "x"}}'"#,
        )
    })
    .await
    .unwrap();
    assert_eq!(ids(&observation), [("thing", "assets"), ("thing", "logs")]);

    let error = scrape_error(CommandConfig {
        items_pointer: Some("/Buckets".into()),
        ..shell(r#"printf '{"Owner": {}}'"#)
    })
    .await;
    assert!(
        error.contains("no array at items_pointer '/Buckets'"),
        "{error}"
    );

    for empty in ["printf '[]'", r#"printf '{"kind": "List", "items": []}'"#] {
        let observation = scrape(shell(empty)).await.unwrap();
        assert!(observation.resources.is_empty(), "{empty}");
        assert!(observation.warnings.is_empty(), "{empty}");
    }

    // Nothing at all is not an empty estate: a command that silently printed nothing must
    // not delete everything.
    let error = scrape_error(shell("true")).await;
    assert!(error.contains("printed nothing"), "{error}");
    let observation = scrape(CommandConfig {
        allow_empty_output: true,
        ..shell("true")
    })
    .await
    .unwrap();
    assert!(observation.resources.is_empty());
}

#[tokio::test]
async fn env_is_added_to_the_inherited_environment() {
    let observation = scrape(CommandConfig {
        env: BTreeMap::from([
            ("GT_REGION".to_string(), "eu-west-1".to_string()),
            ("GT_TOKEN".to_string(), "tok-very-secret".to_string()),
        ]),
        ..shell(r#"printf '[{"id": "%s", "inherited_path": %s, "token_length": %s}]' "$GT_REGION" "${PATH:+true}" "${#GT_TOKEN}""#)
    })
    .await
    .unwrap();
    assert_eq!(ids(&observation), [("thing", "eu-west-1")]);
    assert_eq!(observation.resources[0].attrs["inherited_path"], true);
    assert_eq!(observation.resources[0].attrs["token_length"], 15);
}

#[tokio::test]
async fn working_directory_is_used_and_checked() {
    let directory = tempfile::tempdir().unwrap();
    std::fs::write(directory.path().join("items.json"), r#"[{"id": "here"}]"#).unwrap();
    let observation = scrape(CommandConfig {
        command: argv(&["cat", "items.json"]),
        working_directory: Some(directory.path().to_path_buf()),
        ..shell("")
    })
    .await
    .unwrap();
    assert_eq!(ids(&observation), [("thing", "here")]);

    let missing = directory.path().join("gone");
    let error = scrape_error(CommandConfig {
        command: argv(&["cat", "items.json"]),
        working_directory: Some(missing.clone()),
        ..shell("")
    })
    .await;
    assert!(error.contains(&missing.display().to_string()), "{error}");
    assert!(error.contains("working_directory"), "{error}");
}

#[tokio::test]
async fn a_missing_command_is_named() {
    let error = scrape_error(CommandConfig {
        command: argv(&["groundtruth-no-such-cli", "list"]),
        ..shell("")
    })
    .await;
    assert!(
        error.contains("command `groundtruth-no-such-cli list`")
            && error.contains("command not found"),
        "{error}"
    );
}

#[tokio::test]
async fn a_failing_command_reports_exit_code_and_masked_stderr() {
    let error = scrape_error(CommandConfig {
        env: BTreeMap::from([("API_TOKEN".to_string(), "tok-very-secret".to_string())]),
        ..shell(
            "echo 'starting' >&2; \
             echo \"error: You must be logged in to the server (Unauthorized) token=$API_TOKEN\" >&2; \
             exit 3",
        )
    })
    .await;
    assert!(error.contains("exited with code 3"), "{error}");
    assert!(
        error.contains("You must be logged in to the server (Unauthorized)"),
        "{error}"
    );
    assert!(error.contains("token=<redacted>"), "{error}");
    assert!(!error.contains("tok-very-secret"), "{error}");
    assert!(error.contains("command `sh -c"), "{error}");

    // Only the tail of a flood of stderr is kept.
    let error = scrape_error(shell(
        "yes 'noise' | head -c 200000 >&2; echo LAST-LINE >&2; exit 1",
    ))
    .await;
    assert!(
        error.ends_with("LAST-LINE"),
        "{}",
        &error[error.len() - 100..]
    );
    assert!(error.len() < 4096 + 200, "{} bytes", error.len());

    let error = scrape_error(shell("kill -9 $$")).await;
    assert!(error.contains("killed by signal 9"), "{error}");
}

#[tokio::test]
async fn output_that_is_not_json_is_a_parse_error_with_a_line() {
    let error = scrape(shell(
        "printf 'NAME      READY   STATUS\\ncheckout  1/1     Running\\n'",
    ))
    .await
    .unwrap_err();
    match &error {
        IngestError::Parse { line, message, .. } => {
            assert_eq!(*line, Some(1));
            assert!(message.starts_with("output is not JSON"), "{message}");
        }
        other => panic!("expected a parse error, got {other}"),
    }
    assert!(error.to_string().starts_with("command `sh -c"), "{error}");

    let error = scrape(shell(
        r#"printf '{"id": "a"}\n{"id": "b"}\n{"id": "c", \n'"#,
    ))
    .await
    .unwrap_err();
    assert!(
        matches!(error, IngestError::Parse { line: Some(4), .. }),
        "truncated NDJSON: {error}"
    );
}

#[tokio::test]
async fn a_gigabyte_of_output_fails_fast_on_the_limit() {
    let started = Instant::now();
    let error = scrape_error(CommandConfig {
        command: argv(&["head", "-c", "1000000000", "/dev/zero"]),
        ..shell("")
    })
    .await;
    assert!(
        error.contains("output exceeds max_output_bytes (67108864 bytes)"),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );

    let error = scrape_error(CommandConfig {
        command: argv(&["yes"]),
        max_output_bytes: Some(1024 * 1024),
        ..shell("")
    })
    .await;
    assert!(
        error.contains("output exceeds max_output_bytes (1048576 bytes)"),
        "{error}"
    );
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Gone, or a zombie waiting for its parent (in a container PID 1 may never reap it).
fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

async fn assert_gone_soon(pids: &[i32]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !pids.iter().all(|pid| process_gone(*pid)) {
        assert!(
            Instant::now() < deadline,
            "processes {pids:?} still running"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A command that never finishes: `sh` writes its pid, starts a `sleep` child that writes
/// its own, and waits.
fn hanging(directory: &Path) -> (CommandConfig, PathBuf, PathBuf) {
    let shell_pid = directory.join("shell.pid");
    let child_pid = directory.join("child.pid");
    let script = format!(
        "echo $$ > '{}'; sleep 600 & echo $! > '{}'; wait",
        shell_pid.display(),
        child_pid.display()
    );
    (shell(&script), shell_pid, child_pid)
}

async fn wait_for_pids(shell_pid: &Path, child_pid: &Path) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let (Some(shell), Some(child)) = (read_pid(shell_pid), read_pid(child_pid)) {
            return vec![shell, child];
        }
        assert!(Instant::now() < deadline, "the command never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_hanging_command_is_killed_with_its_children_on_timeout() {
    let directory = tempfile::tempdir().unwrap();
    let (config, shell_pid, child_pid) = hanging(directory.path());
    let source = CommandSource::new("cli", config);
    let context = context();
    // Boxed, so dropping it below really drops the scrape.
    let mut scrape = Box::pin(source.scrape(&context));
    // The scheduler's timeout drops the scrape future, as here.
    let waited = tokio::time::timeout(Duration::from_secs(1), &mut scrape).await;
    assert!(
        waited.is_err(),
        "the scrape finished: {:?}",
        waited.map(|r| r.is_ok())
    );
    let pids = wait_for_pids(&shell_pid, &child_pid).await;
    assert!(
        pids.iter().all(|pid| !process_gone(*pid)),
        "running before the drop"
    );
    drop(scrape);
    assert_gone_soon(&pids).await;
}

#[tokio::test]
async fn a_hanging_command_is_killed_with_its_children_on_cancel() {
    let directory = tempfile::tempdir().unwrap();
    let (config, shell_pid, child_pid) = hanging(directory.path());
    let source = CommandSource::new("cli", config);
    let context = context();
    let cancel = context.cancel.clone();
    let canceller = tokio::spawn(async move {
        let pids = wait_for_pids(&shell_pid, &child_pid).await;
        cancel.cancel();
        pids
    });
    let started = Instant::now();
    let error = source.scrape(&context).await.unwrap_err();
    assert!(matches!(error, IngestError::Cancelled { .. }), "{error}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let pids = canceller.await.unwrap();
    assert_gone_soon(&pids).await;
}

fn parse_sources(text: &str) -> Result<Vec<SourceConfig>, toml::de::Error> {
    #[derive(serde::Deserialize)]
    struct File {
        sources: Vec<SourceConfig>,
    }
    toml::from_str::<File>(text).map(|file| file.sources)
}

#[test]
fn config_parses_and_is_validated() {
    let sources = parse_sources(
        r#"
        [[sources]]
        type = "command"
        name = "cluster-pods"
        command = ["kubectl", "get", "pods", "-A", "-o", "json"]
        working_directory = "/srv/ops"
        env = { KUBECONFIG = "/etc/groundtruth/kubeconfig" }
        kind = "k8s/core/Pod"
        id_template = "{/metadata/namespace}/{/metadata/name}"
        name_pointer = "/metadata/name"
        labels_pointer = "/metadata/labels"
        exclude_pointers = ["/status", "/metadata/resourceVersion"]
        redact_pointers = ["/spec/containers/*/env/*/value"]
        max_output_bytes = 1048576
        interval = "1m"
        timeout = "30s"
        "#,
    )
    .unwrap();
    let SourceKind::Command(config) = &sources[0].kind else {
        panic!("not a command source: {:?}", sources[0]);
    };
    assert_eq!(config.command[0], "kubectl");
    assert_eq!(config.env["KUBECONFIG"], "/etc/groundtruth/kubeconfig");
    assert_eq!(config.max_output_bytes, Some(1_048_576));
    assert_eq!(sources[0].common.timeout, Some(Duration::from_secs(30)));
    assert_eq!(sources[0].name(), "cluster-pods");
    assert!(sources[0].location().is_none());
    assert!(sources[0]
        .with_location(groundtruth_ingest::input::InputLocation::Path("/x".into()))
        .is_none());
    let scheduled = sources[0].build(Utc::now()).unwrap();
    assert_eq!(scheduled.interval, Duration::from_secs(60));
    assert_eq!(scheduled.timeout, Duration::from_secs(30));
    assert_eq!(scheduled.source.source_type(), "command");

    let error = parse_sources(
        "[[sources]]\ntype = \"command\"\nname = \"x\"\ncommand = [\"true\"]\nid_pointr = \"/id\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("id_pointr"), "{error}");

    let refused = |config: CommandConfig| {
        SourceConfig {
            common: CommonSettings::named("cli"),
            kind: SourceKind::Command(config),
        }
        .build(Utc::now())
        .map(|_| ())
        .unwrap_err()
        .to_string()
    };
    let both = refused(CommandConfig {
        id_template: Some("{/a}/{/b}".into()),
        ..shell("")
    });
    assert!(
        both.contains("only one of id_pointer and id_template"),
        "{both}"
    );
    let neither = refused(CommandConfig {
        id_pointer: None,
        ..shell("")
    });
    assert!(
        neither.contains("set id_pointer or id_template"),
        "{neither}"
    );
    let no_kind = refused(CommandConfig {
        kind: None,
        ..shell("")
    });
    assert!(no_kind.contains("set kind or kind_pointer"), "{no_kind}");
    let no_command = refused(CommandConfig {
        command: Vec::new(),
        ..shell("")
    });
    assert!(no_command.contains("`command` is empty"), "{no_command}");
    let bad_pointer = refused(CommandConfig {
        exclude_pointers: vec!["status".into()],
        ..shell("")
    });
    assert!(
        bad_pointer.contains("exclude_pointers 'status'"),
        "{bad_pointer}"
    );
    assert!(bad_pointer.contains("source 'cli'"), "{bad_pointer}");
}

#[tokio::test]
async fn a_source_built_without_validation_fails_every_scrape_with_the_config_error() {
    let error = scrape_error(CommandConfig {
        id_pointer: None,
        ..shell("printf '[]'")
    })
    .await;
    assert_eq!(
        error,
        "configuration: source 'cli' (command): set id_pointer or id_template"
    );
}

#[test]
fn the_example_configuration_builds() {
    #[derive(serde::Deserialize)]
    struct File {
        sources: Vec<SourceConfig>,
    }
    let text = include_str!("../../../server/groundtruth.example.toml");
    let file: File = toml::from_str(text).unwrap();
    let commands: Vec<&SourceConfig> = file
        .sources
        .iter()
        .filter(|source| matches!(source.kind, SourceKind::Command(_)))
        .collect();
    assert_eq!(commands.len(), 1);
    let scheduled = commands[0].build(Utc::now()).unwrap();
    assert_eq!(scheduled.source.name(), "cluster-pods");
    assert_eq!(scheduled.timeout, Duration::from_secs(30));
}
