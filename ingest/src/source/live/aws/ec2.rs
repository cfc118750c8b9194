//! EC2 instances (`aws_instance`, id `arn:aws:ec2:<region>:<owner>:instance/<id>`) and
//! security groups (`aws_security_group`, id `arn:aws:ec2:<region>:<owner>:security-group/<id>`)
//! with their `ingress` and `egress` rules in Terraform's shape (one rule per permission:
//! `from_port`, `to_port`, `protocol`, `cidr_blocks`, `ipv6_cidr_blocks`, `prefix_list_ids`,
//! `security_groups`, `self`), sorted so rule order is not a change. Terminated instances
//! are left out (AWS lists them for an hour after they are gone).
//!
//! Network interfaces (`aws_network_interface`, id
//! `arn:aws:ec2:<region>:<owner>:network-interface/<id>`) carry a `parent` attribute when
//! something else created them: the instance for a primary interface (device index 0, made
//! by the launch), or the AWS service for a requester-managed one (Lambda, load balancers, NAT
//! gateways). Drift does not call a resource with a parent unmanaged: nobody declares those.

use aws_sdk_ec2::types::{Instance, IpPermission, NetworkInterface, SecurityGroup};
use serde_json::{json, Map, Value};

use super::{sorted_strings, text, CallError, ObservedResource, Tags, Unit, UnitOutput};

/// Kind of an instance.
pub(super) const INSTANCE_KIND: &str = "aws_instance";
/// Kind of a security group.
pub(super) const SECURITY_GROUP_KIND: &str = "aws_security_group";
/// Kind of a network interface.
pub(super) const NETWORK_INTERFACE_KIND: &str = "aws_network_interface";

pub(super) async fn scrape(unit: &Unit) -> Result<UnitOutput, CallError> {
    let client = aws_sdk_ec2::Client::new(&unit.sdk);
    let mut output = UnitOutput::default();
    let mut pages = client.describe_instances().into_paginator().send();
    while let Some(page) = unit.page("DescribeInstances", pages.next()).await? {
        for reservation in page.reservations() {
            let owner = reservation.owner_id().unwrap_or(&unit.account);
            for instance in reservation.instances() {
                output
                    .resources
                    .extend(instance_resource(unit, owner, instance));
            }
        }
    }
    let mut pages = client.describe_security_groups().into_paginator().send();
    while let Some(page) = unit.page("DescribeSecurityGroups", pages.next()).await? {
        for group in page.security_groups() {
            output.resources.extend(group_resource(unit, group));
        }
    }
    let mut pages = client.describe_network_interfaces().into_paginator().send();
    while let Some(page) = unit.page("DescribeNetworkInterfaces", pages.next()).await? {
        for interface in page.network_interfaces() {
            output.resources.extend(interface_resource(unit, interface));
        }
    }
    Ok(output)
}

fn tags_of(tags: &[aws_sdk_ec2::types::Tag]) -> Tags {
    tags.iter()
        .filter_map(|tag| {
            Some((
                tag.key()?.to_string(),
                tag.value().unwrap_or("").to_string(),
            ))
        })
        .collect()
}

fn instance_resource(unit: &Unit, owner: &str, instance: &Instance) -> Option<ObservedResource> {
    let id = instance.instance_id()?;
    let state = instance
        .state()
        .and_then(|state| state.name())
        .map(|name| name.as_str());
    if state == Some("terminated") {
        return None;
    }
    let tags = tags_of(instance.tags());
    let name = tags.get("Name").cloned().unwrap_or_else(|| id.to_string());
    let arn = format!(
        "arn:{}:ec2:{}:{owner}:instance/{id}",
        unit.partition, unit.region
    );
    let mut attrs = Map::new();
    attrs.insert("id".into(), json!(id));
    attrs.insert("arn".into(), json!(arn));
    attrs.insert(
        "instance_type".into(),
        text(instance.instance_type().map(|kind| kind.as_str())),
    );
    attrs.insert("ami".into(), text(instance.image_id()));
    attrs.insert("instance_state".into(), text(state));
    attrs.insert(
        "availability_zone".into(),
        text(
            instance
                .placement()
                .and_then(|placement| placement.availability_zone()),
        ),
    );
    attrs.insert("subnet_id".into(), text(instance.subnet_id()));
    attrs.insert("key_name".into(), text(instance.key_name()));
    attrs.insert("private_ip".into(), text(instance.private_ip_address()));
    attrs.insert(
        "iam_instance_profile".into(),
        text(
            instance
                .iam_instance_profile()
                .and_then(|profile| profile.arn()),
        ),
    );
    attrs.insert(
        "vpc_security_group_ids".into(),
        sorted_strings(
            instance
                .security_groups()
                .iter()
                .filter_map(|group| group.group_id()),
        ),
    );
    attrs.insert("ebs_optimized".into(), json!(instance.ebs_optimized()));
    attrs.insert(
        "monitoring".into(),
        json!(instance
            .monitoring()
            .and_then(|monitoring| monitoring.state())
            .is_some_and(|state| state.as_str() == "enabled")),
    );
    Some(unit.resource(INSTANCE_KIND, arn, &name, attrs, Some(&tags)))
}

