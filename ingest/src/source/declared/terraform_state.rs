//! The `terraform_state` source: the resources a Terraform state file (format version 4)
//! records, as the declared layer.
//!
//! Every instance of every resource becomes one resource whose id is its full Terraform
//! address (`module.net.aws_subnet.private[0]`, `aws_s3_bucket.assets["logs"]`,
//! `data.aws_caller_identity.current`), and every root output becomes a `terraform_output`.
//! Data sources get kind `data.<type>`, managed resources their type; managed resources of
//! mapped types carry `live.kind` / `live.id` / `live.name` labels (see [`crate::terraform`]).
//! Values Terraform marks as sensitive (and whole sensitive outputs) are replaced by
//! `canonical::redacted` before they leave this file, so a rotated password is recorded as a
//! change without being stored.
//!
//! Two formats are accepted, told apart by content: the raw state (`"version": 4`) and
//! `terraform show -json` of a state (`format_version`, `values.root_module` with nested
//! `child_modules`, `sensitive_values` masks); both give the same resources for the same
//! infrastructure. Entries that cannot be understood (unknown mode, missing type, a bad index
//! key) and duplicate addresses become warnings; the rest of the state is still recorded.

use std::path::{Path, PathBuf};

use groundtruth_engine::model::{Observation, ObservedResource};
use serde_json::{Map, Value};

use crate::error::{IngestError, Result};
use crate::input::{Input, InputFile, InputLimits, InputLocation};
use crate::source::{read_and_parse, ScrapeContext, Source};
use crate::terraform;

/// Largest state file accepted. Real states of thousands of resources stay in the tens of
/// megabytes; anything bigger is more likely a wrong path than a state worth holding in memory.
pub const MAX_STATE_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// The only state format version this source understands (Terraform 0.12 and later).
const SUPPORTED_STATE_VERSION: u64 = 4;

/// Kind given to root module outputs.
pub use crate::terraform::OUTPUT_KIND;

/// Reads one Terraform state file (`terraform.tfstate`, or a copy pulled from a backend).
#[derive(Debug, Clone)]
pub struct TerraformStateSource {
    name: String,
    input: Input,
}

impl TerraformStateSource {
    /// A source called `name` that reads the state file at `path` on every scrape.
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Self::from_input(
            name,
            Input::new(InputLocation::Path(path.into())).with_limits(InputLimits {
                max_file_bytes: MAX_STATE_FILE_BYTES,
                ..InputLimits::default()
            }),
        )
    }

    /// A source reading the state at a configured input (a path or an `s3://` URL).
    pub fn from_input(name: impl Into<String>, input: Input) -> Self {
        Self {
            name: name.into(),
            input,
        }
    }
}

#[async_trait::async_trait]
impl Source for TerraformStateSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn source_type(&self) -> &'static str {
        "terraform_state"
    }

    fn input(&self) -> Option<&Input> {
        Some(&self.input)
    }

    async fn scrape(&self, context: &ScrapeContext) -> Result<Observation> {
        let location = self.input.location();
        if let Some(path) = location.local_path() {
            if path.is_dir() {
                return Err(IngestError::Invalid {
                    path: path.to_path_buf(),
                    message: "is a directory; expected a Terraform state (.tfstate) file"
                        .to_string(),
                });
            }
        }
        read_and_parse(&self.name, &self.input, |_| true, context, self.parser()).await
    }

    fn parse_content(&self, files: Vec<InputFile>) -> Option<Result<Observation>> {
        Some(self.parser()(files))
    }
}

impl TerraformStateSource {
    /// The parse half of a scrape: the one state file that was read.
    fn parser(&self) -> impl FnOnce(Vec<InputFile>) -> Result<Observation> + Send + 'static {
        let location = self.input.location().display_path();
        move |files| {
            let file = terraform::only_file(location, files, "Terraform state file", "objects")?;
            parse_state(&file.path, &file.bytes)
        }
    }
}

