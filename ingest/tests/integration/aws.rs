//! The `aws` source against a real moto server (started by each test and seeded with boto3
//! by `tests/fixtures/aws/seed.py`): every service's resources with their attributes, the
//! exact changes a modification records in a real store, a failing region that makes the
//! scrape partial without deleting anything there, and wrong credentials, refused
//! connections, silent servers and garbage responses failing in bounded time.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::{TimeZone, Utc};
use groundtruth_engine::canonical;
use groundtruth_engine::clock::SystemClock;
use groundtruth_engine::model::{Coverage, Layer, Observation, ObservedResource, ScrapeStatus};
use groundtruth_engine::session::Engine;
use groundtruth_engine::store::{Store, StoreOptions, StoreUrl};
use groundtruth_ingest::input::{Input, InputLocation};
use groundtruth_ingest::runner::{Ingestor, RunOptions};
use groundtruth_ingest::source::declared::cloudformation::CloudFormationSource;
use groundtruth_ingest::source::live::aws::{AwsConfig, AwsSource};
use groundtruth_ingest::source::{ScrapeContext, Source};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::support::moto::{
    self, MotoServer, RegionFaultProxy, ACCOUNT, LAMBDA_SECRET, SECRET_ACCESS_KEY,
};

const REGIONS: &[&str] = &["us-east-1", "eu-west-1"];

fn context() -> ScrapeContext {
    ScrapeContext {
        started_at: Utc
            .with_ymd_and_hms(2025, 6, 1, 12, 0, 0)
            .single()
            .expect("valid instant"),
        cancel: CancellationToken::new(),
    }
}

fn config(endpoint: &str, regions: &[&str]) -> AwsConfig {
    moto::use_test_credentials();
    let mut config = AwsConfig::new(regions);
    config.endpoint_url = Some(endpoint.to_string());
    config.max_attempts = Some(2);
    config.call_timeout = Some(Duration::from_secs(20));
    config
}

fn source(endpoint: &str, regions: &[&str]) -> AwsSource {
    AwsSource::new("aws-test", config(endpoint, regions))
}

fn named<'a>(observation: &'a Observation, kind: &str, name: &str) -> &'a ObservedResource {
    observation
        .resources
        .iter()
        .find(|resource| resource.kind == kind && resource.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no {kind} named {name}"))
}

fn names(observation: &Observation, kind: &str) -> Vec<String> {
    observation
        .resources
        .iter()
        .filter(|resource| resource.kind == kind)
        .filter_map(|resource| resource.name.clone())
        .collect()
}

