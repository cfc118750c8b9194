//! The `terraform_plan` source: `terraform show -json` output of a saved plan, as the declared
//! layer: what the configuration will declare once the plan is applied.
//!
//! Reads one JSON file (a path, or a directory / prefix holding exactly one `.json` file).
//! - Planned resource instances (`planned_values.root_module`, nested `child_modules`) get the
//!   same identities as the `terraform_state` source: kind = the type (`data.<type>` for data
//!   sources), id = the full address (`module.app.aws_sqs_queue.jobs["eu"]`), plus the
//!   `live.*` labels of [`crate::terraform`]. The planned action from `resource_changes`
//!   becomes the `terraform.action` label (`create`, `update`, `replace`, `no-op`, `read`);
//!   values only known after apply (`after_unknown`) are shown as `"(known after apply)"`.
//!   Resources the plan deletes are not declared any more and are left out.
//! - Each `resource_drift` entry (a change Terraform saw made outside it) becomes a
//!   `terraform_drift` resource with id = the address and attrs `before`, `after` and
//!   `changed_paths`.
//! - Root outputs become `terraform_output` resources, as in the state source.
//!
//! Redacted with `canonical::redacted`: everything the `sensitive_values`, `before_sensitive` and
//! `after_sensitive` masks mark, and the values of sensitive outputs. Entries that cannot be
//! understood and duplicate identities become warnings.

use std::collections::BTreeMap;
use std::path::Path;

use groundtruth_engine::canonical;
use groundtruth_engine::model::{Layer, Observation, ObservedResource};
use serde_json::{json, Map, Value};

use crate::error::{IngestError, Result};
use crate::input::{self, Input, InputFile};
use crate::source::declared::terraform_state::module_instances;
use crate::source::{read_and_parse, ScrapeContext, Source};
use crate::terraform::{self, UNKNOWN_VALUE};

/// Kind given to the changes Terraform saw made outside it (`resource_drift`).
pub const DRIFT_KIND: &str = "terraform_drift";

/// Reads `terraform show -json` output of a saved plan.
#[derive(Debug, Clone)]
pub struct TerraformPlanSource {
    name: String,
    input: Input,
}

impl TerraformPlanSource {
    /// A source called `name` reading `input`.
    pub fn new(name: impl Into<String>, input: Input) -> Self {
        Self {
            name: name.into(),
            input,
        }
    }
}

#[async_trait::async_trait]
impl Source for TerraformPlanSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn source_type(&self) -> &'static str {
        "terraform_plan"
    }

    fn input(&self) -> Option<&Input> {
        Some(&self.input)
    }

    async fn scrape(&self, context: &ScrapeContext) -> Result<Observation> {
        read_and_parse(
            &self.name,
            &self.input,
            |relative| input::has_extension(relative, &["json"]),
            context,
            self.parser(),
        )
        .await
    }

    fn parse_content(&self, files: Vec<InputFile>) -> Option<Result<Observation>> {
        Some(self.parser()(files))
    }
}

impl TerraformPlanSource {
    /// The parse half of a scrape: the one plan file that was read.
    fn parser(&self) -> impl FnOnce(Vec<InputFile>) -> Result<Observation> + Send + 'static {
        let location = self.input.location().display_path();
        move |files| {
            let file = terraform::only_file(
                location,
                files,
                "`terraform show -json` plan file",
                ".json files",
            )?;
            parse_plan(&file.path, &file.bytes)
        }
    }
}

