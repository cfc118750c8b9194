//! What the Terraform sources (state, plan, HCL) share: instance addresses, sensitive-value
//! redaction, tag labels and the mapping from Terraform resource types to live identities.
//!
//! The live mapping ([`live_labels`]) follows [`crate::identity`]: for the AWS types listed in
//! [`AWS_NAME_ATTRIBUTES`] the `live.kind` label is the Terraform type, `live.id` the ARN when
//! it is known (from `arn`, or derived for S3 buckets and event source mappings) and
//! `live.name` the name the live side shows; for the Kubernetes provider's deployment, service,
//! config map and namespace the `live.kind` is `k8s/<group>/<Kind>` and `live.id`
//! `<namespace>/<name>` from `metadata[0]`.

use std::collections::BTreeMap;

use groundtruth_engine::canonical::{self, REDACTED_MARKER};
use groundtruth_engine::model::{Layer, ObservedResource};
use serde_json::{Map, Value};

use crate::identity::{self, LIVE_ID_LABEL, LIVE_KIND_LABEL, LIVE_NAME_LABEL};

/// Kind given to root module outputs.
pub const OUTPUT_KIND: &str = "terraform_output";

/// AWS resource types mapped to the live side, with the attribute holding the name the live
/// side knows them by (`None` when the resource has no name of its own).
pub const AWS_NAME_ATTRIBUTES: &[(&str, Option<&str>)] = &[
    ("aws_sqs_queue", Some("name")),
    ("aws_lambda_function", Some("function_name")),
    ("aws_lambda_event_source_mapping", None),
    ("aws_instance", Some("id")),
    ("aws_security_group", Some("name")),
    ("aws_network_interface", Some("id")),
    ("aws_s3_bucket", Some("bucket")),
    ("aws_dynamodb_table", Some("name")),
    ("aws_db_instance", Some("identifier")),
    ("aws_iam_role", Some("name")),
];

/// Kubernetes provider types mapped to the live side: (Terraform type without `_v1`, API
/// version, Kind).
const KUBERNETES_TYPES: &[(&str, &str, &str)] = &[
    ("kubernetes_deployment", "apps/v1", "Deployment"),
    ("kubernetes_service", "v1", "Service"),
    ("kubernetes_config_map", "v1", "ConfigMap"),
    ("kubernetes_namespace", "v1", "Namespace"),
];

/// The address of one instance: `resource_address` followed by its index key the way
/// Terraform prints it (`[0]`, `["logs"]`). `None` when the key is neither a number nor a string.
pub fn instance_address(resource_address: &str, index_key: Option<&Value>) -> Option<String> {
    match index_key {
        None | Some(Value::Null) => Some(resource_address.to_string()),
        Some(Value::Number(index)) => Some(format!("{resource_address}[{index}]")),
        // Keys are written the way Terraform prints them, quotes and escapes included.
        Some(Value::String(key)) => Some(format!(
            "{resource_address}[{}]",
            Value::String(key.clone())
        )),
        Some(_) => None,
    }
}

/// `tag.<key>` labels from an (already redacted) `tags` attribute. A redacted tag map yields
/// nothing, so a sensitive tag value never becomes a plain-text label.
pub fn tag_labels(attributes: &Value, labels: &mut BTreeMap<String, String>) {
    if let Some(Value::Object(tags)) = attributes.get("tags") {
        if !is_redacted(tags) {
            for (key, value) in tags {
                if let Value::String(value) = value {
                    labels.insert(format!("tag.{key}"), value.clone());
                }
            }
        }
    }
}

/// A non-empty string attribute (redacted or unknown values are objects or markers, not names).
fn text<'a>(attributes: &'a Value, field: &str) -> Option<&'a str> {
    attributes
        .get(field)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty() && *text != UNKNOWN_VALUE)
}

/// What a plan shows for a value only known after apply.
pub const UNKNOWN_VALUE: &str = "(known after apply)";

