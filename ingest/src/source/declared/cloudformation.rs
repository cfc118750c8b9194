//! The `cloudformation` source: CloudFormation templates (JSON and YAML, short-form intrinsic
//! tags included), as the declared layer.
//!
//! A file is a template when its top level is a mapping with a `Resources` mapping. A directory
//! input reads `*.yaml`, `*.yml`, `*.json` and `*.template` (JSON when the text starts with `{`);
//! any file there that is not a template fails the scrape, naming the file. YAML short forms
//! (`!Ref`, `!GetAtt`, `!Sub`, ...) are read as their long forms (see [`tagged_yaml`]).
//!
//! Identity: each entry of `Resources` has kind = its CloudFormation type (`AWS::SQS::Queue`)
//! and id = `<stack>/<LogicalId>`, where the stack is the configured `stack_name` or the
//! template's file name without extension. Attrs mirror the template: `Properties` (intrinsics
//! in long form), `DependsOn` (always an array), and `Condition`, `DeletionPolicy`,
//! `UpdateReplacePolicy` and `Metadata` (cfn-init configuration included) when set. A `{"Ref": "Param"}` to a parameter with a literal `Default`
//! is replaced by that default (pseudo parameters such as `AWS::Region` stay references).
//! Labels: `cloudformation.stack`, `cloudformation.logical_id`, `cloudformation.file` (the
//! relative path), and `live.kind` / `live.name` for the types [`identity`] maps to live kinds.
//! Each parameter is a `cloudformation_parameter` and each output a `cloudformation_output`
//! (id `<stack>/<Name>`); the template itself is a `cloudformation_stack` (id `<stack>`) whose
//! attrs hold the format version, description, transform, `Conditions` and `Mappings`.
//!
//! Redacted with [`canonical::redacted`]: defaults of `NoEcho` parameters and of parameters
//! whose name looks secret (also where a `Ref` resolves to one), literal values of properties whose name looks secret (`Password`,
//! `MasterUserPassword`, `SecretString`, `*Token`, `*Secret*`, `PrivateKey`, ...), and the
//! values of Lambda `Environment.Variables` (names kept). Pure references (`Ref`, `Fn::GetAtt`,
//! `Fn::ImportValue`) and `{{resolve:...}}` dynamic references are not secrets and are kept.
//!
//! With `Transform: AWS::Serverless-2016-10-31` the resources are the SAM transform's output
//! ([`sam`]): what CloudFormation deploys, with SAM's generated logical ids, each generated
//! resource labelled with the SAM resource it came from ([`SAM_RESOURCE_LABEL`],
//! [`SAM_TYPE_LABEL`]); what the transform does not expand is a warning.
//!
//! Warnings: resources without a string `Type` or that are not mappings (skipped), malformed
//! `DependsOn`, and duplicate `(kind, id)` across templates (first kept).

pub mod sam;
mod tagged_yaml;

use serde::Deserialize;
use std::collections::BTreeMap;

use groundtruth_engine::canonical;
use groundtruth_engine::model::{Layer, Observation, ObservedResource};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::error::{IngestError, Result};
use crate::identity::{self, LIVE_KIND_LABEL, LIVE_NAME_LABEL};
use crate::input::{self, Input, InputFile};
use crate::source::{read_and_parse, ScrapeContext, Source};

/// Kind of a template parameter.
pub const PARAMETER_KIND: &str = "cloudformation_parameter";
/// Kind of a template output.
pub const OUTPUT_KIND: &str = "cloudformation_output";
/// Kind of the template itself (one per stack).
pub const STACK_KIND: &str = "cloudformation_stack";

/// Label holding the stack name.
pub const STACK_LABEL: &str = "cloudformation.stack";
/// Label holding the logical id.
pub const LOGICAL_ID_LABEL: &str = "cloudformation.logical_id";
/// Label holding the template's path relative to the configured input.
pub const FILE_LABEL: &str = "cloudformation.file";
/// On a resource the SAM transform generated: the logical id of the `AWS::Serverless::*`
/// resource it came from.
pub const SAM_RESOURCE_LABEL: &str = "cloudformation.sam_resource";
/// On a resource the SAM transform generated: the type of the SAM resource it came from.
pub const SAM_TYPE_LABEL: &str = "cloudformation.sam_type";

const TEMPLATE_EXTENSIONS: &[&str] = &["yaml", "yml", "json", "template"];