/// Turn the text of `terraform show -json <planfile>` into an observation.
fn parse_plan(path: &Path, bytes: &[u8]) -> Result<Observation> {
    let document = terraform::parse_json(path, bytes)?;
    let invalid = |message: &str| IngestError::Invalid {
        path: path.to_path_buf(),
        message: message.to_string(),
    };
    let Some(root) = document.as_object() else {
        return Err(invalid("expected a JSON object at the top level of a plan"));
    };
    if !root.contains_key("format_version") {
        return Err(invalid(
            "missing \"format_version\"; not `terraform show -json` output",
        ));
    }
    let Some(planned) = root.get("planned_values") else {
        return Err(invalid(
            "missing \"planned_values\"; not a plan (a shown state belongs in a terraform_state source)",
        ));
    };

    if !planned.is_object() {
        return Err(invalid("\"planned_values\" is not an object"));
    }
    let mut warnings = Vec::new();
    let mut observed = Vec::new();
    if let Some(module) = planned.get("root_module") {
        module_instances(
            module,
            "planned_values.root_module",
            &mut observed,
            &mut warnings,
            0,
        );
    }

    let changes = changes_by_address(root.get("resource_changes"), &mut warnings);
    for resource in &mut observed {
        let Some(entry) = changes.get(resource.id.as_str()) else {
            continue;
        };
        let Some(change) = entry.get("change").and_then(Value::as_object) else {
            continue;
        };
        if let Some(action) = action_name(change.get("actions")) {
            resource
                .labels
                .insert("terraform.action".to_string(), action);
        }
        if let Some(reason) = entry.get("action_reason").and_then(Value::as_str) {
            resource
                .labels
                .insert("terraform.action_reason".to_string(), reason.to_string());
        }
        if let Some(mask) = change.get("after_sensitive") {
            terraform::redact_mask(&mut resource.attrs, mask);
            // Tag labels were read before this mask; one it hides must not stay a label.
            resource.labels.retain(|key, _| !key.starts_with("tag."));
            terraform::tag_labels(&resource.attrs, &mut resource.labels);
        }
        if let Some(unknown) = change.get("after_unknown") {
            mark_unknown(&mut resource.attrs, unknown);
        }
    }
    // Planned values omit deleted resources already; an entry still present with a delete
    // action would contradict the plan, so the change wins.
    observed.retain(|resource| {
        resource.labels.get("terraform.action").map(String::as_str) != Some("delete")
    });

    if let Some(drift) = root.get("resource_drift") {
        match drift {
            Value::Array(entries) => {
                for (position, entry) in entries.iter().enumerate() {
                    match drift_resource(entry) {
                        Ok(resource) => observed.push(resource),
                        Err(message) => {
                            warnings.push(format!("resource_drift[{position}]: {message}; skipped"))
                        }
                    }
                }
            }
            Value::Null => {}
            _ => warnings.push("\"resource_drift\" is not an array; skipped".to_string()),
        }
    }

    if let Some(Value::Object(outputs)) = planned.get("outputs") {
        let output_changes = root.get("output_changes");
        for (name, output) in outputs {
            let mut output = output.clone();
            let unknown = output_changes
                .and_then(|changes| changes.get(name))
                .and_then(|change| change.get("after_unknown"))
                == Some(&Value::Bool(true));
            if unknown && output.get("value").is_none() {
                if let Value::Object(fields) = &mut output {
                    fields.insert("value".to_string(), json!(UNKNOWN_VALUE));
                }
            }
            observed.push(terraform::output_resource(name, &output));
        }
    }

    terraform::sort_and_dedup(&mut observed, &mut warnings);
    Ok(Observation {
        warnings,
        ..Observation::complete(observed)
    })
}

/// `resource_changes` entries by address (deposed objects, which share an address, are skipped: the
/// plan's fate for the current object is what the declared layer shows).
fn changes_by_address<'a>(
    changes: Option<&'a Value>,
    warnings: &mut Vec<String>,
) -> BTreeMap<&'a str, &'a Map<String, Value>> {
    let mut by_address = BTreeMap::new();
    let Some(changes) = changes else {
        return by_address;
    };
    let Some(changes) = changes.as_array() else {
        warnings.push("\"resource_changes\" is not an array; actions unknown".to_string());
        return by_address;
    };
    for (position, entry) in changes.iter().enumerate() {
        if entry.get("deposed").is_some() {
            continue;
        }
        let address = entry.get("address").and_then(Value::as_str);
        let has_change = entry.get("change").is_some_and(Value::is_object);
        match (address, entry.as_object()) {
            (Some(address), Some(entry)) if has_change => {
                by_address.insert(address, entry);
            }
            _ => warnings.push(format!(
                "resource_changes[{position}]: missing \"address\" or \"change\"; skipped"
            )),
        }
    }
    by_address
}

/// The action list as one word: `["delete","create"]` and `["create","delete"]` are a replace.
fn action_name(actions: Option<&Value>) -> Option<String> {
    let actions: Vec<&str> = actions?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match actions.as_slice() {
        [] => None,
        [single] => Some((*single).to_string()),
        ["delete", "create"] | ["create", "delete"] => Some("replace".to_string()),
        several => Some(several.join("-")),
    }
}