/// The `live.*` labels of a managed resource of type `resource_type` whose literal attributes
/// are `attributes`. Empty for types without a live mapping.
pub fn live_labels(resource_type: &str, attributes: &Value) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    if let Some((_, name_attribute)) = AWS_NAME_ATTRIBUTES
        .iter()
        .find(|(aws_type, _)| *aws_type == resource_type)
    {
        labels.insert(LIVE_KIND_LABEL.to_string(), resource_type.to_string());
        if let Some(arn) = aws_arn(resource_type, attributes) {
            labels.insert(LIVE_ID_LABEL.to_string(), arn);
        }
        if let Some(name) = name_attribute.and_then(|field| text(attributes, field)) {
            labels.insert(LIVE_NAME_LABEL.to_string(), name.to_string());
        }
        return labels;
    }
    let base_type = resource_type.strip_suffix("_v1").unwrap_or(resource_type);
    if let Some((_, api_version, kind)) = KUBERNETES_TYPES
        .iter()
        .find(|(kubernetes_type, _, _)| *kubernetes_type == base_type)
    {
        labels.insert(
            LIVE_KIND_LABEL.to_string(),
            identity::kubernetes_kind(api_version, kind),
        );
        // The provider models `metadata` as a one-element block list.
        let metadata = match attributes.get("metadata") {
            Some(Value::Array(blocks)) => blocks.first(),
            Some(object @ Value::Object(_)) => Some(object),
            _ => None,
        };
        if let Some(name) = metadata.and_then(|metadata| text(metadata, "name")) {
            let namespace = metadata.and_then(|metadata| text(metadata, "namespace"));
            labels.insert(
                LIVE_ID_LABEL.to_string(),
                identity::kubernetes_id(kind, namespace, name),
            );
            labels.insert(LIVE_NAME_LABEL.to_string(), name.to_string());
        }
    }
    labels
}

/// The kind and the module-local address of a resource: managed resources are their type,
/// data sources `data.<type>`, so `data.aws_vpc` never mixes with declared `aws_vpc` resources.
pub fn kind_and_local_address(
    mode: &str,
    resource_type: &str,
    name: &str,
) -> Result<(String, String), String> {
    match mode {
        "managed" => Ok((resource_type.to_string(), format!("{resource_type}.{name}"))),
        "data" => Ok((
            format!("data.{resource_type}"),
            format!("data.{resource_type}.{name}"),
        )),
        other => Err(format!("unknown mode {other:?}")),
    }
}

/// What every Terraform resource instance records besides its attributes.
pub struct InstanceFacts<'a> {
    /// `managed` or `data`.
    pub mode: &'a str,
    /// The resource type (`aws_sqs_queue`).
    pub resource_type: &'a str,
    /// The resource name in its module (`orders`).
    pub name: &'a str,
    /// The module address (`module.network`), `None` in the root module.
    pub module: Option<&'a str>,
    /// The provider in state notation (`provider["registry.terraform.io/hashicorp/aws"]`).
    pub provider: Option<String>,
}

/// One declared resource instance with its `terraform.*`, `tag.*` and `live.*` labels.
/// `attributes` must already be redacted.
pub fn instance_resource(
    facts: &InstanceFacts<'_>,
    kind: String,
    id: String,
    attributes: Value,
) -> ObservedResource {
    let mut labels = BTreeMap::new();
    labels.insert("terraform.mode".to_string(), facts.mode.to_string());
    if let Some(module) = facts.module {
        labels.insert("terraform.module".to_string(), module.to_string());
    }
    if let Some(provider) = &facts.provider {
        labels.insert("terraform.provider".to_string(), provider.clone());
    }
    tag_labels(&attributes, &mut labels);
    if facts.mode == "managed" {
        labels.extend(live_labels(facts.resource_type, &attributes));
    }
    ObservedResource {
        kind,
        id,
        layer: Layer::Declared,
        name: Some(facts.name.to_string()),
        attrs: attributes,
        labels,
    }
}

/// One root module output; the whole value is redacted when the output is sensitive.
pub fn output_resource(name: &str, output: &Value) -> ObservedResource {
    let value = output.get("value").cloned().unwrap_or(Value::Null);
    let sensitive = output
        .get("sensitive")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let value = if sensitive {
        canonical::redacted(&value)
    } else {
        value
    };
    let output_type = output.get("type").cloned().unwrap_or(Value::Null);
    ObservedResource::new(
        OUTPUT_KIND,
        format!("output.{name}"),
        Layer::Declared,
        serde_json::json!({ "value": value, "type": output_type }),
    )
    .with_name(name)
}

/// Sort by (kind, id) and keep the first of duplicate identities, with a warning.
pub fn sort_and_dedup(observed: &mut Vec<ObservedResource>, warnings: &mut Vec<String>) {
    observed.sort_by(|left, right| (&left.kind, &left.id).cmp(&(&right.kind, &right.id)));
    observed.dedup_by(|later, earlier| {
        let duplicate = later.kind == earlier.kind && later.id == earlier.id;
        if duplicate {
            warnings.push(format!(
                "duplicate address {} ({}); kept the first",
                later.id, later.kind
            ));
        }
        duplicate
    });
}

