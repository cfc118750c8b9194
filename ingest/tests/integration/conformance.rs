//! The conformance suite every source must pass: deterministic output, non-empty identities,
//! no secret in anything it returns, and errors that name the input they failed on.
//!
//! A new source adds one test per good input (calling [`check_conformance`]) and one per bad
//! input (calling [`check_rejects`]). File-reading sources also pass [`check_bad_inputs`], and
//! live in their own module under `conformance/`.

mod aws;
mod cloudformation;
mod compose;
mod flagd;
mod kubernetes_api;
mod kubernetes_manifests;
mod parse_errors;
mod sql_migrations;
mod terraform_hcl;
mod terraform_plan;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use groundtruth_engine::model::{Observation, ObservedResource};
use groundtruth_ingest::input::{Input, InputLimits, InputLocation};
use groundtruth_ingest::source::declared::terraform_state::TerraformStateSource;
use groundtruth_ingest::source::live::host::HostSource;
use groundtruth_ingest::source::{ScrapeContext, Source};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const TERRAFORM_FIXTURES: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/terraform");
const TERRAFORM_SECRET: &str = "s3cr3t-fixture-password-v1";
const HOST_SECRET: &str = "hunter2";

pub(crate) fn context() -> ScrapeContext {
    ScrapeContext {
        started_at: Utc
            .with_ymd_and_hms(2025, 6, 1, 12, 0, 0)
            .single()
            .expect("valid instant"),
        cancel: CancellationToken::new(),
    }
}

/// Everything a source hands back that could carry a secret, as text.
fn serialized_resource(resource: &ObservedResource) -> String {
    json!({
        "kind": resource.kind,
        "id": resource.id,
        "layer": resource.layer.as_str(),
        "name": resource.name,
        "attrs": resource.attrs,
        "labels": resource.labels,
    })
    .to_string()
}

fn serialized(observation: &Observation) -> String {
    let resources: Vec<String> = observation
        .resources
        .iter()
        .map(serialized_resource)
        .collect();
    format!(
        "{resources:?}\n{:?}\n{:?}",
        observation.warnings, observation.coverage
    )
}

/// Scrape twice with fresh sources and check the shared contract.
pub(crate) async fn check_conformance(make: impl Fn() -> Box<dyn Source>, secret: Option<&str>) {
    let first_source = make();
    let label = format!("{} ({})", first_source.name(), first_source.source_type());
    assert!(!first_source.name().is_empty(), "{label}: empty name");
    assert!(
        !first_source.source_type().is_empty(),
        "{label}: empty source type"
    );

    let first = first_source
        .scrape(&context())
        .await
        .unwrap_or_else(|error| panic!("{label}: first scrape: {error}"));
    let second = make()
        .scrape(&context())
        .await
        .unwrap_or_else(|error| panic!("{label}: second scrape: {error}"));

    assert!(!first.resources.is_empty(), "{label}: no resources");
    assert_eq!(
        first.resources, second.resources,
        "{label}: two scrapes of the same input differ"
    );
    assert_eq!(
        first.warnings, second.warnings,
        "{label}: warnings differ between scrapes"
    );
    assert_eq!(
        first.coverage, second.coverage,
        "{label}: coverage differs between scrapes"
    );
    assert_eq!(
        serialized(&first),
        serialized(&second),
        "{label}: serialized output differs"
    );

    for resource in &first.resources {
        assert!(
            !resource.kind.trim().is_empty(),
            "{label}: resource with empty kind: {resource:?}"
        );
        assert!(
            !resource.id.trim().is_empty(),
            "{label}: resource with empty id: {resource:?}"
        );
        if let Some(secret) = secret {
            let text = serialized_resource(resource);
            assert!(
                !text.contains(secret),
                "{label}: secret appears in {}/{}: {text}",
                resource.kind,
                resource.id
            );
        }
    }
    let keys: Vec<_> = first.resources.iter().map(ObservedResource::key).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys.len(), sorted.len(), "{label}: duplicate (kind, id)");
    if let Some(secret) = secret {
        let rest = format!("{:?} {:?}", first.warnings, first.coverage);
        assert!(
            !rest.contains(secret),
            "{label}: secret appears in warnings or coverage"
        );
    }
}