#[tokio::test]
async fn every_service_is_read_with_its_attributes() {
    let server = MotoServer::start();
    server.seed("seed");
    let observation = source(&server.endpoint(), REGIONS)
        .scrape(&context())
        .await
        .expect("scrape");
    assert_eq!(observation.coverage, Coverage::Complete);
    assert!(observation
        .resources
        .iter()
        .all(|resource| resource.layer == Layer::Live
            && resource.labels["account"] == ACCOUNT
            && resource.labels.contains_key("region")));
    let serialized = format!("{:?}", observation);
    assert!(
        !serialized.contains(LAMBDA_SECRET),
        "the planted secret leaked"
    );

    // SQS: attributes under Terraform's names, the redrive policy parsed, tags as labels.
    assert_eq!(
        names(&observation, "aws_sqs_queue"),
        [
            "audit-events",
            "orders",
            "orders-dlq",
            "payments-webhooks-dlq",
            "payments-webhooks-prod"
        ]
    );
    let queue = named(&observation, "aws_sqs_queue", "orders");
    assert_eq!(queue.id, format!("arn:aws:sqs:us-east-1:{ACCOUNT}:orders"));
    assert_eq!(queue.attrs["visibility_timeout_seconds"], 60);
    assert_eq!(queue.attrs["message_retention_seconds"], 345600);
    assert_eq!(queue.attrs["delay_seconds"], 0);
    assert_eq!(queue.attrs["fifo_queue"], false);
    assert_eq!(
        queue.attrs["redrive_policy"],
        json!({
            "deadLetterTargetArn": format!("arn:aws:sqs:us-east-1:{ACCOUNT}:orders-dlq"),
            "maxReceiveCount": 5
        })
    );
    assert_eq!(
        queue.attrs["tags"],
        json!({"env": "prod", "team": "orders"})
    );
    assert_eq!(queue.labels["tag.team"], "orders");
    assert_eq!(queue.labels["region"], "us-east-1");
    let audit = named(&observation, "aws_sqs_queue", "audit-events");
    assert_eq!(
        audit.id,
        format!("arn:aws:sqs:eu-west-1:{ACCOUNT}:audit-events")
    );
    assert_eq!(audit.labels["region"], "eu-west-1");

    // Lambda: configuration, layers, env var names with redacted values.
    let function = named(&observation, "aws_lambda_function", "orders-worker");
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/orders-worker");
    assert_eq!(
        function.id,
        format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:orders-worker")
    );
    assert_eq!(function.attrs["runtime"], "python3.12");
    assert_eq!(function.attrs["handler"], "app.handler");
    assert_eq!(function.attrs["memory_size"], 256);
    assert_eq!(function.attrs["timeout"], 30);
    assert_eq!(function.attrs["role"], role_arn.as_str());
    assert_eq!(
        function.attrs["layers"],
        json!([format!(
            "arn:aws:lambda:us-east-1:{ACCOUNT}:layer:orders-shared:1"
        )])
    );
    let variables = function.attrs["environment"]["variables"]
        .as_object()
        .expect("variables");
    assert_eq!(
        variables.keys().collect::<Vec<_>>(),
        ["DB_PASSWORD", "LOG_LEVEL"]
    );
    assert!(variables.values().all(canonical::is_redacted));
    assert_eq!(function.labels["tag.team"], "orders");
    let mappings: Vec<&ObservedResource> = observation
        .resources
        .iter()
        .filter(|resource| resource.kind == "aws_lambda_event_source_mapping")
        .collect();
    assert_eq!(mappings.len(), 1);
    let mapping = mappings[0];
    assert!(mapping.id.starts_with(&format!(
        "arn:aws:lambda:us-east-1:{ACCOUNT}:event-source-mapping:"
    )));
    assert_eq!(
        mapping.attrs["event_source_arn"],
        format!("arn:aws:sqs:us-east-1:{ACCOUNT}:orders")
    );
    assert_eq!(mapping.attrs["function_arn"], function.id.as_str());
    assert_eq!(mapping.attrs["batch_size"], 10);
    assert_eq!(mapping.attrs["enabled"], true);

    // EC2: the instance by its Name tag, the security group with its rules.
    let instance = named(&observation, "aws_instance", "orders-web-1");
    let instance_id = instance.attrs["id"].as_str().expect("instance id");
    assert_eq!(
        instance.id,
        format!("arn:aws:ec2:us-east-1:{ACCOUNT}:instance/{instance_id}")
    );
    assert_eq!(instance.attrs["instance_type"], "t3.micro");
    assert_eq!(instance.attrs["instance_state"], "running");
    assert!(instance.attrs["ami"]
        .as_str()
        .expect("ami")
        .starts_with("ami-"));
    let group = named(&observation, "aws_security_group", "orders-web");
    let group_id = group.attrs["id"].as_str().expect("group id");
    assert_eq!(
        group.id,
        format!("arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{group_id}")
    );
    assert_eq!(instance.attrs["vpc_security_group_ids"], json!([group_id]));
    // The launch made the instance's primary network interface: its parent is the instance.
    let interface = observation
        .resources
        .iter()
        .find(|resource| {
            resource.kind == "aws_network_interface"
                && resource.attrs["attachment"][0]["instance"] == instance_id
        })
        .expect("the instance's network interface");
    assert!(interface.id.starts_with(&format!(
        "arn:aws:ec2:us-east-1:{ACCOUNT}:network-interface/eni-"
    )));
    assert_eq!(interface.attrs["attachment"][0]["device_index"], 0);
    assert_eq!(interface.attrs["parent"], instance.id.as_str());
    assert_eq!(interface.attrs["security_groups"], json!([group_id]));
    assert_eq!(group.attrs["description"], "Orders web tier");
    let ingress = group.attrs["ingress"].as_array().expect("ingress");
    assert_eq!(ingress.len(), 2);
    assert_eq!(
        ingress[0],
        json!({
            "protocol": "tcp", "from_port": 443, "to_port": 443,
            "cidr_blocks": ["0.0.0.0/0"], "ipv6_cidr_blocks": [], "prefix_list_ids": [],
            "security_groups": [], "self": false, "description": null,
        })
    );
    assert_eq!(ingress[1]["from_port"], 5432);
    assert_eq!(ingress[1]["self"], true);
    assert_eq!(ingress[1]["cidr_blocks"], json!([]));
    assert_eq!(group.attrs["egress"][0]["protocol"], "-1");

    // S3: global, each bucket labelled with its own region.
    assert_eq!(
        names(&observation, "aws_s3_bucket"),
        ["orders-artifacts", "orders-eu-logs", "payments-receipts"]
    );
    let bucket = named(&observation, "aws_s3_bucket", "orders-artifacts");
    assert_eq!(bucket.id, "arn:aws:s3:::orders-artifacts");
    assert_eq!(bucket.labels["region"], "us-east-1");
    assert_eq!(
        bucket.attrs["server_side_encryption_configuration"]["rule"][0]["sse_algorithm"],
        "AES256"
    );
    let policy = bucket.attrs["policy"].as_str().expect("policy text");
    assert!(policy.contains("aws:SecureTransport"), "{policy}");
    assert_eq!(
        bucket.attrs["policy_sha256"],
        canonical_sha256(policy).as_str()
    );
    assert_eq!(bucket.labels["tag.team"], "orders");
    let eu_bucket = named(&observation, "aws_s3_bucket", "orders-eu-logs");
    assert_eq!(eu_bucket.labels["region"], "eu-west-1");
    assert_eq!(eu_bucket.attrs["policy"], Value::Null);
    // moto before 5.2.6 answered GetBucketVersioning with a `GetBucketVersioningResponse` root
    // the SDK refuses: the buckets were kept without `versioning`, and a warning said why. From
    // 5.2.6 the reply is valid and the seeded configuration must be read exactly.
    let versioning_warnings = observation
        .warnings
        .iter()
        .filter(|warning| warning.contains("versioning of bucket"))
        .count();
    match bucket.attrs.get("versioning") {
        Some(versioning) => {
            assert_eq!(versioning["enabled"], true, "{versioning}");
            assert_eq!(versioning["mfa_delete"], false, "{versioning}");
            assert_eq!(eu_bucket.attrs["versioning"]["enabled"], false);
            assert_eq!(versioning_warnings, 0, "{:?}", observation.warnings);
        }
        None => assert!(observation
            .warnings
            .iter()
            .any(|warning| warning.contains("versioning of bucket orders-artifacts"))),
    }
    // moto also lists the stack's Secrets Manager secret without a logical id.
    assert!(
        observation
            .warnings
            .iter()
            .all(|warning| warning.len() < 700
                && (warning.contains("versioning of bucket")
                    || warning.contains("stack payments lists a"))),
        "{:?}",
        observation.warnings
    );
    assert_eq!(
        observation.warnings.len() - versioning_warnings,
        1,
        "{:?}",
        observation.warnings
    );

    // DynamoDB: keys, indexes, billing mode.
    let table = named(&observation, "aws_dynamodb_table", "orders");
    assert_eq!(
        table.id,
        format!("arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orders")
    );
    assert_eq!(table.attrs["billing_mode"], "PAY_PER_REQUEST");
    assert_eq!(table.attrs["hash_key"], "pk");
    assert_eq!(table.attrs["range_key"], "sk");
    assert_eq!(
        table.attrs["global_secondary_index"],
        json!([{
            "name": "by-customer", "hash_key": "customer_id", "range_key": null,
            "projection_type": "ALL", "non_key_attributes": [],
        }])
    );
    assert_eq!(
        table.attrs["local_secondary_index"],
        json!([{
            "name": "by-created", "range_key": "created_at",
            "projection_type": "KEYS_ONLY", "non_key_attributes": [],
        }])
    );
    assert_eq!(
        table.attrs["attribute"][0],
        json!({"name": "created_at", "type": "N"})
    );

    // RDS.
    let db = named(&observation, "aws_db_instance", "orders-db");
    assert_eq!(
        db.id,
        format!("arn:aws:rds:us-east-1:{ACCOUNT}:db:orders-db")
    );
    assert_eq!(db.attrs["engine"], "postgres");
    assert_eq!(db.attrs["engine_version"], "15.4");
    assert_eq!(db.attrs["instance_class"], "db.t3.micro");
    assert_eq!(db.attrs["allocated_storage"], 20);
    assert_eq!(db.attrs["username"], "orders");
    assert_eq!(db.labels["tag.team"], "orders");

    // IAM: global, the trust policy parsed, attached and inline policies.
    let role = named(&observation, "aws_iam_role", "orders-worker");
    assert_eq!(role.id, role_arn);
    assert_eq!(
        role.attrs["assume_role_policy"]["Statement"][0]["Principal"]["Service"],
        "lambda.amazonaws.com"
    );
    assert_eq!(
        role.attrs["managed_policy_arns"],
        json!([format!("arn:aws:iam::{ACCOUNT}:policy/orders-queue-access")])
    );
    assert_eq!(role.attrs["inline_policy_names"], json!(["logs"]));
    assert_eq!(role.labels["tag.team"], "orders");

    // CloudFormation: the stack, its NoEcho parameter redacted, and its resources under the
    // ids the declared source gives the same template.
    let stack = named(&observation, "aws_cloudformation_stack", "payments");
    assert!(stack.id.starts_with(&format!(
        "arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/payments/"
    )));
    assert_eq!(stack.attrs["status"], "CREATE_COMPLETE");
    assert_eq!(stack.attrs["parameters"]["Stage"], "prod");
    assert!(canonical::is_redacted(
        &stack.attrs["parameters"]["StripeApiKey"]
    ));
    assert_eq!(
        stack.attrs["outputs"]["ReceiptsBucketName"],
        "payments-receipts"
    );
    let queue_resource = observation
        .resources
        .iter()
        .find(|resource| resource.id == "payments/WebhookQueue")
        .expect("stack resource");
    assert_eq!(queue_resource.kind, "aws_cloudformation_stack_resource");
    assert_eq!(queue_resource.attrs["resource_type"], "AWS::SQS::Queue");
    assert_eq!(queue_resource.attrs["status"], "CREATE_COMPLETE");
    assert!(queue_resource.attrs["physical_id"]
        .as_str()
        .expect("physical id")
        .ends_with("/payments-webhooks-prod"));
    assert_eq!(queue_resource.labels["live.kind"], "aws_sqs_queue");
    let bucket_resource = observation
        .resources
        .iter()
        .find(|resource| resource.id == "payments/ReceiptsBucket")
        .expect("stack resource");
    assert_eq!(bucket_resource.attrs["physical_id"], "payments-receipts");
    assert_eq!(bucket_resource.labels["live.kind"], "aws_s3_bucket");

    let declared = CloudFormationSource::new(
        "payments-template",
        Input::new(InputLocation::Path(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../tests/fixtures/cloudformation/payments.json"),
        )),
        None,
    )
    .scrape(&context())
    .await
    .expect("declared template");
    let declared_ids: BTreeSet<&str> = declared
        .resources
        .iter()
        .filter(|resource| resource.kind.starts_with("AWS::"))
        .map(|resource| resource.id.as_str())
        .collect();
    let live_ids: BTreeSet<&str> = observation
        .resources
        .iter()
        .filter(|resource| resource.kind == "aws_cloudformation_stack_resource")
        .map(|resource| resource.id.as_str())
        .collect();
    // moto lists the Secrets Manager secret without a logical id (a warning says so); every
    // other logical id joins its declared resource.
    assert_eq!(
        declared_ids.difference(&live_ids).collect::<Vec<_>>(),
        [&"payments/ProviderSecret"]
    );
    assert!(live_ids.is_subset(&declared_ids), "{live_ids:?}");
}

