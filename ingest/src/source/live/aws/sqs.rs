//! SQS queues (`aws_sqs_queue`, id = the queue ARN): their configuration attributes under
//! Terraform's names, the redrive and access policies parsed, and their tags. Message counts
//! and timestamps are left out: they move without any configuration change.

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Map, Value};

use super::{json_document, CallError, Tags, Unit, UnitOutput};

/// Kind of a queue.
pub(super) const QUEUE_KIND: &str = "aws_sqs_queue";

/// Integer attributes: (SQS name, Terraform name).
const NUMBERS: &[(&str, &str)] = &[
    ("VisibilityTimeout", "visibility_timeout_seconds"),
    ("MessageRetentionPeriod", "message_retention_seconds"),
    ("DelaySeconds", "delay_seconds"),
    ("MaximumMessageSize", "max_message_size"),
    ("ReceiveMessageWaitTimeSeconds", "receive_wait_time_seconds"),
    (
        "KmsDataKeyReusePeriodSeconds",
        "kms_data_key_reuse_period_seconds",
    ),
];

/// Boolean attributes: (SQS name, Terraform name).
const BOOLEANS: &[(&str, &str)] = &[
    ("FifoQueue", "fifo_queue"),
    ("ContentBasedDeduplication", "content_based_deduplication"),
    ("SqsManagedSseEnabled", "sqs_managed_sse_enabled"),
];

/// Text attributes: (SQS name, Terraform name).
const TEXTS: &[(&str, &str)] = &[
    ("KmsMasterKeyId", "kms_master_key_id"),
    ("DeduplicationScope", "deduplication_scope"),
    ("FifoThroughputLimit", "fifo_throughput_limit"),
];

/// JSON document attributes: (SQS name, Terraform name).
const DOCUMENTS: &[(&str, &str)] = &[
    ("RedrivePolicy", "redrive_policy"),
    ("RedriveAllowPolicy", "redrive_allow_policy"),
    ("Policy", "policy"),
];

/// The SQS error codes of a queue deleted between listing and describing it.
const GONE: &[&str] = &[
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
];

pub(super) async fn scrape(unit: &Unit) -> Result<UnitOutput, CallError> {
    let client = aws_sdk_sqs::Client::new(&unit.sdk);
    let mut urls = Vec::new();
    let mut pages = client
        .list_queues()
        .max_results(1000)
        .into_paginator()
        .send();
    while let Some(page) = unit.page("ListQueues", pages.next()).await? {
        urls.extend(page.queue_urls().iter().cloned());
    }
    urls.sort();
    let mut output = UnitOutput::default();
    let details: Vec<_> = urls.iter().map(|url| queue(unit, &client, url)).collect();
    let queues = super::in_order(details, unit.fan_out).await;
    for (url, (resource, warnings)) in urls.iter().zip(queues) {
        output.warnings.extend(warnings);
        match resource {
            Some(resource) => output.resources.push(resource),
            None => tracing::debug!(url, "queue deleted while it was read"),
        }
    }
    Ok(output)
}

/// One queue; `None` when it was deleted meanwhile.
async fn queue(
    unit: &Unit,
    client: &aws_sdk_sqs::Client,
    url: &str,
) -> (Option<super::ObservedResource>, Vec<String>) {
    let name = url.rsplit('/').next().unwrap_or(url).to_string();
    let mut warnings = Vec::new();
    let attributes = match unit
        .call(
            "GetQueueAttributes",
            client
                .get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::All)
                .send(),
        )
        .await
    {
        Ok(output) => output
            .attributes()
            .map(|attributes| {
                attributes
                    .iter()
                    .map(|(key, value)| (key.as_str().to_string(), value.clone()))
                    .collect::<Tags>()
            })
            .unwrap_or_default(),
        Err(error) if GONE.iter().any(|code| error.is(code)) => return (None, warnings),
        Err(error) => {
            warnings.push(unit.detail_warning(&format!("attributes of queue {name}"), &error));
            Tags::new()
        }
    };
    let tags = match unit
        .call(
            "ListQueueTags",
            client.list_queue_tags().queue_url(url).send(),
        )
        .await
    {
        Ok(output) => output
            .tags()
            .map(|tags| tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        Err(error) if GONE.iter().any(|code| error.is(code)) => return (None, warnings),
        Err(error) => {
            warnings.push(unit.detail_warning(&format!("tags of queue {name}"), &error));
            Tags::new()
        }
    };
    let arn = attributes.get("QueueArn").cloned().unwrap_or_else(|| {
        format!(
            "arn:{}:sqs:{}:{}:{name}",
            unit.partition, unit.region, unit.account
        )
    });
    let mut attrs = Map::new();
    attrs.insert("name".into(), Value::String(name.clone()));
    attrs.insert("url".into(), Value::String(url.to_string()));
    attrs.insert("arn".into(), Value::String(arn.clone()));
    for (aws_name, name) in NUMBERS {
        if let Some(value) = attributes.get(*aws_name) {
            let number = value
                .parse::<i64>()
                .map_or_else(|_| Value::String(value.clone()), Value::from);
            attrs.insert(name.to_string(), number);
        }
    }
    for (aws_name, name) in BOOLEANS {
        let value = attributes.get(*aws_name).map(|value| value == "true");
        // Terraform reads an absent FifoQueue as false.
        if value.is_some() || *name == "fifo_queue" {
            attrs.insert(name.to_string(), Value::Bool(value.unwrap_or(false)));
        }
    }
    for (aws_name, name) in TEXTS {
        if let Some(value) = attributes.get(*aws_name) {
            attrs.insert(name.to_string(), Value::String(value.clone()));
        }
    }
    for (aws_name, name) in DOCUMENTS {
        if let Some(value) = attributes.get(*aws_name) {
            attrs.insert(name.to_string(), json_document(value));
        }
    }
    (
        Some(unit.resource(QUEUE_KIND, arn, &name, attrs, Some(&tags))),
        warnings,
    )
}
