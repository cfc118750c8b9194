//! CloudFormation stacks (`aws_cloudformation_stack`, id = the stack ARN, name = the stack
//! name) and their resources (`aws_cloudformation_stack_resource`, id
//! `<stack name>/<LogicalId>`, the id the declared `cloudformation` source gives the
//! template's resource), so a template's logical ids map to the physical ids that run.
//! Parameter and output values whose key names a secret are redacted (NoEcho parameters
//! already arrive masked). A stack whose resources cannot be listed keeps the stack and
//! leaves stack resources uncovered, so none of them reads as deleted.

use aws_sdk_cloudformation::types::Stack;
use serde_json::{json, Map, Value};

use super::{
    sorted_strings, text, value_unless_secret, CallError, ObservedResource, Tags, Unit, UnitOutput,
    STACK_RESOURCE_KIND,
};
use crate::identity::{self, LIVE_KIND_LABEL};
use crate::source::declared::cloudformation::{LOGICAL_ID_LABEL, STACK_LABEL};

/// Kind of a stack.
pub(super) const STACK_KIND: &str = "aws_cloudformation_stack";

pub(super) async fn scrape(unit: &Unit) -> Result<UnitOutput, CallError> {
    let client = aws_sdk_cloudformation::Client::new(&unit.sdk);
    let mut stacks = Vec::new();
    let mut pages = client.describe_stacks().into_paginator().send();
    while let Some(page) = unit.page("DescribeStacks", pages.next()).await? {
        stacks.extend(page.stacks().iter().cloned());
    }
    let mut output = UnitOutput::default();
    let details: Vec<_> = stacks
        .iter()
        .map(|stack| stack_resources(unit, &client, stack))
        .collect();
    let resources = super::in_order(details, unit.fan_out).await;
    for (stack, resources) in stacks.iter().zip(resources) {
        output.resources.extend(stack_resource(unit, stack));
        match resources {
            Ok((resources, warnings)) => {
                output.resources.extend(resources);
                output.warnings.extend(warnings);
            }
            Err(error) => output.incomplete.push((
                STACK_RESOURCE_KIND,
                format!(
                    "resources of stack {} not read: {error}",
                    stack.stack_name().unwrap_or("?")
                ),
            )),
        }
    }
    Ok(output)
}

fn stack_resource(unit: &Unit, stack: &Stack) -> Option<ObservedResource> {
    let name = stack.stack_name()?;
    let arn = stack.stack_id()?.to_string();
    let tags: Tags = stack
        .tags()
        .iter()
        .filter_map(|tag| {
            Some((
                tag.key()?.to_string(),
                tag.value().unwrap_or("").to_string(),
            ))
        })
        .collect();
    let parameters: Map<String, Value> = stack
        .parameters()
        .iter()
        .filter_map(|parameter| {
            let key = parameter.parameter_key()?;
            Some((
                key.to_string(),
                value_unless_secret(key, parameter.parameter_value()),
            ))
        })
        .collect();
    let outputs: Map<String, Value> = stack
        .outputs()
        .iter()
        .filter_map(|output| {
            let key = output.output_key()?;
            Some((
                key.to_string(),
                value_unless_secret(key, output.output_value()),
            ))
        })
        .collect();
    let mut attrs = Map::new();
    attrs.insert("name".into(), json!(name));
    attrs.insert("id".into(), json!(arn));
    attrs.insert(
        "status".into(),
        text(stack.stack_status().map(|status| status.as_str())),
    );
    attrs.insert("description".into(), text(stack.description()));
    attrs.insert("parameters".into(), Value::Object(parameters));
    attrs.insert("outputs".into(), Value::Object(outputs));
    attrs.insert(
        "capabilities".into(),
        sorted_strings(
            stack
                .capabilities()
                .iter()
                .map(|capability| capability.as_str()),
        ),
    );
    attrs.insert("iam_role_arn".into(), text(stack.role_arn()));
    attrs.insert(
        "enable_termination_protection".into(),
        json!(stack.enable_termination_protection()),
    );
    attrs.insert("disable_rollback".into(), json!(stack.disable_rollback()));
    Some(unit.resource(STACK_KIND, arn, name, attrs, Some(&tags)))
}

async fn stack_resources(
    unit: &Unit,
    client: &aws_sdk_cloudformation::Client,
    stack: &Stack,
) -> Result<(Vec<ObservedResource>, Vec<String>), CallError> {
    let Some(name) = stack.stack_name() else {
        return Ok((Vec::new(), Vec::new()));
    };
    // The stack ARN names this exact stack even if another with the same name replaces it.
    let target = stack.stack_id().unwrap_or(name);
    let mut resources = Vec::new();
    let mut warnings = Vec::new();
    let mut pages = client
        .list_stack_resources()
        .stack_name(target)
        .into_paginator()
        .send();
    while let Some(page) = unit.page("ListStackResources", pages.next()).await? {
        for summary in page.stack_resource_summaries() {
            let Some(logical_id) = summary
                .logical_resource_id()
                .filter(|logical_id| !logical_id.is_empty())
            else {
                warnings.push(format!(
                    "{}: stack {name} lists a {} resource without a logical id; ignored",
                    unit.describe(),
                    summary
                        .resource_type()
                        .filter(|kind| !kind.is_empty())
                        .unwrap_or("untyped")
                ));
                continue;
            };
            let resource_type = summary.resource_type();
            let mut attrs = Map::new();
            attrs.insert("resource_type".into(), text(resource_type));
            attrs.insert("physical_id".into(), text(summary.physical_resource_id()));
            attrs.insert(
                "status".into(),
                text(summary.resource_status().map(|status| status.as_str())),
            );
            let mut resource = unit
                .resource(
                    STACK_RESOURCE_KIND,
                    format!("{name}/{logical_id}"),
                    logical_id,
                    attrs,
                    None,
                )
                .with_label(STACK_LABEL, name)
                .with_label(LOGICAL_ID_LABEL, logical_id);
            if let Some(live_kind) = resource_type.and_then(identity::cloudformation_live_kind) {
                resource = resource.with_label(LIVE_KIND_LABEL, live_kind);
            }
            resources.push(resource);
        }
    }
    Ok((resources, warnings))
}