fn canonical_sha256(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[tokio::test]
async fn services_and_regions_are_configurable() {
    let server = MotoServer::start();
    server.seed("seed");
    let mut config = config(&server.endpoint(), &["eu-west-1"]);
    config.services = Some(vec!["sqs".into(), "s3".into()]);
    config.max_in_flight = Some(1);
    let observation = AwsSource::new("aws-test", config)
        .scrape(&context())
        .await
        .expect("scrape");
    let kinds: BTreeSet<&str> = observation
        .resources
        .iter()
        .map(|resource| resource.kind.as_str())
        .collect();
    assert_eq!(kinds, BTreeSet::from(["aws_s3_bucket", "aws_sqs_queue"]));
    assert_eq!(names(&observation, "aws_sqs_queue"), ["audit-events"]);
    assert_eq!(names(&observation, "aws_s3_bucket").len(), 3);
}

async fn rows(engine: &Engine, sql: &str) -> BTreeSet<Vec<String>> {
    let batches = engine
        .query(sql)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
    let mut rows = BTreeSet::new();
    for batch in &batches {
        let formatters: Vec<ArrayFormatter> = batch
            .columns()
            .iter()
            .map(|column| {
                ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())
                    .expect("formatter")
            })
            .collect();
        for row in 0..batch.num_rows() {
            rows.insert(
                formatters
                    .iter()
                    .map(|formatter| formatter.value(row).to_string())
                    .collect(),
            );
        }
    }
    rows
}

