//! The `terraform_hcl` source: the Terraform configuration of one root module (`.tf` files),
//! parsed with hcl-rs, as the declared layer: what the code says before any plan or apply.
//!
//! Reads one `.tf` or `.tf.json` file, or those directly in a directory (files in
//! subdirectories are other modules, read when a local `module` call names them: their
//! contents get addresses under the call, `module.<name>.aws_s3_bucket.this`, as in a state
//! or plan, and a `terraform.module` label; a local source outside a local input is read
//! from disk beside the calling file, one missing is a warning). `.tf.json` files follow
//! Terraform's JSON syntax and give the same resources as their `.tf` twins (strings with
//! `${...}` are templates; JSON cannot tell nested blocks from object attributes, so nested
//! blocks read as attributes). Identities:
//! - `resource "aws_sqs_queue" "orders"`: kind `aws_sqs_queue`, id `aws_sqs_queue.orders` (the
//!   address Terraform gives, without instance keys: `count` / `for_each` stay attributes).
//!   Managed resources of mapped types carry `live.kind` and, when literal, `live.name` /
//!   `live.id` labels (see [`crate::terraform`]).
//! - `data "aws_vpc" "main"`: kind `data.aws_vpc`, id `data.aws_vpc.main`.
//! - `module "dlq"`: kind `terraform_module`, id `module.dlq`.
//! - `variable "region"`: kind `terraform_variable`, id `var.region`.
//! - `output "queue_url"`: kind `terraform_output`, id `output.queue_url`.
//! - each entry of a `locals` block: kind `terraform_local`, id `local.<name>`.
//! - `provider "aws"`: kind `terraform_provider`, id `provider.aws` (`provider.aws.<alias>`).
//!
//! Attributes holding literals become JSON values; any other expression (a reference, a
//! function call, a template with interpolation, `count`, `for_each`, `depends_on`, ...)
//! becomes `{"expression": "<its HCL text>"}`. Nested blocks become arrays of objects under
//! the block type (the shape a state gives them), with `"labels"` when the block has labels.
//! Every resource is labelled with the file (`terraform.file`, relative) it was declared in.
//!
//! Redacted with `canonical::redacted`: the default of a `sensitive = true` (or secret-named)
//! variable, the
//! literal value of a `sensitive = true` output, and literal attributes whose name looks
//! secret (password, secret, token, private_key, ...). An HCL syntax error fails the scrape
//! with the file and line; a block type this source does not model and a duplicate address
//! become warnings.

use std::path::Path;

use groundtruth_engine::model::{Layer, Observation, ObservedResource};
use hcl::expr::{Heredoc, HeredocStripMode, TemplateExpr};
use hcl::{Block, BlockLabel, Body, Expression, ObjectKey, Structure};
use serde_json::{json, Map, Value};

use crate::error::{IngestError, Result};
use crate::input::{self, Input, InputFile};
use crate::source::{read_and_parse, ScrapeContext, Source};
use crate::terraform::{self, OUTPUT_KIND};

/// Kind of a `module` call.
pub const MODULE_KIND: &str = "terraform_module";
/// Kind of an input `variable`.
pub const VARIABLE_KIND: &str = "terraform_variable";
/// Kind of one `locals` entry.
pub const LOCAL_KIND: &str = "terraform_local";
/// Kind of a `provider` configuration.
pub const PROVIDER_KIND: &str = "terraform_provider";

/// Bracket nesting beyond anything hand-written; refusing it keeps the recursive parser far
/// from the thread's stack limit on hostile input.
const MAX_NESTING: usize = 200;

/// Name fragments of attributes whose literal values are treated as secrets.
const SECRET_NAME_FRAGMENTS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "private_key",
    "api_key",
    "access_key",
    "credentials",
];

/// Reads Terraform configuration (.tf files) through an HCL parser.
#[derive(Debug, Clone)]
pub struct TerraformHclSource {
    name: String,
    input: Input,
}

impl TerraformHclSource {
    /// A source called `name` reading `input`.
    pub fn new(name: impl Into<String>, input: Input) -> Self {
        Self {
            name: name.into(),
            input,
        }
    }
}

#[async_trait::async_trait]
impl Source for TerraformHclSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn source_type(&self) -> &'static str {
        "terraform_hcl"
    }

    fn input(&self) -> Option<&Input> {
        Some(&self.input)
    }

    async fn scrape(&self, context: &ScrapeContext) -> Result<Observation> {
        // Subdirectories hold other modules: read too, for the local module calls.
        read_and_parse(
            &self.name,
            &self.input,
            is_configuration_file,
            context,
            self.parser(),
        )
        .await
    }

    fn parse_content(&self, files: Vec<InputFile>) -> Option<Result<Observation>> {
        Some(self.parser()(files))
    }
}