/// Fill in the values `after_unknown` marks `true` (planned values leave them out).
fn mark_unknown(value: &mut Value, unknown: &Value) {
    match (unknown, value) {
        (Value::Bool(true), value) => *value = json!(UNKNOWN_VALUE),
        (Value::Object(mask), Value::Object(object)) => {
            for (key, child_mask) in mask {
                match object.get_mut(key) {
                    Some(child) => mark_unknown(child, child_mask),
                    None if *child_mask == Value::Bool(true) => {
                        object.insert(key.clone(), json!(UNKNOWN_VALUE));
                    }
                    None => {}
                }
            }
        }
        (Value::Array(mask), Value::Array(items)) => {
            for (child, child_mask) in items.iter_mut().zip(mask) {
                mark_unknown(child, child_mask);
            }
        }
        (Value::Object(mask), value @ Value::Null) if !mask.is_empty() => {
            let mut object = Value::Object(Map::new());
            mark_unknown(&mut object, unknown);
            *value = object;
        }
        _ => {}
    }
}

/// One `resource_drift` entry: before and after (each redacted with its own mask) and the
/// paths that differ.
fn drift_resource(entry: &Value) -> std::result::Result<ObservedResource, String> {
    let address = entry
        .get("address")
        .and_then(Value::as_str)
        .ok_or("missing \"address\"")?;
    let change = entry
        .get("change")
        .and_then(Value::as_object)
        .ok_or("missing \"change\"")?;
    let resource_type = entry.get("type").and_then(Value::as_str);
    let mode = entry.get("mode").and_then(Value::as_str);
    let mut before = change.get("before").cloned().unwrap_or(Value::Null);
    let mut after = change.get("after").cloned().unwrap_or(Value::Null);
    if let Some(mask) = change.get("before_sensitive") {
        terraform::redact_mask(&mut before, mask);
    }
    if let Some(mask) = change.get("after_sensitive") {
        terraform::redact_mask(&mut after, mask);
    }
    // Redacted values carry a keyed hash, so a secret changed outside Terraform still shows.
    let changed_paths: Vec<Value> = canonical::diff(&before, &after)
        .into_iter()
        .map(|change| Value::String(change.path))
        .collect();
    let actions = change.get("actions").cloned().unwrap_or(Value::Null);
    let mut resource = ObservedResource::new(
        DRIFT_KIND,
        address,
        Layer::Declared,
        json!({
            "actions": actions,
            "before": before,
            "after": after,
            "changed_paths": changed_paths,
        }),
    );
    if let Some(name) = entry.get("name").and_then(Value::as_str) {
        resource = resource.with_name(name);
    }
    if let Some(resource_type) = resource_type {
        resource = resource.with_label("terraform.type", resource_type);
        if mode == Some("managed") {
            let live_source = if after.is_null() { &before } else { &after };
            resource
                .labels
                .extend(terraform::live_labels(resource_type, live_source));
        }
    }
    if let Some(mode) = mode {
        resource = resource.with_label("terraform.mode", mode);
    }
    if let Some(module) = entry.get("module_address").and_then(Value::as_str) {
        resource = resource.with_label("terraform.module", module);
    }
    Ok(resource)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::InputLocation;
    use chrono::{TimeZone, Utc};
    use groundtruth_engine::canonical::REDACTED_MARKER;
    use tokio_util::sync::CancellationToken;

    const FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/terraform/plan/plan.json"
    );

    fn context() -> ScrapeContext {
        ScrapeContext {
            started_at: Utc
                .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
                .single()
                .expect("valid time"),
            cancel: CancellationToken::new(),
        }
    }

    async fn scrape() -> Observation {
        TerraformPlanSource::new("plan", Input::new(InputLocation::Path(FIXTURE.into())))
            .scrape(&context())
            .await
            .expect("fixture parses")
    }

    fn find<'a>(observation: &'a Observation, kind: &str, id: &str) -> &'a ObservedResource {
        observation
            .resources
            .iter()
            .find(|resource| resource.kind == kind && resource.id == id)
            .unwrap_or_else(|| panic!("{kind} {id} missing"))
    }

    fn label<'a>(resource: &'a ObservedResource, key: &str) -> Option<&'a str> {
        resource.labels.get(key).map(String::as_str)
    }

    #[tokio::test]
    async fn planned_resources_carry_their_actions_and_deletions_are_gone() {
        let observation = scrape().await;
        assert!(
            observation.warnings.is_empty(),
            "{:?}",
            observation.warnings
        );
        let keys: Vec<(&str, &str)> = observation
            .resources
            .iter()
            .map(|resource| (resource.kind.as_str(), resource.id.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("aws_db_instance", "aws_db_instance.orders"),
                ("aws_lambda_function", "aws_lambda_function.order_processor"),
                ("aws_s3_bucket", "aws_s3_bucket.exports"),
                ("aws_sqs_queue", "aws_sqs_queue.orders"),
                ("aws_sqs_queue", "module.dlq.aws_sqs_queue.dead_letter[0]"),
                (
                    "data.aws_caller_identity",
                    "data.aws_caller_identity.current"
                ),
                ("terraform_drift", "aws_db_instance.orders"),
                ("terraform_drift", "aws_sqs_queue.orders"),
                ("terraform_output", "output.db_master_password"),
                ("terraform_output", "output.exports_bucket_arn"),
                ("terraform_output", "output.queue_url"),
            ]
        );
        let action = |kind: &str, id: &str| label(find(&observation, kind, id), "terraform.action");
        assert_eq!(
            action("aws_sqs_queue", "aws_sqs_queue.orders"),
            Some("update")
        );
        assert_eq!(
            action("aws_s3_bucket", "aws_s3_bucket.exports"),
            Some("create")
        );
        assert_eq!(
            action("aws_lambda_function", "aws_lambda_function.order_processor"),
            Some("no-op")
        );
        assert_eq!(
            action("aws_db_instance", "aws_db_instance.orders"),
            Some("replace")
        );
        assert_eq!(
            label(
                find(&observation, "aws_db_instance", "aws_db_instance.orders"),
                "terraform.action_reason"
            ),
            Some("replace_because_cannot_update")
        );
        assert_eq!(
            action("aws_sqs_queue", "module.dlq.aws_sqs_queue.dead_letter[0]"),
            Some("create")
        );
        let dead_letter = find(
            &observation,
            "aws_sqs_queue",
            "module.dlq.aws_sqs_queue.dead_letter[0]",
        );
        assert_eq!(label(dead_letter, "terraform.module"), Some("module.dlq"));
        assert_eq!(label(dead_letter, "live.name"), Some("orders-dlq"));
    }

    #[tokio::test]
    async fn unknown_values_are_marked_and_identities_use_what_is_known() {
        let observation = scrape().await;
        let bucket = find(&observation, "aws_s3_bucket", "aws_s3_bucket.exports");
        assert_eq!(bucket.attrs["arn"], json!(UNKNOWN_VALUE));
        assert_eq!(bucket.attrs["id"], json!(UNKNOWN_VALUE));
        assert_eq!(bucket.attrs["bucket"], json!("orders-exports-eu-west-1"));
        assert_eq!(bucket.attrs["versioning"][0]["enabled"], json!(true));
        // The ARN is unknown to the plan, but an S3 bucket's ARN follows from its name.
        assert_eq!(
            label(bucket, "live.id"),
            Some("arn:aws:s3:::orders-exports-eu-west-1")
        );
        let output = find(
            &observation,
            "terraform_output",
            "output.exports_bucket_arn",
        );
        assert_eq!(output.attrs["value"], json!(UNKNOWN_VALUE));
        let queue = find(&observation, "aws_sqs_queue", "aws_sqs_queue.orders");
        assert_eq!(queue.attrs["visibility_timeout_seconds"], json!(60));
        assert_eq!(
            label(queue, "live.id"),
            Some("arn:aws:sqs:eu-west-1:123456789012:orders")
        );
    }

    #[tokio::test]
    async fn sensitive_values_are_redacted_everywhere() {
        let observation = scrape().await;
        let text: String = observation
            .resources
            .iter()
            .map(|resource| {
                json!({"id": resource.id, "name": resource.name, "attrs": resource.attrs, "labels": resource.labels})
                    .to_string()
            })
            .collect();
        for secret in [
            "plan-fixture-db-password",
            "plan-fixture-old-password",
            "plan-fixture-api-token",
        ] {
            assert!(!text.contains(secret), "{secret} leaked");
        }
        let database = find(&observation, "aws_db_instance", "aws_db_instance.orders");
        assert_eq!(
            database.attrs["password"],
            canonical::redacted(&json!("plan-fixture-db-password"))
        );
        let function = find(
            &observation,
            "aws_lambda_function",
            "aws_lambda_function.order_processor",
        );
        assert_eq!(
            function.attrs["environment"][0]["variables"]["API_TOKEN"][REDACTED_MARKER],
            json!(true)
        );
        assert_eq!(
            function.attrs["environment"][0]["variables"]["LOG_LEVEL"],
            json!("info")
        );
        let output = find(
            &observation,
            "terraform_output",
            "output.db_master_password",
        );
        assert_eq!(output.attrs["value"][REDACTED_MARKER], json!(true));
    }

    #[tokio::test]
    async fn drift_keeps_before_after_and_the_changed_paths() {
        let observation = scrape().await;
        let drift = find(&observation, DRIFT_KIND, "aws_sqs_queue.orders");
        assert_eq!(
            drift.attrs["before"]["visibility_timeout_seconds"],
            json!(30)
        );
        assert_eq!(
            drift.attrs["after"]["visibility_timeout_seconds"],
            json!(45)
        );
        assert_eq!(
            drift.attrs["changed_paths"],
            json!(["tags.Owner", "tags_all.Owner", "visibility_timeout_seconds"])
        );
        assert_eq!(drift.attrs["actions"], json!(["update"]));
        // A password rotated outside Terraform: seen as a change, never shown.
        let rotated = find(&observation, DRIFT_KIND, "aws_db_instance.orders");
        assert_eq!(rotated.attrs["changed_paths"], json!(["password"]));
        assert_eq!(
            rotated.attrs["before"]["password"][REDACTED_MARKER],
            json!(true)
        );
        assert_eq!(label(drift, "terraform.type"), Some("aws_sqs_queue"));
        assert_eq!(label(drift, "live.name"), Some("orders"));
    }

    fn parse(document: Value) -> Result<Observation> {
        parse_plan(Path::new("inline.json"), document.to_string().as_bytes())
    }

    #[test]
    fn states_and_other_documents_are_refused() {
        let error = parse(json!({"format_version": "1.0", "values": {}})).expect_err("a state");
        assert!(
            matches!(&error, IngestError::Invalid { message, .. } if message.contains("planned_values")),
            "{error:?}"
        );
        assert!(parse(json!({"version": 4, "resources": []})).is_err());
        assert!(parse(json!([1])).is_err());
    }

    #[test]
    fn a_tag_only_the_change_marks_sensitive_is_not_a_label() {
        let resource = json!({
            "address": "aws_sqs_queue.q", "mode": "managed", "type": "aws_sqs_queue", "name": "q",
            "values": {"name": "q", "tags": {"Team": "payments", "Key": "tag-secret"}},
            "sensitive_values": {"tags": {}}
        });
        let document = json!({
            "format_version": "1.2",
            "planned_values": {"root_module": {"resources": [resource]}},
            "resource_changes": [{
                "address": "aws_sqs_queue.q",
                "change": {
                    "actions": ["create"],
                    "after_sensitive": {"tags": {"Key": true}},
                    "after_unknown": {"arn": true}
                }
            }]
        });
        let observation = parse(document).expect("parses");
        let queue = &observation.resources[0];
        assert_eq!(
            queue.labels.get("tag.Team").map(String::as_str),
            Some("payments")
        );
        assert!(!queue.labels.contains_key("tag.Key"));
        assert_eq!(queue.attrs["tags"]["Key"][REDACTED_MARKER], json!(true));
        assert_eq!(queue.attrs["arn"], json!(UNKNOWN_VALUE));
    }

    #[test]
    fn actions_collapse_to_one_word() {
        assert_eq!(
            action_name(Some(&json!(["delete", "create"]))).as_deref(),
            Some("replace")
        );
        assert_eq!(
            action_name(Some(&json!(["create", "delete"]))).as_deref(),
            Some("replace")
        );
        assert_eq!(
            action_name(Some(&json!(["no-op"]))).as_deref(),
            Some("no-op")
        );
        assert_eq!(action_name(Some(&json!([]))), None);
    }

    #[test]
    fn unknown_marks_fill_nested_and_missing_values() {
        let mut value = json!({"a": 1, "tags": null, "list": [{"x": 1}]});
        mark_unknown(
            &mut value,
            &json!({"id": true, "a": false, "tags": {"k": true}, "list": [{"y": true}]}),
        );
        assert_eq!(
            value,
            json!({"a": 1, "id": UNKNOWN_VALUE, "tags": {"k": UNKNOWN_VALUE}, "list": [{"x": 1, "y": UNKNOWN_VALUE}]})
        );
    }
}