async fn open_store() -> (tempfile::TempDir, Arc<Store>, Ingestor) {
    let directory = tempfile::tempdir().expect("tempdir");
    let url = StoreUrl::parse(directory.path().to_str().expect("utf-8 path")).expect("url");
    let store = Arc::new(
        Store::open(&url, &StoreOptions::default())
            .await
            .expect("open store"),
    );
    let ingestor = Ingestor::open(Arc::clone(&store), Arc::new(SystemClock))
        .await
        .expect("ingestor");
    (directory, store, ingestor)
}

#[tokio::test]
async fn store_records_exactly_the_changes() {
    let server = MotoServer::start();
    server.seed("seed");
    let (_directory, store, ingestor) = open_store().await;
    let source = source(&server.endpoint(), REGIONS);
    let cancel = CancellationToken::new();
    let first = ingestor
        .run_once(&source, RunOptions::default(), &cancel)
        .await
        .expect("first ingest");
    assert_eq!(first.status, ScrapeStatus::Ok, "{:?}", first.error);

    server.seed("modify");
    let second = ingestor
        .run_once(&source, RunOptions::default(), &cancel)
        .await
        .expect("second ingest");
    assert_eq!(second.status, ScrapeStatus::Ok, "{:?}", second.error);

    let engine = Engine::open(Arc::clone(&store)).await.expect("engine");
    let since = first.started_at.format("%Y-%m-%d %H:%M:%S%.6f");
    let changes = rows(
        &engine,
        &format!(
            "SELECT kind, id, change FROM changes(TIMESTAMP '{since}', now()) \
             WHERE source = 'aws-test'"
        ),
    )
    .await;
    let table = format!("arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orders");
    let queue = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:orders");
    let (mappings, others): (BTreeSet<Vec<String>>, BTreeSet<Vec<String>>) = changes
        .into_iter()
        .partition(|row| row[0] == "aws_lambda_event_source_mapping");
    assert_eq!(
        others,
        BTreeSet::from([
            vec![
                "aws_dynamodb_table".to_string(),
                table.clone(),
                "modified".to_string()
            ],
            vec![
                "aws_sqs_queue".to_string(),
                queue.clone(),
                "modified".to_string()
            ],
        ])
    );
    assert_eq!(mappings.len(), 1, "{mappings:?}");
    assert_eq!(mappings.iter().next().expect("mapping")[2], "added");

    assert_eq!(
        rows(
            &engine,
            &format!(
                "SELECT attrs->>'visibility_timeout_seconds' FROM resources \
                 WHERE source = 'aws-test' AND id = '{queue}'"
            ),
        )
        .await,
        BTreeSet::from([vec!["120".to_string()]])
    );
    assert_eq!(
        rows(
            &engine,
            "SELECT attrs->>'event_source_arn' FROM resources \
             WHERE source = 'aws-test' AND kind = 'aws_lambda_event_source_mapping'",
        )
        .await,
        BTreeSet::from([
            vec![format!("arn:aws:sqs:us-east-1:{ACCOUNT}:orders")],
            vec![format!("arn:aws:sqs:us-east-1:{ACCOUNT}:orders-dlq")],
        ])
    );

    // The README's examples.
    assert_eq!(
        rows(
            &engine,
            "SELECT name, attrs->>'visibility_timeout_seconds' FROM resources \
             WHERE source = 'aws-test' AND kind = 'aws_sqs_queue' \
               AND CAST(attrs->>'visibility_timeout_seconds' AS INT) >= 60",
        )
        .await,
        BTreeSet::from([vec!["orders".to_string(), "120".to_string()]])
    );
    assert_eq!(
        rows(
            &engine,
            "SELECT id, attrs->>'resource_type', attrs->>'physical_id' FROM resources \
             WHERE source = 'aws-test' AND kind = 'aws_cloudformation_stack_resource' \
               AND id LIKE 'payments/%' AND attrs->>'resource_type' = 'AWS::S3::Bucket'",
        )
        .await,
        BTreeSet::from([vec![
            "payments/ReceiptsBucket".to_string(),
            "AWS::S3::Bucket".to_string(),
            "payments-receipts".to_string()
        ]])
    );
}

