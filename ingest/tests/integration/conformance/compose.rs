//! Conformance of the `compose` source.

use super::*;
use groundtruth_ingest::source::declared::compose::ComposeSource;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/compose/shop"
);

fn compose(input: Input) -> Box<dyn Source> {
    Box::new(ComposeSource::new("compose", input, None))
}

#[tokio::test]
async fn compose_conforms() {
    let input = Input::new(InputLocation::Path(PathBuf::from(FIXTURES)));
    // An environment value (map and list forms) and a build arg.
    for secret in ["compose-fixture-pg-5521", "npm_fixture_token_0c1d"] {
        check_conformance(|| compose(input.clone()), Some(secret)).await;
    }
    let file = Input::new(InputLocation::Path(
        Path::new(FIXTURES).join("compose.yaml"),
    ));
    check_conformance(|| compose(file.clone()), Some("compose-fixture-pg-5521")).await;
}

#[tokio::test]
async fn compose_rejects_bad_inputs() {
    check_bad_inputs(compose, "compose.yaml", &BadInput::ALL).await;
}

#[tokio::test]
async fn compose_rejects_a_directory_without_compose_files() {
    let directory = tempfile::tempdir().expect("tempdir");
    fs::write(directory.path().join("dev.compose.yaml"), "services: {}\n").expect("write");
    let path = directory.path().to_path_buf();
    check_rejects(
        compose(Input::new(InputLocation::Path(path.clone()))),
        &path,
    )
    .await;
}
