//! Relations: which resource points at which, read from the attributes each version states.
//!
//! [`references`] turns one resource version into the references it makes, each naming how
//! its target is found ([`MatchOn`]); the `relations` view (`session/relation_definitions.rs`)
//! resolves them against the versions of the same layer and intersects the time intervals,
//! so every relation has a history (`valid_from`, `valid_to`) like a resource. Nothing here
//! is stored: relations are derived at query time, so a new rule applies to the whole
//! history at once.
//!
//! | kind | relation | target |
//! |------|----------|--------|
//! | `aws_lambda_event_source_mapping` | `reads_from` | the SQS queue, DynamoDB table (of the stream) or Kinesis stream of `event_source_arn` |
//! | `aws_lambda_event_source_mapping` | `invokes` | the function of `function_arn` / `function_name` |
//! | `aws_lambda_function` | `assumes_role` | the IAM role of `role` |
//! | `aws_sqs_queue` | `dead_letters_to` | the queue of `redrive_policy.deadLetterTargetArn` |
//! | `aws_instance`, `aws_db_instance` | `uses_security_group` | each of `vpc_security_group_ids` |
//! | `aws_cloudformation_stack_resource` | `provisions` | the live resource of its `physical_id` |
//! | `aws_cloudformation_stack_resource` | `part_of_stack` | the stack named by its `cloudformation.stack` label |
//! | CloudFormation template resources (`AWS::...`) | `depends_on`, `references` | `DependsOn`, `Ref` and `Fn::GetAtt` targets in the same stack |
//! | Terraform resources (declared) | `depends_on`, `references` | `depends_on` entries and `type.name` references in expressions, same source |
//! | `k8s/core/Service` | `selects` | Deployments, StatefulSets and DaemonSets of its namespace whose pod template labels match `spec.selector` |
//! | `k8s/networking.k8s.io/Ingress` | `routes_to` | the Services of its backends |
//! | workloads and Pods | `mounts` | ConfigMaps and Secrets used as volumes or `envFrom` |
//! | `postgres/constraint` (foreign key) | `references` | from its table to the referenced table |
//! | `postgres/index` | `indexes` | its table |

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::kinds::{aws, k8s, postgres, CLOUDFORMATION_PREFIX, LIVE_KIND_LABEL};

/// How a reference's target is found among the versions of the same layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchOn {
    /// The target's id equals the key.
    Id,
    /// The target's name equals the key.
    Name,
    /// The target's `live.id` label equals the key (declared resources that know their ARN).
    LiveId,
    /// The target's `attrs.id` equals the key (AWS short ids such as `sg-0abc`).
    AwsId,
    /// The target's id equals the key within the same source, whatever its kind (Terraform
    /// addresses, CloudFormation logical ids).
    Address,
    /// A Kubernetes label selector: the key is the namespace, the condition the selector; the
    /// target's pod template (or own) labels must contain every selector entry.
    Selector,
}

impl MatchOn {
    /// The spelling used in SQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Name => "name",
            Self::LiveId => "live_id",
            Self::AwsId => "aws_id",
            Self::Address => "address",
            Self::Selector => "selector",
        }
    }
}

/// One reference a resource version makes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    /// What the relation means, read from origin to target (`reads_from`, `selects`, ...).
    pub relation: &'static str,
    /// The origin when it is not the resource itself (a foreign key relates its table).
    pub origin: Option<(String, String)>,
    /// The target's kind; `None` for any kind (with [`MatchOn::Address`]).
    pub target_kind: Option<String>,
    /// How the target is found.
    pub match_on: MatchOn,
    /// The value matched.
    pub key: String,
    /// A label selector (JSON object) for [`MatchOn::Selector`].
    pub condition: Option<String>,
}

/// Kinds whose versions can make references; the view reads only these (plus declared
/// Terraform and CloudFormation resources, see [`may_reference`]).
pub const REFERENCING_KINDS: &[&str] = &[
    aws::LAMBDA_EVENT_SOURCE_MAPPING,
    aws::LAMBDA_FUNCTION,
    aws::SQS_QUEUE,
    aws::INSTANCE,
    aws::DB_INSTANCE,
    aws::CLOUDFORMATION_STACK_RESOURCE,
    postgres::CONSTRAINT,
    postgres::INDEX,
];