async fn current_ids(engine: &Engine) -> BTreeSet<Vec<String>> {
    engine.refresh().await.expect("refresh");
    rows(
        engine,
        "SELECT kind, id FROM resources WHERE source = 'aws-test'",
    )
    .await
}

#[tokio::test]
async fn a_failing_region_is_partial_and_a_failed_scrape_deletes_nothing() {
    let server = MotoServer::start();
    server.seed("seed");
    let proxy = RegionFaultProxy::start(server.port);
    let (_directory, store, ingestor) = open_store().await;
    let cancel = CancellationToken::new();
    let aws = source(&proxy.endpoint(), REGIONS);
    let first = ingestor
        .run_once(&aws, RunOptions::default(), &cancel)
        .await
        .expect("first ingest");
    assert_eq!(first.status, ScrapeStatus::Ok, "{:?}", first.error);
    let engine = Engine::open(Arc::clone(&store)).await.expect("engine");
    let before = current_ids(&engine).await;
    assert!(before.contains(&vec![
        "aws_sqs_queue".to_string(),
        format!("arn:aws:sqs:eu-west-1:{ACCOUNT}:audit-events")
    ]));

    // eu-west-1 goes down while an us-east-1 queue is deleted: only the deletion is recorded.
    proxy.fail_region(Some("eu-west-1"));
    let observation = aws.scrape(&context()).await.expect("partial scrape");
    let Coverage::Partial { covered, failures } = &observation.coverage else {
        panic!("not partial: {:?}", observation.coverage);
    };
    let failed_units: Vec<&str> = failures
        .iter()
        .map(|failure| failure.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        failed_units,
        [
            "sqs in eu-west-1",
            "lambda in eu-west-1",
            "ec2 in eu-west-1",
            "dynamodb in eu-west-1",
            "rds in eu-west-1",
            "cloudformation in eu-west-1"
        ],
        "{failures:?}"
    );
    assert!(
        failures[0].contains("HTTP 503: service unavailable"),
        "{failures:?}"
    );
    assert!(covered
        .iter()
        .any(|scope| scope.kind.as_deref() == Some("aws_sqs_queue")
            && scope.id_prefix.as_deref() == Some("arn:aws:sqs:us-east-1:")));
    assert!(covered
        .iter()
        .any(|scope| scope.kind.as_deref() == Some("aws_s3_bucket") && scope.id_prefix.is_none()));
    assert!(!covered
        .iter()
        .any(|scope| scope.kind.as_deref() == Some("aws_cloudformation_stack_resource")));

    delete_queue(&server, "orders-dlq");
    let second = ingestor
        .run_once(&aws, RunOptions::default(), &cancel)
        .await
        .expect("second ingest");
    assert_eq!(second.status, ScrapeStatus::Partial, "{:?}", second.error);
    assert!(second.error.as_deref().unwrap_or("").contains("eu-west-1"));
    let after = current_ids(&engine).await;
    let dlq = vec![
        "aws_sqs_queue".to_string(),
        format!("arn:aws:sqs:us-east-1:{ACCOUNT}:orders-dlq"),
    ];
    let expected: BTreeSet<Vec<String>> =
        before.iter().filter(|row| **row != dlq).cloned().collect();
    assert_eq!(after, expected);

    // The endpoint refuses connections: a failed scrape, and everything is still there.
    let closed = moto::free_port();
    let mut dead = config(&format!("http://127.0.0.1:{closed}"), REGIONS);
    dead.max_attempts = Some(1);
    let third = ingestor
        .run_once(
            &AwsSource::new("aws-test", dead),
            RunOptions::default(),
            &cancel,
        )
        .await
        .expect("third ingest");
    assert_eq!(third.status, ScrapeStatus::Failed);
    assert_eq!(current_ids(&engine).await, expected);
}

