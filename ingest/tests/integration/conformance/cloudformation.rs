//! Conformance of the `cloudformation` source.

use super::*;
use groundtruth_engine::canonical;
use groundtruth_ingest::source::declared::cloudformation::CloudFormationSource;
use serde_json::Value;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/cloudformation"
);
const YAML_SECRETS: [&str; 2] = ["cfn-fixture-db-password-1", "tok-fixture-payments-9f3a"];
const JSON_SECRET: &str = "sk-fixture-stripe-7c1e";

fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

fn source(path: PathBuf, stack: Option<&str>) -> impl Fn() -> Box<dyn Source> {
    let stack = stack.map(str::to_string);
    move || {
        Box::new(CloudFormationSource::new(
            "cfn",
            Input::new(InputLocation::Path(path.clone())),
            stack.clone(),
        )) as Box<dyn Source>
    }
}

async fn observe(path: PathBuf, stack: Option<&str>) -> Observation {
    source(path, stack)()
        .scrape(&context())
        .await
        .expect("fixture scrapes")
}

fn find<'a>(observation: &'a Observation, kind: &str, id: &str) -> &'a ObservedResource {
    observation
        .resources
        .iter()
        .find(|resource| resource.kind == kind && resource.id == id)
        .unwrap_or_else(|| panic!("no {kind} {id}"))
}

#[tokio::test]
async fn cloudformation_conforms() {
    for secret in YAML_SECRETS {
        check_conformance(source(fixture("orders-service.yaml"), None), Some(secret)).await;
    }
    check_conformance(source(fixture("payments.json"), None), Some(JSON_SECRET)).await;
    check_conformance(
        source(PathBuf::from(FIXTURES), Some("shared")),
        Some(JSON_SECRET),
    )
    .await;
}

#[tokio::test]
async fn cloudformation_rejects_bad_inputs() {
    check_bad_inputs(
        |input| Box::new(CloudFormationSource::new("cfn", input, None)) as Box<dyn Source>,
        "template.yaml",
        &BadInput::ALL,
    )
    .await;
}

#[tokio::test]
async fn cloudformation_yaml_syntax_error_names_file_and_line() {
    let directory = tempfile::tempdir().expect("tempdir");
    let file = directory.path().join("broken.yaml");
    fs::write(
        &file,
        "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties: {QueueName: [x\n",
    )
    .expect("write");
    let error = source(file.clone(), None)()
        .scrape(&context())
        .await
        .expect_err("syntax error");
    let text = error.to_string();
    let prefix = format!("{}:", file.display());
    assert!(text.starts_with(&prefix), "{text}");
    let line: usize = text[prefix.len()..]
        .split(':')
        .next()
        .and_then(|line| line.parse().ok())
        .unwrap_or_else(|| panic!("no line in {text}"));
    assert!((4..=5).contains(&line), "{text}");
}

#[tokio::test]
async fn cloudformation_rejects_non_template() {
    let directory = tempfile::tempdir().expect("tempdir");
    fs::write(
        directory.path().join("a.yaml"),
        "Resources: {Q: {Type: AWS::SQS::Queue}}\n",
    )
    .expect("write");
    let values = directory.path().join("values.yml");
    fs::write(&values, "replicaCount: 2\nimage: {tag: v1}\n").expect("write");
    check_rejects(source(directory.path().to_path_buf(), None)(), &values).await;
}

