//! S3 buckets (`aws_s3_bucket`, id `arn:aws:s3:::<bucket>`): global, listed once, each
//! labelled with its own region (GetBucketLocation) and read there: `versioning`,
//! `server_side_encryption_configuration`, tags, and the bucket policy as text (`policy`)
//! plus `policy_sha256`. "No policy / no tags / no encryption configuration" answers are the
//! normal empty case; other errors on one bucket are warnings and the bucket is kept without
//! that detail.

use std::collections::HashMap;

use aws_config::Region;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{CallError, ObservedResource, Tags, Unit, UnitOutput};

/// Kind of a bucket.
pub(super) const BUCKET_KIND: &str = "aws_s3_bucket";

pub(super) async fn scrape(unit: &Unit) -> Result<UnitOutput, CallError> {
    let client = client_in(unit, &unit.region);
    let mut buckets = Vec::new();
    let mut pages = client.list_buckets().into_paginator().send();
    while let Some(page) = unit.page("ListBuckets", pages.next()).await? {
        buckets.extend(
            page.buckets()
                .iter()
                .filter_map(|bucket| bucket.name().map(str::to_string)),
        );
    }
    buckets.sort();
    buckets.dedup();

    // Where each bucket lives, so its details are read from its own region.
    let locations: Vec<_> = buckets
        .iter()
        .map(|bucket| {
            let client = &client;
            async move {
                unit.call(
                    "GetBucketLocation",
                    client.get_bucket_location().bucket(bucket).send(),
                )
                .await
                .map(|output| {
                    region_of(
                        output
                            .location_constraint()
                            .map(|constraint| constraint.as_str()),
                    )
                })
            }
        })
        .collect();
    let locations = super::in_order(locations, unit.fan_out).await;

    let mut output = UnitOutput::default();
    let mut clients: HashMap<String, aws_sdk_s3::Client> = HashMap::new();
    let mut located = Vec::new();
    for (bucket, location) in buckets.iter().zip(locations) {
        let region = match location {
            Ok(region) => region,
            Err(error) if error.is("NoSuchBucket") => continue,
            Err(error) => {
                output
                    .warnings
                    .push(unit.detail_warning(&format!("region of bucket {bucket}"), &error));
                unit.region.clone()
            }
        };
        let client = clients
            .entry(region.clone())
            .or_insert_with(|| client_in(unit, &region))
            .clone();
        located.push((bucket.clone(), region, client));
    }
    let details: Vec<_> = located
        .iter()
        .map(|(bucket, region, client)| bucket_resource(unit, client, bucket, region))
        .collect();
    let resources = super::in_order(details, unit.fan_out).await;
    for (resource, warnings) in resources {
        output.resources.extend(resource);
        output.warnings.extend(warnings);
    }
    Ok(output)
}

fn client_in(unit: &Unit, region: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&unit.sdk)
        .region(Region::new(region.to_string()))
        .force_path_style(unit.path_style)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The region a location constraint names: none means us-east-1, `EU` is eu-west-1.
fn region_of(constraint: Option<&str>) -> String {
    match constraint {
        None | Some("") => "us-east-1".to_string(),
        Some("EU") => "eu-west-1".to_string(),
        Some(region) => region.to_string(),
    }
}

/// Codes meaning "this bucket has none of that", not a failure.
const ABSENT: &[&str] = &[
    "NoSuchBucketPolicy",
    "NoSuchTagSet",
    "ServerSideEncryptionConfigurationNotFoundError",
];

/// One detail: `Ok(None)` when the bucket has none, `Err(None)` when the bucket is gone,
/// `Err(Some(warning))` when it could not be read.
fn detail<T>(
    unit: &Unit,
    bucket: &str,
    what: &str,
    result: Result<T, CallError>,
) -> Result<Option<T>, Option<String>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if ABSENT.iter().any(|code| error.is(code)) => Ok(None),
        Err(error) if error.is("NoSuchBucket") => Err(None),
        Err(error) => Err(Some(
            unit.detail_warning(&format!("{what} of bucket {bucket}"), &error),
        )),
    }
}