fn interface_resource(unit: &Unit, interface: &NetworkInterface) -> Option<ObservedResource> {
    let id = interface.network_interface_id()?;
    let owner = interface.owner_id().unwrap_or(&unit.account);
    let arn = format!(
        "arn:{}:ec2:{}:{owner}:network-interface/{id}",
        unit.partition, unit.region
    );
    let tags = tags_of(interface.tag_set());
    let name = tags.get("Name").cloned().unwrap_or_else(|| id.to_string());
    let attachment = interface.attachment();
    let instance_id = attachment.and_then(|attachment| attachment.instance_id());
    let device_index = attachment.and_then(|attachment| attachment.device_index());
    let parent = if interface.requester_managed() == Some(true) {
        interface
            .requester_id()
            .map(|requester| format!("requester:{requester}"))
    } else {
        match (instance_id, device_index) {
            (Some(instance), Some(0)) => Some(format!(
                "arn:{}:ec2:{}:{owner}:instance/{instance}",
                unit.partition, unit.region
            )),
            _ => None,
        }
    };
    let mut attrs = Map::new();
    attrs.insert("id".into(), json!(id));
    attrs.insert("arn".into(), json!(arn));
    attrs.insert("subnet_id".into(), text(interface.subnet_id()));
    attrs.insert("description".into(), text(interface.description()));
    attrs.insert("private_ip".into(), text(interface.private_ip_address()));
    attrs.insert(
        "private_ips".into(),
        sorted_strings(
            interface
                .private_ip_addresses()
                .iter()
                .filter_map(|address| address.private_ip_address()),
        ),
    );
    attrs.insert(
        "security_groups".into(),
        sorted_strings(
            interface
                .groups()
                .iter()
                .filter_map(|group| group.group_id()),
        ),
    );
    attrs.insert(
        "source_dest_check".into(),
        json!(interface.source_dest_check()),
    );
    attrs.insert(
        "interface_type".into(),
        text(interface.interface_type().map(|kind| kind.as_str())),
    );
    attrs.insert(
        "attachment".into(),
        match attachment {
            Some(attachment) if instance_id.is_some() => json!([{
                "instance": instance_id,
                "device_index": device_index,
                "attachment_id": attachment.attachment_id(),
            }]),
            _ => json!([]),
        },
    );
    if let Some(parent) = parent {
        attrs.insert("parent".into(), json!(parent));
    }
    Some(unit.resource(NETWORK_INTERFACE_KIND, arn, &name, attrs, Some(&tags)))
}

fn group_resource(unit: &Unit, group: &SecurityGroup) -> Option<ObservedResource> {
    let id = group.group_id()?;
    let owner = group.owner_id().unwrap_or(&unit.account);
    let name = group.group_name().unwrap_or(id);
    let arn = group.security_group_arn().map_or_else(
        || {
            format!(
                "arn:{}:ec2:{}:{owner}:security-group/{id}",
                unit.partition, unit.region
            )
        },
        str::to_string,
    );
    let tags = tags_of(group.tags());
    let mut attrs = Map::new();
    attrs.insert("id".into(), json!(id));
    attrs.insert("arn".into(), json!(arn));
    attrs.insert("name".into(), json!(name));
    attrs.insert("description".into(), text(group.description()));
    attrs.insert("vpc_id".into(), text(group.vpc_id()));
    attrs.insert("owner_id".into(), json!(owner));
    attrs.insert("ingress".into(), rules(id, group.ip_permissions()));
    attrs.insert("egress".into(), rules(id, group.ip_permissions_egress()));
    Some(unit.resource(SECURITY_GROUP_KIND, arn, name, attrs, Some(&tags)))
}

/// Permissions as Terraform's rule blocks, sorted by their canonical text.
fn rules(own_group: &str, permissions: &[IpPermission]) -> Value {
    let mut rules: Vec<Value> = permissions
        .iter()
        .map(|permission| {
            let groups = permission
                .user_id_group_pairs()
                .iter()
                .filter_map(|pair| pair.group_id());
            let descriptions = permission
                .ip_ranges()
                .iter()
                .filter_map(|range| range.description())
                .chain(permission.ipv6_ranges().iter().filter_map(|range| range.description()))
                .chain(
                    permission
                        .user_id_group_pairs()
                        .iter()
                        .filter_map(|pair| pair.description()),
                );
            let descriptions: Vec<&str> = descriptions.collect();
            json!({
                "protocol": permission.ip_protocol(),
                "from_port": permission.from_port().unwrap_or(0),
                "to_port": permission.to_port().unwrap_or(0),
                "cidr_blocks": sorted_strings(permission.ip_ranges().iter().filter_map(|range| range.cidr_ip())),
                "ipv6_cidr_blocks": sorted_strings(permission.ipv6_ranges().iter().filter_map(|range| range.cidr_ipv6())),
                "prefix_list_ids": sorted_strings(permission.prefix_list_ids().iter().filter_map(|list| list.prefix_list_id())),
                "security_groups": sorted_strings(groups.clone().filter(|group| *group != own_group)),
                "self": groups.clone().any(|group| group == own_group),
                "description": sorted_strings(descriptions).as_array().and_then(|all| all.first().cloned()),
            })
        })
        .collect();
    rules.sort_by_cached_key(groundtruth_engine::canonical::to_canonical_string);
    Value::Array(rules)
}
