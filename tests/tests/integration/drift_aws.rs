//! Drift between a Terraform state and an AWS account (moto on loopback), through the real
//! binary: the state declares two queues that exist; a hand change of one queue's visibility
//! timeout and a queue created by hand give exactly one `changed` row (with the attribute and
//! both values) and one `unmanaged` row; a failed live scrape turns the rows `stale` instead of
//! asserting anything (and nothing reads as missing).

use std::path::Path;
use std::process::Command;

use groundtruth_tests::{cli, connect, free_port, rows, write_config, Server};
use serde_json::json;

use crate::support::moto;

/// A queue as `terraform show`/tfstate v4 records it, for the account and region moto serves.
fn state_queue(name: &str, visibility_timeout: u32) -> serde_json::Value {
    let arn = format!("arn:aws:sqs:us-east-1:{}:{name}", moto::ACCOUNT);
    json!({
        "mode": "managed",
        "type": "aws_sqs_queue",
        "name": name.replace('-', "_"),
        "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
        "instances": [{
            "schema_version": 0,
            "attributes": {
                "arn": arn,
                "content_based_deduplication": false,
                "delay_seconds": 0,
                "fifo_queue": false,
                "id": format!("https://sqs.us-east-1.amazonaws.com/{}/{name}", moto::ACCOUNT),
                "max_message_size": 1048576,
                "message_retention_seconds": 345600,
                "name": name,
                "name_prefix": "",
                "policy": "",
                "receive_wait_time_seconds": 0,
                "redrive_policy": "",
                "tags": {"team": "orders"},
                "tags_all": {"team": "orders"},
                "visibility_timeout_seconds": visibility_timeout
            },
            "sensitive_attributes": []
        }]
    })
}

fn write_state(path: &Path) {
    let state = json!({
        "version": 4,
        "terraform_version": "1.9.5",
        "serial": 7,
        "lineage": "0b7c6a52-drift-test",
        "outputs": {},
        "resources": [state_queue("orders", 30), state_queue("events", 60)]
    });
    std::fs::write(path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
}

/// Run boto3 against moto (the venv the tests share); what the script prints.
fn boto3(server: &moto::MotoServer, script: &str) -> String {
    let output = Command::new(moto::venv().join("bin/python"))
        .args(["-c", script, &server.endpoint()])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const CREATE_QUEUES: &str = r#"
import sys, boto3
sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=sys.argv[1])
sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "30"}, tags={"team": "orders"})
sqs.create_queue(QueueName="events", Attributes={"VisibilityTimeout": "60"}, tags={"team": "orders"})
"#;

const HAND_CHANGES: &str = r#"
import sys, boto3
sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=sys.argv[1])
url = sqs.get_queue_url(QueueName="orders")["QueueUrl"]
sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "45"})
sqs.create_queue(QueueName="adhoc-reports")
"#;

fn ingest(config: &Path) -> String {
    let output = cli(config, &["ingest", "--once"]).unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn terraform_against_aws_shows_exactly_the_hand_changes_and_stale_when_aws_fails() {
    moto::use_test_credentials();
    let server = moto::MotoServer::start();
    boto3(&server, CREATE_QUEUES);

    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("terraform.tfstate");
    write_state(&state);
    let sources = format!(
        r#"[[sources]]
type = "terraform_state"
name = "tf"
path = {state:?}
interval = "1h"

[[sources]]
type = "aws"
name = "aws-live"
regions = ["us-east-1"]
services = ["sqs"]
endpoint_url = "{endpoint}"
max_attempts = 1
call_timeout = "5s"
interval = "1h"
"#,
        state = state.display().to_string(),
        endpoint = server.endpoint(),
    );
    let config = write_config(work.path(), &work.path().join("store"), &sources).unwrap();

    let first = ingest(&config);
    assert!(
        first.contains("tf: ok (") && first.contains("aws-live: ok ("),
        "{first}"
    );
    let port = free_port();
    {
        let mut serving = Server::serve(&config, port).await.unwrap();
        let client = connect(port).await.unwrap();
        let drift = rows(
            &client,
            "SELECT status, id, link_rule, differences FROM drift ORDER BY id",
        )
        .await
        .unwrap();
        let arn = |name: &str| format!("arn:aws:sqs:us-east-1:{}:{name}", moto::ACCOUNT);
        assert_eq!(
            drift,
            vec![
                vec![
                    "in_sync".to_string(),
                    arn("events"),
                    "live_id".to_string(),
                    "NULL".to_string()
                ],
                vec![
                    "in_sync".to_string(),
                    arn("orders"),
                    "live_id".to_string(),
                    "NULL".to_string()
                ],
            ],
            "the declared queues are linked to the live ones by ARN and agree"
        );
        drop(client);
        serving.stop().unwrap();
    }

    boto3(&server, HAND_CHANGES);
    let second = ingest(&config);
    assert!(second.contains("aws-live: ok ("), "{second}");
    let port = free_port();
    {
        let mut serving = Server::serve(&config, port).await.unwrap();
        let client = connect(port).await.unwrap();
        let drift = rows(
            &client,
            "SELECT status, id, declared_id, differences FROM drift WHERE status <> 'in_sync' ORDER BY id",
        )
        .await
        .unwrap();
        let arn = |name: &str| format!("arn:aws:sqs:us-east-1:{}:{name}", moto::ACCOUNT);
        assert_eq!(
            drift,
            vec![
                vec![
                    "unmanaged".to_string(),
                    arn("adhoc-reports"),
                    "NULL".to_string(),
                    "NULL".to_string()
                ],
                vec![
                    "changed".to_string(),
                    arn("orders"),
                    "aws_sqs_queue.orders".to_string(),
                    r#"[{"path":"visibility_timeout_seconds","declared":30,"live":45}]"#
                        .to_string()
                ],
            ]
        );
        drop(client);
        serving.stop().unwrap();
    }

    // AWS unreachable: the live scrape fails, deletes nothing, and drift stops asserting.
    drop(server);
    let third = ingest(&config);
    assert!(third.contains("aws-live: failed"), "{third}");
    let port = free_port();
    let mut serving = Server::serve(&config, port).await.unwrap();
    let client = connect(port).await.unwrap();
    let statuses = rows(
        &client,
        "SELECT DISTINCT status, stale_reason FROM drift ORDER BY status",
    )
    .await
    .unwrap();
    assert_eq!(
        statuses,
        vec![vec![
            "stale".to_string(),
            "aws-live: last scrape failed".to_string()
        ]],
        "no row asserts missing, changed or unmanaged on a failed live scrape"
    );
    let live_queues = rows(
        &client,
        "SELECT count(*) FROM resources WHERE source = 'aws-live' AND kind = 'aws_sqs_queue'",
    )
    .await
    .unwrap();
    assert_eq!(live_queues, vec![vec!["3".to_string()]], "nothing deleted");
    drop(client);
    serving.stop().unwrap();
}

const CREATE_INTERFACES: &str = r#"
import sys, boto3
ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=sys.argv[1])
subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
instance = ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                             SubnetId=subnet)["Instances"][0]["InstanceId"]
declared = ec2.create_network_interface(SubnetId=subnet, Description="declared")["NetworkInterface"]
ec2.attach_network_interface(NetworkInterfaceId=declared["NetworkInterfaceId"], InstanceId=instance,
                             DeviceIndex=1)