#[tokio::test]
async fn cloudformation_yaml_template_field_by_field() {
    let observation = observe(fixture("orders-service.yaml"), None).await;
    assert!(
        observation.warnings.is_empty(),
        "{:?}",
        observation.warnings
    );

    let queue = find(
        &observation,
        "AWS::SQS::Queue",
        "orders-service/OrdersQueue",
    );
    assert_eq!(queue.name.as_deref(), Some("OrdersQueue"));
    assert_eq!(
        queue.attrs,
        json!({
            "Properties": {
                "QueueName": "orders-events",
                // `!Ref QueueRetentionSeconds` resolved to the parameter's literal default.
                "MessageRetentionPeriod": 345600,
                "VisibilityTimeout": 60,
                "FifoQueue": {"Fn::If": ["UseFifo", true, {"Ref": "AWS::NoValue"}]},
                "Tags": [{"Key": "team", "Value": "orders"}]
            },
            "DependsOn": [],
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain"
        })
    );
    let labels: Vec<(&str, &str)> = queue
        .labels
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    assert_eq!(
        labels,
        vec![
            ("cloudformation.file", "orders-service.yaml"),
            ("cloudformation.logical_id", "OrdersQueue"),
            ("cloudformation.stack", "orders-service"),
            ("live.kind", "aws_sqs_queue"),
            ("live.name", "orders-events"),
        ]
    );

    let table = find(
        &observation,
        "AWS::DynamoDB::Table",
        "orders-service/OrdersTable",
    );
    assert_eq!(
        table.attrs["Properties"]["TableName"],
        json!({"Fn::Sub": "orders-${Environment}"})
    );
    // Not a literal name: no live.name.
    assert!(!table.labels.contains_key("live.name"));
    assert_eq!(table.labels["live.kind"], "aws_dynamodb_table");

    let role = find(&observation, "AWS::IAM::Role", "orders-service/WorkerRole");
    assert_eq!(
        role.attrs["Properties"]["ManagedPolicyArns"],
        json!([{"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"},
            ":iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"]]}])
    );
    assert_eq!(role.labels["live.name"], "orders-worker");

    let worker = find(
        &observation,
        "AWS::Lambda::Function",
        "orders-service/OrdersWorker",
    );
    assert_eq!(worker.attrs["DependsOn"], json!(["WorkerRole"]));
    assert_eq!(
        worker.attrs["Properties"]["Role"],
        json!({"Fn::GetAtt": ["WorkerRole", "Arn"]})
    );
    assert_eq!(
        worker.attrs["Properties"]["Code"]["ZipFile"],
        json!({"Fn::Base64": "def handler(event, context):\n    return {\"ok\": True}\n"})
    );
    let variables = &worker.attrs["Properties"]["Environment"]["Variables"];
    assert_eq!(variables["TABLE_NAME"], json!({"Ref": "OrdersTable"}));
    assert!(canonical::is_redacted(&variables["PAYMENT_API_TOKEN"]));
    assert!(canonical::is_redacted(&variables["LOG_LEVEL"]));
    assert_eq!(worker.labels["live.kind"], "aws_lambda_function");

    let mapping = find(
        &observation,
        "AWS::Lambda::EventSourceMapping",
        "orders-service/OrdersMapping",
    );
    assert_eq!(
        mapping.attrs["DependsOn"],
        json!(["OrdersQueue", "OrdersWorker"])
    );
    assert_eq!(
        mapping.attrs["Properties"]["EventSourceArn"],
        json!({"Fn::GetAtt": ["OrdersQueue", "Arn"]})
    );
    assert_eq!(
        mapping.labels["live.kind"],
        "aws_lambda_event_source_mapping"
    );

    let group = find(
        &observation,
        "AWS::EC2::SecurityGroup",
        "orders-service/AppSecurityGroup",
    );
    assert_eq!(
        group.attrs["Properties"]["VpcId"],
        json!({"Fn::ImportValue": {"Fn::Sub": "${SharedVpcExport}-VpcId"}})
    );
    assert_eq!(
        group.attrs["Properties"]["SecurityGroupIngress"][0]["CidrIp"],
        json!({"Fn::Select": [0, {"Fn::Cidr": ["10.20.0.0/16", 4, 8]}]})
    );

    let bastion = find(
        &observation,
        "AWS::EC2::Instance",
        "orders-service/BastionHost",
    );
    assert_eq!(bastion.attrs["Condition"], json!("IsNotProd"));
    assert_eq!(
        bastion.attrs["Properties"],
        json!({
            "ImageId": {"Fn::FindInMap": ["RegionAmi", {"Ref": "AWS::Region"}, "Ami"]},
            "InstanceType": "t3.micro",
            "AvailabilityZone": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
            "SubnetId": {"Fn::Select": [1, {"Fn::Split": [",",
                {"Fn::ImportValue": "shared-private-subnets"}]}]},
            "SecurityGroupIds": [{"Ref": "AppSecurityGroup"}],
            "UserData": {"Fn::Base64": {"Fn::Join": ["\n",
                ["#!/bin/bash", {"Fn::Sub": "echo ${Environment} > /etc/orders-env"}]]}}
        })
    );
    assert_eq!(bastion.labels["live.kind"], "aws_instance");

    let database = find(
        &observation,
        "AWS::RDS::DBInstance",
        "orders-service/OrdersDatabase",
    );
    assert!(canonical::is_redacted(
        &database.attrs["Properties"]["MasterUserPassword"]
    ));
    assert_eq!(database.attrs["Properties"]["MasterUsername"], "orders");
    assert_eq!(
        database.attrs["Properties"]["DBInstanceClass"],
        json!({"Fn::If": ["IsProd", "db.r6g.large", "db.t4g.micro"]})
    );
    assert_eq!(database.attrs["Properties"]["AllocatedStorage"], "20");
    assert_eq!(database.attrs["DeletionPolicy"], "Snapshot");
    assert_eq!(database.labels["live.name"], "orders-db");

    let bucket = find(
        &observation,
        "AWS::S3::Bucket",
        "orders-service/ArtifactsBucket",
    );
    assert_eq!(
        bucket.attrs["Properties"]["Tags"],
        json!({"Fn::Transform": {"Name": "AWS::Include",
            "Parameters": {"Location": "s3://orders-shared/tags.yaml"}}})
    );

    let password = find(
        &observation,
        "cloudformation_parameter",
        "orders-service/DbPassword",
    );
    assert_eq!(password.attrs["NoEcho"], true);
    assert!(canonical::is_redacted(&password.attrs["Default"]));
    let environment = find(
        &observation,
        "cloudformation_parameter",
        "orders-service/Environment",
    );
    assert_eq!(
        environment.attrs,
        json!({"Type": "String", "Default": "staging", "AllowedValues": ["staging", "prod"]})
    );

    let output = find(
        &observation,
        "cloudformation_output",
        "orders-service/EnvironmentName",
    );
    assert_eq!(output.attrs, json!({"Value": "staging"}));
    let output = find(
        &observation,
        "cloudformation_output",
        "orders-service/QueueUrl",
    );
    assert_eq!(
        output.attrs,
        json!({"Value": {"Ref": "OrdersQueue"},
               "Export": {"Name": {"Fn::Sub": "${AWS::StackName}-QueueUrl"}}})
    );

    let stack = find(&observation, "cloudformation_stack", "orders-service");
    assert_eq!(stack.attrs["Transform"], "AWS::LanguageExtensions");
    assert_eq!(
        stack.attrs["Conditions"],
        json!({
            "IsProd": {"Fn::Equals": [{"Ref": "Environment"}, "prod"]},
            "IsNotProd": {"Fn::Not": [{"Condition": "IsProd"}]},
            "UseFifo": {"Fn::And": [{"Condition": "IsProd"}, {"Fn::Or": [
                {"Fn::Equals": [{"Ref": "AWS::Region"}, "eu-west-1"]},
                {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}]}]}
        })
    );
    assert_eq!(
        stack.attrs["Mappings"]["RegionAmi"]["eu-west-1"]["Ami"],
        "ami-0a1b2c3d4e5f60718"
    );

    let kinds: Vec<(&str, &str)> = observation
        .resources
        .iter()
        .map(|resource| (resource.kind.as_str(), resource.id.as_str()))
        .collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(kinds, sorted);
    assert_eq!(kinds.len(), 9 + 5 + 3 + 1);
}

#[tokio::test]
async fn cloudformation_json_template_snapshot() {
    let observation = observe(fixture("payments.json"), Some("payments-prod")).await;
    assert!(
        observation.warnings.is_empty(),
        "{:?}",
        observation.warnings
    );
    let secret = find(
        &observation,
        "AWS::SecretsManager::Secret",
        "payments-prod/ProviderSecret",
    );
    assert!(canonical::is_redacted(
        &secret.attrs["Properties"]["SecretString"]
    ));
    let resources: Vec<Value> = observation
        .resources
        .iter()
        .map(|resource| {
            json!({
                "kind": resource.kind,
                "id": resource.id,
                "name": resource.name,
                "attrs": resource.attrs,
                "labels": resource.labels,
            })
        })
        .collect();
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!("cloudformation_payments", resources);
    });
}
