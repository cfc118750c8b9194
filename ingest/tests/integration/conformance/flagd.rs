//! Conformance of the `flagd` source.

use super::*;
use groundtruth_ingest::source::declared::flagd::FlagdSource;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/flagd/shop");

fn flagd(input: Input) -> Box<dyn Source> {
    Box::new(FlagdSource::new("flags", input))
}

#[tokio::test]
async fn flagd_conforms() {
    // Flag definitions hold no secrets, so there is no plaintext to look for.
    let input = Input::new(InputLocation::Path(PathBuf::from(FIXTURES)));
    check_conformance(|| flagd(input.clone()), None).await;
    let file = Input::new(InputLocation::Path(Path::new(FIXTURES).join("flags.json")));
    check_conformance(|| flagd(file.clone()), None).await;
}

#[tokio::test]
async fn flagd_rejects_bad_inputs() {
    check_bad_inputs(flagd, "flags.json", &BadInput::ALL).await;
}
