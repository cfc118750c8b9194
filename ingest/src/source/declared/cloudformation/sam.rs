//! The SAM transform (`Transform: AWS::Serverless-2016-10-31`): the CloudFormation resources
//! a template's `AWS::Serverless::*` resources become when CloudFormation deploys it, with the
//! logical ids the SAM translator gives them, so the declared side names what really runs.
//!
//! Expanded, following the SAM specification and its translator:
//! - `AWS::Serverless::Function` `F` → `AWS::Lambda::Function` `F` (`CodeUri`/`InlineCode`/
//!   `ImageUri` → `Code`, `Tracing` → `TracingConfig`, `DeadLetterQueue` →
//!   `DeadLetterConfig`, tags as a list with `lambda:createdBy: SAM`, the rest passed through);
//!   without `Role`, the execution role `FRole` (`AWS::IAM::Role`: Lambda's trust policy,
//!   `AWSLambdaBasicExecutionRole` plus the managed policies its events, `Tracing: Active` and
//!   `VpcConfig` need, `Policies` as managed policy ARNs and inline `FRolePolicy<N>`s,
//!   `PermissionsBoundary`, `RolePath`); per `Events` entry `E`:
//!   SQS/Kinesis/DynamoDB/MSK/MQ/SelfManagedKafka/DocumentDB → `AWS::Lambda::EventSourceMapping`
//!   `FE`; SNS → `AWS::SNS::Subscription` `FE` + `AWS::Lambda::Permission` `FEPermission`;
//!   S3 → `FEPermission`, and the bucket (in the same template) gets the notification and a
//!   `DependsOn` on it; Schedule/CloudWatchEvent/EventBridgeRule → `AWS::Events::Rule` `FE` +
//!   `FEPermission`; `FunctionUrlConfig` → `AWS::Lambda::Url` `FUrl` (and, when public, the
//!   permissions `FUrlPublicPermissions` and `FURLInvokeAllowPublicAccess`);
//! - `AWS::Serverless::SimpleTable` `T` → `AWS::DynamoDB::Table` `T` (`PrimaryKey` →
//!   key schema, on-demand billing unless `ProvisionedThroughput`);
//! - `Globals` (`Function`, `SimpleTable`) merged into each resource first, as SAM does: maps
//!   merged (the resource wins), lists concatenated, other values from the resource.
//!
//! Not expanded, each a warning naming what was left (never a silent skip): other SAM types
//! (`AWS::Serverless::Api`, `HttpApi`, `StateMachine`, `LayerVersion`, `Application`, ...),
//! which stay as they are; event types without an expansion here (`Api`, `HttpApi`, ...);
//! function properties that generate further resources (`AutoPublishAlias`,
//! `DeploymentPreference`, `EventInvokeConfig`, ...) and policy templates.
//!
//! Each generated resource remembers the SAM resource it came from ([`Origin`]).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

/// The transform this module implements.
pub const SAM_TRANSFORM: &str = "AWS::Serverless-2016-10-31";

/// Where a generated resource came from: the SAM resource's logical id and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Logical id of the `AWS::Serverless::*` resource.
    pub logical_id: String,
    /// Its type (`AWS::Serverless::Function`).
    pub sam_type: String,
}

/// A template after the transform: its resources, the origin of every generated one, and
/// what was left unexpanded.
#[derive(Debug, Default)]
pub struct Expanded {
    /// The `Resources` mapping CloudFormation would deploy.
    pub resources: Map<String, Value>,
    /// Generated logical id → the SAM resource it came from.
    pub origins: BTreeMap<String, Origin>,
    /// One line per construct not expanded.
    pub warnings: Vec<String>,
}

/// Whether `template` asks for the SAM transform (`Transform` a string or a list).
pub fn uses_sam(template: &Map<String, Value>) -> bool {
    match template.get("Transform") {
        Some(Value::String(name)) => name == SAM_TRANSFORM,
        Some(Value::Array(names)) => names.iter().any(|name| name == SAM_TRANSFORM),
        _ => false,
    }
}

const FUNCTION: &str = "AWS::Serverless::Function";
const SIMPLE_TABLE: &str = "AWS::Serverless::SimpleTable";

/// Resource attributes a generated resource inherits from its SAM resource.
const PASSTHROUGH_ATTRIBUTES: &[&str] = &["Condition", "DeletionPolicy", "UpdateReplacePolicy"];