/// A source pointed at bad input must fail, and the error must name the input.
pub(crate) async fn check_rejects(source: Box<dyn Source>, path: &Path) {
    let label = format!(
        "{} ({}) on {}",
        source.name(),
        source.source_type(),
        path.display()
    );
    match source.scrape(&context()).await {
        Ok(observation) => panic!(
            "{label}: expected an error, got {} resources",
            observation.resources.len()
        ),
        Err(error) => {
            let text = error.to_string();
            assert!(
                text.contains(&path.display().to_string()),
                "{label}: error does not name the path: {text}"
            );
        }
    }
}

/// The bad inputs of the declared-layer issue; each must give an error naming the file, in
/// bounded time, without taking the process down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadInput {
    /// `{"resources": [1, 2` — cut off mid-document.
    TruncatedJson,
    /// YAML that does not parse.
    InvalidYaml,
    /// Nested aliases that would expand to 10^9 nodes.
    AliasBomb,
    /// A 200 MB file (sparse, so the test writes nothing).
    HugeFile,
    /// Bytes that are not text.
    BinaryFile,
    /// More matching files than the source's limit.
    TooManyFiles,
    /// A matching entry that cannot be read (a dangling symlink; also mode 000 when not root).
    UnreadableFile,
}

impl BadInput {
    /// Every bad input: for sources whose files are JSON or YAML.
    pub(crate) const ALL: [BadInput; 7] = [
        BadInput::TruncatedJson,
        BadInput::InvalidYaml,
        BadInput::AliasBomb,
        BadInput::HugeFile,
        BadInput::BinaryFile,
        BadInput::TooManyFiles,
        BadInput::UnreadableFile,
    ];

    /// The bad inputs every file-reading source refuses, whatever its format.
    pub(crate) const ANY_FORMAT: [BadInput; 4] = [
        BadInput::HugeFile,
        BadInput::BinaryFile,
        BadInput::TooManyFiles,
        BadInput::UnreadableFile,
    ];
}

fn alias_bomb() -> String {
    let mut text = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let mut previous = "a";
    for name in ["b", "c", "d", "e", "f", "g", "h", "i"] {
        let aliases = vec![format!("*{previous}"); 9].join(",");
        text.push_str(&format!("{name}: &{name} [{aliases}]\n"));
        previous = name;
    }
    text
}

/// Point a source (built by `make` from an input) at each bad input, written as a file called
/// `file_name` (which the source's directory filter must accept), and check that the scrape
/// fails quickly with an error naming the bad file or directory.
pub(crate) async fn check_bad_inputs(
    make: impl Fn(Input) -> Box<dyn Source>,
    file_name: &str,
    inputs: &[BadInput],
) {
    for bad in inputs {
        let directory = tempfile::tempdir().expect("tempdir");
        let root = directory.path().join("inputs");
        fs::create_dir_all(&root).expect("inputs dir");
        let file = root.join(file_name);
        let mut limits = InputLimits::default();
        // What the error must name.
        let mut named = file.clone();
        match bad {
            BadInput::TruncatedJson => fs::write(&file, "{\"resources\": [1, 2").expect("write"),
            BadInput::InvalidYaml => {
                fs::write(&file, "kind: [unclosed\n  bad: : indentation\n").expect("write")
            }
            BadInput::AliasBomb => fs::write(&file, alias_bomb()).expect("write"),
            BadInput::HugeFile => fs::File::create(&file)
                .expect("create")
                .set_len(200 * 1024 * 1024)
                .expect("set_len"),
            BadInput::BinaryFile => {
                let bytes: Vec<u8> = (0..4096u32)
                    .map(|index| (index.wrapping_mul(2_654_435_761) >> 24) as u8)
                    .collect();
                fs::write(&file, bytes).expect("write")
            }
            BadInput::TooManyFiles => {
                let stem = file_name.split('.').next().unwrap_or("file");
                let extension = &file_name[stem.len()..];
                for index in 0..2000 {
                    fs::write(root.join(format!("{stem}{index:04}{extension}")), "")
                        .expect("write");
                }
                limits.max_files = 1000;
                named = root.clone();
            }
            BadInput::UnreadableFile => {
                symlink(root.join("gone"), &file).expect("symlink");
            }
        }
        let source = make(Input::new(InputLocation::Path(root.clone())).with_limits(limits));
        let label = format!("{} ({}) on {bad:?}", source.name(), source.source_type());
        let started = std::time::Instant::now();
        let outcome = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            source.scrape(&context()),
        )
        .await
        .unwrap_or_else(|_| panic!("{label}: scrape did not finish in 60 s"));
        match outcome {
            Ok(observation) => panic!(
                "{label}: expected an error, got {} resources",
                observation.resources.len()
            ),
            Err(error) => {
                let text = error.to_string();
                assert!(
                    text.contains(&named.display().to_string()),
                    "{label}: error does not name {}: {text}",
                    named.display()
                );
            }
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{label}: too slow"
        );
    }
    // Mode 000 cannot stop root, so this part only runs for other users.
    // SAFETY: geteuid has no preconditions and cannot fail.
    #[allow(unsafe_code)]
    let as_root = unsafe { libc::geteuid() } == 0;
    if !as_root {
        let directory = tempfile::tempdir().expect("tempdir");
        let file = directory.path().join(file_name);
        fs::write(&file, "{}").expect("write");
        fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o000))
            .expect("chmod");
        let source = make(Input::new(InputLocation::Path(
            directory.path().to_path_buf(),
        )));
        check_rejects(source, &file).await;
    }
}