/// serde_json appends " at line L column C" to its messages; the line is reported separately.
pub fn describe_json_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    text.strip_suffix(&suffix)
        .map(str::to_string)
        .unwrap_or(text)
}

/// Parse a JSON document, reporting the file and line on failure.
pub fn parse_json(path: &std::path::Path, bytes: &[u8]) -> crate::error::Result<Value> {
    serde_json::from_slice(bytes).map_err(|error| crate::error::IngestError::Parse {
        path: path.to_path_buf(),
        line: Some(error.line()),
        message: format!(
            "invalid JSON at column {}: {}",
            error.column(),
            describe_json_error(&error)
        ),
    })
}

/// The one file a state or plan source reads. More or none is an error naming the location,
/// `expected` ("Terraform state file") and what was found (`found` objects: "objects").
pub fn only_file(
    location: std::path::PathBuf,
    mut files: Vec<crate::input::InputFile>,
    expected: &str,
    found: &str,
) -> crate::error::Result<crate::input::InputFile> {
    if files.len() != 1 {
        return Err(crate::error::IngestError::Invalid {
            path: location,
            message: format!("expected one {expected}, found {} {found}", files.len()),
        });
    }
    Ok(files.remove(0))
}

/// The ARN of an AWS resource, when its attributes give or imply it.
fn aws_arn(resource_type: &str, attributes: &Value) -> Option<String> {
    if let Some(arn) = text(attributes, "arn") {
        return Some(arn.to_string());
    }
    match resource_type {
        "aws_s3_bucket" => {
            text(attributes, "bucket").map(|bucket| format!("arn:aws:s3:::{bucket}"))
        }
        "aws_lambda_event_source_mapping" => {
            let function_arn = text(attributes, "function_arn")?;
            // arn:aws:lambda:<region>:<account>:function:<name>
            let mut parts = function_arn.splitn(6, ':');
            let (Some("arn"), Some(partition), Some("lambda"), Some(region), Some(account)) = (
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
            ) else {
                return None;
            };
            let uuid = text(attributes, "uuid").or_else(|| text(attributes, "id"))?;
            Some(format!(
                "arn:{partition}:lambda:{region}:{account}:event-source-mapping:{uuid}"
            ))
        }
        _ => None,
    }
}

/// Whether an object is the stand-in [`canonical::redacted`] produces.
pub(crate) fn is_redacted(object: &Map<String, Value>) -> bool {
    object.get(REDACTED_MARKER) == Some(&Value::Bool(true))
}

/// Apply an instance's `sensitive_attributes` to its attributes, in either of the shapes
/// Terraform has written: a list of paths (`[[{"type":"get_attr","value":"password"}]]`) or a
/// mask mirroring the attributes with `true` at sensitive leaves.
pub(crate) fn redact_sensitive(attributes: &mut Value, sensitive: &Value) {
    match sensitive {
        Value::Array(entries) if entries.iter().all(Value::is_array) => {
            for path in entries.iter().filter_map(Value::as_array) {
                redact_path(attributes, path);
            }
        }
        mask => redact_mask(attributes, mask),
    }
}

/// One step of a sensitive path.
enum PathStep<'a> {
    /// An attribute name or a map key.
    Key(&'a str),
    /// A list or tuple position.
    Position(usize),
    /// A step this reader cannot follow, such as a set element.
    Unknown,
}

fn path_step(step: &Value) -> PathStep<'_> {
    let step_type = step.get("type").and_then(Value::as_str);
    match (step_type, step.get("value")) {
        (Some("get_attr"), Some(Value::String(name))) => PathStep::Key(name),
        // Index keys are typed cty values, e.g. {"value": 0, "type": "number"}.
        (Some("index"), Some(key)) => match key.get("value").unwrap_or(key) {
            Value::String(key) => PathStep::Key(key),
            Value::Number(number) => match number
                .as_u64()
                .and_then(|index| usize::try_from(index).ok())
            {
                Some(index) => PathStep::Position(index),
                None => PathStep::Unknown,
            },
            _ => PathStep::Unknown,
        },
        _ => PathStep::Unknown,
    }
}

