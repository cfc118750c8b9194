//! IAM roles (`aws_iam_role`, id = the role ARN, name = the role name): global, listed once.
//! `assume_role_policy` is the trust policy parsed from its URL-encoded text;
//! `managed_policy_arns` the attached policies and `inline_policy_names` the inline ones,
//! sorted; tags. A role's tags or policies that cannot be read are a warning and the role is
//! kept without them. Last-used times are left out.

use aws_sdk_iam::types::Role;
use serde_json::{json, Map, Value};

use super::{
    json_document, sorted_strings, text, CallError, ObservedResource, Tags, Unit, UnitOutput,
};

/// Kind of a role.
pub(super) const ROLE_KIND: &str = "aws_iam_role";

pub(super) async fn scrape(unit: &Unit) -> Result<UnitOutput, CallError> {
    let client = aws_sdk_iam::Client::new(&unit.sdk);
    let mut roles = Vec::new();
    let mut pages = client.list_roles().into_paginator().send();
    while let Some(page) = unit.page("ListRoles", pages.next()).await? {
        roles.extend(page.roles().iter().cloned());
    }
    let details: Vec<_> = roles
        .iter()
        .map(|role| role_resource(unit, &client, role))
        .collect();
    let resources = super::in_order(details, unit.fan_out).await;
    let mut output = UnitOutput::default();
    for (resource, warnings) in resources {
        output.resources.extend(resource);
        output.warnings.extend(warnings);
    }
    Ok(output)
}

/// IAM returns policy documents URL-encoded (RFC 3986); moto and some proxies do not.
fn decode_policy(text: &str) -> Value {
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        return value;
    }
    json_document(&percent_decode(text))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| u8::from_str_radix(digits, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                index += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

async fn role_resource(
    unit: &Unit,
    client: &aws_sdk_iam::Client,
    role: &Role,
) -> (Option<ObservedResource>, Vec<String>) {
    let name = role.role_name();
    let mut warnings = Vec::new();
    let mut gone = false;
    let mut note = |what: &str, error: CallError, warnings: &mut Vec<String>| {
        if error.is("NoSuchEntity") {
            gone = true;
        } else {
            warnings.push(unit.detail_warning(&format!("{what} of role {name}"), &error));
        }
    };

    let mut tags = Tags::new();
    let mut pages = client
        .list_role_tags()
        .role_name(name)
        .into_paginator()
        .send();
    loop {
        match unit.page("ListRoleTags", pages.next()).await {
            Ok(Some(page)) => tags.extend(
                page.tags()
                    .iter()
                    .map(|tag| (tag.key().to_string(), tag.value().to_string())),
            ),
            Ok(None) => break,
            Err(error) => {
                note("tags", error, &mut warnings);
                tags.clear();
                break;
            }
        }
    }
    let mut managed = Some(Vec::new());
    let mut pages = client
        .list_attached_role_policies()
        .role_name(name)
        .into_paginator()
        .send();
    loop {
        match unit.page("ListAttachedRolePolicies", pages.next()).await {
            Ok(Some(page)) => managed.get_or_insert_with(Vec::new).extend(
                page.attached_policies()
                    .iter()
                    .filter_map(|policy| policy.policy_arn().map(str::to_string)),
            ),
            Ok(None) => break,
            Err(error) => {
                note("attached policies", error, &mut warnings);
                managed = None;
                break;
            }
        }
    }
    let mut inline = Some(Vec::new());
    let mut pages = client
        .list_role_policies()
        .role_name(name)
        .into_paginator()
        .send();
    loop {
        match unit.page("ListRolePolicies", pages.next()).await {
            Ok(Some(page)) => inline
                .get_or_insert_with(Vec::new)
                .extend(page.policy_names().iter().cloned()),
            Ok(None) => break,
            Err(error) => {
                note("inline policies", error, &mut warnings);
                inline = None;
                break;
            }
        }
    }
    if gone {
        return (None, warnings);
    }

    let mut attrs = Map::new();
    attrs.insert("name".into(), json!(name));
    attrs.insert("arn".into(), json!(role.arn()));
    attrs.insert("unique_id".into(), json!(role.role_id()));
    attrs.insert("path".into(), json!(role.path()));
    attrs.insert("description".into(), text(role.description()));
    attrs.insert(
        "max_session_duration".into(),
        json!(role.max_session_duration()),
    );
    attrs.insert(
        "assume_role_policy".into(),
        role.assume_role_policy_document()
            .map_or(Value::Null, decode_policy),
    );
    attrs.insert(
        "permissions_boundary".into(),
        text(
            role.permissions_boundary()
                .and_then(|boundary| boundary.permissions_boundary_arn()),
        ),
    );
    if let Some(managed) = &managed {
        attrs.insert(
            "managed_policy_arns".into(),
            sorted_strings(managed.iter().map(String::as_str)),
        );
    }
    if let Some(inline) = &inline {
        attrs.insert(
            "inline_policy_names".into(),
            sorted_strings(inline.iter().map(String::as_str)),
        );
    }
    (
        Some(unit.resource(ROLE_KIND, role.arn().to_string(), name, attrs, Some(&tags))),
        warnings,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_policies_are_decoded() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(
            decode_policy(encoded),
            json!({"Version": "2012-10-17", "Statement": []})
        );
        assert_eq!(decode_policy(r#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }
}
