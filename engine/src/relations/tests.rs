use serde_json::{json, Map, Value};

use super::*;

fn refs(kind: &str, id: &str, layer: &str, attrs: Value) -> Vec<(String, String, String, String)> {
    refs_with_labels(kind, id, layer, attrs, Map::new())
}

fn refs_with_labels(
    kind: &str,
    id: &str,
    layer: &str,
    attrs: Value,
    labels: Map<String, Value>,
) -> Vec<(String, String, String, String)> {
    references(kind, id, layer, &attrs, &labels)
        .into_iter()
        .map(|reference| {
            (
                reference.relation.to_string(),
                reference.target_kind.unwrap_or_else(|| "*".into()),
                reference.match_on.as_str().to_string(),
                reference.key,
            )
        })
        .collect()
}

fn row(relation: &str, kind: &str, match_on: &str, key: &str) -> (String, String, String, String) {
    (relation.into(), kind.into(), match_on.into(), key.into())
}

#[test]
fn event_source_mappings_read_their_source_and_invoke_their_function() {
    let found = refs(
        "aws_lambda_event_source_mapping",
        "uuid-1",
        "live",
        json!({
            "event_source_arn": "arn:aws:sqs:us-east-1:123456789012:orders-jobs",
            "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:reports-worker:live"
        }),
    );
    assert_eq!(
        found,
        vec![
            row(
                "invokes",
                "aws_lambda_function",
                "id",
                "arn:aws:lambda:us-east-1:123456789012:function:reports-worker"
            ),
            row(
                "invokes",
                "aws_lambda_function",
                "id",
                "arn:aws:lambda:us-east-1:123456789012:function:reports-worker:live"
            ),
            row(
                "invokes",
                "aws_lambda_function",
                "live_id",
                "arn:aws:lambda:us-east-1:123456789012:function:reports-worker"
            ),
            row(
                "invokes",
                "aws_lambda_function",
                "live_id",
                "arn:aws:lambda:us-east-1:123456789012:function:reports-worker:live"
            ),
            row(
                "reads_from",
                "aws_sqs_queue",
                "id",
                "arn:aws:sqs:us-east-1:123456789012:orders-jobs"
            ),
            row(
                "reads_from",
                "aws_sqs_queue",
                "live_id",
                "arn:aws:sqs:us-east-1:123456789012:orders-jobs"
            ),
        ]
    );
    // A function given by name and a DynamoDB stream (read as its table).
    let found = refs(
        "aws_lambda_event_source_mapping",
        "m",
        "declared",
        json!({
            "event_source_arn": "arn:aws:dynamodb:us-east-1:1:table/orders/stream/2026-01-01T00:00:00.000",
            "function_name": "indexer"
        }),
    );
    assert_eq!(
        found,
        vec![
            row("invokes", "aws_lambda_function", "name", "indexer"),
            row(
                "reads_from",
                "aws_dynamodb_table",
                "id",
                "arn:aws:dynamodb:us-east-1:1:table/orders"
            ),
            row(
                "reads_from",
                "aws_dynamodb_table",
                "live_id",
                "arn:aws:dynamodb:us-east-1:1:table/orders"
            ),
        ]
    );
}

#[test]
fn queues_instances_and_functions() {
    // Terraform keeps the redrive policy as a JSON string, live sources as an object.
    for policy in [
        json!("{\"deadLetterTargetArn\":\"arn:aws:sqs:r:1:dlq\",\"maxReceiveCount\":5}"),
        json!({"deadLetterTargetArn": "arn:aws:sqs:r:1:dlq", "maxReceiveCount": 5}),
    ] {
        assert_eq!(
            refs(
                "aws_sqs_queue",
                "q",
                "live",
                json!({"redrive_policy": policy})
            ),
            vec![
                row(
                    "dead_letters_to",
                    "aws_sqs_queue",
                    "id",
                    "arn:aws:sqs:r:1:dlq"
                ),
                row(
                    "dead_letters_to",
                    "aws_sqs_queue",
                    "live_id",
                    "arn:aws:sqs:r:1:dlq"
                ),
            ]
        );
    }
    assert_eq!(
        refs(
            "aws_instance",
            "i",
            "live",
            json!({"vpc_security_group_ids": ["sg-2", "sg-1"]})
        ),
        vec![
            row(
                "uses_security_group",
                "aws_security_group",
                "aws_id",
                "sg-1"
            ),
            row(
                "uses_security_group",
                "aws_security_group",
                "aws_id",
                "sg-2"
            ),
        ]
    );
    assert_eq!(
        refs(
            "aws_lambda_function",
            "f",
            "live",
            json!({"role": "arn:aws:iam::1:role/worker"})
        ),
        vec![
            row(
                "assumes_role",
                "aws_iam_role",
                "id",
                "arn:aws:iam::1:role/worker"
            ),
            row(
                "assumes_role",
                "aws_iam_role",
                "live_id",
                "arn:aws:iam::1:role/worker"
            ),
        ]
    );
    // Kinds without rules, and empty values, reference nothing.
    assert!(refs("aws_s3_bucket", "b", "live", json!({"role": "arn:x"})).is_empty());
    assert!(refs("aws_sqs_queue", "q", "live", json!({"redrive_policy": ""})).is_empty());
}