/// Redact the value at one path of `get_attr` / `index` steps. A path that no longer leads
/// anywhere (a block that is now absent) has nothing left to hide and is ignored.
fn redact_path(value: &mut Value, path: &[Value]) {
    let Some((step, rest)) = path.split_first() else {
        redact_in_place(value);
        return;
    };
    let child = match path_step(step) {
        PathStep::Key(key) => value.get_mut(key),
        PathStep::Position(index) => value.get_mut(index),
        // The secret lives at or below a point we cannot pinpoint; hiding more is the safe side.
        PathStep::Unknown => {
            redact_in_place(value);
            return;
        }
    };
    if let Some(child) = child {
        redact_path(child, rest);
    }
}

/// Redact every leaf a `*_sensitive` mask (as in `terraform show -json`) marks `true`.
pub(crate) fn redact_mask(value: &mut Value, mask: &Value) {
    match (mask, value) {
        (Value::Bool(true), value) => redact_in_place(value),
        (Value::Object(mask), Value::Object(object)) => {
            for (key, child_mask) in mask {
                if let Some(child) = object.get_mut(key) {
                    redact_mask(child, child_mask);
                }
            }
        }
        (Value::Array(mask), Value::Array(items)) => {
            for (child, child_mask) in items.iter_mut().zip(mask) {
                redact_mask(child, child_mask);
            }
        }
        // A mask object over a list (or the reverse) means the shapes disagree; the whole
        // value is hidden rather than guessing which part is sensitive.
        (Value::Object(_) | Value::Array(_), value) if mask_marks_anything(mask) => {
            redact_in_place(value)
        }
        _ => {}
    }
}

fn mask_marks_anything(mask: &Value) -> bool {
    match mask {
        Value::Bool(flag) => *flag,
        Value::Object(children) => children.values().any(mask_marks_anything),
        Value::Array(children) => children.iter().any(mask_marks_anything),
        _ => false,
    }
}