impl TerraformHclSource {
    /// The parse half of a scrape: every configuration file that was read.
    fn parser(&self) -> impl FnOnce(Vec<InputFile>) -> Result<Observation> + Send + 'static {
        let location = self.input.location().display_path();
        move |files| {
            if files.is_empty() {
                // An empty scrape would record every declared resource as deleted.
                return Err(IngestError::Invalid {
                    path: location,
                    message: "no .tf or .tf.json files found".to_string(),
                });
            }
            parse_files(&files)
        }
    }
}

/// Terraform reads `.tf` files and their JSON twins, `.tf.json`.
fn is_configuration_file(relative: &str) -> bool {
    input::has_extension(relative, &["tf"]) || relative.to_ascii_lowercase().ends_with(".tf.json")
}

/// How many labels a block type has in Terraform's JSON syntax (the nesting depth of its
/// object before the body), for the block types this source models.
fn json_label_count(block_type: &str) -> Option<usize> {
    match block_type {
        "resource" | "data" => Some(2),
        "module" | "variable" | "output" | "provider" => Some(1),
        "locals" | "terraform" => Some(0),
        _ => None,
    }
}

/// A JSON value as the HCL expression Terraform reads from it: a string holding `${...}`
/// is a template, objects and arrays are read element by element.
fn json_expression(value: &Value) -> Expression {
    match value {
        Value::String(text) if text.contains("${") || text.contains("%{") => {
            let quoted = serde_json::to_string(text).unwrap_or_default();
            hcl::parse(&format!("x = {quoted}"))
                .ok()
                .and_then(|body| body.into_attributes().next())
                .map(|attribute| attribute.expr)
                .unwrap_or_else(|| Expression::String(text.clone()))
        }
        Value::Object(map) => Expression::Object(
            map.iter()
                .map(|(key, item)| (ObjectKey::from(key.as_str()), json_expression(item)))
                .collect(),
        ),
        Value::Array(items) => Expression::Array(items.iter().map(json_expression).collect()),
        other => hcl::to_expression(other).unwrap_or(Expression::Null),
    }
}

/// The blocks of a `.tf.json` file (Terraform's JSON configuration syntax). JSON cannot tell
/// a nested block from an object attribute, so nested blocks are read as attributes.
fn json_blocks(file: &InputFile, warnings: &mut Vec<String>) -> Result<Vec<Block>> {
    let document = crate::terraform::parse_json(&file.path, file.text()?.as_bytes())?;
    let Value::Object(root) = document else {
        return Err(IngestError::Invalid {
            path: file.path.clone(),
            message: "a .tf.json file must hold a JSON object".to_string(),
        });
    };
    fn collect(
        block_type: &str,
        labels: &mut Vec<String>,
        value: &Value,
        depth: usize,
        out: &mut Vec<Block>,
    ) {
        match value {
            // Several blocks with the same labels are written as an array of bodies.
            Value::Array(bodies) if depth == 0 => bodies
                .iter()
                .for_each(|body| collect(block_type, labels, body, 0, out)),
            Value::Object(map) if depth == 0 => {
                let body = map
                    .iter()
                    .filter(|(key, _)| key.as_str() != "//")
                    .map(|(key, item)| hcl::Attribute::new(key.as_str(), json_expression(item)));
                out.push(
                    Block::builder(block_type)
                        .add_labels(labels.iter().map(String::as_str))
                        .add_attributes(body)
                        .build(),
                );
            }
            Value::Object(map) => {
                for (label, item) in map.iter().filter(|(key, _)| key.as_str() != "//") {
                    labels.push(label.clone());
                    collect(block_type, labels, item, depth - 1, out);
                    labels.pop();
                }
            }
            _ => {}
        }
    }
    let mut blocks = Vec::new();
    for (block_type, value) in root.iter().filter(|(key, _)| key.as_str() != "//") {
        let Some(depth) = json_label_count(block_type) else {
            warnings.push(format!(
                "{}: {block_type} block is not modelled; skipped",
                file.relative
            ));
            continue;
        };
        collect(block_type, &mut Vec::new(), value, depth, &mut blocks);
    }
    Ok(blocks)
}

