//! Conformance of the `terraform_plan` source.

use super::*;

use groundtruth_ingest::source::declared::terraform_plan::TerraformPlanSource;

fn plan(input: Input) -> Box<dyn Source> {
    Box::new(TerraformPlanSource::new("plan", input))
}

#[tokio::test]
async fn terraform_plan_conforms() {
    let path = terraform_fixture("plan/plan.json");
    check_conformance(
        move || plan(Input::new(InputLocation::Path(path.clone()))),
        Some("plan-fixture-db-password"),
    )
    .await;
    let directory = terraform_fixture("plan");
    check_conformance(
        move || plan(Input::new(InputLocation::Path(directory.clone()))),
        Some("plan-fixture-api-token"),
    )
    .await;
}

#[tokio::test]
async fn terraform_plan_rejects_bad_inputs() {
    check_bad_inputs(plan, "plan.json", &BadInput::ALL).await;
}
