//! DynamoDB tables (`aws_dynamodb_table`, id = the table ARN): `hash_key`, `range_key`,
//! `attribute`, `billing_mode` (PROVISIONED when AWS reports no summary, as Terraform reads
//! it), capacities when provisioned, `global_secondary_index`, `local_secondary_index`
//! (sorted by name), streams and tags. Item counts, sizes and statuses are left out.

use aws_sdk_dynamodb::types::{KeySchemaElement, KeyType, Projection, TableDescription};
use serde_json::{json, Map, Value};

use super::{text, CallError, ObservedResource, Tags, Unit, UnitOutput};

/// Kind of a table.
pub(super) const TABLE_KIND: &str = "aws_dynamodb_table";

pub(super) async fn scrape(unit: &Unit) -> Result<UnitOutput, CallError> {
    let client = aws_sdk_dynamodb::Client::new(&unit.sdk);
    let mut names = Vec::new();
    let mut pages = client.list_tables().into_paginator().send();
    while let Some(page) = unit.page("ListTables", pages.next()).await? {
        names.extend(page.table_names().iter().cloned());
    }
    let details: Vec<_> = names
        .iter()
        .map(|name| table(unit, &client, name))
        .collect();
    let tables = super::in_order(details, unit.fan_out).await;
    let mut output = UnitOutput::default();
    for (resource, warnings) in tables {
        output.resources.extend(resource);
        output.warnings.extend(warnings);
    }
    Ok(output)
}

async fn table(
    unit: &Unit,
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> (Option<ObservedResource>, Vec<String>) {
    let mut warnings = Vec::new();
    let fallback_arn = format!(
        "arn:{}:dynamodb:{}:{}:table/{name}",
        unit.partition, unit.region, unit.account
    );
    let description = match unit
        .call(
            "DescribeTable",
            client.describe_table().table_name(name).send(),
        )
        .await
    {
        Ok(output) => output.table().cloned(),
        Err(error) if error.is("ResourceNotFoundException") => return (None, warnings),
        Err(error) => {
            warnings.push(unit.detail_warning(&format!("description of table {name}"), &error));
            None
        }
    };
    let arn = description
        .as_ref()
        .and_then(|table| table.table_arn())
        .map_or(fallback_arn, str::to_string);

    let mut tags = Tags::new();
    let mut next_token: Option<String> = None;
    loop {
        let request = client
            .list_tags_of_resource()
            .resource_arn(&arn)
            .set_next_token(next_token.clone())
            .send();
        match unit.call("ListTagsOfResource", request).await {
            Ok(output) => {
                tags.extend(
                    output
                        .tags()
                        .iter()
                        .map(|tag| (tag.key().to_string(), tag.value().to_string())),
                );
                next_token = output.next_token().map(str::to_string);
                if next_token.is_none() {
                    break;
                }
            }
            Err(error) => {
                warnings.push(unit.detail_warning(&format!("tags of table {name}"), &error));
                tags.clear();
                break;
            }
        }
    }

    let mut attrs = Map::new();
    attrs.insert("name".into(), json!(name));
    attrs.insert("arn".into(), json!(arn));
    if let Some(table) = &description {
        describe(table, &mut attrs);
    }
    (
        Some(unit.resource(TABLE_KIND, arn, name, attrs, Some(&tags))),
        warnings,
    )
}

fn key(schema: &[KeySchemaElement], key_type: KeyType) -> Value {
    text(
        schema
            .iter()
            .find(|element| *element.key_type() == key_type)
            .map(|element| element.attribute_name()),
    )
}

fn projection(projection: Option<&Projection>) -> (Value, Value) {
    let projection_type = text(
        projection
            .and_then(|projection| projection.projection_type())
            .map(|kind| kind.as_str()),
    );
    let mut non_key: Vec<&str> = projection
        .map(|projection| projection.non_key_attributes())
        .unwrap_or_default()
        .iter()
        .map(String::as_str)
        .collect();
    non_key.sort_unstable();
    (projection_type, json!(non_key))
}

fn describe(table: &TableDescription, attrs: &mut Map<String, Value>) {
    let billing_mode = table
        .billing_mode_summary()
        .and_then(|summary| summary.billing_mode())
        .map_or("PROVISIONED", |mode| mode.as_str());
    let provisioned = billing_mode == "PROVISIONED";
    attrs.insert("billing_mode".into(), json!(billing_mode));
    attrs.insert("hash_key".into(), key(table.key_schema(), KeyType::Hash));
    attrs.insert("range_key".into(), key(table.key_schema(), KeyType::Range));
    let mut attributes: Vec<Value> = table
        .attribute_definitions()
        .iter()
        .map(|attribute| {
            json!({
                "name": attribute.attribute_name(),
                "type": attribute.attribute_type().as_str(),
            })
        })
        .collect();
    attributes.sort_by_cached_key(|attribute| attribute["name"].to_string());
    attrs.insert("attribute".into(), Value::Array(attributes));
    if provisioned {
        let throughput = table.provisioned_throughput();
        attrs.insert(
            "read_capacity".into(),
            json!(throughput.and_then(|throughput| throughput.read_capacity_units())),
        );
        attrs.insert(
            "write_capacity".into(),
            json!(throughput.and_then(|throughput| throughput.write_capacity_units())),
        );
    }
    let mut global: Vec<Value> = table
        .global_secondary_indexes()
        .iter()
        .map(|index| {
            let (projection_type, non_key) = projection(index.projection());
            let mut object = json!({
                "name": index.index_name(),
                "hash_key": key(index.key_schema(), KeyType::Hash),
                "range_key": key(index.key_schema(), KeyType::Range),
                "projection_type": projection_type,
                "non_key_attributes": non_key,
            });
            if provisioned {
                let throughput = index.provisioned_throughput();
                object["read_capacity"] =
                    json!(throughput.and_then(|throughput| throughput.read_capacity_units()));
                object["write_capacity"] =
                    json!(throughput.and_then(|throughput| throughput.write_capacity_units()));
            }
            object
        })
        .collect();
    global.sort_by_cached_key(|index| index["name"].to_string());
    attrs.insert("global_secondary_index".into(), Value::Array(global));
    let mut local: Vec<Value> = table
        .local_secondary_indexes()
        .iter()
        .map(|index| {
            let (projection_type, non_key) = projection(index.projection());
            json!({
                "name": index.index_name(),
                "range_key": key(index.key_schema(), KeyType::Range),
                "projection_type": projection_type,
                "non_key_attributes": non_key,
            })
        })
        .collect();
    local.sort_by_cached_key(|index| index["name"].to_string());
    attrs.insert("local_secondary_index".into(), Value::Array(local));
    let stream = table.stream_specification();
    attrs.insert(
        "stream_enabled".into(),
        json!(stream.is_some_and(|stream| stream.stream_enabled())),
    );
    attrs.insert(
        "stream_view_type".into(),
        text(
            stream
                .and_then(|stream| stream.stream_view_type())
                .map(|view| view.as_str()),
        ),
    );
    attrs.insert(
        "table_class".into(),
        text(
            table
                .table_class_summary()
                .and_then(|summary| summary.table_class())
                .map(|class| class.as_str()),
        ),
    );
    attrs.insert(
        "deletion_protection_enabled".into(),
        json!(table.deletion_protection_enabled()),
    );
}