/// Settings of the `cloudformation` source, beside its input's.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CloudFormationConfig {
    /// The deployed stack's name, so logical ids map to the live stack's resources
    /// (default: each template's file name without extension).
    #[serde(default)]
    pub stack_name: Option<String>,
}

/// Reads CloudFormation templates (JSON and YAML, short-form intrinsic tags included).
#[derive(Debug, Clone)]
pub struct CloudFormationSource {
    name: String,
    input: Input,
    stack_name: Option<String>,
}

impl CloudFormationSource {
    /// A source called `name` reading `input`; `stack_name` is the stack the template is deployed as; ids are `<stack>/<LogicalId>` (default: the file name without extension).
    pub fn new(name: impl Into<String>, input: Input, stack_name: Option<String>) -> Self {
        Self {
            name: name.into(),
            input,
            stack_name,
        }
    }
}

#[async_trait::async_trait]
impl Source for CloudFormationSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn source_type(&self) -> &'static str {
        "cloudformation"
    }

    fn input(&self) -> Option<&Input> {
        Some(&self.input)
    }

    async fn scrape(&self, context: &ScrapeContext) -> Result<Observation> {
        // Templates can be many megabytes: read_and_parse parses off the async runtime.
        read_and_parse(
            &self.name,
            &self.input,
            |relative| input::has_extension(relative, TEMPLATE_EXTENSIONS),
            context,
            self.parser(context.cancel.clone()),
        )
        .await
    }

    fn parse_content(&self, files: Vec<InputFile>) -> Option<Result<Observation>> {
        Some(self.parser(CancellationToken::new())(files))
    }
}

impl CloudFormationSource {
    /// The parse half of a scrape: every template that was read, checking `cancel` between
    /// templates.
    fn parser(
        &self,
        cancel: CancellationToken,
    ) -> impl FnOnce(Vec<InputFile>) -> Result<Observation> + Send + 'static {
        let stack_name = self.stack_name.clone();
        let source_name = self.name.clone();
        move |files| {
            let mut resources = Vec::new();
            let mut warnings = Vec::new();
            for file in &files {
                if cancel.is_cancelled() {
                    return Err(IngestError::Cancelled { source_name });
                }
                let template = parse_file(file)?;
                template_resources(
                    file,
                    &template,
                    stack_name.as_deref(),
                    &mut resources,
                    &mut warnings,
                )?;
            }
            Ok(finish(resources, warnings))
        }
    }
}

/// Sort by identity and keep the first of any duplicate, with a warning.
fn finish(mut resources: Vec<ObservedResource>, mut warnings: Vec<String>) -> Observation {
    // A stable sort keeps file order among duplicates, so "first" means first file read.
    resources.sort_by(|left, right| (&left.kind, &left.id).cmp(&(&right.kind, &right.id)));
    resources.dedup_by(|later, earlier| {
        let duplicate = later.kind == earlier.kind && later.id == earlier.id;
        if duplicate {
            warnings.push(format!(
                "duplicate {} {} (in {}); kept the first",
                later.kind,
                later.id,
                later
                    .labels
                    .get(FILE_LABEL)
                    .map(String::as_str)
                    .unwrap_or("?")
            ));
        }
        duplicate
    });
    Observation {
        warnings,
        ..Observation::complete(resources)
    }
}

/// A template file as a JSON value (JSON by content, YAML otherwise).
fn parse_file(file: &InputFile) -> Result<Value> {
    let text = file.text()?;
    let is_json = input::has_extension(&file.relative, &["json"])
        || text
            .trim_start_matches('\u{feff}')
            .trim_start()
            .starts_with('{');
    if !is_json {
        return tagged_yaml::parse_template(file);
    }
    serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|error| {
        let text = error.to_string();
        let suffix = format!(" at line {} column {}", error.line(), error.column());
        IngestError::Parse {
            path: file.path.clone(),
            line: Some(error.line()).filter(|line| *line > 0),
            message: format!(
                "invalid JSON at column {}: {}",
                error.column(),
                text.strip_suffix(&suffix).unwrap_or(&text)
            ),
        }
    })
}

/// The stack a template's resources belong to.
fn stack_of(file: &InputFile, configured: Option<&str>) -> String {
    if let Some(stack) = configured {
        return stack.to_string();
    }
    let file_name = file.relative.rsplit('/').next().unwrap_or(&file.relative);
    match file_name.rsplit_once('.') {
        Some((stem, _extension)) if !stem.is_empty() => stem.to_string(),
        _ => file_name.to_string(),
    }
}