/// Deepest chain of local module calls followed (Terraform has no limit; cycles need one).
const MAX_MODULE_DEPTH: usize = 16;
/// Largest file read from a local module directory outside the input.
const MAX_MODULE_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The configuration files of the module in `directory` (relative to the input): those the
/// input read, else (a local input whose module lies outside it, as `../../` in an example)
/// the directory on disk beside `near`.
fn module_files(
    files: &[InputFile],
    directory: &str,
    near: &InputFile,
    source: &str,
) -> Result<Vec<InputFile>> {
    let read: Vec<InputFile> = files
        .iter()
        .filter(|file| input::parent_relative(&file.relative) == directory)
        .filter(|_| !directory.starts_with(".."))
        .cloned()
        .collect();
    if !read.is_empty() || !near.path.is_file() {
        return Ok(read);
    }
    let Some(on_disk) = near.path.parent().map(|parent| parent.join(source)) else {
        return Ok(Vec::new());
    };
    let Ok(entries) = std::fs::read_dir(&on_disk) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !path.is_file() || !is_configuration_file(&name) {
            continue;
        }
        if entry.metadata().map_or(0, |metadata| metadata.len()) > MAX_MODULE_FILE_BYTES {
            return Err(IngestError::Invalid {
                path,
                message: format!("larger than {MAX_MODULE_FILE_BYTES} bytes"),
            });
        }
        let bytes = std::fs::read(&path).map_err(|error| IngestError::Invalid {
            path: path.clone(),
            message: format!("cannot read: {error}"),
        })?;
        found.push(InputFile {
            path,
            relative: input::join_relative(directory, &name),
            bytes,
        });
    }
    found.sort_by(|left, right| left.relative.cmp(&right.relative));
    Ok(found)
}

/// Parse every file of the root module (the input's top level) into one observation, and
/// the local modules it calls (`source = "./modules/x"`, `"../../"`), whose contents get
/// addresses under the call: `module.x.aws_s3_bucket.this`, as in a state or plan.
fn parse_files(files: &[InputFile]) -> Result<Observation> {
    let mut observed = Vec::new();
    let mut warnings = Vec::new();
    let root: Vec<InputFile> = files
        .iter()
        .filter(|file| !file.relative.contains('/'))
        .cloned()
        .collect();
    parse_module(files, &root, "", "", 0, &mut observed, &mut warnings)?;
    terraform::sort_and_dedup(&mut observed, &mut warnings);
    Ok(Observation {
        warnings,
        ..Observation::complete(observed)
    })
}

/// One module's files, then the local modules it calls; ids get `prefix` (`module.x.`).
fn parse_module(
    all: &[InputFile],
    module: &[InputFile],
    directory: &str,
    prefix: &str,
    depth: usize,
    observed: &mut Vec<ObservedResource>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let mut declared = Vec::new();
    parse_module_files(module, &mut declared, warnings)?;
    let calls: Vec<(String, String)> = declared
        .iter()
        .filter(|resource| resource.kind == MODULE_KIND)
        .filter_map(|resource| {
            let source = resource.attrs.get("source")?.as_str()?;
            (source.starts_with("./") || source.starts_with("../")).then(|| {
                (
                    resource.name.clone().unwrap_or_default(),
                    source.to_string(),
                )
            })
        })
        .collect();
    for mut resource in declared {
        if !prefix.is_empty() {
            resource.id = format!("{prefix}{}", resource.id);
            resource = resource.with_label("terraform.module", prefix.trim_end_matches('.'));
        }
        observed.push(resource);
    }
    let Some(near) = module.first() else {
        return Ok(());
    };
    for (name, source) in calls {
        let call = format!("{prefix}module.{name}");
        if depth >= MAX_MODULE_DEPTH {
            warnings.push(format!(
                "{call}: local modules nest deeper than {MAX_MODULE_DEPTH}; not read"
            ));
            continue;
        }
        let module_directory = input::join_relative(directory, &source);
        let files = module_files(all, &module_directory, near, &source)?;
        if files.is_empty() {
            warnings.push(format!(
                "{call}: local module source {source} has no .tf files under the input or beside it; its contents are not read"
            ));
            continue;
        }
        parse_module(
            all,
            &files,
            &module_directory,
            &format!("{call}."),
            depth + 1,
            observed,
            warnings,
        )?;
    }
    Ok(())
}

/// Declared resources of one module's files, ids relative to the module.
fn parse_module_files(
    files: &[InputFile],
    observed: &mut Vec<ObservedResource>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    for file in files {
        if file.relative.to_ascii_lowercase().ends_with(".tf.json") {
            for block in json_blocks(file, warnings)? {
                declared_block(&block, &file.relative, observed, warnings);
            }
            continue;
        }
        let text = file.text()?;
        let body = parse_body(&file.path, text)?;
        for structure in body.into_iter() {
            match structure {
                Structure::Block(block) => {
                    declared_block(&block, &file.relative, observed, warnings)
                }
                Structure::Attribute(attribute) => warnings.push(format!(
                    "{}: top-level attribute {:?} is not valid Terraform; skipped",
                    file.relative,
                    attribute.key.as_str()
                )),
            }
        }
    }
    Ok(())
}