/// Kubernetes kinds whose pod template can mount ConfigMaps and Secrets.
const WORKLOAD_KINDS: &[&str] = &[
    k8s::DEPLOYMENT,
    k8s::STATEFUL_SET,
    k8s::DAEMON_SET,
    k8s::REPLICA_SET,
    k8s::JOB,
    k8s::CRON_JOB,
    k8s::POD,
];

/// Kinds a Service selects (ReplicaSets and Pods are children of these, see drift's owner
/// rule, so selecting them too would only repeat the same relation).
const SELECTABLE_KINDS: &[&str] = &[k8s::DEPLOYMENT, k8s::STATEFUL_SET, k8s::DAEMON_SET];

/// Whether a resource of this kind and layer can make references at all: a cheap test that
/// spares parsing the attributes of everything else.
pub fn may_reference(kind: &str, layer: &str) -> bool {
    REFERENCING_KINDS.contains(&kind)
        || WORKLOAD_KINDS.contains(&kind)
        || kind == k8s::SERVICE
        || kind == k8s::INGRESS
        || kind.starts_with(CLOUDFORMATION_PREFIX)
        || (layer == "declared" && is_terraform_kind(kind))
}

/// Terraform resource types: lower-case words joined by `_`, provider first.
fn is_terraform_kind(kind: &str) -> bool {
    kind.contains('_')
        && kind
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
}

/// The references one version makes, sorted and without duplicates.
pub fn references(
    kind: &str,
    id: &str,
    layer: &str,
    attrs: &Value,
    labels: &Map<String, Value>,
) -> Vec<Reference> {
    let mut found = BTreeSet::new();
    let mut add = |reference: Reference| {
        found.insert(reference);
    };
    match kind {
        aws::LAMBDA_EVENT_SOURCE_MAPPING => event_source_mapping(attrs, &mut add),
        aws::LAMBDA_FUNCTION => {
            if let Some(role) = text(attrs, &["role"]) {
                by_arn("assumes_role", aws::IAM_ROLE, role, &mut add);
            }
        }
        aws::SQS_QUEUE => {
            let policy = attrs.get("redrive_policy").map(json_or_object);
            let target = policy
                .as_ref()
                .and_then(|policy| policy.get("deadLetterTargetArn"))
                .and_then(Value::as_str);
            if let Some(target) = target.filter(|target| !target.is_empty()) {
                by_arn("dead_letters_to", aws::SQS_QUEUE, target, &mut add);
            }
        }
        aws::INSTANCE | aws::DB_INSTANCE => {
            for group in strings(attrs.get("vpc_security_group_ids")) {
                add(to_kind(
                    "uses_security_group",
                    aws::SECURITY_GROUP,
                    MatchOn::AwsId,
                    group,
                ));
            }
        }
        aws::CLOUDFORMATION_STACK_RESOURCE => stack_resource(attrs, labels, &mut add),
        postgres::CONSTRAINT => {
            let table = text(attrs, &["table"]);
            let referenced = text(attrs, &["references", "table"]);
            if let (Some(table), Some(referenced)) = (table, referenced) {
                add(Reference {
                    origin: Some((postgres::TABLE.into(), table.into())),
                    ..to_kind("references", postgres::TABLE, MatchOn::Id, referenced)
                });
            }
        }
        postgres::INDEX => {
            if let Some(table) = text(attrs, &["table"]) {
                add(to_kind("indexes", postgres::TABLE, MatchOn::Id, table));
            }
        }
        k8s::SERVICE => service(id, attrs, &mut add),
        k8s::INGRESS => ingress(id, attrs, &mut add),
        _ if WORKLOAD_KINDS.contains(&kind) => workload(kind, id, attrs, &mut add),
        _ if kind.starts_with(CLOUDFORMATION_PREFIX) => {
            cloudformation_template(id, attrs, &mut add)
        }
        _ => {}
    }
    // Terraform declarations hold values (state) or expressions (HCL) in the same attributes:
    // both readings apply.
    if layer == "declared" && is_terraform_kind(kind) {
        terraform(id, attrs, &mut add);
    }
    found.into_iter().collect()
}