/// Every resource a template declares, appended to `out`.
fn template_resources(
    file: &InputFile,
    template: &Value,
    configured_stack: Option<&str>,
    out: &mut Vec<ObservedResource>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let invalid = |message: &str| IngestError::Invalid {
        path: file.path.clone(),
        message: message.to_string(),
    };
    let Some(root) = template.as_object() else {
        return Err(invalid(
            "not a CloudFormation template: the top level is not a mapping",
        ));
    };
    let Some(resources) = root.get("Resources") else {
        return Err(invalid(
            "not a CloudFormation template: no Resources section",
        ));
    };
    let Some(resources) = resources.as_object() else {
        return Err(invalid("Resources is not a mapping"));
    };
    // With the SAM transform, what CloudFormation deploys is the expansion.
    let expanded = sam::uses_sam(root).then(|| sam::expand(root, &file.relative));
    let resources = match &expanded {
        Some(expanded) => {
            warnings.extend(expanded.warnings.iter().cloned());
            &expanded.resources
        }
        None => resources,
    };
    let stack = stack_of(file, configured_stack);
    let labelled = |resource: ObservedResource, logical_id: Option<&str>| {
        let resource = resource
            .with_label(STACK_LABEL, stack.clone())
            .with_label(FILE_LABEL, file.relative.clone());
        match logical_id {
            Some(logical_id) => resource.with_label(LOGICAL_ID_LABEL, logical_id),
            None => resource,
        }
    };
    let parameters = root
        .get("Parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let defaults = literal_defaults(&parameters);

    for (logical_id, resource) in resources {
        let context = format!("{}: Resources.{logical_id}", file.relative);
        let Some(resource) = resource.as_object() else {
            warnings.push(format!("{context} is not a mapping; skipped"));
            continue;
        };
        let Some(resource_type) = resource.get("Type").and_then(Value::as_str) else {
            warnings.push(format!("{context} has no string Type; skipped"));
            continue;
        };
        let mut properties = resource
            .get("Properties")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()));
        resolve_defaults(&mut properties, &defaults);
        redact_secrets(&mut properties);
        if resource_type == "AWS::Lambda::Function" || resource_type == "AWS::Serverless::Function"
        {
            redact_environment(&mut properties);
        }
        let depends_on = match resource.get("DependsOn") {
            None => Vec::new(),
            Some(Value::String(name)) => vec![Value::String(name.clone())],
            Some(Value::Array(names)) => names.clone(),
            Some(_) => {
                warnings.push(format!(
                    "{context}: DependsOn is neither a name nor a list; ignored"
                ));
                Vec::new()
            }
        };
        let mut attrs = Map::new();
        attrs.insert("Properties".to_string(), properties.clone());
        attrs.insert("DependsOn".to_string(), Value::Array(depends_on));
        for attribute in ["Condition", "DeletionPolicy", "UpdateReplacePolicy"] {
            if let Some(value) = resource.get(attribute) {
                attrs.insert(attribute.to_string(), value.clone());
            }
        }
        // cfn-init configuration (files, commands, services) lives in Metadata and changes
        // what the instance runs; AWS::CloudFormation::Authentication there holds passwords.
        if let Some(metadata) = resource.get("Metadata") {
            let mut metadata = metadata.clone();
            resolve_defaults(&mut metadata, &defaults);
            redact_secrets(&mut metadata);
            attrs.insert("Metadata".to_string(), metadata);
        }
        let mut observed = ObservedResource::new(
            resource_type,
            format!("{stack}/{logical_id}"),
            Layer::Declared,
            Value::Object(attrs),
        )
        .with_name(logical_id.clone());
        if let Some(live_kind) = identity::cloudformation_live_kind(resource_type) {
            observed = observed.with_label(LIVE_KIND_LABEL, live_kind);
        }
        let live_name = identity::cloudformation_name_property(resource_type)
            .and_then(|property| properties.get(property))
            .and_then(Value::as_str);
        if let Some(live_name) = live_name {
            observed = observed.with_label(LIVE_NAME_LABEL, live_name);
        }
        if let Some(origin) = expanded
            .as_ref()
            .and_then(|expanded| expanded.origins.get(logical_id))
        {
            observed = observed
                .with_label(SAM_RESOURCE_LABEL, origin.logical_id.clone())
                .with_label(SAM_TYPE_LABEL, origin.sam_type.clone());
        }
        out.push(labelled(observed, Some(logical_id)));
    }

    for (name, parameter) in &parameters {
        let mut attrs = parameter.clone();
        if hidden_default(name, parameter) {
            if let Some(default) = attrs.get_mut("Default") {
                *default = canonical::redacted(default);
            }
        }
        let observed = ObservedResource::new(
            PARAMETER_KIND,
            format!("{stack}/{name}"),
            Layer::Declared,
            attrs,
        )
        .with_name(name.clone());
        out.push(labelled(observed, Some(name)));
    }

    match root.get("Outputs") {
        None | Some(Value::Null) => {}
        Some(Value::Object(outputs)) => {
            for (name, output) in outputs {
                let mut attrs = output.clone();
                resolve_defaults(&mut attrs, &defaults);
                let observed = ObservedResource::new(
                    OUTPUT_KIND,
                    format!("{stack}/{name}"),
                    Layer::Declared,
                    attrs,
                )
                .with_name(name.clone());
                out.push(labelled(observed, Some(name)));
            }
        }
        Some(_) => warnings.push(format!(
            "{}: Outputs is not a mapping; outputs skipped",
            file.relative
        )),
    }

    let mut stack_attrs = Map::new();
    for section in [
        "AWSTemplateFormatVersion",
        "Description",
        "Transform",
        "Conditions",
        "Mappings",
    ] {
        if let Some(value) = root.get(section) {
            stack_attrs.insert(section.to_string(), value.clone());
        }
    }
    let observed = ObservedResource::new(
        STACK_KIND,
        stack.clone(),
        Layer::Declared,
        Value::Object(stack_attrs),
    )
    .with_name(stack.clone());
    out.push(labelled(observed, None));
    Ok(())
}