/// Parse one file's HCL, reporting syntax errors with the file and line.
fn parse_body(path: &Path, text: &str) -> Result<Body> {
    if let Some(line) = excessive_nesting_line(text) {
        return Err(IngestError::Parse {
            path: path.to_path_buf(),
            line: Some(line),
            message: format!("brackets nested more than {MAX_NESTING} deep"),
        });
    }
    hcl::parse(text).map_err(|error| match error {
        hcl::Error::Parse(parse_error) => IngestError::Parse {
            path: path.to_path_buf(),
            line: Some(parse_error.location().line()),
            message: format!(
                "HCL syntax error at column {}: {}",
                parse_error.location().column(),
                parse_error.message()
            ),
        },
        other => IngestError::Parse {
            path: path.to_path_buf(),
            line: None,
            message: other.to_string(),
        },
    })
}

/// The line where bracket nesting first exceeds [`MAX_NESTING`]. Brackets inside strings are
/// counted too; that only matters for input already far beyond anything real.
fn excessive_nesting_line(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut line = 1;
    for character in text.chars() {
        match character {
            '\n' => line += 1,
            '{' | '[' | '(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(line);
                }
            }
            '}' | ']' | ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

fn label_text(label: &BlockLabel) -> &str {
    label.as_str()
}

/// One top-level block as zero or more declared resources.
fn declared_block(
    block: &Block,
    file: &str,
    observed: &mut Vec<ObservedResource>,
    warnings: &mut Vec<String>,
) {
    let labels: Vec<&str> = block.labels.iter().map(label_text).collect();
    let block_type = block.identifier.as_str();
    let file_label = |resource: ObservedResource| resource.with_label("terraform.file", file);
    match (block_type, labels.as_slice()) {
        ("resource", [resource_type, name]) | ("data", [resource_type, name]) => {
            let mode = if block_type == "resource" {
                "managed"
            } else {
                "data"
            };
            let Ok((kind, id)) = terraform::kind_and_local_address(mode, resource_type, name)
            else {
                return;
            };
            let attributes = body_value(&block.body, true);
            let facts = terraform::InstanceFacts {
                mode,
                resource_type,
                name,
                module: None,
                provider: None,
            };
            observed.push(file_label(terraform::instance_resource(
                &facts, kind, id, attributes,
            )));
        }
        ("module", [name]) => {
            let attributes = body_value(&block.body, true);
            let mut resource = ObservedResource::new(
                MODULE_KIND,
                format!("module.{name}"),
                Layer::Declared,
                attributes,
            )
            .with_name(*name);
            if let Some(Value::String(source)) = resource.attrs.get("source") {
                let source = source.clone();
                resource = resource.with_label("terraform.module_source", source);
            }
            observed.push(file_label(resource));
        }
        ("variable", [name]) => {
            let mut attributes = body_value(&block.body, false);
            // A secret-looking variable without `sensitive = true` is still a secret.
            if is_sensitive(&attributes) || looks_secret(name) {
                redact_field(&mut attributes, "default");
            }
            observed.push(file_label(
                ObservedResource::new(
                    VARIABLE_KIND,
                    format!("var.{name}"),
                    Layer::Declared,
                    attributes,
                )
                .with_name(*name),
            ));
        }
        ("output", [name]) => {
            let mut attributes = body_value(&block.body, true);
            if is_sensitive(&attributes) {
                redact_field(&mut attributes, "value");
            }
            observed.push(file_label(
                ObservedResource::new(
                    OUTPUT_KIND,
                    format!("output.{name}"),
                    Layer::Declared,
                    attributes,
                )
                .with_name(*name),
            ));
        }
        ("locals", []) => {
            for attribute in block.body.attributes() {
                let name = attribute.key.as_str();
                let value = attribute_value(name, &attribute.expr, true);
                observed.push(file_label(
                    ObservedResource::new(
                        LOCAL_KIND,
                        format!("local.{name}"),
                        Layer::Declared,
                        json!({ "value": value }),
                    )
                    .with_name(name),
                ));
            }
        }
        ("provider", [name]) => {
            let attributes = body_value(&block.body, true);
            let id = match attributes.get("alias").and_then(Value::as_str) {
                Some(alias) => format!("provider.{name}.{alias}"),
                None => format!("provider.{name}"),
            };
            observed.push(file_label(
                ObservedResource::new(PROVIDER_KIND, id, Layer::Declared, attributes)
                    .with_name(*name),
            ));
        }
        // Settings of the configuration itself, not things it declares.
        ("terraform", _) => {}
        _ => warnings.push(format!(
            "{file}: {block_type} block {labels:?} is not modelled; skipped"
        )),
    }
}

fn is_sensitive(attributes: &Value) -> bool {
    attributes.get("sensitive") == Some(&Value::Bool(true))
}

/// Redact a literal field; an expression only names where the value comes from.
fn redact_field(attributes: &mut Value, field: &str) {
    if let Some(value) = attributes.get_mut(field) {
        if !is_expression(value) {
            terraform::redact_in_place(value);
        }
    }
}

/// A body as a JSON object: attributes by name, nested blocks as arrays under their type.
/// `redact_secret_names` is off for variable blocks, whose attribute names are fixed.
fn body_value(body: &Body, redact_secret_names: bool) -> Value {
    let mut object = Map::new();
    for structure in body.iter() {
        match structure {
            Structure::Attribute(attribute) => {
                let name = attribute.key.as_str();
                let value = if redact_secret_names {
                    attribute_value(name, &attribute.expr, true)
                } else {
                    expression_value(&attribute.expr)
                };
                object.insert(name.to_string(), value);
            }
            Structure::Block(block) => {
                let mut nested = body_value(&block.body, redact_secret_names);
                if !block.labels.is_empty() {
                    if let Value::Object(fields) = &mut nested {
                        let labels = block.labels.iter().map(label_text).collect::<Vec<_>>();
                        fields.insert("labels".to_string(), json!(labels));
                    }
                }
                let entry = object
                    .entry(block.identifier.as_str().to_string())
                    .or_insert_with(|| Value::Array(Vec::new()));
                match entry {
                    Value::Array(blocks) => blocks.push(nested),
                    // An attribute and a block of the same name: keep both, the block listed.
                    other => *other = json!([other.clone(), nested]),
                }
            }
        }
    }
    Value::Object(object)
}

/// An attribute's value, redacted when its name looks secret and it is a literal (an
/// expression is a reference to the secret, not the secret).
fn attribute_value(name: &str, expression: &Expression, redact_secret_names: bool) -> Value {
    let value = expression_value(expression);
    // A boolean hides nothing (`skip_credentials_validation = true` is a switch, not a
    // credential), and redacting it would hide a real configuration change.
    if redact_secret_names && looks_secret(name) && !is_expression(&value) && !value.is_boolean() {
        return redact_literals(value);
    }
    value
}

/// Whether a name (attribute, variable) announces a secret: password, token, private_key, ...
pub(crate) fn looks_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_NAME_FRAGMENTS
        .iter()
        .any(|fragment| name.contains(fragment))
}