/// SAM-only function properties, consumed by the transform rather than passed to Lambda.
const SAM_FUNCTION_PROPERTIES: &[&str] = &[
    "CodeUri",
    "InlineCode",
    "ImageUri",
    "Policies",
    "Events",
    "Tracing",
    "DeadLetterQueue",
    "PermissionsBoundary",
    "RolePath",
    "AssumeRolePolicyDocument",
    "Tags",
    "PropagateTags",
    "SourceKMSKeyArn",
    "FunctionUrlConfig",
];

/// Function properties that make SAM generate resources this transform does not.
const UNEXPANDED_FUNCTION_PROPERTIES: &[&str] = &[
    "AutoPublishAlias",
    "AutoPublishCodeSha256",
    "AutoPublishAliasAllProperties",
    "VersionDescription",
    "DeploymentPreference",
    "ProvisionedConcurrencyConfig",
    "EventInvokeConfig",
    "CapacityProviderConfig",
];

/// Pull event types: the property holding the source's ARN, and the managed policy the
/// execution role gets.
const PULL_EVENTS: &[(&str, &str, Option<&str>)] = &[
    ("SQS", "Queue", Some("AWSLambdaSQSQueueExecutionRole")),
    ("Kinesis", "Stream", Some("AWSLambdaKinesisExecutionRole")),
    ("DynamoDB", "Stream", Some("AWSLambdaDynamoDBExecutionRole")),
    ("MSK", "Stream", Some("AWSLambdaMSKExecutionRole")),
    ("MQ", "Broker", None),
    ("SelfManagedKafka", "", None),
    ("DocumentDB", "Cluster", None),
];

/// The transform applied to `template`'s resources (`context` names the file in warnings).
pub fn expand(template: &Map<String, Value>, context: &str) -> Expanded {
    let mut expanded = Expanded::default();
    let Some(resources) = template.get("Resources").and_then(Value::as_object) else {
        return expanded;
    };
    let globals = template
        .get("Globals")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for section in globals.keys() {
        if !matches!(section.as_str(), "Function" | "SimpleTable") {
            expanded.warnings.push(format!(
                "{context}: Globals.{section} is not applied (SAM expansion of its resources is not supported)"
            ));
        }
    }
    // Non-SAM resources first: S3 events modify their buckets.
    for (logical_id, resource) in resources {
        let is_sam = resource
            .get("Type")
            .and_then(Value::as_str)
            .is_some_and(|kind| kind.starts_with("AWS::Serverless::"));
        if !is_sam {
            expanded
                .resources
                .insert(logical_id.clone(), resource.clone());
        }
    }
    for (logical_id, resource) in resources {
        let Some(kind) = resource.get("Type").and_then(Value::as_str) else {
            continue;
        };
        if !kind.starts_with("AWS::Serverless::") {
            continue;
        }
        let mut resource = resource.clone();
        let section = kind.trim_start_matches("AWS::Serverless::");
        if let (Some(global), Some(object)) = (globals.get(section), resource.as_object_mut()) {
            let properties = object
                .entry("Properties")
                .or_insert_with(|| Value::Object(Map::new()));
            *properties = merge_globals(global, properties);
        }
        if !matches!(kind, FUNCTION | SIMPLE_TABLE) {
            expanded.warnings.push(format!(
                "{context}: Resources.{logical_id}: SAM type {kind} is not expanded; kept as declared"
            ));
            expanded.resources.insert(logical_id.clone(), resource);
            continue;
        }
        let mut generator = Generator {
            sam_id: logical_id,
            sam_type: kind,
            sam: &resource,
            context,
            out: &mut expanded,
        };
        if kind == FUNCTION {
            generator.function();
        } else {
            generator.simple_table();
        }
    }
    expanded
}

/// SAM's Globals merge: maps merged key by key (the resource wins), lists concatenated
/// (globals first), anything else the resource's value.
fn merge_globals(global: &Value, local: &Value) -> Value {
    match (global, local) {
        (Value::Object(global), Value::Object(local)) => {
            let mut merged = global.clone();
            for (key, value) in local {
                let value = match global.get(key) {
                    Some(global_value) => merge_globals(global_value, value),
                    None => value.clone(),
                };
                merged.insert(key.clone(), value);
            }
            Value::Object(merged)
        }
        (Value::Array(global), Value::Array(local)) => {
            Value::Array(global.iter().chain(local).cloned().collect())
        }
        (_, local) => local.clone(),
    }
}