fn to_kind(relation: &'static str, kind: &str, match_on: MatchOn, key: &str) -> Reference {
    Reference {
        relation,
        origin: None,
        target_kind: Some(kind.into()),
        match_on,
        key: key.into(),
        condition: None,
    }
}

/// An ARN names a live resource by id and a declared one (Terraform state) by its `live.id`
/// label; anything else is a name.
fn by_arn(relation: &'static str, kind: &str, value: &str, add: &mut impl FnMut(Reference)) {
    if value.starts_with("arn:") {
        add(to_kind(relation, kind, MatchOn::Id, value));
        add(to_kind(relation, kind, MatchOn::LiveId, value));
    } else {
        add(to_kind(relation, kind, MatchOn::Name, value));
    }
}

fn event_source_mapping(attrs: &Value, add: &mut impl FnMut(Reference)) {
    if let Some(source) = text(attrs, &["event_source_arn"]) {
        let service = source.split(':').nth(2).unwrap_or("");
        match service {
            "sqs" => by_arn("reads_from", aws::SQS_QUEUE, source, add),
            // A stream ARN is the table ARN followed by `/stream/<label>`.
            "dynamodb" => {
                let table = source.split("/stream/").next().unwrap_or(source);
                by_arn("reads_from", aws::DYNAMODB_TABLE, table, add);
            }
            "kinesis" => by_arn("reads_from", aws::KINESIS_STREAM, source, add),
            _ => {}
        }
    }
    let function = text(attrs, &["function_arn"]).or_else(|| text(attrs, &["function_name"]));
    if let Some(function) = function {
        by_arn("invokes", aws::LAMBDA_FUNCTION, function, add);
        // An ARN with a version or alias qualifier still invokes the function.
        let parts: Vec<&str> = function.split(':').collect();
        if function.starts_with("arn:") && parts.len() == 8 {
            by_arn("invokes", aws::LAMBDA_FUNCTION, &parts[..7].join(":"), add);
        }
    }
}

fn stack_resource(attrs: &Value, labels: &Map<String, Value>, add: &mut impl FnMut(Reference)) {
    let label = |name: &str| labels.get(name).and_then(Value::as_str);
    if let Some(stack) = label("cloudformation.stack") {
        add(to_kind(
            "part_of_stack",
            aws::CLOUDFORMATION_STACK,
            MatchOn::Name,
            stack,
        ));
    }
    let (Some(kind), Some(physical)) = (label(LIVE_KIND_LABEL), text(attrs, &["physical_id"]))
    else {
        return;
    };
    // A physical id is an ARN, a name, or a URL ending in the name (SQS queues).
    by_arn("provisions", kind, physical, add);
    if let Some(last) = physical.rsplit('/').next().filter(|last| *last != physical) {
        add(to_kind("provisions", kind, MatchOn::Name, last));
    }
}

fn service(id: &str, attrs: &Value, add: &mut impl FnMut(Reference)) {
    let Some(selector) = attrs
        .pointer("/spec/selector")
        .and_then(Value::as_object)
        .filter(|selector| !selector.is_empty())
    else {
        return;
    };
    let condition = Value::Object(selector.clone()).to_string();
    for kind in SELECTABLE_KINDS {
        add(Reference {
            condition: Some(condition.clone()),
            ..to_kind("selects", kind, MatchOn::Selector, namespace_of(id))
        });
    }
}