/// Turn the text of a state file (raw v4 state or `terraform show -json` of a state) into an
/// observation. `path` is only used in errors.
fn parse_state(path: &Path, bytes: &[u8]) -> Result<Observation> {
    let document = terraform::parse_json(path, bytes)?;
    let invalid = |message: String| IngestError::Invalid {
        path: path.to_path_buf(),
        message,
    };

    let Some(root) = document.as_object() else {
        return Err(invalid(
            "expected a JSON object at the top level of a Terraform state".to_string(),
        ));
    };
    if root.contains_key("format_version") && !root.contains_key("version") {
        if root.contains_key("planned_values") || root.contains_key("resource_changes") {
            return Err(invalid(
                "this is `terraform show -json` of a plan; use a terraform_plan source".to_string(),
            ));
        }
        return Ok(parse_show_json(root));
    }
    match root.get("version") {
        Some(version) if version.as_u64() == Some(SUPPORTED_STATE_VERSION) => {}
        Some(version) => {
            return Err(invalid(format!(
                "unsupported state format version {version}; only version {SUPPORTED_STATE_VERSION} is supported"
            )))
        }
        None => return Err(invalid("missing \"version\"; not a Terraform state file".to_string())),
    }
    let resources = match root.get("resources") {
        Some(Value::Array(resources)) => resources,
        Some(_) => return Err(invalid("\"resources\" is not an array".to_string())),
        None => return Err(invalid("missing \"resources\" array".to_string())),
    };

    let mut warnings = Vec::new();
    let mut observed = Vec::new();
    for (position, resource) in resources.iter().enumerate() {
        let context = format!("resources[{position}]");
        match resource_instances(resource, &context, &mut warnings) {
            Ok(instances) => observed.extend(instances),
            Err(message) => warnings.push(format!("{context}: {message}; skipped")),
        }
    }
    outputs(root.get("outputs"), &mut observed, &mut warnings);
    // Terraform addresses are unique in a valid state; a duplicate means a hand-edited or
    // corrupted file, and the store needs one version per identity.
    terraform::sort_and_dedup(&mut observed, &mut warnings);
    Ok(Observation {
        warnings,
        ..Observation::complete(observed)
    })
}

fn outputs(
    outputs: Option<&Value>,
    observed: &mut Vec<ObservedResource>,
    warnings: &mut Vec<String>,
) {
    match outputs {
        None | Some(Value::Null) => {}
        Some(Value::Object(outputs)) => {
            for (name, output) in outputs {
                observed.push(terraform::output_resource(name, output));
            }
        }
        Some(_) => warnings.push("\"outputs\" is not an object; outputs skipped".to_string()),
    }
}

/// `terraform show -json` of a state: `values.root_module` (with nested `child_modules`) and
/// `values.outputs`. Gives the same kinds, ids, attributes and labels as the raw state.
fn parse_show_json(root: &Map<String, Value>) -> Observation {
    let mut warnings = Vec::new();
    let mut observed = Vec::new();
    // A state with no resources is shown without "values" at all.
    if let Some(values) = root.get("values") {
        if let Some(module) = values.get("root_module") {
            module_instances(
                module,
                "values.root_module",
                &mut observed,
                &mut warnings,
                0,
            );
        }
        outputs(values.get("outputs"), &mut observed, &mut warnings);
    }
    terraform::sort_and_dedup(&mut observed, &mut warnings);
    Observation {
        warnings,
        ..Observation::complete(observed)
    }
}

/// Deeper module nesting than any real configuration; bounds recursion on hostile input.
const MAX_MODULE_DEPTH: usize = 64;

/// The resources of one module of `terraform show -json` output (`values.root_module` or
/// `planned_values.root_module`) and of its child modules. Shared with the plan source.
pub(crate) fn module_instances(
    module: &Value,
    context: &str,
    observed: &mut Vec<ObservedResource>,
    warnings: &mut Vec<String>,
    depth: usize,
) {
    if depth > MAX_MODULE_DEPTH {
        warnings.push(format!("{context}: modules nested too deeply; skipped"));
        return;
    }
    let module_address = module
        .get("address")
        .and_then(Value::as_str)
        .filter(|address| !address.is_empty());
    if let Some(resources) = module.get("resources").and_then(Value::as_array) {
        for (position, resource) in resources.iter().enumerate() {
            let resource_context = format!("{context}.resources[{position}]");
            match shown_instance(resource, module_address) {
                Ok(resource) => observed.push(resource),
                Err(message) => warnings.push(format!("{resource_context}: {message}; skipped")),
            }
        }
    }
    if let Some(children) = module.get("child_modules").and_then(Value::as_array) {
        for (position, child) in children.iter().enumerate() {
            let child_context = format!("{context}.child_modules[{position}]");
            module_instances(child, &child_context, observed, warnings, depth + 1);
        }
    }
}

