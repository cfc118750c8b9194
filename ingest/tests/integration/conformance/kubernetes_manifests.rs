//! Conformance of the `kubernetes_manifests` source.

use super::*;
use groundtruth_ingest::source::declared::kubernetes_manifests::KubernetesManifestsSource;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/kubernetes/shop"
);

fn manifests(input: Input) -> Box<dyn Source> {
    Box::new(KubernetesManifestsSource::new("manifests", input))
}

#[tokio::test]
async fn kubernetes_manifests_conform() {
    let input = Input::new(InputLocation::Path(PathBuf::from(FIXTURES)));
    // A Deployment env value, a Secret stringData value and a CronJob env value.
    for secret in [
        "sk_live_fixture_51HxQ2",
        "whsec_fixture_9f8e7d",
        "redis-fixture-pw-42",
    ] {
        check_conformance(|| manifests(input.clone()), Some(secret)).await;
    }
}

#[tokio::test]
async fn kubernetes_manifests_reject_bad_inputs() {
    check_bad_inputs(manifests, "manifest.yaml", &BadInput::ALL).await;
}