#[tokio::test]
async fn failed_details_are_warnings_and_unlisted_stack_resources_stay_uncovered() {
    let server = MotoServer::start();
    server.seed("seed");
    let proxy = RegionFaultProxy::start(server.port);
    let aws = source(&proxy.endpoint(), &["us-east-1"]);

    // A queue's tags cannot be read: the queue is kept without them, with a warning, and
    // the scrape stays complete.
    proxy.fail_requests_containing(Some("AmazonSQS.ListQueueTags"));
    let observation = aws.scrape(&context()).await.expect("scrape");
    assert_eq!(observation.coverage, Coverage::Complete);
    let queue = named(&observation, "aws_sqs_queue", "orders");
    assert_eq!(queue.attrs["visibility_timeout_seconds"], 60);
    assert_eq!(queue.attrs["tags"], json!({}));
    assert!(observation.warnings.iter().any(|warning| warning
        .starts_with("sqs in us-east-1: tags of queue orders not read")
        && warning.contains("ListQueueTags")));

    // A stack's resources cannot be listed: the stack is kept, its resources are missing and
    // uncovered (so none reads as deleted); everything else is covered.
    proxy.fail_requests_containing(Some("Action=ListStackResources"));
    let observation = aws.scrape(&context()).await.expect("scrape");
    let Coverage::Partial { covered, failures } = &observation.coverage else {
        panic!("not partial: {:?}", observation.coverage);
    };
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0]
            .starts_with("cloudformation in us-east-1: resources of stack payments not read"),
        "{failures:?}"
    );
    named(&observation, "aws_cloudformation_stack", "payments");
    assert!(names(&observation, "aws_cloudformation_stack_resource").is_empty());
    let covered_kinds: BTreeSet<&str> = covered
        .iter()
        .filter_map(|scope| scope.kind.as_deref())
        .collect();
    assert!(covered_kinds.contains("aws_cloudformation_stack"));
    assert!(covered_kinds.contains("aws_sqs_queue"));
    assert!(!covered_kinds.contains("aws_cloudformation_stack_resource"));
}