/// One resource instance of `terraform show -json` output.
fn shown_instance(
    resource: &Value,
    module_address: Option<&str>,
) -> std::result::Result<ObservedResource, String> {
    let Some(resource) = resource.as_object() else {
        return Err("not an object".to_string());
    };
    let text_field = |field: &str| resource.get(field).and_then(Value::as_str);
    let mode = text_field("mode").ok_or("missing \"mode\"")?;
    let resource_type = text_field("type").ok_or("missing \"type\"")?;
    let name = text_field("name").ok_or("missing \"name\"")?;
    let (kind, local_address) = terraform::kind_and_local_address(mode, resource_type, name)?;
    let resource_address = match module_address {
        Some(module) => format!("{module}.{local_address}"),
        None => local_address,
    };
    let id = terraform::instance_address(&resource_address, resource.get("index"))
        .ok_or("index is neither a number nor a string")?;
    let mut attributes = resource
        .get("values")
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    if let Some(mask) = resource.get("sensitive_values") {
        terraform::redact_mask(&mut attributes, mask);
    }
    let facts = terraform::InstanceFacts {
        mode,
        resource_type,
        name,
        module: module_address,
        // The raw state's notation, so both formats give the same labels.
        provider: text_field("provider_name").map(|provider| format!("provider[\"{provider}\"]")),
    };
    Ok(terraform::instance_resource(&facts, kind, id, attributes))
}