#[test]
fn stack_resources_provision_their_physical_resource() {
    let mut labels = Map::new();
    labels.insert("cloudformation.stack".into(), json!("jobs"));
    labels.insert("live.kind".into(), json!("aws_sqs_queue"));
    let found = refs_with_labels(
        "aws_cloudformation_stack_resource",
        "jobs/OrdersQueue",
        "live",
        json!({"physical_id": "https://sqs.us-east-1.amazonaws.com/1/orders", "resource_type": "AWS::SQS::Queue"}),
        labels,
    );
    assert_eq!(
        found,
        vec![
            row("part_of_stack", "aws_cloudformation_stack", "name", "jobs"),
            row(
                "provisions",
                "aws_sqs_queue",
                "name",
                "https://sqs.us-east-1.amazonaws.com/1/orders"
            ),
            row("provisions", "aws_sqs_queue", "name", "orders"),
        ]
    );
}

#[test]
fn foreign_keys_relate_tables_and_indexes_their_table() {
    let found = references(
        "postgres/constraint",
        "public.orders.orders_customer_fk",
        "live",
        &json!({"table": "public.orders", "type": "foreign_key",
                "references": {"table": "public.customers", "columns": ["id"]}}),
        &Map::new(),
    );
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].origin,
        Some(("postgres/table".to_string(), "public.orders".to_string()))
    );
    assert_eq!(found[0].key, "public.customers");
    assert!(refs(
        "postgres/constraint",
        "c",
        "live",
        json!({"table": "public.orders", "type": "check"})
    )
    .is_empty());
    assert_eq!(
        refs(
            "postgres/index",
            "public.orders_pkey",
            "live",
            json!({"table": "public.orders"})
        ),
        vec![row("indexes", "postgres/table", "id", "public.orders")]
    );
}