async fn bucket_resource(
    unit: &Unit,
    client: &aws_sdk_s3::Client,
    bucket: &str,
    region: &str,
) -> (Option<ObservedResource>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut attrs = Map::new();
    attrs.insert("bucket".into(), json!(bucket));
    attrs.insert(
        "arn".into(),
        json!(format!("arn:{}:s3:::{bucket}", unit.partition)),
    );
    attrs.insert("region".into(), json!(region));

    let versioning = unit
        .call(
            "GetBucketVersioning",
            client.get_bucket_versioning().bucket(bucket).send(),
        )
        .await;
    match detail(unit, bucket, "versioning", versioning) {
        Ok(versioning) => {
            let status = versioning.as_ref().and_then(|output| output.status());
            let mfa_delete = versioning.as_ref().and_then(|output| output.mfa_delete());
            attrs.insert(
                "versioning".into(),
                json!({
                    "enabled": status.is_some_and(|status| status.as_str() == "Enabled"),
                    "mfa_delete": mfa_delete.is_some_and(|mfa| mfa.as_str() == "Enabled"),
                }),
            );
        }
        Err(None) => return (None, warnings),
        Err(Some(warning)) => warnings.push(warning),
    }

    let encryption = unit
        .call(
            "GetBucketEncryption",
            client.get_bucket_encryption().bucket(bucket).send(),
        )
        .await;
    match detail(unit, bucket, "encryption", encryption) {
        Ok(encryption) => {
            let rules: Vec<Value> = encryption
                .as_ref()
                .and_then(|output| output.server_side_encryption_configuration())
                .map(|configuration| configuration.rules())
                .unwrap_or_default()
                .iter()
                .map(|rule| {
                    let default = rule.apply_server_side_encryption_by_default();
                    json!({
                        "sse_algorithm": default.map(|default| default.sse_algorithm().as_str()),
                        "kms_master_key_id": default.and_then(|default| default.kms_master_key_id()),
                        "bucket_key_enabled": rule.bucket_key_enabled(),
                    })
                })
                .collect();
            attrs.insert(
                "server_side_encryption_configuration".into(),
                json!({ "rule": rules }),
            );
        }
        Err(None) => return (None, warnings),
        Err(Some(warning)) => warnings.push(warning),
    }

    let policy = unit
        .call(
            "GetBucketPolicy",
            client.get_bucket_policy().bucket(bucket).send(),
        )
        .await;
    match detail(unit, bucket, "policy", policy) {
        Ok(policy) => {
            let text = policy.as_ref().and_then(|output| output.policy());
            attrs.insert("policy".into(), json!(text));
            attrs.insert(
                "policy_sha256".into(),
                json!(text.map(|text| hex::encode(Sha256::digest(text.as_bytes())))),
            );
        }
        Err(None) => return (None, warnings),
        Err(Some(warning)) => warnings.push(warning),
    }

    let tagging = unit
        .call(
            "GetBucketTagging",
            client.get_bucket_tagging().bucket(bucket).send(),
        )
        .await;
    let tags: Tags = match detail(unit, bucket, "tags", tagging) {
        Ok(tagging) => tagging
            .as_ref()
            .map(|output| output.tag_set())
            .unwrap_or_default()
            .iter()
            .map(|tag| (tag.key().to_string(), tag.value().to_string()))
            .collect(),
        Err(None) => return (None, warnings),
        Err(Some(warning)) => {
            warnings.push(warning);
            Tags::new()
        }
    };
    let mut attrs_value = attrs;
    let attrs = super::attrs_with_tags(&mut attrs_value, Some(&tags));
    (
        Some(unit.resource_in(
            region,
            BUCKET_KIND,
            format!("arn:{}:s3:::{bucket}", unit.partition),
            bucket,
            attrs,
            Some(&tags),
        )),
        warnings,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_constraints_name_regions() {
        assert_eq!(region_of(None), "us-east-1");
        assert_eq!(region_of(Some("")), "us-east-1");
        assert_eq!(region_of(Some("EU")), "eu-west-1");
        assert_eq!(region_of(Some("eu-central-1")), "eu-central-1");
    }
}