/// One `resources[]` entry: every instance as an observed resource.
fn resource_instances(
    resource: &Value,
    context: &str,
    warnings: &mut Vec<String>,
) -> std::result::Result<Vec<ObservedResource>, String> {
    let Some(resource) = resource.as_object() else {
        return Err("not an object".to_string());
    };
    let text_field = |field: &str| resource.get(field).and_then(Value::as_str);
    let mode = text_field("mode").ok_or("missing \"mode\"")?;
    let resource_type = text_field("type").ok_or("missing \"type\"")?;
    let name = text_field("name").ok_or("missing \"name\"")?;
    let module = text_field("module").filter(|module| !module.is_empty());
    let (kind, local_address) = terraform::kind_and_local_address(mode, resource_type, name)?;
    let resource_address = match module {
        Some(module) => format!("{module}.{local_address}"),
        None => local_address,
    };
    let instances = match resource.get("instances") {
        Some(Value::Array(instances)) => instances,
        _ => return Err("missing \"instances\" array".to_string()),
    };
    let facts = terraform::InstanceFacts {
        mode,
        resource_type,
        name,
        module,
        provider: text_field("provider").map(str::to_string),
    };

    let mut observed = Vec::with_capacity(instances.len());
    for (position, instance) in instances.iter().enumerate() {
        let instance_context = format!("{context}.instances[{position}] ({resource_address})");
        let Some(instance) = instance.as_object() else {
            warnings.push(format!("{instance_context}: not an object; skipped"));
            continue;
        };
        let Some(address) =
            terraform::instance_address(&resource_address, instance.get("index_key"))
        else {
            warnings.push(format!(
                "{instance_context}: index_key is neither a number nor a string; skipped"
            ));
            continue;
        };
        // A deposed object (left behind by create_before_destroy) shares the address of the
        // current one; Terraform's own notation keeps them apart.
        let deposed = instance.get("deposed").and_then(Value::as_str);
        let id = match deposed {
            Some(deposed) => format!("{address} (deposed {deposed})"),
            None => address,
        };

        let mut attributes = match instance.get("attributes") {
            Some(attributes) => attributes.clone(),
            None => match instance.get("attributes_flat") {
                Some(flat) => {
                    warnings.push(format!(
                        "{instance_context}: only legacy \"attributes_flat\" present; sensitive paths cannot be applied to it"
                    ));
                    flat.clone()
                }
                None => Value::Object(Map::new()),
            },
        };
        if let Some(sensitive) = instance.get("sensitive_attributes") {
            terraform::redact_sensitive(&mut attributes, sensitive);
        }

        let mut resource = terraform::instance_resource(&facts, kind.clone(), id, attributes);
        if let Some(status) = instance.get("status").and_then(Value::as_str) {
            resource
                .labels
                .insert("terraform.status".to_string(), status.to_string());
        }
        if let Some(deposed) = deposed {
            resource
                .labels
                .insert("terraform.deposed".to_string(), deposed.to_string());
        }
        observed.push(resource);
    }
    Ok(observed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use groundtruth_engine::canonical::{self, REDACTED_MARKER};
    use groundtruth_engine::model::Layer;
    use serde_json::json;
    use tokio_util::sync::CancellationToken;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/terraform");
    const PASSWORD_V1: &str = "s3cr3t-fixture-password-v1";
    const PASSWORD_V2: &str = "s3cr3t-fixture-password-v2";

    fn context() -> ScrapeContext {
        ScrapeContext {
            started_at: Utc
                .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
                .single()
                .expect("valid time"),
            cancel: CancellationToken::new(),
        }
    }

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(FIXTURES).join(name)
    }

    async fn scrape(name: &str) -> Result<Observation> {
        TerraformStateSource::new("state", fixture(name))
            .scrape(&context())
            .await
    }

    fn find<'a>(observation: &'a Observation, kind: &str, id: &str) -> &'a ObservedResource {
        observation
            .resources
            .iter()
            .find(|resource| resource.kind == kind && resource.id == id)
            .unwrap_or_else(|| panic!("no {kind} {id}"))
    }

    fn serialized(observation: &Observation) -> String {
        let resources: Vec<Value> = observation
            .resources
            .iter()
            .map(|resource| {
                json!({
                    "kind": resource.kind,
                    "id": resource.id,
                    "name": resource.name,
                    "attrs": resource.attrs,
                    "labels": resource.labels,
                })
            })
            .collect();
        json!({ "resources": resources, "warnings": observation.warnings }).to_string()
    }

    #[tokio::test]
    async fn addresses_cover_modules_count_for_each_and_data() {
        let observation = scrape("v1.tfstate").await.expect("v1 parses");
        assert!(
            observation.warnings.is_empty(),
            "{:?}",
            observation.warnings
        );
        let keys: Vec<(String, String)> = observation
            .resources
            .iter()
            .map(|resource| (resource.kind.clone(), resource.id.clone()))
            .collect();
        let expected = [
            (
                "aws_cloudwatch_log_group",
                "aws_cloudwatch_log_group.service[\"api\"]",
            ),
            (
                "aws_cloudwatch_log_group",
                "aws_cloudwatch_log_group.service[\"worker\"]",
            ),
            ("aws_db_instance", "aws_db_instance.orders"),
            ("aws_lambda_function", "aws_lambda_function.order_processor"),
            ("aws_sqs_queue", "aws_sqs_queue.orders"),
            ("aws_subnet", "module.network.aws_subnet.private[0]"),
            ("aws_subnet", "module.network.aws_subnet.private[1]"),
            (
                "data.aws_caller_identity",
                "data.aws_caller_identity.current",
            ),
            ("terraform_output", "output.db_master_username"),
            ("terraform_output", "output.queue_url"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(kind, id)| (kind.to_string(), id.to_string()))
            .collect();
        assert_eq!(keys, expected);

        let subnet = find(
            &observation,
            "aws_subnet",
            "module.network.aws_subnet.private[1]",
        );
        assert_eq!(subnet.name.as_deref(), Some("private"));
        assert_eq!(
            subnet.labels.get("terraform.module").map(String::as_str),
            Some("module.network")
        );
        assert_eq!(
            subnet.labels.get("terraform.mode").map(String::as_str),
            Some("managed")
        );
        assert_eq!(subnet.attrs["cidr_block"], json!("10.20.2.0/24"));

        let data = find(
            &observation,
            "data.aws_caller_identity",
            "data.aws_caller_identity.current",
        );
        assert_eq!(
            data.labels.get("terraform.mode").map(String::as_str),
            Some("data")
        );
        assert_eq!(data.layer, Layer::Declared);

        let queue = find(&observation, "aws_sqs_queue", "aws_sqs_queue.orders");
        assert_eq!(
            queue.labels.get("tag.Team").map(String::as_str),
            Some("payments")
        );
        assert_eq!(
            queue.labels.get("tag.Environment").map(String::as_str),
            Some("production")
        );
        assert_eq!(
            queue.labels.get("terraform.provider").map(String::as_str),
            Some("provider[\"registry.terraform.io/hashicorp/aws\"]")
        );
        assert_eq!(queue.attrs["visibility_timeout_seconds"], json!(30));
    }

    #[tokio::test]
    async fn sensitive_values_are_redacted_but_rotation_is_visible() {
        let first = scrape("v1.tfstate").await.expect("v1 parses");
        let second = scrape("v2.tfstate").await.expect("v2 parses");
        for (observation, password) in [(&first, PASSWORD_V1), (&second, PASSWORD_V2)] {
            let text = serialized(observation);
            assert!(!text.contains(password), "password leaked");
            assert!(!text.contains("s3cr3t"), "password prefix leaked");
        }
        let password_of = |observation: &Observation| {
            let database = find(observation, "aws_db_instance", "aws_db_instance.orders");
            assert_eq!(database.attrs["password"][REDACTED_MARKER], json!(true));
            database.attrs["password"]["sha256"].clone()
        };
        assert_ne!(password_of(&first), password_of(&second));
        let output = find(&first, OUTPUT_KIND, "output.db_master_username");
        assert_eq!(
            output.attrs["value"],
            canonical::redacted(&json!("orders_admin"))
        );
        assert_eq!(output.attrs["type"], json!("string"));
        assert_eq!(output.name.as_deref(), Some("db_master_username"));
        let plain_output = find(&first, OUTPUT_KIND, "output.queue_url");
        assert!(plain_output.attrs["value"].is_string());
    }

    #[tokio::test]
    async fn versions_differ_exactly_where_the_fixture_changed() {
        let first = scrape("v1.tfstate").await.expect("v1 parses");
        let second = scrape("v2.tfstate").await.expect("v2 parses");
        assert_eq!(first.resources.len(), second.resources.len());
        let mut changed = Vec::new();
        for (before, after) in first.resources.iter().zip(&second.resources) {
            assert_eq!(before.key(), after.key());
            if before.fingerprint() != after.fingerprint() {
                let paths: Vec<String> = canonical::diff(&before.attrs, &after.attrs)
                    .into_iter()
                    .map(|change| change.path)
                    .collect();
                changed.push(format!("{}: {}", before.id, paths.join(",")));
            }
        }
        assert_eq!(
            changed,
            vec![
                "aws_db_instance.orders: password",
                "aws_lambda_function.order_processor: memory_size",
                "aws_sqs_queue.orders: visibility_timeout_seconds",
            ]
        );
    }

    #[tokio::test]
    async fn show_json_of_a_state_gives_the_same_resources_as_the_raw_state() {
        let raw = scrape("v1.tfstate").await.expect("raw state parses");
        let shown = scrape("v1.show.json").await.expect("show -json parses");
        assert!(shown.warnings.is_empty(), "{:?}", shown.warnings);
        assert_eq!(raw.resources.len(), 10);
        assert_eq!(raw.resources, shown.resources);
        let subnet = find(&shown, "aws_subnet", "module.network.aws_subnet.private[1]");
        assert_eq!(
            subnet.labels.get("terraform.module").map(String::as_str),
            Some("module.network")
        );
        let database = find(&shown, "aws_db_instance", "aws_db_instance.orders");
        assert_eq!(
            database.attrs["password"],
            canonical::redacted(&json!(PASSWORD_V1))
        );
    }

    #[tokio::test]
    async fn mapped_types_carry_live_identity_labels() {
        let observation = scrape("v1.tfstate").await.expect("parses");
        let label =
            |kind: &str, id: &str, key: &str| find(&observation, kind, id).labels.get(key).cloned();
        assert_eq!(
            label("aws_sqs_queue", "aws_sqs_queue.orders", "live.id").as_deref(),
            Some("arn:aws:sqs:eu-west-1:123456789012:orders")
        );
        assert_eq!(
            label("aws_sqs_queue", "aws_sqs_queue.orders", "live.name").as_deref(),
            Some("orders")
        );
        assert_eq!(
            label("aws_db_instance", "aws_db_instance.orders", "live.name").as_deref(),
            Some("orders-db")
        );
        assert_eq!(
            label(
                "aws_lambda_function",
                "aws_lambda_function.order_processor",
                "live.kind"
            )
            .as_deref(),
            Some("aws_lambda_function")
        );
        // Unmapped types and data sources carry no live identity.
        assert_eq!(
            label(
                "aws_subnet",
                "module.network.aws_subnet.private[0]",
                "live.kind"
            ),
            None
        );
        assert_eq!(
            label(
                "data.aws_caller_identity",
                "data.aws_caller_identity.current",
                "live.id"
            ),
            None
        );
    }

    #[test]
    fn plan_json_is_refused_with_a_pointer_to_the_plan_source() {
        let error = parse(json!({"format_version": "1.2", "planned_values": {}}))
            .expect_err("a plan is not a state");
        assert!(
            matches!(&error, IngestError::Invalid { message, .. } if message.contains("terraform_plan")),
            "{error:?}"
        );
        let empty = parse(json!({"format_version": "1.0"})).expect("an empty shown state");
        assert!(empty.resources.is_empty());
    }

    #[tokio::test]
    async fn truncated_file_is_a_parse_error_with_file_and_line() {
        let error = scrape("truncated.tfstate")
            .await
            .expect_err("truncated must fail");
        let IngestError::Parse { line, .. } = &error else {
            panic!("expected Parse, got {error:?}")
        };
        let line = line.expect("serde_json reports a line");
        assert!(line > 1);
        let text = error.to_string();
        assert!(text.contains("truncated.tfstate"), "{text}");
        assert!(text.contains(&format!(":{line}:")), "{text}");
    }

    #[tokio::test]
    async fn missing_file_is_a_read_error_naming_the_path() {
        let path = fixture("does-not-exist.tfstate");
        let error = TerraformStateSource::new("state", &path)
            .scrape(&context())
            .await
            .expect_err("must fail");
        assert!(
            matches!(&error, IngestError::Read { path: reported, .. } if reported == &path),
            "{error:?}"
        );
        assert!(error.to_string().contains("does-not-exist.tfstate"));
    }

    #[tokio::test]
    async fn directory_is_invalid() {
        let directory = tempfile::tempdir().expect("tempdir");
        let error = TerraformStateSource::new("state", directory.path())
            .scrape(&context())
            .await
            .expect_err("must fail");
        assert!(matches!(error, IngestError::Invalid { .. }), "{error:?}");
    }

    fn parse(document: Value) -> Result<Observation> {
        parse_state(Path::new("inline.tfstate"), document.to_string().as_bytes())
    }

    #[test]
    fn wrong_version_and_missing_resources_are_invalid() {
        let error = parse(json!({"version": 3, "resources": []})).expect_err("v3 refused");
        assert!(
            matches!(&error, IngestError::Invalid { message, .. } if message.contains("version 3")),
            "{error:?}"
        );
        let error = parse(json!({"version": 4})).expect_err("no resources refused");
        assert!(
            matches!(&error, IngestError::Invalid { message, .. } if message.contains("resources")),
            "{error:?}"
        );
        let error = parse(json!([1, 2])).expect_err("array refused");
        assert!(matches!(error, IngestError::Invalid { .. }));
    }

    fn instance_state(attributes: Value, sensitive: Value) -> Value {
        json!({
            "version": 4,
            "resources": [{
                "mode": "managed",
                "type": "aws_lambda_function",
                "name": "worker",
                "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
                "instances": [{"schema_version": 0, "attributes": attributes, "sensitive_attributes": sensitive}]
            }]
        })
    }

    fn only_attributes(observation: &Observation) -> &Value {
        assert_eq!(observation.resources.len(), 1);
        &observation.resources[0].attrs
    }

    #[test]
    fn path_steps_follow_attributes_list_indexes_and_map_keys() {
        let attributes = json!({
            "environment": [{"variables": {"API_TOKEN": "token-value", "LOG_LEVEL": "info"}}],
            "keys": ["first-secret", "second-plain"],
            "tags": {"owner": "team-a", "secret_tag": "tag-secret"}
        });
        let sensitive = json!([
            [
                {"type": "get_attr", "value": "environment"},
                {"type": "index", "value": {"value": 0, "type": "number"}},
                {"type": "get_attr", "value": "variables"},
                {"type": "index", "value": {"value": "API_TOKEN", "type": "string"}}
            ],
            [{"type": "get_attr", "value": "keys"}, {"type": "index", "value": {"value": 0, "type": "number"}}],
            [{"type": "get_attr", "value": "tags"}, {"type": "index", "value": {"value": "secret_tag", "type": "string"}}],
            [{"type": "get_attr", "value": "absent"}]
        ]);
        let observation = parse(instance_state(attributes, sensitive)).expect("parses");
        let attrs = only_attributes(&observation);
        assert_eq!(
            attrs["environment"][0]["variables"]["API_TOKEN"],
            canonical::redacted(&json!("token-value"))
        );
        assert_eq!(
            attrs["environment"][0]["variables"]["LOG_LEVEL"],
            json!("info")
        );
        assert_eq!(
            attrs["keys"][0],
            canonical::redacted(&json!("first-secret"))
        );
        assert_eq!(attrs["keys"][1], json!("second-plain"));
        assert!(attrs.get("absent").is_none());
        let labels = &observation.resources[0].labels;
        assert_eq!(labels.get("tag.owner").map(String::as_str), Some("team-a"));
        assert!(!labels.contains_key("tag.secret_tag"));
        let text = serialized(&observation);
        assert!(
            !text.contains("token-value")
                && !text.contains("first-secret")
                && !text.contains("tag-secret")
        );
    }

    #[test]
    fn mask_shaped_sensitive_attributes_are_supported() {
        let attributes = json!({
            "password": "mask-secret",
            "environment": [{"variables": {"API_TOKEN": "token-value", "LOG_LEVEL": "info"}}],
            "tags": {"owner": "team-a"},
            "name": "worker"
        });
        let sensitive = json!({
            "password": true,
            "environment": [{"variables": {"API_TOKEN": true}}],
            "tags": true,
            "name": false
        });
        let observation = parse(instance_state(attributes, sensitive)).expect("parses");
        let attrs = only_attributes(&observation);
        assert_eq!(
            attrs["password"],
            canonical::redacted(&json!("mask-secret"))
        );
        assert_eq!(
            attrs["environment"][0]["variables"]["API_TOKEN"],
            canonical::redacted(&json!("token-value"))
        );
        assert_eq!(
            attrs["environment"][0]["variables"]["LOG_LEVEL"],
            json!("info")
        );
        assert_eq!(attrs["name"], json!("worker"));
        // Wholly sensitive tags yield no labels, not labels made of the redaction stand-in.
        assert!(observation.resources[0]
            .labels
            .keys()
            .all(|key| !key.starts_with("tag.")));
        let text = serialized(&observation);
        assert!(
            !text.contains("mask-secret")
                && !text.contains("token-value")
                && !text.contains("team-a")
        );
    }

    #[test]
    fn unfollowable_steps_hide_the_enclosing_value() {
        let attributes = json!({"rules": [{"secret": "set-secret"}], "plain": 1});
        let sensitive =
            json!([[{"type": "get_attr", "value": "rules"}, {"type": "set_element", "value": {}}]]);
        let observation = parse(instance_state(attributes, sensitive)).expect("parses");
        let attrs = only_attributes(&observation);
        assert_eq!(attrs["rules"][REDACTED_MARKER], json!(true));
        assert_eq!(attrs["plain"], json!(1));
    }

    #[test]
    fn deposed_objects_and_bad_entries_are_handled() {
        let document = json!({
            "version": 4,
            "resources": [
                {
                    "mode": "managed", "type": "aws_instance", "name": "web", "provider": "provider[\"aws\"]",
                    "instances": [
                        {"attributes": {"id": "i-new"}},
                        {"deposed": "00a1b2c3", "attributes": {"id": "i-old"}}
                    ]
                },
                {"mode": "managed", "type": "aws_instance"},
                {"mode": "ephemeral", "type": "x", "name": "y", "instances": []}
            ]
        });
        let observation = parse(document).expect("parses");
        let ids: Vec<&str> = observation
            .resources
            .iter()
            .map(|resource| resource.id.as_str())
            .collect();
        assert_eq!(
            ids,
            vec!["aws_instance.web", "aws_instance.web (deposed 00a1b2c3)"]
        );
        assert_eq!(observation.warnings.len(), 2, "{:?}", observation.warnings);
    }

    #[tokio::test]
    async fn oversized_files_are_refused_before_reading() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("huge.tfstate");
        let file = std::fs::File::create(&path).expect("create");
        // A sparse file: the size check must trip without 256 MiB being written or read.
        file.set_len(MAX_STATE_FILE_BYTES + 1).expect("set_len");
        let error = TerraformStateSource::new("state", &path)
            .scrape(&context())
            .await
            .expect_err("too large");
        assert!(
            matches!(&error, IngestError::Invalid { message, .. } if message.contains("limit")),
            "{error:?}"
        );
    }
}