#[tokio::test]
async fn throttled_calls_are_retried_with_backoff_until_the_attempts_run_out() {
    let server = MotoServer::start();
    server.seed("seed");
    let proxy = RegionFaultProxy::start(server.port);
    let mut settings = config(&proxy.endpoint(), &["us-east-1"]);
    settings.services = Some(vec!["sqs".to_string()]);
    settings.max_attempts = Some(4);

    // Throttled twice, then answered: the scrape succeeds with every queue.
    proxy.throttle("AmazonSQS.ListQueues", 2);
    let observation = AwsSource::new("aws-test", settings.clone())
        .scrape(&context())
        .await
        .expect("retries get past the throttling");
    assert_eq!(proxy.throttled(), 2);
    assert_eq!(observation.coverage, Coverage::Complete);
    assert_eq!(
        named(&observation, "aws_sqs_queue", "orders").attrs["visibility_timeout_seconds"],
        60
    );

    // Throttled more often than the attempts allow: the unit fails, and with it the scrape,
    // naming the throttling; it does not hang or retry without end.
    proxy.throttle("AmazonSQS.ListQueues", 100);
    let error = AwsSource::new("aws-test", settings)
        .scrape(&context())
        .await
        .expect_err("out of attempts");
    assert_eq!(proxy.throttled(), 4, "max_attempts bounds the retries");
    assert!(error.to_string().contains("ThrottlingException"), "{error}");
}

fn delete_queue(server: &MotoServer, name: &str) {
    let script = format!(
        "import boto3\nc = boto3.client('sqs', region_name='us-east-1', endpoint_url='{}')\n\
         c.delete_queue(QueueUrl=c.get_queue_url(QueueName='{name}')['QueueUrl'])\n",
        server.endpoint()
    );
    let status = std::process::Command::new(moto::venv().join("bin/python"))
        .args(["-c", &script])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .status()
        .expect("run python");
    assert!(status.success());
}