fn terraform_fixture(name: &str) -> PathBuf {
    Path::new(TERRAFORM_FIXTURES).join(name)
}

fn terraform(path: PathBuf) -> impl Fn() -> Box<dyn Source> {
    move || Box::new(TerraformStateSource::new("terraform", path.clone())) as Box<dyn Source>
}

#[tokio::test]
async fn terraform_state_conforms() {
    check_conformance(
        terraform(terraform_fixture("v1.tfstate")),
        Some(TERRAFORM_SECRET),
    )
    .await;
    check_conformance(
        terraform(terraform_fixture("v2.tfstate")),
        Some("s3cr3t-fixture-password-v2"),
    )
    .await;
    check_conformance(
        terraform(terraform_fixture("v1.show.json")),
        Some(TERRAFORM_SECRET),
    )
    .await;
}

#[tokio::test]
async fn terraform_state_rejects_truncated_file() {
    let path = terraform_fixture("truncated.tfstate");
    check_rejects(terraform(path.clone())(), &path).await;
}

#[tokio::test]
async fn terraform_state_rejects_binary_file() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("binary.tfstate");
    let bytes: Vec<u8> = (0..4096u32)
        .map(|index| (index.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    fs::write(&path, bytes).expect("write binary file");
    check_rejects(terraform(path.clone())(), &path).await;
}

#[tokio::test]
async fn terraform_state_rejects_missing_path() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("absent.tfstate");
    check_rejects(terraform(path.clone())(), &path).await;
}

#[tokio::test]
async fn terraform_state_rejects_directory() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().to_path_buf();
    check_rejects(terraform(path.clone())(), &path).await;
}

/// A minimal procfs: one process whose command line holds the host secret, a LISTEN socket
/// it owns, and a UDP socket nobody visible owns.
fn fake_proc_tree() -> tempfile::TempDir {
    let directory = tempfile::tempdir().expect("tempdir");
    let root = directory.path();
    let process = root.join("4321");
    fs::create_dir_all(process.join("fd")).expect("process dir");
    fs::write(
        process.join("stat"),
        "4321 (redis-server) S 1 4321 4321 0 -1 4194560 900 0 0 0 10 5 0 0 20 0 4 0 55555 \
         70000000 2000 18446744073709551615 1 1 0 0 0 0 0 4097 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
    )
    .expect("stat");
    // NUL-separated and NUL-terminated, as the kernel writes it.
    let arguments = [
        "/usr/bin/redis-server",
        "--port",
        "6379",
        "--password=hunter2",
        "",
    ];
    fs::write(process.join("cmdline"), arguments.join("\0")).expect("cmdline");
    fs::write(
        process.join("status"),
        "Name:\tredis-server\nUid:\t999\t999\t999\t999\n",
    )
    .expect("status");
    symlink("/usr/bin/redis-server", process.join("exe")).expect("exe");
    symlink("socket:[90001]", process.join("fd/6")).expect("fd");
    let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
    fs::create_dir_all(root.join("net")).expect("net dir");
    fs::write(
        root.join("net/tcp"),
        format!("{header}   0: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 90001 1 0000000000000000 100 0 0 10 0\n"),
    )
    .expect("tcp");
    fs::write(
        root.join("net/udp"),
        format!("{header}  12: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 90002 2 0000000000000000 0\n"),
    )
    .expect("udp");
    directory
}