#[test]
fn kubernetes_services_ingresses_and_workloads() {
    let found = refs(
        "k8s/core/Service",
        "shop/web",
        "declared",
        json!({"spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
    );
    assert_eq!(found.len(), 3);
    assert!(found
        .iter()
        .all(|(relation, _, match_on, key)| relation == "selects"
            && match_on == "selector"
            && key == "shop"));
    // A Service without a selector (ExternalName, or endpoints managed by hand) selects nothing.
    assert!(refs(
        "k8s/core/Service",
        "shop/db",
        "live",
        json!({"spec": {"type": "ExternalName"}})
    )
    .is_empty());

    let found = refs(
        "k8s/networking.k8s.io/Ingress",
        "shop/web",
        "live",
        json!({"spec": {
            "defaultBackend": {"service": {"name": "fallback", "port": {"number": 80}}},
            "rules": [{"host": "shop.example.com", "http": {"paths": [
                {"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
                {"path": "/api", "backend": {"serviceName": "api", "servicePort": 8080}}
            ]}}]
        }}),
    );
    assert_eq!(
        found,
        vec![
            row("routes_to", "k8s/core/Service", "id", "shop/api"),
            row("routes_to", "k8s/core/Service", "id", "shop/fallback"),
            row("routes_to", "k8s/core/Service", "id", "shop/web"),
        ]
    );

    let found = refs(
        "k8s/apps/Deployment",
        "shop/web",
        "live",
        json!({"spec": {"template": {"spec": {
            "volumes": [{"name": "config", "configMap": {"name": "web-config"}},
                        {"name": "tls", "secret": {"secretName": "web-tls"}}],
            "containers": [{"name": "web", "envFrom": [{"secretRef": {"name": "web-env"}}]}]
        }}}}),
    );
    assert_eq!(
        found,
        vec![
            row("mounts", "k8s/core/ConfigMap", "id", "shop/web-config"),
            row("mounts", "k8s/core/Secret", "id", "shop/web-env"),
            row("mounts", "k8s/core/Secret", "id", "shop/web-tls"),
        ]
    );
}

#[test]
fn selectors_match_pod_template_labels() {
    let selector = json!({"app": "web", "tier": "frontend"});
    let deployment =
        |labels: Value| json!({"spec": {"template": {"metadata": {"labels": labels}}}});
    assert!(selector_matches(
        &selector,
        &deployment(json!({"app": "web", "tier": "frontend", "version": "2"}))
    ));
    assert!(!selector_matches(
        &selector,
        &deployment(json!({"app": "web"}))
    ));
    assert!(!selector_matches(
        &selector,
        &deployment(json!({"app": "web", "tier": "backend"}))
    ));
    assert!(!selector_matches(
        &json!({}),
        &deployment(json!({"app": "web"}))
    ));
    assert!(!selector_matches(&selector, &json!({"spec": {}})));
}

#[test]
fn cloudformation_templates_reference_logical_ids_of_their_stack() {
    let found = refs(
        "AWS::Lambda::EventSourceMapping",
        "jobs/Mapping",
        "declared",
        json!({
            "DependsOn": ["Role"],
            "Properties": {
                "EventSourceArn": {"Fn::GetAtt": ["Queue", "Arn"]},
                "FunctionName": {"Ref": "Worker"},
                "Region": {"Ref": "AWS::Region"},
                "Other": {"Fn::GetAtt": "Table.StreamArn"}
            }
        }),
    );
    assert_eq!(
        found,
        vec![
            row("depends_on", "*", "address", "jobs/Role"),
            row("references", "*", "address", "jobs/Queue"),
            row("references", "*", "address", "jobs/Table"),
            row("references", "*", "address", "jobs/Worker"),
        ]
    );
}

#[test]
fn terraform_expressions_and_depends_on() {
    let found = refs(
        "aws_lambda_event_source_mapping",
        "module.jobs.aws_lambda_event_source_mapping.orders",
        "declared",
        json!({
            "event_source_arn": "${aws_sqs_queue.orders.arn}",
            "function_name": "aws_lambda_function.worker.function_name",
            "batch_size": 10,
            "depends_on": ["aws_iam_role_policy.worker"],
            "tags": {"note": "var.team and local.x and data.aws_caller_identity.current.account_id"}
        }),
    );
    let terraform: Vec<_> = found
        .into_iter()
        .filter(|(_, _, match_on, _)| match_on == "address")
        .collect();
    assert_eq!(
        terraform,
        vec![
            row(
                "depends_on",
                "*",
                "address",
                "module.jobs.aws_iam_role_policy.worker"
            ),
            row(
                "references",
                "*",
                "address",
                "module.jobs.aws_lambda_function.worker"
            ),
            row(
                "references",
                "*",
                "address",
                "module.jobs.aws_sqs_queue.orders"
            ),
            row(
                "references",
                "*",
                "address",
                "module.jobs.data.aws_caller_identity.current"
            ),
        ]
    );
    // Live resources are never read as Terraform expressions.
    assert!(refs(
        "aws_s3_bucket",
        "arn:aws:s3:::b",
        "live",
        json!({"policy": "aws_sqs_queue.x"})
    )
    .is_empty());
    // A resource referring to its own attributes is not a relation.
    assert!(refs(
        "aws_sqs_queue",
        "aws_sqs_queue.q",
        "declared",
        json!({"name": "${aws_sqs_queue.q.id}"})
    )
    .is_empty());
}

#[test]
fn only_kinds_with_rules_are_read() {
    assert!(may_reference("aws_lambda_event_source_mapping", "live"));
    assert!(may_reference("k8s/apps/Deployment", "declared"));
    assert!(may_reference("AWS::SQS::Queue", "declared"));
    assert!(may_reference("aws_s3_bucket", "declared"));
    assert!(!may_reference("aws_s3_bucket", "live"));
    assert!(!may_reference("k8s/core/ConfigMap", "live"));
    assert!(!may_reference("postgres/table", "live"));
}