/// Whether a parameter's default must not be stored: `NoEcho`, or a secret-looking name
/// (`DbPassword`), since a template author may forget `NoEcho`.
fn hidden_default(name: &str, parameter: &Value) -> bool {
    let no_echo = match parameter.get("NoEcho") {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::String(text)) => text.eq_ignore_ascii_case("true"),
        _ => false,
    };
    no_echo || secret_name(name)
}

/// Parameters whose `Default` is a literal, by name; hidden ones already redacted.
fn literal_defaults(parameters: &Map<String, Value>) -> BTreeMap<String, Value> {
    parameters
        .iter()
        .filter_map(|(name, parameter)| {
            let default = parameter.get("Default")?;
            if default.is_object() || default.is_array() {
                return None;
            }
            let value = if hidden_default(name, parameter) {
                canonical::redacted(default)
            } else {
                default.clone()
            };
            Some((name.clone(), value))
        })
        .collect()
}

/// Replace `{"Ref": "Param"}` by the parameter's literal default, everywhere in `value`.
fn resolve_defaults(value: &mut Value, defaults: &BTreeMap<String, Value>) {
    if let Some(default) = referenced_default(value, defaults) {
        *value = default;
        return;
    }
    match value {
        Value::Object(map) => map
            .values_mut()
            .for_each(|item| resolve_defaults(item, defaults)),
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| resolve_defaults(item, defaults)),
        _ => {}
    }
}

fn referenced_default(value: &Value, defaults: &BTreeMap<String, Value>) -> Option<Value> {
    let map = value.as_object()?;
    if map.len() != 1 {
        return None;
    }
    let name = map.get("Ref")?.as_str()?;
    defaults.get(name).cloned()
}

/// Whether a property name suggests its value is a secret.
fn secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    // Names, ids and ARNs of secrets point at them without holding them.
    let pointer = ["arn", "arns", "id", "ids", "name", "names"]
        .iter()
        .any(|suffix| lower.ends_with(suffix));
    let secret = [
        "password",
        "secret",
        "token",
        "privatekey",
        "passphrase",
        "apikey",
        "credential",
    ]
    .iter()
    .any(|word| lower.contains(word));
    secret && !pointer
}

/// A value that only points at something (and so is no secret): a reference intrinsic, a
/// dynamic reference, or an existing redaction marker.
fn is_reference(value: &Value) -> bool {
    match value {
        Value::String(text) => text.trim_start().starts_with("{{resolve:"),
        Value::Object(map) => {
            canonical::is_redacted(value)
                || (map.len() == 1
                    && ["Ref", "Fn::GetAtt", "Fn::ImportValue"]
                        .iter()
                        .any(|key| map.contains_key(*key)))
        }
        _ => false,
    }
}