#[tokio::test]
async fn host_conforms() {
    let tree = fake_proc_tree();
    let root = tree.path().to_path_buf();
    check_conformance(
        move || Box::new(HostSource::new("host", root.clone())) as Box<dyn Source>,
        Some(HOST_SECRET),
    )
    .await;
}

#[tokio::test]
async fn host_rejects_missing_proc_root() {
    let directory = tempfile::tempdir().expect("tempdir");
    let path = directory.path().join("no-proc");
    check_rejects(Box::new(HostSource::new("host", path.clone())), &path).await;
}

#[tokio::test]
async fn simulated_conforms() {
    use groundtruth_engine::model::Layer;
    use groundtruth_ingest::source::simulated::{SimulatedEstate, SimulatedSource};
    use std::sync::Arc;

    // An epoch ten days before the scrape instant, so the story has already changed things.
    let epoch = context().started_at - chrono::Duration::days(10);
    for layer in [Layer::Declared, Layer::Live] {
        let estate = Arc::new(SimulatedEstate::new(42, epoch, 8));
        // Every plaintext database password the simulator uses contains this marker.
        check_conformance(
            move || {
                Box::new(SimulatedSource::new(
                    "synthetic",
                    layer,
                    Arc::clone(&estate),
                )) as Box<dyn Source>
            },
            Some("-db-password-"),
        )
        .await;
    }
}

use crate::support::postgres as postgres_support;

#[tokio::test]
async fn postgres_catalog_conforms() {
    use groundtruth_ingest::source::live::postgres_catalog::{
        PasswordSource, PostgresCatalogSource,
    };

    let server = postgres_support::PostgresServer::start();
    // The migration session's client is dropped here, so its statistics are flushed; the
    // sleep lets them land before the two scrapes compare their usage counters.
    server.create_from_fixture("shop", "flyway").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let connection = server.connection("shop");
    check_conformance(
        move || {
            Box::new(PostgresCatalogSource::new(
                "shop_db",
                connection.clone(),
                PasswordSource::None,
            )) as Box<dyn Source>
        },
        None,
    )
    .await;
}

#[tokio::test]
async fn command_conforms() {
    use groundtruth_ingest::source::live::command::{CommandConfig, CommandSource};

    // Recorded `kubectl get pods -A -o json`, printed by `cat`; the database password planted
    // in an env var and in a last-applied annotation must be redacted by the pointers.
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/command/kubectl-get-pods.json"
    );
    let config = CommandConfig {
        command: vec!["cat".into(), fixture.into()],
        kind: Some("k8s/core/Pod".into()),
        id_template: Some("{/metadata/namespace}/{/metadata/name}".into()),
        name_pointer: Some("/metadata/name".into()),
        labels_pointer: Some("/metadata/labels".into()),
        exclude_pointers: vec!["/status".into(), "/metadata/resourceVersion".into()],
        redact_pointers: vec![
            "/spec/containers/*/env/*/value".into(),
            "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration".into(),
        ],
        ..CommandConfig::default()
    };
    check_conformance(
        move || Box::new(CommandSource::new("cluster-pods", config.clone())) as Box<dyn Source>,
        Some("pg-fixture-s3cr3t-7Qx"),
    )
    .await;
}

#[tokio::test]
async fn command_rejects_a_missing_program() {
    use groundtruth_ingest::source::live::command::{CommandConfig, CommandSource};

    let config = CommandConfig {
        command: vec!["groundtruth-no-such-cli".into()],
        id_pointer: Some("/id".into()),
        kind: Some("thing".into()),
        ..CommandConfig::default()
    };
    check_rejects(
        Box::new(CommandSource::new("cli", config)),
        Path::new("groundtruth-no-such-cli"),
    )
    .await;
}