fn ingress(id: &str, attrs: &Value, add: &mut impl FnMut(Reference)) {
    let namespace = namespace_of(id);
    let mut backends: Vec<&Value> = Vec::new();
    if let Some(default) = attrs
        .pointer("/spec/defaultBackend")
        .or_else(|| attrs.pointer("/spec/backend"))
    {
        backends.push(default);
    }
    for rule in array(attrs.pointer("/spec/rules")) {
        for path in array(rule.pointer("/http/paths")) {
            if let Some(backend) = path.get("backend") {
                backends.push(backend);
            }
        }
    }
    for backend in backends {
        // networking.k8s.io/v1 nests the name; extensions/v1beta1 had `serviceName`.
        let name = backend
            .pointer("/service/name")
            .or_else(|| backend.get("serviceName"))
            .and_then(Value::as_str);
        if let Some(name) = name {
            add(to_kind(
                "routes_to",
                k8s::SERVICE,
                MatchOn::Id,
                &format!("{namespace}/{name}"),
            ));
        }
    }
}

fn workload(kind: &str, id: &str, attrs: &Value, add: &mut impl FnMut(Reference)) {
    let pod = match kind {
        k8s::POD => attrs.get("spec"),
        k8s::CRON_JOB => attrs.pointer("/spec/jobTemplate/spec/template/spec"),
        _ => attrs.pointer("/spec/template/spec"),
    };
    let Some(pod) = pod else { return };
    let namespace = namespace_of(id);
    let mut mount = |kind: &str, name: Option<&str>| {
        if let Some(name) = name {
            add(to_kind(
                "mounts",
                kind,
                MatchOn::Id,
                &format!("{namespace}/{name}"),
            ));
        }
    };
    for volume in array(pod.get("volumes")) {
        mount(
            k8s::CONFIG_MAP,
            volume.pointer("/configMap/name").and_then(Value::as_str),
        );
        mount(
            k8s::SECRET,
            volume.pointer("/secret/secretName").and_then(Value::as_str),
        );
    }
    let containers = array(pod.get("containers")).chain(array(pod.get("initContainers")));
    for container in containers {
        for source in array(container.get("envFrom")) {
            mount(
                k8s::CONFIG_MAP,
                source.pointer("/configMapRef/name").and_then(Value::as_str),
            );
            mount(
                k8s::SECRET,
                source.pointer("/secretRef/name").and_then(Value::as_str),
            );
        }
    }
}

/// CloudFormation ids are `<stack>/<LogicalId>`; `Ref` and `Fn::GetAtt` name logical ids of
/// the same stack (or parameters and pseudo parameters, which resolve to nothing).
fn cloudformation_template(id: &str, attrs: &Value, add: &mut impl FnMut(Reference)) {
    let Some((stack, own)) = id.rsplit_once('/') else {
        return;
    };
    let mut target = |relation: &'static str, logical_id: &str| {
        if logical_id != own && !logical_id.starts_with(CLOUDFORMATION_PREFIX) {
            add(Reference {
                relation,
                origin: None,
                target_kind: None,
                match_on: MatchOn::Address,
                key: format!("{stack}/{logical_id}"),
                condition: None,
            });
        }
    };
    for dependency in strings(attrs.get("DependsOn")) {
        target("depends_on", dependency);
    }
    let mut intrinsics = Vec::new();
    collect_intrinsics(
        attrs.get("Properties").unwrap_or(&Value::Null),
        &mut intrinsics,
    );
    for logical_id in intrinsics {
        target("references", logical_id);
    }
}

fn collect_intrinsics<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(name)) = object.get("Ref") {
                found.push(name);
            }
            match object.get("Fn::GetAtt") {
                Some(Value::Array(parts)) => {
                    found.extend(parts.first().and_then(Value::as_str));
                }
                // The short form `!GetAtt Queue.Arn` is one string.
                Some(Value::String(dotted)) => {
                    found.extend(dotted.split('.').next());
                }
                _ => {}
            }
            for nested in object.values() {
                collect_intrinsics(nested, found);
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect_intrinsics(item, found)),
        _ => {}
    }
}