/// A scrape against `endpoint` must fail within `limit`, with an error containing `expected`
/// and never the secret key.
async fn fails_within(endpoint: &str, limit: Duration, expected: &[&str]) -> String {
    let mut config = config(endpoint, REGIONS);
    config.max_attempts = Some(1);
    config.call_timeout = Some(Duration::from_secs(2));
    let started = Instant::now();
    let error = AwsSource::new("aws-test", config)
        .scrape(&context())
        .await
        .expect_err("the scrape must fail")
        .to_string();
    assert!(
        started.elapsed() < limit,
        "took {:?}: {error}",
        started.elapsed()
    );
    for part in expected {
        assert!(error.contains(part), "missing {part:?} in: {error}");
    }
    assert!(!error.contains(SECRET_ACCESS_KEY), "{error}");
    assert!(error.len() < 1000, "{error}");
    println!("{error}");
    error
}

#[tokio::test]
async fn wrong_credentials_fail_the_scrape() {
    let server = MotoServer::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]);
    fails_within(
        &server.endpoint(),
        Duration::from_secs(20),
        &["GetCallerIdentity", "InvalidClientTokenId"],
    )
    .await;
}

#[tokio::test]
async fn a_refused_connection_fails_fast() {
    let port = moto::free_port();
    fails_within(
        &format!("http://127.0.0.1:{port}"),
        Duration::from_secs(10),
        &["GetCallerIdentity", &port.to_string()],
    )
    .await;
}

#[tokio::test]
async fn a_silent_server_fails_within_the_call_timeout() {
    let port = moto::silent_server();
    let error = fails_within(
        &format!("http://127.0.0.1:{port}"),
        Duration::from_secs(10),
        &["GetCallerIdentity"],
    )
    .await;
    assert!(error.contains("timeout"), "{error}");
}

#[tokio::test]
async fn a_response_that_is_not_xml_fails_clearly() {
    let port = moto::garbage_server();
    fails_within(
        &format!("http://127.0.0.1:{port}"),
        Duration::from_secs(10),
        &[
            "GetCallerIdentity",
            "HTTP 200: %%% definitely not XML or JSON %%%",
        ],
    )
    .await;
}

#[test]
fn configuration_parses_and_unknown_services_are_named() {
    use groundtruth_ingest::config::{SourceConfig, SourceKind};
    #[derive(serde::Deserialize)]
    struct File {
        sources: Vec<SourceConfig>,
    }
    let file: File = toml::from_str(
        r#"
        [[sources]]
        type = "aws"
        name = "aws-prod"
        regions = ["us-east-1", "eu-west-1"]
        services = ["sqs", "iam"]
        endpoint_url = "http://127.0.0.1:5000"
        max_in_flight = 4
        max_attempts = 3
        call_timeout = "10s"
        interval = "10m"
        "#,
    )
    .expect("parse");
    let SourceKind::Aws(config) = &file.sources[0].kind else {
        panic!("not aws: {:?}", file.sources[0]);
    };
    assert_eq!(config.regions, ["us-east-1", "eu-west-1"]);
    assert_eq!(config.call_timeout, Some(Duration::from_secs(10)));
    assert!(file.sources[0].location().is_none());
    let built = file.sources[0].build(Utc::now()).expect("build");
    assert_eq!(built.source.source_type(), "aws");

    let file: File = toml::from_str(
        "[[sources]]\ntype = \"aws\"\nname = \"x\"\nregions = [\"us-east-1\"]\nservices = [\"sqs\", \"sns\"]\n",
    )
    .expect("parse");
    let error = file.sources[0].build(Utc::now()).unwrap_err().to_string();
    assert!(error.contains("'sns'"), "{error}");
    let file: File =
        toml::from_str("[[sources]]\ntype = \"aws\"\nname = \"x\"\nregions = []\n").expect("parse");
    let error = file.sources[0].build(Utc::now()).unwrap_err().to_string();
    assert!(error.contains("regions"), "{error}");
    let error = toml::from_str::<File>(
        "[[sources]]\ntype = \"aws\"\nname = \"x\"\nregions = [\"us-east-1\"]\nsecret_key = \"k\"\n",
    )
    .err()
    .expect("unknown field refused")
    .to_string();
    assert!(error.contains("secret_key"), "{error}");
}