fn is_expression(value: &Value) -> bool {
    matches!(value, Value::Object(object) if object.len() == 1 && object.contains_key("expression"))
}

fn redact_literals(mut value: Value) -> Value {
    terraform::redact_in_place(&mut value);
    value
}

/// A literal as its JSON value; anything else as `{"expression": "<HCL text>"}`. Collections
/// mixing both keep their literal parts as values.
fn expression_value(expression: &Expression) -> Value {
    match expression {
        Expression::Null => Value::Null,
        Expression::Bool(flag) => Value::Bool(*flag),
        Expression::Number(number) => serde_json::to_value(number).unwrap_or(Value::Null),
        Expression::String(text) => Value::String(text.clone()),
        Expression::Array(items) => Value::Array(items.iter().map(expression_value).collect()),
        Expression::Object(entries) => {
            let mut object = Map::new();
            for (key, value) in entries {
                let key = match key {
                    ObjectKey::Identifier(identifier) => identifier.as_str().to_string(),
                    ObjectKey::Expression(Expression::String(text)) => text.clone(),
                    ObjectKey::Expression(other) => expression_text(other),
                    other => hcl::format::to_string(other).unwrap_or_default(),
                };
                let value = attribute_value(&key, value, true);
                object.insert(key, value);
            }
            Value::Object(object)
        }
        Expression::TemplateExpr(template) => match template_literal(template) {
            Some(text) => Value::String(text),
            None => json!({ "expression": expression_text(expression) }),
        },
        Expression::Parenthesis(inner) if !is_expression(&expression_value(inner)) => {
            expression_value(inner)
        }
        _ => json!({ "expression": expression_text(expression) }),
    }
}

/// The text of a template with no interpolation or directive, heredoc indentation removed.
fn template_literal(template: &TemplateExpr) -> Option<String> {
    let (raw, heredoc) = match template {
        TemplateExpr::QuotedString(raw) => (raw.as_str(), None),
        TemplateExpr::Heredoc(heredoc) => (heredoc.template.as_str(), Some(heredoc)),
    };
    if raw.contains("${") || raw.contains("%{") {
        return None;
    }
    match heredoc {
        Some(Heredoc {
            strip: HeredocStripMode::Indent,
            ..
        }) => Some(dedent(raw)),
        Some(_) => Some(raw.to_string()),
        // Quoted templates keep their escapes raw; only plain ones are literal enough.
        None if raw.contains('\\') => None,
        None => Some(raw.to_string()),
    }
}