/// Terraform addresses (`aws_sqs_queue.orders`, `module.jobs.aws_sqs_queue.orders`) named by
/// `depends_on` or inside expressions kept as text; references resolve in the same module.
fn terraform(id: &str, attrs: &Value, add: &mut impl FnMut(Reference)) {
    // `count` and `for_each` instances end in `[...]`, whose key may hold dots.
    let base = id.split('[').next().unwrap_or(id);
    let module_prefix = base
        .rfind('.')
        .and_then(|last_dot| base[..last_dot].rfind('.'))
        .map_or("", |type_dot| &base[..=type_dot]);
    let mut target = |relation: &'static str, address: &str| {
        let address = format!("{module_prefix}{address}");
        if address != base {
            add(Reference {
                relation,
                origin: None,
                target_kind: None,
                match_on: MatchOn::Address,
                key: address,
                condition: None,
            });
        }
    };
    let mut dependencies = BTreeSet::new();
    for dependency in strings(attrs.get("depends_on")) {
        for address in addresses_in(dependency) {
            dependencies.insert(address.clone());
            target("depends_on", &address);
        }
    }
    let mut texts = Vec::new();
    collect_strings(attrs, &mut texts, true);
    for text in texts {
        for address in addresses_in(text) {
            if !dependencies.contains(&address) {
                target("references", &address);
            }
        }
    }
}

fn collect_strings<'a>(value: &'a Value, found: &mut Vec<&'a str>, top: bool) {
    match value {
        Value::String(text) => found.push(text),
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect_strings(item, found, false)),
        Value::Object(object) => {
            for (key, nested) in object {
                if !(top && key == "depends_on") {
                    collect_strings(nested, found, false);
                }
            }
        }
        _ => {}
    }
}

/// `type.name` (and `data.type.name`) addresses inside an expression's text, where `type`
/// is a Terraform resource type (`provider_thing`).
fn addresses_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let is_word = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-';
    let mut start = 0;
    while start < bytes.len() {
        // A token starts at a lower-case letter not preceded by a word character or a dot
        // (so `var.x`, `local.y` and attribute chains are not read as resources).
        let preceded = start > 0 && (is_word(bytes[start - 1]) || bytes[start - 1] == b'.');
        if !bytes[start].is_ascii_lowercase() || preceded {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < bytes.len() && (is_word(bytes[end]) || bytes[end] == b'.') {
            end += 1;
        }
        let token = &text[start..end];
        let parts: Vec<&str> = token.split('.').collect();
        let (data, rest) = match parts.first() {
            Some(&"data") => ("data.", &parts[1..]),
            _ => ("", &parts[..]),
        };
        if let [resource_type, name, ..] = rest {
            if is_terraform_kind(resource_type)
                && !name.is_empty()
                && !["var", "local", "module", "each", "count", "path", "self"]
                    .contains(resource_type)
            {
                found.push(format!("{data}{resource_type}.{name}"));
            }
        }
        start = end.max(start + 1);
    }
    found
}

/// Whether a Kubernetes object matches a Service's selector: its pod template labels (or, for
/// objects without a template, its own labels) contain every selector entry.
pub fn selector_matches(selector: &Value, attrs: &Value) -> bool {
    let Some(selector) = selector.as_object().filter(|selector| !selector.is_empty()) else {
        return false;
    };
    let labels = attrs
        .pointer("/spec/template/metadata/labels")
        .or_else(|| attrs.pointer("/metadata/labels"))
        .and_then(Value::as_object);
    let Some(labels) = labels else { return false };
    selector
        .iter()
        .all(|(key, value)| labels.get(key) == Some(value))
}

/// The namespace part of a namespaced Kubernetes id (`prod/web` → `prod`).
fn namespace_of(id: &str) -> &str {
    id.split_once('/').map_or("", |(namespace, _)| namespace)
}

fn text<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |value, key| value.get(key))
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
}

fn strings(value: Option<&Value>) -> impl Iterator<Item = &str> {
    array(value).filter_map(Value::as_str)
}

fn array(value: Option<&Value>) -> impl Iterator<Item = &Value> {
    value.and_then(Value::as_array).into_iter().flatten()
}

/// Terraform keeps JSON policies as strings; live sources as objects.
fn json_or_object(value: &Value) -> Value {
    match value {
        Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests;