fn redact(value: &mut Value) {
    if !value.is_null() && !is_reference(value) {
        *value = canonical::redacted(value);
    }
}

/// Redact the values of secret-looking properties, at any depth.
fn redact_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if secret_name(key) {
                    redact(item);
                } else {
                    redact_secrets(item);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_secrets),
        _ => {}
    }
}

/// Lambda environment variables often carry credentials; keep their names only.
fn redact_environment(properties: &mut Value) {
    let variables = properties
        .get_mut("Environment")
        .and_then(|environment| environment.get_mut("Variables"))
        .and_then(Value::as_object_mut);
    if let Some(variables) = variables {
        variables.values_mut().for_each(redact);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn file(relative: &str, text: &str) -> InputFile {
        InputFile {
            path: PathBuf::from(format!("/repo/{relative}")),
            relative: relative.to_string(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    fn scrape(file: &InputFile, stack: Option<&str>) -> Result<Observation> {
        let template = parse_file(file)?;
        let mut resources = Vec::new();
        let mut warnings = Vec::new();
        template_resources(file, &template, stack, &mut resources, &mut warnings)?;
        Ok(finish(resources, warnings))
    }

    #[test]
    fn secret_looking_parameter_defaults_are_redacted_everywhere() {
        let observation = scrape(
            &file(
                "db.yaml",
                concat!(
                    "Parameters:\n  AdminPassword: {Type: String, Default: plain-text-pw}\n",
                    "Resources:\n  Db:\n    Type: AWS::RDS::DBInstance\n    Properties:\n",
                    "      Tags: [{Key: pw, Value: !Ref AdminPassword}]\n",
                ),
            ),
            None,
        )
        .unwrap();
        let text = serde_json::to_string(
            &observation
                .resources
                .iter()
                .map(|resource| &resource.attrs)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        assert!(!text.contains("plain-text-pw"), "{text}");
        let db = &observation.resources[0];
        assert!(canonical::is_redacted(
            &db.attrs["Properties"]["Tags"][0]["Value"]
        ));
    }

    #[test]
    fn secret_names() {
        for name in [
            "MasterUserPassword",
            "Password",
            "SecretString",
            "AuthToken",
            "ClientSecret",
            "PrivateKey",
        ] {
            assert!(secret_name(name), "{name}");
        }
        for name in ["SecretArn", "SecretId", "QueueName", "TokenName", "Timeout"] {
            assert!(!secret_name(name), "{name}");
        }
    }

    #[test]
    fn non_templates_are_refused_naming_the_file() {
        let error = scrape(&file("values.yaml", "replicas: 3\n"), None)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("/repo/values.yaml: "), "{error}");
        assert!(error.contains("no Resources"), "{error}");
        let error = scrape(&file("x.json", "[1]"), None)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("/repo/x.json: "), "{error}");
        let error = scrape(&file("x.json", "{\"Resources\": {\n"), None)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("/repo/x.json:2: invalid JSON"), "{error}");
    }

    #[test]
    fn malformed_resources_are_warnings_and_duplicates_keep_the_first() {
        let observation = scrape(
            &file(
                "s.yaml",
                "Resources:\n  A: 3\n  B: {Properties: {}}\n  C: {Type: AWS::SNS::Topic, DependsOn: 7}\n",
            ),
            Some("prod"),
        )
        .unwrap();
        let ids: Vec<_> = observation
            .resources
            .iter()
            .map(|resource| format!("{} {}", resource.kind, resource.id))
            .collect();
        assert_eq!(
            ids,
            vec!["AWS::SNS::Topic prod/C", "cloudformation_stack prod"]
        );
        assert_eq!(observation.warnings.len(), 3, "{:?}", observation.warnings);

        let first = file("a/q.yaml", "Resources:\n  Q: {Type: AWS::SQS::Queue}\n");
        let second = file(
            "b/q.yaml",
            "Resources:\n  Q: {Type: AWS::SQS::Queue, Properties: {DelaySeconds: 5}}\n",
        );
        let mut resources = Vec::new();
        let mut warnings = Vec::new();
        for file in [&first, &second] {
            let template = parse_file(file).unwrap();
            template_resources(file, &template, None, &mut resources, &mut warnings).unwrap();
        }
        let observation = finish(resources, warnings);
        assert_eq!(observation.resources.len(), 2);
        assert_eq!(observation.resources[0].labels[FILE_LABEL], "a/q.yaml");
        assert_eq!(observation.warnings.len(), 2, "{:?}", observation.warnings);
    }
}