fn reference(logical_id: &str) -> Value {
    json!({ "Ref": logical_id })
}

fn arn_of(logical_id: &str) -> Value {
    json!({ "Fn::GetAtt": [logical_id, "Arn"] })
}

/// AWS managed policies a Lambda execution role commonly names that live under a path
/// (`service-role/`, `job-function/`); any other name is taken to be at the root.
const PATHED_MANAGED_POLICIES: &[(&str, &str)] = &[
    ("AWSLambdaBasicExecutionRole", "service-role/"),
    ("AWSLambdaDynamoDBExecutionRole", "service-role/"),
    ("AWSLambdaENIManagementAccess", "service-role/"),
    ("AWSLambdaKinesisExecutionRole", "service-role/"),
    ("AWSLambdaMSKExecutionRole", "service-role/"),
    ("AWSLambdaRole", "service-role/"),
    ("AWSLambdaSQSQueueExecutionRole", "service-role/"),
    ("AWSLambdaVPCAccessExecutionRole", "service-role/"),
    ("AWSCodeDeployRoleForLambda", "service-role/"),
    ("AWSCodeDeployRoleForLambdaLimited", "service-role/"),
    ("AWSConfigRulesExecutionRole", "service-role/"),
    ("AWS_ConfigRole", "service-role/"),
    ("AmazonS3ObjectLambdaExecutionRolePolicy", "service-role/"),
    ("Billing", "job-function/"),
    ("DataScientist", "job-function/"),
    ("DatabaseAdministrator", "job-function/"),
    ("NetworkAdministrator", "job-function/"),
    ("SupportUser", "job-function/"),
    ("SystemAdministrator", "job-function/"),
    ("ViewOnlyAccess", "job-function/"),
];

/// The ARN of the AWS managed policy `name`, in the stack's partition.
fn managed_policy(name: &str) -> Value {
    let path = PATHED_MANAGED_POLICIES
        .iter()
        .find(|(pathed, _)| *pathed == name)
        .map(|(_, path)| *path)
        .unwrap_or("");
    json!({ "Fn::Sub": format!("arn:${{AWS::Partition}}:iam::aws:policy/{path}{name}") })
}

/// `{"k": "v"}` tags as CloudFormation's `[{"Key": "k", "Value": "v"}]`, after SAM's own.
fn tag_list(tags: Option<&Value>) -> Value {
    let mut list = vec![json!({"Key": "lambda:createdBy", "Value": "SAM"})];
    if let Some(Value::Object(tags)) = tags {
        list.extend(
            tags.iter()
                .map(|(key, value)| json!({"Key": key, "Value": value})),
        );
    }
    Value::Array(list)
}

struct Generator<'a> {
    sam_id: &'a str,
    sam_type: &'a str,
    sam: &'a Value,
    context: &'a str,
    out: &'a mut Expanded,
}

