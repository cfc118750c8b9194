//! Conformance of the `terraform_hcl` source.

use super::*;

use groundtruth_ingest::error::IngestError;
use groundtruth_ingest::source::declared::terraform_hcl::TerraformHclSource;

fn hcl(input: Input) -> Box<dyn Source> {
    Box::new(TerraformHclSource::new("hcl", input))
}

#[tokio::test]
async fn terraform_hcl_conforms() {
    let project = terraform_fixture("hcl");
    let for_password = project.clone();
    check_conformance(
        move || hcl(Input::new(InputLocation::Path(for_password.clone()))),
        Some("hcl-fixture-default-password"),
    )
    .await;
    check_conformance(
        move || hcl(Input::new(InputLocation::Path(project.clone()))),
        Some("hcl-fixture-literal-token"),
    )
    .await;
    let single_file = terraform_fixture("hcl/variables.tf");
    check_conformance(
        move || hcl(Input::new(InputLocation::Path(single_file.clone()))),
        Some("hcl-fixture-default-password"),
    )
    .await;
}

#[tokio::test]
async fn terraform_hcl_rejects_bad_inputs() {
    check_bad_inputs(hcl, "main.tf", &BadInput::ANY_FORMAT).await;
}

#[tokio::test]
async fn terraform_hcl_reports_syntax_errors_with_file_and_line() {
    let directory = tempfile::tempdir().expect("tempdir");
    fs::write(
        directory.path().join("variables.tf"),
        "variable \"region\" {\n  default = \"eu-west-1\"\n}\n",
    )
    .expect("write");
    let file = directory.path().join("main.tf");
    fs::write(
        &file,
        "resource \"aws_sqs_queue\" \"orders\" {\n  name = \"orders\"\n\n  tags = {\n    Team = \n}\n",
    )
    .expect("write");
    let source = hcl(Input::new(InputLocation::Path(
        directory.path().to_path_buf(),
    )));
    let error = source.scrape(&context()).await.expect_err("invalid HCL");
    let IngestError::Parse { path, line, .. } = &error else {
        panic!("expected a parse error, got {error:?}")
    };
    assert_eq!(path, &file);
    let line = line.expect("the parser knows the line");
    assert!((5..=6).contains(&line), "line {line}: {error}");
    assert!(
        error
            .to_string()
            .contains(&format!("{}:{line}:", file.display())),
        "{error}"
    );
}