/// Replace a value by its redacted stand-in (nulls and already-redacted values stay).
pub(crate) fn redact_in_place(value: &mut Value) {
    // A null hides nothing, and keeping it null records "not set" rather than a fake secret.
    if value.is_null() {
        return;
    }
    if let Value::Object(object) = value {
        if is_redacted(object) {
            return;
        }
    }
    *value = canonical::redacted(value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn label<'a>(labels: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
        labels.get(key).map(String::as_str)
    }

    fn check(
        resource_type: &str,
        attributes: Value,
        kind: &str,
        id: Option<&str>,
        name: Option<&str>,
    ) {
        let labels = live_labels(resource_type, &attributes);
        assert_eq!(
            label(&labels, LIVE_KIND_LABEL),
            Some(kind),
            "{resource_type}"
        );
        assert_eq!(label(&labels, LIVE_ID_LABEL), id, "{resource_type}");
        assert_eq!(label(&labels, LIVE_NAME_LABEL), name, "{resource_type}");
    }

    #[test]
    fn aws_types_map_to_arn_and_name() {
        check(
            "aws_sqs_queue",
            json!({"arn": "arn:aws:sqs:eu-west-1:123456789012:orders", "name": "orders"}),
            "aws_sqs_queue",
            Some("arn:aws:sqs:eu-west-1:123456789012:orders"),
            Some("orders"),
        );
        check(
            "aws_lambda_function",
            json!({"arn": "arn:aws:lambda:eu-west-1:123456789012:function:order-processor", "function_name": "order-processor"}),
            "aws_lambda_function",
            Some("arn:aws:lambda:eu-west-1:123456789012:function:order-processor"),
            Some("order-processor"),
        );
        check(
            "aws_instance",
            json!({"arn": "arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc", "id": "i-0abc"}),
            "aws_instance",
            Some("arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc"),
            Some("i-0abc"),
        );
        check(
            "aws_security_group",
            json!({"arn": "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-1", "name": "web"}),
            "aws_security_group",
            Some("arn:aws:ec2:eu-west-1:123456789012:security-group/sg-1"),
            Some("web"),
        );
        check(
            "aws_network_interface",
            json!({"arn": "arn:aws:ec2:eu-west-1:123456789012:network-interface/eni-1", "id": "eni-1"}),
            "aws_network_interface",
            Some("arn:aws:ec2:eu-west-1:123456789012:network-interface/eni-1"),
            Some("eni-1"),
        );
        check(
            "aws_dynamodb_table",
            json!({"arn": "arn:aws:dynamodb:eu-west-1:123456789012:table/carts", "name": "carts"}),
            "aws_dynamodb_table",
            Some("arn:aws:dynamodb:eu-west-1:123456789012:table/carts"),
            Some("carts"),
        );
        check(
            "aws_db_instance",
            json!({"arn": "arn:aws:rds:eu-west-1:123456789012:db:orders-db", "identifier": "orders-db"}),
            "aws_db_instance",
            Some("arn:aws:rds:eu-west-1:123456789012:db:orders-db"),
            Some("orders-db"),
        );
        check(
            "aws_iam_role",
            json!({"arn": "arn:aws:iam::123456789012:role/deployer", "name": "deployer"}),
            "aws_iam_role",
            Some("arn:aws:iam::123456789012:role/deployer"),
            Some("deployer"),
        );
    }

    #[test]
    fn s3_bucket_arn_is_derived_from_the_bucket() {
        check(
            "aws_s3_bucket",
            json!({"bucket": "orders-archive"}),
            "aws_s3_bucket",
            Some("arn:aws:s3:::orders-archive"),
            Some("orders-archive"),
        );
    }

    #[test]
    fn event_source_mapping_arn_is_given_or_derived() {
        check(
            "aws_lambda_event_source_mapping",
            json!({"arn": "arn:aws:lambda:eu-west-1:123456789012:event-source-mapping:given"}),
            "aws_lambda_event_source_mapping",
            Some("arn:aws:lambda:eu-west-1:123456789012:event-source-mapping:given"),
            None,
        );
        check(
            "aws_lambda_event_source_mapping",
            json!({
                "function_arn": "arn:aws:lambda:eu-west-1:123456789012:function:order-processor",
                "uuid": "4b8f2c1e-0d3a-4e5f-9a7b-1c2d3e4f5a6b"
            }),
            "aws_lambda_event_source_mapping",
            Some("arn:aws:lambda:eu-west-1:123456789012:event-source-mapping:4b8f2c1e-0d3a-4e5f-9a7b-1c2d3e4f5a6b"),
            None,
        );
        check(
            "aws_lambda_event_source_mapping",
            json!({"function_arn": "not-an-arn", "uuid": "x"}),
            "aws_lambda_event_source_mapping",
            None,
            None,
        );
    }

    #[test]
    fn unknown_and_redacted_values_give_no_identity() {
        check(
            "aws_sqs_queue",
            json!({"arn": UNKNOWN_VALUE, "name": canonical::redacted(&json!("orders"))}),
            "aws_sqs_queue",
            None,
            None,
        );
        assert!(live_labels("aws_subnet", &json!({"arn": "arn:x"})).is_empty());
    }

    #[test]
    fn kubernetes_types_map_to_kubernetes_identities() {
        let metadata = json!({"metadata": [{"name": "web", "namespace": "shop"}]});
        check(
            "kubernetes_deployment",
            metadata.clone(),
            "k8s/apps/Deployment",
            Some("shop/web"),
            Some("web"),
        );
        check(
            "kubernetes_deployment_v1",
            metadata.clone(),
            "k8s/apps/Deployment",
            Some("shop/web"),
            Some("web"),
        );
        check(
            "kubernetes_service_v1",
            metadata.clone(),
            "k8s/core/Service",
            Some("shop/web"),
            Some("web"),
        );
        check(
            "kubernetes_config_map",
            json!({"metadata": [{"name": "settings"}]}),
            "k8s/core/ConfigMap",
            Some("default/settings"),
            Some("settings"),
        );
        check(
            "kubernetes_namespace_v1",
            json!({"metadata": [{"name": "shop"}]}),
            "k8s/core/Namespace",
            Some("shop"),
            Some("shop"),
        );
        check(
            "kubernetes_service",
            json!({}),
            "k8s/core/Service",
            None,
            None,
        );
    }

    #[test]
    fn instance_addresses_quote_string_keys() {
        assert_eq!(
            instance_address("aws_s3_bucket.logs", None).as_deref(),
            Some("aws_s3_bucket.logs")
        );
        assert_eq!(
            instance_address("aws_subnet.private", Some(&json!(1))).as_deref(),
            Some("aws_subnet.private[1]")
        );
        assert_eq!(
            instance_address("aws_s3_bucket.b", Some(&json!("a\"b"))).as_deref(),
            Some("aws_s3_bucket.b[\"a\\\"b\"]")
        );
        assert_eq!(instance_address("x.y", Some(&json!(true))), None);
    }
}
