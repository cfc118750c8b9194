//! RDS DB instances (`aws_db_instance`, id = the instance ARN, name = the DB identifier):
//! engine, version, class, storage, networking and protection settings under Terraform's
//! names, and tags. Status, endpoints' addresses and maintenance times are left out.

use aws_sdk_rds::types::DbInstance;
use serde_json::{json, Map};

use super::{sorted_strings, text, CallError, ObservedResource, Tags, Unit, UnitOutput};

/// Kind of a DB instance.
pub(super) const INSTANCE_KIND: &str = "aws_db_instance";

pub(super) async fn scrape(unit: &Unit) -> Result<UnitOutput, CallError> {
    let client = aws_sdk_rds::Client::new(&unit.sdk);
    let mut output = UnitOutput::default();
    let mut pages = client.describe_db_instances().into_paginator().send();
    while let Some(page) = unit.page("DescribeDBInstances", pages.next()).await? {
        output.resources.extend(
            page.db_instances()
                .iter()
                .filter_map(|db| resource(unit, db)),
        );
    }
    Ok(output)
}

fn resource(unit: &Unit, db: &DbInstance) -> Option<ObservedResource> {
    let identifier = db.db_instance_identifier()?;
    let arn = db.db_instance_arn().map_or_else(
        || {
            format!(
                "arn:{}:rds:{}:{}:db:{identifier}",
                unit.partition, unit.region, unit.account
            )
        },
        str::to_string,
    );
    let tags: Tags = db
        .tag_list()
        .iter()
        .filter_map(|tag| {
            Some((
                tag.key()?.to_string(),
                tag.value().unwrap_or("").to_string(),
            ))
        })
        .collect();
    let mut attrs = Map::new();
    attrs.insert("identifier".into(), json!(identifier));
    attrs.insert("arn".into(), json!(arn));
    attrs.insert("engine".into(), text(db.engine()));
    attrs.insert("engine_version".into(), text(db.engine_version()));
    attrs.insert("instance_class".into(), text(db.db_instance_class()));
    attrs.insert("allocated_storage".into(), json!(db.allocated_storage()));
    attrs.insert("storage_type".into(), text(db.storage_type()));
    attrs.insert("storage_encrypted".into(), json!(db.storage_encrypted()));
    attrs.insert("kms_key_id".into(), text(db.kms_key_id()));
    attrs.insert("multi_az".into(), json!(db.multi_az()));
    attrs.insert(
        "publicly_accessible".into(),
        json!(db.publicly_accessible()),
    );
    attrs.insert("db_name".into(), text(db.db_name()));
    attrs.insert("username".into(), text(db.master_username()));
    attrs.insert(
        "port".into(),
        json!(db
            .endpoint()
            .and_then(|endpoint| endpoint.port())
            .or(db.db_instance_port())),
    );
    attrs.insert(
        "db_subnet_group_name".into(),
        text(
            db.db_subnet_group()
                .and_then(|group| group.db_subnet_group_name()),
        ),
    );
    attrs.insert(
        "vpc_security_group_ids".into(),
        sorted_strings(
            db.vpc_security_groups()
                .iter()
                .filter_map(|group| group.vpc_security_group_id()),
        ),
    );
    attrs.insert(
        "parameter_group_name".into(),
        text(
            db.db_parameter_groups()
                .first()
                .and_then(|group| group.db_parameter_group_name()),
        ),
    );
    attrs.insert(
        "backup_retention_period".into(),
        json!(db.backup_retention_period()),
    );
    attrs.insert(
        "deletion_protection".into(),
        json!(db.deletion_protection()),
    );
    attrs.insert(
        "auto_minor_version_upgrade".into(),
        json!(db.auto_minor_version_upgrade()),
    );
    attrs.insert(
        "iam_database_authentication_enabled".into(),
        json!(db.iam_database_authentication_enabled()),
    );
    Some(unit.resource(INSTANCE_KIND, arn, identifier, attrs, Some(&tags)))
}