/// Remove the indentation common to all non-blank lines, as `<<-` heredocs do.
fn dedent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    text.split_inclusive('\n')
        .map(|line| {
            if line.trim().is_empty() {
                // Blank lines keep only their line break, whatever their indentation.
                &line[line.trim_end_matches(['\n', '\r']).len()..]
            } else {
                line.get(indent..).unwrap_or(line.trim_start())
            }
        })
        .collect()
}

/// An expression formatted back to HCL text.
fn expression_text(expression: &Expression) -> String {
    // Formatting an in-memory expression to a string does not fail (hcl-rs documents it).
    hcl::format::to_string(expression).unwrap_or_else(|error| format!("<unprintable: {error}>"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::InputLocation;
    use chrono::{TimeZone, Utc};
    use groundtruth_engine::canonical::{self, REDACTED_MARKER};
    use tokio_util::sync::CancellationToken;

    const PROJECT: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/terraform/hcl"
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

    async fn scrape_path(path: &Path) -> Result<Observation> {
        TerraformHclSource::new("hcl", Input::new(InputLocation::Path(path.to_path_buf())))
            .scrape(&context())
            .await
    }

    async fn scrape() -> Observation {
        scrape_path(Path::new(PROJECT))
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
    async fn the_project_declares_what_its_files_say() {
        let observation = scrape().await;
        assert_eq!(
            observation.warnings,
            vec!["main.tf: moved block [] is not modelled; skipped".to_string()]
        );
        let keys: Vec<(&str, &str)> = observation
            .resources
            .iter()
            .map(|resource| (resource.kind.as_str(), resource.id.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![
                (
                    "aws_cloudwatch_log_group",
                    "aws_cloudwatch_log_group.service"
                ),
                ("aws_db_instance", "aws_db_instance.orders"),
                ("aws_lambda_function", "aws_lambda_function.order_processor"),
                ("aws_security_group", "aws_security_group.db"),
                ("aws_sqs_queue", "aws_sqs_queue.orders"),
                // The local module `./modules/dlq` is read, its addresses under the call.
                ("aws_sqs_queue", "module.dlq.aws_sqs_queue.dead_letter"),
                ("aws_subnet", "aws_subnet.private"),
                (
                    "data.aws_caller_identity",
                    "data.aws_caller_identity.current"
                ),
                ("terraform_local", "local.common_tags"),
                ("terraform_local", "local.services"),
                ("terraform_module", "module.dlq"),
                ("terraform_output", "module.dlq.output.arn"),
                ("terraform_output", "output.db_master_password"),
                ("terraform_output", "output.queue_url"),
                ("terraform_provider", "provider.aws"),
                ("terraform_variable", "module.dlq.var.max_receive_count"),
                ("terraform_variable", "module.dlq.var.queue_name"),
                ("terraform_variable", "module.dlq.var.source_queue_arn"),
                ("terraform_variable", "var.db_password"),
                ("terraform_variable", "var.environment"),
                ("terraform_variable", "var.private_subnet_cidrs"),
            ]
        );
    }

    #[tokio::test]
    async fn literals_are_values_and_expressions_keep_their_text() {
        let observation = scrape().await;
        let queue = find(&observation, "aws_sqs_queue", "aws_sqs_queue.orders");
        assert_eq!(queue.attrs["name"], json!("orders"));
        assert_eq!(queue.attrs["visibility_timeout_seconds"], json!(30));
        assert_eq!(queue.attrs["sqs_managed_sse_enabled"], json!(true));
        assert_eq!(
            queue.attrs["tags"],
            json!({"expression": "local.common_tags"})
        );
        assert_eq!(label(queue, "terraform.file"), Some("main.tf"));
        assert_eq!(label(queue, "live.kind"), Some("aws_sqs_queue"));
        assert_eq!(label(queue, "live.name"), Some("orders"));
        assert_eq!(label(queue, "live.id"), None);

        let subnet = find(&observation, "aws_subnet", "aws_subnet.private");
        assert_eq!(
            subnet.attrs["count"],
            json!({"expression": "length(var.private_subnet_cidrs)"})
        );
        assert_eq!(
            subnet.attrs["cidr_block"],
            json!({"expression": "var.private_subnet_cidrs[count.index]"})
        );
        let logs = find(
            &observation,
            "aws_cloudwatch_log_group",
            "aws_cloudwatch_log_group.service",
        );
        assert_eq!(
            logs.attrs["for_each"],
            json!({"expression": "local.services"})
        );
        assert_eq!(
            logs.attrs["name"],
            json!({"expression": "\"/orders/${each.key}\""})
        );

        let function = find(
            &observation,
            "aws_lambda_function",
            "aws_lambda_function.order_processor",
        );
        assert_eq!(
            function.attrs["depends_on"],
            json!([{"expression": "aws_sqs_queue.orders"}])
        );
        assert_eq!(
            function.attrs["environment"][0]["variables"]["LOG_LEVEL"],
            json!("info")
        );
        assert_eq!(
            function.attrs["environment"][0]["variables"]["ORDERS_QUEUE_URL"],
            json!({"expression": "aws_sqs_queue.orders.url"})
        );
        assert_eq!(
            function.attrs["lifecycle"],
            json!([{"ignore_changes": [{"expression": "filename"}]}])
        );
        assert_eq!(
            function.attrs["description"],
            json!("Consumes the orders queue.\nOwned by payments.\n")
        );

        let group = find(&observation, "aws_security_group", "aws_security_group.db");
        let ingress = group.attrs["ingress"].as_array().expect("ingress blocks");
        assert_eq!(ingress.len(), 2);
        assert_eq!(ingress[0]["from_port"], json!(5432));
        assert_eq!(ingress[1]["cidr_blocks"], json!(["10.20.0.0/16"]));
        assert_eq!(
            group.attrs["lifecycle"],
            json!([{"create_before_destroy": true}])
        );

        let data = find(
            &observation,
            "data.aws_caller_identity",
            "data.aws_caller_identity.current",
        );
        assert_eq!(label(data, "terraform.mode"), Some("data"));
        assert_eq!(label(data, "live.kind"), None);

        let module = find(&observation, "terraform_module", "module.dlq");
        assert_eq!(module.attrs["source"], json!("./modules/dlq"));
        assert_eq!(
            label(module, "terraform.module_source"),
            Some("./modules/dlq")
        );
        assert_eq!(module.attrs["max_receive_count"], json!(5));

        let variable = find(
            &observation,
            "terraform_variable",
            "var.private_subnet_cidrs",
        );
        assert_eq!(
            variable.attrs["type"],
            json!({"expression": "list(string)"})
        );
        assert_eq!(
            variable.attrs["default"],
            json!(["10.20.1.0/24", "10.20.2.0/24"])
        );
        assert_eq!(label(variable, "terraform.file"), Some("variables.tf"));
        let services = find(&observation, "terraform_local", "local.services");
        assert_eq!(services.attrs["value"], json!(["api", "worker"]));
    }

    #[tokio::test]
    async fn secrets_are_redacted() {
        let observation = scrape().await;
        let text: String = observation
            .resources
            .iter()
            .map(|resource| json!({"attrs": resource.attrs, "labels": resource.labels}).to_string())
            .collect();
        for secret in ["hcl-fixture-default-password", "hcl-fixture-literal-token"] {
            assert!(!text.contains(secret), "{secret} leaked");
        }
        let variable = find(&observation, "terraform_variable", "var.db_password");
        assert_eq!(
            variable.attrs["default"],
            canonical::redacted(&json!("hcl-fixture-default-password"))
        );
        assert_eq!(variable.attrs["sensitive"], json!(true));
        let database = find(&observation, "aws_db_instance", "aws_db_instance.orders");
        // A reference to the secret is not the secret.
        assert_eq!(
            database.attrs["password"],
            json!({"expression": "var.db_password"})
        );
        assert_eq!(label(database, "live.name"), Some("orders-db"));
        let provider = find(&observation, "terraform_provider", "provider.aws");
        assert_eq!(provider.attrs["token"][REDACTED_MARKER], json!(true));
        assert_eq!(provider.attrs["region"], json!("eu-west-1"));
        let output = find(
            &observation,
            "terraform_output",
            "output.db_master_password",
        );
        assert_eq!(
            output.attrs["value"],
            json!({"expression": "var.db_password"})
        );
    }

    #[tokio::test]
    async fn syntax_errors_name_the_file_and_line() {
        let directory = tempfile::tempdir().expect("tempdir");
        let path = directory.path().join("main.tf");
        std::fs::write(
            &path,
            "resource \"aws_sqs_queue\" \"orders\" {\n  name = \"orders\"\n  visibility = = 3\n}\n",
        )
        .expect("write");
        let error = scrape_path(directory.path())
            .await
            .expect_err("invalid HCL");
        let IngestError::Parse { line, .. } = &error else {
            panic!("expected Parse, got {error:?}")
        };
        assert_eq!(*line, Some(3));
        assert!(error.to_string().contains("main.tf:3:"), "{error}");
    }

    #[tokio::test]
    async fn deep_nesting_and_empty_directories_are_refused() {
        let directory = tempfile::tempdir().expect("tempdir");
        let error = scrape_path(directory.path()).await.expect_err("no files");
        assert!(matches!(error, IngestError::Invalid { .. }), "{error:?}");
        let path = directory.path().join("main.tf");
        std::fs::write(
            &path,
            format!(
                "locals {{\n  x = {}1{}\n}}\n",
                "[".repeat(100_000),
                "]".repeat(100_000)
            ),
        )
        .expect("write");
        let error = scrape_path(directory.path()).await.expect_err("too deep");
        assert!(
            matches!(&error, IngestError::Parse { line: Some(2), .. }),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn duplicate_addresses_keep_the_first_with_a_warning() {
        let directory = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            directory.path().join("a.tf"),
            "resource \"aws_sqs_queue\" \"q\" {\n  name = \"first\"\n}\n",
        )
        .expect("write");
        std::fs::write(
            directory.path().join("b.tf"),
            "resource \"aws_sqs_queue\" \"q\" {\n  name = \"second\"\n}\n",
        )
        .expect("write");
        let observation = scrape_path(directory.path()).await.expect("parses");
        assert_eq!(observation.resources.len(), 1);
        assert_eq!(observation.resources[0].attrs["name"], json!("first"));
        assert_eq!(observation.warnings.len(), 1, "{:?}", observation.warnings);
    }

    #[tokio::test]
    async fn kubernetes_resources_and_literal_secrets() {
        let directory = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            directory.path().join("main.tf"),
            r#"variable "api_token" {
  default = "plain-named-token"
}

resource "kubernetes_deployment_v1" "web" {
  metadata {
    name      = "web"
    namespace = "shop"
  }
  spec {
    replicas = 2
  }
}

output "admin_password" {
  value     = "literal-output-secret"
  sensitive = true
}
"#,
        )
        .expect("write");
        let observation = scrape_path(directory.path()).await.expect("parses");
        let deployment = find(
            &observation,
            "kubernetes_deployment_v1",
            "kubernetes_deployment_v1.web",
        );
        assert_eq!(label(deployment, "live.kind"), Some("k8s/apps/Deployment"));
        assert_eq!(label(deployment, "live.id"), Some("shop/web"));
        assert_eq!(deployment.attrs["spec"], json!([{"replicas": 2}]));
        let variable = find(&observation, VARIABLE_KIND, "var.api_token");
        assert_eq!(
            variable.attrs["default"],
            canonical::redacted(&json!("plain-named-token"))
        );
        let output = find(&observation, OUTPUT_KIND, "output.admin_password");
        assert_eq!(
            output.attrs["value"],
            canonical::redacted(&json!("literal-output-secret"))
        );
    }

    #[test]
    fn heredocs_are_dedented() {
        assert_eq!(dedent("    a\n      b\n\n    c\n"), "a\n  b\n\nc\n");
    }

    #[tokio::test]
    async fn local_modules_are_followed_and_json_configuration_is_read() {
        let root = tempfile::tempdir().expect("tempdir");
        let write = |relative: &str, text: &str| {
            let path = root.path().join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "live/main.tf",
            "module \"queue\" {\n  source = \"./modules/queue\"\n}\n\
             module \"shared\" {\n  source = \"../shared\"\n}\n\
             module \"gone\" {\n  source = \"./modules/gone\"\n}\n\
             module \"registry\" {\n  source = \"terraform-aws-modules/sqs/aws\"\n}\n",
        );
        write(
            "live/modules/queue/main.tf",
            "resource \"aws_sqs_queue\" \"this\" {\n  name = \"jobs\"\n}\n",
        );
        // Outside the input, beside it on disk, as `../../` in a module's examples.
        write(
            "shared/main.tf.json",
            r#"{"resource": {"aws_s3_bucket": {"logs": {"bucket": "${var.name}-logs"}}},
               "variable": {"name": {"default": "shop"}}}"#,
        );
        let observation = scrape_path(&root.path().join("live"))
            .await
            .expect("parses");
        let queue = find(
            &observation,
            "aws_sqs_queue",
            "module.queue.aws_sqs_queue.this",
        );
        assert_eq!(queue.attrs["name"], json!("jobs"));
        assert_eq!(queue.labels["terraform.module"], "module.queue");
        let bucket = find(
            &observation,
            "aws_s3_bucket",
            "module.shared.aws_s3_bucket.logs",
        );
        assert_eq!(
            bucket.attrs["bucket"],
            json!({"expression": "\"${var.name}-logs\""})
        );
        find(&observation, VARIABLE_KIND, "module.shared.var.name");
        find(&observation, MODULE_KIND, "module.registry");
        assert_eq!(
            observation.warnings,
            vec!["module.gone: local module source ./modules/gone has no .tf files under the input or beside it; its contents are not read".to_string()]
        );
    }
}