impl Generator<'_> {
    fn properties(&self) -> Map<String, Value> {
        self.sam
            .get("Properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    fn warn(&mut self, what: String) {
        self.out.warnings.push(format!(
            "{}: Resources.{}: {what}",
            self.context, self.sam_id
        ));
    }

    /// Add a generated resource with the SAM resource's pass-through attributes.
    fn emit(&mut self, logical_id: String, kind: &str, properties: Map<String, Value>) {
        let mut resource = Map::new();
        resource.insert("Type".to_string(), json!(kind));
        resource.insert("Properties".to_string(), Value::Object(properties));
        for attribute in PASSTHROUGH_ATTRIBUTES {
            if let Some(value) = self.sam.get(*attribute) {
                resource.insert(attribute.to_string(), value.clone());
            }
        }
        self.out.origins.insert(
            logical_id.clone(),
            Origin {
                logical_id: self.sam_id.to_string(),
                sam_type: self.sam_type.to_string(),
            },
        );
        self.out
            .resources
            .insert(logical_id, Value::Object(resource));
    }

    /// The SAM resource's own `DependsOn` and `Metadata` go to its main generated resource.
    fn keep_own_attributes(&mut self, logical_id: &str) {
        let Some(Value::Object(resource)) = self.out.resources.get_mut(logical_id) else {
            return;
        };
        for attribute in ["DependsOn", "Metadata"] {
            if let Some(value) = self.sam.get(attribute) {
                resource.insert(attribute.to_string(), value.clone());
            }
        }
    }

    fn function(&mut self) {
        let sam = self.properties();
        let id = self.sam_id.to_string();
        for property in UNEXPANDED_FUNCTION_PROPERTIES {
            if sam.contains_key(*property) {
                self.warn(format!(
                    "{property} is not expanded (the resources SAM generates for it are not declared)"
                ));
            }
        }
        let mut lambda: Map<String, Value> = sam
            .iter()
            .filter(|(key, _)| {
                !SAM_FUNCTION_PROPERTIES.contains(&key.as_str())
                    && !UNEXPANDED_FUNCTION_PROPERTIES.contains(&key.as_str())
            })
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        lambda.insert("Code".to_string(), code(&sam));
        if let Some(mode) = sam.get("Tracing") {
            lambda.insert("TracingConfig".to_string(), json!({ "Mode": mode }));
        }
        if let Some(queue) = sam.get("DeadLetterQueue") {
            let target = queue.get("TargetArn").cloned().unwrap_or(Value::Null);
            lambda.insert(
                "DeadLetterConfig".to_string(),
                json!({ "TargetArn": target }),
            );
        }
        lambda.insert("Tags".to_string(), tag_list(sam.get("Tags")));

        let events = sam
            .get("Events")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut event_policies = Vec::new();
        for (event_name, event) in &events {
            if let Some(policy) = self.event(&id, event_name, event) {
                if !event_policies.contains(&policy) {
                    event_policies.push(policy);
                }
            }
        }

        match sam.get("Role") {
            Some(role) => {
                lambda.insert("Role".to_string(), role.clone());
            }
            None => {
                let role_id = format!("{id}Role");
                lambda.insert("Role".to_string(), arn_of(&role_id));
                let role = self.execution_role(&sam, &role_id, &event_policies);
                self.emit(role_id, "AWS::IAM::Role", role);
            }
        }
        self.emit(id.clone(), "AWS::Lambda::Function", lambda);
        self.keep_own_attributes(&id);
        if let Some(config) = sam.get("FunctionUrlConfig") {
            self.function_url(&id, config);
        }
    }

    /// `FunctionUrlConfig`: the URL `FUrl`, and when it is public (`AuthType: NONE`) the
    /// two permissions AWS requires for anyone to call it.
    fn function_url(&mut self, function: &str, config: &Value) {
        let mut url = Map::new();
        url.insert("TargetFunctionArn".to_string(), reference(function));
        for key in ["AuthType", "Cors", "InvokeMode"] {
            if let Some(value) = config.get(key) {
                url.insert(key.to_string(), value.clone());
            }
        }
        self.emit(format!("{function}Url"), "AWS::Lambda::Url", url);
        let Some(auth_type) = config.get("AuthType") else {
            return;
        };
        if auth_type != "NONE" {
            return;
        }
        let mut url_permission = Map::new();
        url_permission.insert("Action".to_string(), json!("lambda:InvokeFunctionUrl"));
        url_permission.insert("FunctionName".to_string(), reference(function));
        url_permission.insert("Principal".to_string(), json!("*"));
        url_permission.insert("FunctionUrlAuthType".to_string(), auth_type.clone());
        self.emit(
            format!("{function}UrlPublicPermissions"),
            "AWS::Lambda::Permission",
            url_permission,
        );
        let mut invoke_permission = Map::new();
        invoke_permission.insert("Action".to_string(), json!("lambda:InvokeFunction"));
        invoke_permission.insert("FunctionName".to_string(), reference(function));
        invoke_permission.insert("Principal".to_string(), json!("*"));
        invoke_permission.insert("InvokedViaFunctionUrl".to_string(), json!(true));
        self.emit(
            format!("{function}URLInvokeAllowPublicAccess"),
            "AWS::Lambda::Permission",
            invoke_permission,
        );
    }

    fn execution_role(
        &mut self,
        sam: &Map<String, Value>,
        role_id: &str,
        event_policies: &[&'static str],
    ) -> Map<String, Value> {
        let mut managed = vec![managed_policy("AWSLambdaBasicExecutionRole")];
        if sam.get("Tracing").and_then(Value::as_str) == Some("Active") {
            managed.push(managed_policy("AWSXrayWriteOnlyAccess"));
        }
        if sam.contains_key("VpcConfig") {
            managed.push(managed_policy("AWSLambdaVPCAccessExecutionRole"));
        }
        for policy in event_policies {
            managed.push(managed_policy(policy));
        }
        let mut inline = Vec::new();
        let policies = match sam.get("Policies") {
            None => Vec::new(),
            Some(Value::Array(items)) => items.clone(),
            Some(single) => vec![single.clone()],
        };
        for (index, policy) in policies.iter().enumerate() {
            match policy {
                Value::String(name) if name.starts_with("arn:") => managed.push(policy.clone()),
                // SAM lists a managed policy once, however often it is named.
                Value::String(name) => {
                    let arn = managed_policy(name);
                    if !managed.contains(&arn) {
                        managed.push(arn);
                    }
                }
                Value::Object(map) if map.contains_key("Statement") => inline.push(json!({
                    "PolicyName": format!("{role_id}Policy{index}"),
                    "PolicyDocument": policy,
                })),
                Value::Object(map)
                    if map.len() == 1
                        && map
                            .keys()
                            .all(|key| key == "Ref" || key.starts_with("Fn::")) =>
                {
                    managed.push(policy.clone())
                }
                Value::Object(map) => {
                    let names: Vec<&str> = map.keys().map(String::as_str).collect();
                    self.warn(format!(
                        "policy template {} is not expanded",
                        names.join(", ")
                    ));
                }
                other => self.warn(format!("Policies entry {other} is not understood")),
            }
        }
        let mut role = Map::new();
        role.insert(
            "AssumeRolePolicyDocument".to_string(),
            sam.get("AssumeRolePolicyDocument")
                .cloned()
                .unwrap_or_else(|| {
                    json!({
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Action": ["sts:AssumeRole"],
                            "Effect": "Allow",
                            "Principal": {"Service": ["lambda.amazonaws.com"]},
                        }],
                    })
                }),
        );
        role.insert("ManagedPolicyArns".to_string(), Value::Array(managed));
        if !inline.is_empty() {
            role.insert("Policies".to_string(), Value::Array(inline));
        }
        if let Some(boundary) = sam.get("PermissionsBoundary") {
            role.insert("PermissionsBoundary".to_string(), boundary.clone());
        }
        if let Some(path) = sam.get("RolePath") {
            role.insert("Path".to_string(), path.clone());
        }
        role.insert("Tags".to_string(), tag_list(sam.get("Tags")));
        role
    }

    /// One `Events` entry; returns the managed policy the execution role then needs.
    fn event(&mut self, function: &str, name: &str, event: &Value) -> Option<&'static str> {
        let event_type = event.get("Type").and_then(Value::as_str).unwrap_or("");
        let properties = event
            .get("Properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let event_id = format!("{function}{name}");
        if let Some((_, source, policy)) = PULL_EVENTS.iter().find(|(kind, ..)| *kind == event_type)
        {
            let mut mapping: Map<String, Value> = properties
                .iter()
                .filter(|(key, _)| key.as_str() != *source)
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect();
            if let Some(arn) = properties.get(*source) {
                mapping.insert("EventSourceArn".to_string(), arn.clone());
            }
            mapping.insert("FunctionName".to_string(), reference(function));
            self.emit(event_id, "AWS::Lambda::EventSourceMapping", mapping);
            return *policy;
        }
        match event_type {
            "SNS" => {
                let topic = properties.get("Topic").cloned().unwrap_or(Value::Null);
                if properties.contains_key("SqsSubscription") {
                    self.warn(format!(
                        "event {name}: SNS SqsSubscription is not expanded"
                    ));
                }
                let mut subscription = Map::new();
                subscription.insert("Endpoint".to_string(), arn_of(function));
                subscription.insert("Protocol".to_string(), json!("lambda"));
                subscription.insert("TopicArn".to_string(), topic.clone());
                for key in ["Region", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy"] {
                    if let Some(value) = properties.get(key) {
                        subscription.insert(key.to_string(), value.clone());
                    }
                }
                self.permission(function, &event_id, "sns.amazonaws.com", "SourceArn", topic);
                self.emit(event_id, "AWS::SNS::Subscription", subscription);
            }
            "S3" => {
                let permission_id = self.permission(
                    function,
                    &event_id,
                    "s3.amazonaws.com",
                    "SourceAccount",
                    reference("AWS::AccountId"),
                );
                self.notify_bucket(function, name, &properties, &permission_id);
            }
            "Schedule" | "CloudWatchEvent" | "EventBridgeRule" => {
                let mut rule = Map::new();
                let mut target = Map::new();
                target.insert("Arn".to_string(), arn_of(function));
                let target_id = properties
                    .get("Target")
                    .and_then(|target| target.get("Id"))
                    .cloned()
                    .unwrap_or_else(|| json!(target_id(&event_id)));
                target.insert("Id".to_string(), target_id);
                for key in ["Input", "InputPath", "RetryPolicy"] {
                    if let Some(value) = properties.get(key) {
                        target.insert(key.to_string(), value.clone());
                    }
                }
                if event_type == "Schedule" {
                    if let Some(schedule) = properties.get("Schedule") {
                        rule.insert("ScheduleExpression".to_string(), schedule.clone());
                    }
                    for key in ["Name", "Description"] {
                        if let Some(value) = properties.get(key) {
                            rule.insert(key.to_string(), value.clone());
                        }
                    }
                } else {
                    for (from, to) in [
                        ("Pattern", "EventPattern"),
                        ("EventBusName", "EventBusName"),
                        ("RuleName", "Name"),
                    ] {
                        if let Some(value) = properties.get(from) {
                            rule.insert(to.to_string(), value.clone());
                        }
                    }
                }
                if let Some(state) = properties.get("State") {
                    rule.insert("State".to_string(), state.clone());
                } else if let Some(enabled) = properties.get("Enabled").and_then(Value::as_bool) {
                    let state = if enabled { "ENABLED" } else { "DISABLED" };
                    rule.insert("State".to_string(), json!(state));
                }
                if properties.contains_key("DeadLetterConfig") {
                    self.warn(format!(
                        "event {name}: DeadLetterConfig is not expanded"
                    ));
                }
                rule.insert(
                    "Targets".to_string(),
                    Value::Array(vec![Value::Object(target)]),
                );
                self.permission(
                    function,
                    &event_id,
                    "events.amazonaws.com",
                    "SourceArn",
                    arn_of(&event_id),
                );
                self.emit(event_id, "AWS::Events::Rule", rule);
            }
            other => self.warn(format!(
                "event {name} of type {other} is not expanded (the resources SAM generates for it are not declared)"
            )),
        }
        None
    }

    /// `<event>Permission`: lets `principal` invoke the function.
    fn permission(
        &mut self,
        function: &str,
        event_id: &str,
        principal: &str,
        source_key: &str,
        source: Value,
    ) -> String {
        let permission_id = format!("{event_id}Permission");
        let mut permission = Map::new();
        permission.insert("Action".to_string(), json!("lambda:InvokeFunction"));
        permission.insert("FunctionName".to_string(), reference(function));
        permission.insert("Principal".to_string(), json!(principal));
        permission.insert(source_key.to_string(), source);
        self.emit(permission_id.clone(), "AWS::Lambda::Permission", permission);
        permission_id
    }

    /// An S3 event's bucket, declared in the same template, gets the Lambda notification
    /// and waits for the permission (S3 checks it when the notification is set).
    fn notify_bucket(
        &mut self,
        function: &str,
        event: &str,
        properties: &Map<String, Value>,
        permission_id: &str,
    ) {
        let bucket_id = properties
            .get("Bucket")
            .and_then(|bucket| bucket.get("Ref"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let bucket = bucket_id.as_ref().and_then(|id| {
            self.out
                .resources
                .get_mut(id)
                .and_then(Value::as_object_mut)
                .filter(|bucket| bucket.get("Type") == Some(&json!("AWS::S3::Bucket")))
        });
        let Some(bucket) = bucket else {
            self.warn(format!(
                "event {event}: the S3 event's Bucket must be a Ref to a bucket of the same template; its notification is not declared"
            ));
            return;
        };
        let events = match properties.get("Events") {
            Some(Value::Array(events)) => events.clone(),
            Some(single) => vec![single.clone()],
            None => Vec::new(),
        };
        let bucket_properties = bucket
            .entry("Properties")
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(bucket_properties) = bucket_properties.as_object_mut() else {
            return;
        };
        let configuration = bucket_properties
            .entry("NotificationConfiguration")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(configuration) = configuration.as_object_mut() {
            let lambdas = configuration
                .entry("LambdaConfigurations")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Some(lambdas) = lambdas.as_array_mut() {
                for event in events {
                    let mut entry = Map::new();
                    entry.insert("Event".to_string(), event);
                    entry.insert("Function".to_string(), arn_of(function));
                    if let Some(filter) = properties.get("Filter") {
                        entry.insert("Filter".to_string(), filter.clone());
                    }
                    lambdas.push(Value::Object(entry));
                }
            }
        }
        let depends_on = bucket
            .entry("DependsOn")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Some(single) = depends_on.as_str().map(str::to_string) {
            *depends_on = json!([single]);
        }
        if let Some(list) = depends_on.as_array_mut() {
            if !list.iter().any(|item| item == permission_id) {
                list.push(json!(permission_id));
            }
        }
    }

    fn simple_table(&mut self) {
        let sam = self.properties();
        let key = sam
            .get("PrimaryKey")
            .cloned()
            .unwrap_or_else(|| json!({"Name": "id", "Type": "String"}));
        let name = key.get("Name").cloned().unwrap_or(json!("id"));
        let attribute_type = match key.get("Type").and_then(Value::as_str) {
            Some("Number") => "N",
            Some("Binary") => "B",
            _ => "S",
        };
        let mut table = Map::new();
        table.insert(
            "AttributeDefinitions".to_string(),
            json!([{"AttributeName": name, "AttributeType": attribute_type}]),
        );
        table.insert(
            "KeySchema".to_string(),
            json!([{"AttributeName": name, "KeyType": "HASH"}]),
        );
        match sam.get("ProvisionedThroughput") {
            Some(throughput) => {
                table.insert("ProvisionedThroughput".to_string(), throughput.clone());
            }
            None => {
                table.insert("BillingMode".to_string(), json!("PAY_PER_REQUEST"));
            }
        }
        for property in [
            "TableName",
            "SSESpecification",
            "PointInTimeRecoverySpecification",
        ] {
            if let Some(value) = sam.get(property) {
                table.insert(property.to_string(), value.clone());
            }
        }
        if let Some(Value::Object(tags)) = sam.get("Tags") {
            let list: Vec<Value> = tags
                .iter()
                .map(|(key, value)| json!({"Key": key, "Value": value}))
                .collect();
            table.insert("Tags".to_string(), Value::Array(list));
        }
        let id = self.sam_id.to_string();
        self.emit(id.clone(), "AWS::DynamoDB::Table", table);
        self.keep_own_attributes(&id);
    }
}

/// A function's `Code` from `CodeUri` (`s3://bucket/key[?versionId=v]` or a
/// `{Bucket, Key, Version}` mapping), `InlineCode` or `ImageUri`. A local path (a template
/// before `sam package`) is kept as `{"CodeUri": path}`: the bucket is not known yet.
fn code(sam: &Map<String, Value>) -> Value {
    if let Some(inline) = sam.get("InlineCode") {
        return json!({ "ZipFile": inline });
    }
    if let Some(image) = sam.get("ImageUri") {
        return json!({ "ImageUri": image });
    }
    match sam.get("CodeUri") {
        Some(Value::String(uri)) => match uri.strip_prefix("s3://") {
            Some(rest) => {
                let (location, version) = match rest.split_once("?versionId=") {
                    Some((location, version)) => (location, Some(version)),
                    None => (rest, None),
                };
                let (bucket, key) = location.split_once('/').unwrap_or((location, ""));
                let mut code = json!({ "S3Bucket": bucket, "S3Key": key });
                if let Some(version) = version {
                    code["S3ObjectVersion"] = json!(version);
                }
                code
            }
            None => json!({ "CodeUri": uri }),
        },
        Some(Value::Object(location)) if location.contains_key("Bucket") => {
            let mut code = Map::new();
            for (from, to) in [
                ("Bucket", "S3Bucket"),
                ("Key", "S3Key"),
                ("Version", "S3ObjectVersion"),
            ] {
                if let Some(value) = location.get(from) {
                    code.insert(to.to_string(), value.clone());
                }
            }
            Value::Object(code)
        }
        Some(other) => json!({ "CodeUri": other }),
        None => Value::Object(Map::new()),
    }
}

/// An EventBridge target id: at most 64 characters, as SAM truncates them.
fn target_id(event_id: &str) -> String {
    const SUFFIX: &str = "LambdaTarget";
    let mut id = format!("{event_id}{SUFFIX}");
    if id.len() > 64 {
        id = format!("{}{SUFFIX}", &event_id[..64 - SUFFIX.len()]);
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(resources: Value) -> Map<String, Value> {
        json!({"Transform": SAM_TRANSFORM, "Resources": resources})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn unsupported_sam_types_events_and_properties_are_warnings_naming_them() {
        let expanded = expand(
            &template(json!({
                "Api": {"Type": "AWS::Serverless::Api", "Properties": {"StageName": "prod"}},
                "Fn": {"Type": "AWS::Serverless::Function", "Properties": {
                    "CodeUri": "s3://bucket/key.zip", "Handler": "h", "Runtime": "python3.12",
                    "AutoPublishAlias": "live",
                    "Policies": [{"SQSPollerPolicy": {"QueueName": "q"}}],
                    "Events": {"Get": {"Type": "Api", "Properties": {"Path": "/", "Method": "get"}}},
                }},
            })),
            "app.yaml",
        );
        let warnings = expanded.warnings.join("\n");
        for expected in [
            "app.yaml: Resources.Api: SAM type AWS::Serverless::Api is not expanded",
            "app.yaml: Resources.Fn: AutoPublishAlias is not expanded",
            "app.yaml: Resources.Fn: policy template SQSPollerPolicy is not expanded",
            "app.yaml: Resources.Fn: event Get of type Api is not expanded",
        ] {
            assert!(warnings.contains(expected), "{expected} in {warnings}");
        }
        // Kept as declared rather than dropped; the function is still expanded.
        assert_eq!(expanded.resources["Api"]["Type"], "AWS::Serverless::Api");
        assert_eq!(expanded.resources["Fn"]["Type"], "AWS::Lambda::Function");
        assert_eq!(
            expanded.resources["Fn"]["Properties"]["Code"],
            json!({"S3Bucket": "bucket", "S3Key": "key.zip"})
        );
        assert!(!expanded.origins.contains_key("Api"));
        assert_eq!(
            expanded.origins["FnRole"],
            Origin {
                logical_id: "Fn".into(),
                sam_type: FUNCTION.into()
            }
        );
    }

    #[test]
    fn globals_merge_and_an_explicit_role_means_no_generated_role() {
        let mut root = template(json!({
            "Fn": {"Type": "AWS::Serverless::Function", "Condition": "Prod", "Properties": {
                "InlineCode": "x", "Handler": "h", "Runtime": "python3.12",
                "Role": "arn:aws:iam::1:role/r", "Timeout": 9,
                "Environment": {"Variables": {"B": "2"}},
                "Events": {"Q": {"Type": "SQS", "Properties": {"Queue": "arn:q", "BatchSize": 5}}},
            }},
        }));
        root.insert(
            "Globals".into(),
            json!({"Function": {"Timeout": 3, "MemorySize": 256,
                                 "Environment": {"Variables": {"A": "1", "B": "1"}}}}),
        );
        let expanded = expand(&root, "t.yaml");
        assert!(expanded.warnings.is_empty(), "{:?}", expanded.warnings);
        let function = &expanded.resources["Fn"]["Properties"];
        assert_eq!(function["Timeout"], 9);
        assert_eq!(function["MemorySize"], 256);
        assert_eq!(
            function["Environment"]["Variables"],
            json!({"A": "1", "B": "2"})
        );
        assert_eq!(function["Role"], "arn:aws:iam::1:role/r");
        assert!(!expanded.resources.contains_key("FnRole"));
        let mapping = &expanded.resources["FnQ"];
        assert_eq!(mapping["Type"], "AWS::Lambda::EventSourceMapping");
        assert_eq!(mapping["Condition"], "Prod");
        assert_eq!(
            mapping["Properties"],
            json!({"BatchSize": 5, "EventSourceArn": "arn:q", "FunctionName": {"Ref": "Fn"}})
        );
    }
}
