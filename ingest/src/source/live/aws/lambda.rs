//! Lambda functions (`aws_lambda_function`, id = the function ARN) and event source mappings
//! (`aws_lambda_event_source_mapping`, id = the mapping ARN). Environment variable names are
//! kept, their values redacted. The code hash is kept as Terraform's `source_code_hash`
//! (the same base64 SHA-256), so a deployment shows as a change; state and last-modified
//! times are left out.

use aws_sdk_lambda::types::{EventSourceMappingConfiguration, FunctionConfiguration};
use groundtruth_engine::canonical;
use serde_json::{json, Map, Value};

use super::{sorted_strings, text, CallError, ObservedResource, Tags, Unit, UnitOutput};

/// Kind of a function.
pub(super) const FUNCTION_KIND: &str = "aws_lambda_function";
/// Kind of an event source mapping.
pub(super) const EVENT_SOURCE_MAPPING_KIND: &str = "aws_lambda_event_source_mapping";

pub(super) async fn scrape(unit: &Unit) -> Result<UnitOutput, CallError> {
    let client = aws_sdk_lambda::Client::new(&unit.sdk);
    let mut functions = Vec::new();
    let mut pages = client.list_functions().into_paginator().send();
    while let Some(page) = unit.page("ListFunctions", pages.next()).await? {
        functions.extend(page.functions().iter().cloned());
    }
    let mut mappings = Vec::new();
    let mut pages = client.list_event_source_mappings().into_paginator().send();
    while let Some(page) = unit.page("ListEventSourceMappings", pages.next()).await? {
        mappings.extend(page.event_source_mappings().iter().cloned());
    }

    let mut output = UnitOutput::default();
    let details: Vec<_> = functions
        .iter()
        .map(|function| function_resource(unit, &client, function))
        .collect();
    let resources = super::in_order(details, unit.fan_out).await;
    for (resource, warning) in resources {
        output.resources.extend(resource);
        output.warnings.extend(warning);
    }
    output.resources.extend(
        mappings
            .iter()
            .filter_map(|mapping| mapping_resource(unit, mapping)),
    );
    Ok(output)
}

async fn function_resource(
    unit: &Unit,
    client: &aws_sdk_lambda::Client,
    function: &FunctionConfiguration,
) -> (Option<ObservedResource>, Option<String>) {
    let Some(name) = function.function_name() else {
        return (None, None);
    };
    let arn = function.function_arn().map_or_else(
        || {
            format!(
                "arn:{}:lambda:{}:{}:function:{name}",
                unit.partition, unit.region, unit.account
            )
        },
        str::to_string,
    );
    let (tags, warning) = match unit
        .call("ListTags", client.list_tags().resource(&arn).send())
        .await
    {
        Ok(output) => (
            output
                .tags()
                .map(|tags| tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            None,
        ),
        Err(error) if error.is("ResourceNotFoundException") => return (None, None),
        Err(error) => (
            Tags::new(),
            Some(unit.detail_warning(&format!("tags of function {name}"), &error)),
        ),
    };
    let variables: Map<String, Value> = function
        .environment()
        .and_then(|environment| environment.variables())
        .map(|variables| {
            variables
                .iter()
                .map(|(key, value)| {
                    (
                        key.clone(),
                        canonical::redacted(&Value::String(value.clone())),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let vpc = function
        .vpc_config()
        .filter(|vpc| !vpc.subnet_ids().is_empty());
    let mut attrs = Map::new();
    attrs.insert("function_name".into(), json!(name));
    attrs.insert("arn".into(), json!(arn));
    attrs.insert(
        "runtime".into(),
        text(function.runtime().map(|runtime| runtime.as_str())),
    );
    attrs.insert("handler".into(), text(function.handler()));
    attrs.insert("memory_size".into(), json!(function.memory_size()));
    attrs.insert("timeout".into(), json!(function.timeout()));
    attrs.insert("role".into(), text(function.role()));
    attrs.insert("description".into(), text(function.description()));
    attrs.insert(
        "package_type".into(),
        text(function.package_type().map(|package| package.as_str())),
    );
    attrs.insert(
        "architectures".into(),
        sorted_strings(function.architectures().iter().map(|arch| arch.as_str())),
    );
    // Layer order matters to Lambda (later layers override files of earlier ones).
    attrs.insert(
        "layers".into(),
        Value::Array(
            function
                .layers()
                .iter()
                .filter_map(|layer| layer.arn())
                .map(|arn| json!(arn))
                .collect(),
        ),
    );
    attrs.insert("source_code_hash".into(), text(function.code_sha256()));
    attrs.insert("kms_key_arn".into(), text(function.kms_key_arn()));
    attrs.insert(
        "environment".into(),
        json!({ "variables": Value::Object(variables) }),
    );
    attrs.insert(
        "tracing_config".into(),
        json!({ "mode": function.tracing_config().and_then(|tracing| tracing.mode()).map(|mode| mode.as_str()) }),
    );
    attrs.insert(
        "dead_letter_config".into(),
        json!({ "target_arn": function.dead_letter_config().and_then(|config| config.target_arn()) }),
    );
    attrs.insert(
        "vpc_config".into(),
        match vpc {
            Some(vpc) => json!({
                "subnet_ids": sorted_strings(vpc.subnet_ids().iter().map(String::as_str)),
                "security_group_ids": sorted_strings(vpc.security_group_ids().iter().map(String::as_str)),
            }),
            None => Value::Null,
        },
    );
    (
        Some(unit.resource(FUNCTION_KIND, arn, name, attrs, Some(&tags))),
        warning,
    )
}

fn mapping_resource(
    unit: &Unit,
    mapping: &EventSourceMappingConfiguration,
) -> Option<ObservedResource> {
    let uuid = mapping.uuid()?;
    let arn = mapping.event_source_mapping_arn().map_or_else(
        || {
            format!(
                "arn:{}:lambda:{}:{}:event-source-mapping:{uuid}",
                unit.partition, unit.region, unit.account
            )
        },
        str::to_string,
    );
    let state = mapping.state();
    let mut attrs = Map::new();
    attrs.insert("uuid".into(), json!(uuid));
    attrs.insert("arn".into(), json!(arn));
    attrs.insert("event_source_arn".into(), text(mapping.event_source_arn()));
    attrs.insert("function_arn".into(), text(mapping.function_arn()));
    attrs.insert("batch_size".into(), json!(mapping.batch_size()));
    attrs.insert(
        "maximum_batching_window_in_seconds".into(),
        json!(mapping.maximum_batching_window_in_seconds()),
    );
    attrs.insert(
        "starting_position".into(),
        text(
            mapping
                .starting_position()
                .map(|position| position.as_str()),
        ),
    );
    // Transitional states (Creating, Updating) settle; Terraform's `enabled` does not move.
    attrs.insert(
        "enabled".into(),
        json!(matches!(
            state,
            Some("Enabled" | "Enabling" | "Creating" | "Updating")
        )),
    );
    Some(unit.resource(EVENT_SOURCE_MAPPING_KIND, arn, uuid, attrs, None))
}
