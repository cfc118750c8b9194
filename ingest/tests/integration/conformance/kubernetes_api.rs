//! Conformance of the `kubernetes_api` source: against the fixture API server, and in its
//! file form (`kubectl get -A -o json` output) with the bad inputs a JSON reader must refuse.

use super::*;
use groundtruth_ingest::source::live::kubernetes_api::{KubernetesApiConfig, KubernetesApiSource};

use crate::support::kubernetes as support;

const KUBECTL_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/kubernetes/kubectl/shop-get-A.json"
);
/// The planted Secret value (plain and base64), a Secret value and a container env value.
const SECRETS: [&str; 4] = [
    "pgw_live_fixture_Zx81Kq",
    "cGd3X2xpdmVfZml4dHVyZV9aeDgxS3E=",
    "pg-live-fixture-pass-9912",
    "sk_live_fixture_api_4242",
];

fn from_file(input: Input) -> Box<dyn Source> {
    let location = input.location().clone();
    let config = KubernetesApiConfig {
        path: Some(location),
        ..KubernetesApiConfig::default()
    };
    Box::new(KubernetesApiSource::new("cluster", &config))
}

#[tokio::test]
async fn kubernetes_api_conforms() {
    let server = support::FixtureApiServer::start(None);
    let config = KubernetesApiConfig {
        cluster_url: Some(server.url()),
        page_size: Some(3),
        ..KubernetesApiConfig::default()
    };
    for secret in SECRETS {
        check_conformance(
            || Box::new(KubernetesApiSource::new("cluster", &config)) as Box<dyn Source>,
            Some(secret),
        )
        .await;
    }
}

#[tokio::test]
async fn kubernetes_api_file_form_conforms() {
    let input = Input::new(InputLocation::Path(PathBuf::from(KUBECTL_FILE)));
    for secret in SECRETS {
        check_conformance(|| from_file(input.clone()), Some(secret)).await;
    }
}

#[tokio::test]
async fn kubernetes_api_file_form_rejects_bad_inputs() {
    check_bad_inputs(
        |input| {
            // Keep the limits the check sets.
            let config = KubernetesApiConfig {
                path: Some(input.location().clone()),
                max_files: Some(input.limits().max_files),
                ..KubernetesApiConfig::default()
            };
            Box::new(KubernetesApiSource::new("cluster", &config)) as Box<dyn Source>
        },
        "cluster.json",
        &[
            BadInput::TruncatedJson,
            BadInput::HugeFile,
            BadInput::BinaryFile,
            BadInput::TooManyFiles,
            BadInput::UnreadableFile,
        ],
    )
    .await;
}