ec2.create_network_interface(SubnetId=subnet, Description="made by hand")
print(instance, declared["NetworkInterfaceId"], subnet)
"#;

/// A resource as tfstate v4 records it.
fn state_resource(kind: &str, name: &str, attributes: serde_json::Value) -> serde_json::Value {
    json!({
        "mode": "managed", "type": kind, "name": name,
        "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
        "instances": [{"schema_version": 0, "attributes": attributes, "sensitive_attributes": []}]
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_primary_interface_is_its_child_and_a_hand_made_one_is_unmanaged() {
    moto::use_test_credentials();
    let server = moto::MotoServer::start();
    let printed = boto3(&server, CREATE_INTERFACES);
    let ids: Vec<&str> = printed.split_whitespace().collect();
    let [instance, declared_interface, subnet] = ids[..] else {
        panic!("unexpected output: {printed}")
    };
    let account = moto::ACCOUNT;
    let interface_arn =
        |id: &str| format!("arn:aws:ec2:us-east-1:{account}:network-interface/{id}");
    let instance_arn = format!("arn:aws:ec2:us-east-1:{account}:instance/{instance}");

    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("terraform.tfstate");
    let document = json!({
        "version": 4, "terraform_version": "1.9.5", "serial": 1, "lineage": "eni-test", "outputs": {},
        "resources": [
            state_resource("aws_instance", "web", json!({
                "arn": instance_arn, "id": instance, "instance_type": "t3.micro", "subnet_id": subnet
            })),
            state_resource("aws_network_interface", "extra", json!({
                "arn": interface_arn(declared_interface), "id": declared_interface,
                "subnet_id": subnet, "description": "declared"
            })),
        ]
    });
    std::fs::write(&state, serde_json::to_vec_pretty(&document).unwrap()).unwrap();
    let sources = format!(
        r#"[[sources]]
type = "terraform_state"
name = "tf"
path = {state:?}

[[sources]]
type = "aws"
name = "aws-live"
regions = ["us-east-1"]
services = ["ec2"]
endpoint_url = "{endpoint}"
max_attempts = 1
call_timeout = "10s"
"#,
        state = state.display().to_string(),
        endpoint = server.endpoint(),
    );
    let config = write_config(work.path(), &work.path().join("store"), &sources).unwrap();
    let output = ingest(&config);
    assert!(output.contains("aws-live: ok ("), "{output}");

    let port = free_port();
    let mut serving = Server::serve(&config, port).await.unwrap();
    let client = connect(port).await.unwrap();
    let interfaces = rows(
        &client,
        "SELECT id, attrs->>'description', attrs->>'parent' FROM resources
         WHERE source = 'aws-live' AND kind = 'aws_network_interface'",
    )
    .await
    .unwrap();
    let primary = interfaces
        .iter()
        .find(|row| row[2] == instance_arn)
        .unwrap_or_else(|| panic!("no interface names the instance as parent: {interfaces:?}"));
    let drift = rows(
        &client,
        "SELECT status, id, declared_id FROM drift WHERE kind = 'aws_network_interface' ORDER BY status",
    )
    .await
    .unwrap();
    let hand_made = interfaces
        .iter()
        .find(|row| row[1] == "made by hand")
        .expect("the hand-made interface is observed");
    assert_eq!(
        drift,
        vec![
            vec![
                "in_sync".to_string(),
                interface_arn(declared_interface),
                "aws_network_interface.extra".to_string()
            ],
            vec![
                "unmanaged".to_string(),
                hand_made[0].clone(),
                "NULL".to_string()
            ],
        ],
        "the declared interface is in sync, the hand-made one unmanaged, and the primary \
         interface {} (created by the instance launch) is neither",
        primary[0]
    );
    drop(client);
    serving.stop().unwrap();
}
