//! The `flagd` source: OpenFeature flagd flag definition files, as the declared layer.
//!
//! It reads a flag definition file, or every `.json`, `.yaml` and `.yml` file under a
//! directory (flagd accepts both), following the flagd schema: `{"flags": {...},
//! "$evaluators": {...}, "metadata": {...}}`. Every flag becomes kind `flagd/flag` with the
//! flag key as id (`new-checkout`) and name. attrs: `state`, `variants`, `defaultVariant`,
//! `targeting` and `metadata` as written, except that each `{"$ref": "name"}` in `targeting`
//! is replaced by the `$evaluators` entry it names (recursively, so an evaluator may refer to
//! another), which makes a change to a shared evaluator show up on every flag that uses it;
//! and `metadata` is the file's top-level `metadata` overlaid by the flag's own, as flagd
//! reports it. labels: `flagd.file` (relative path) and `flagd.state`. Nothing is redacted:
//! flag definitions are not secrets. Warnings (the flag is still recorded, as declared): a
//! state other than `ENABLED`/`DISABLED`, a `defaultVariant` that is not one of the
//! `variants` (flagd would reject either flag), a `$ref` to an unknown evaluator or a cycle of
//! references (left as written), and a flag key already defined in an earlier file (the
//! first, in path order, is kept). Errors: a file that is not an object, without a `flags`
//! object, or with a flag that is not an object.

use std::collections::BTreeMap;

use groundtruth_engine::model::{Layer, Observation, ObservedResource};
use serde_json::{Map, Value};

use crate::error::{IngestError, Result};
use crate::input::{self, Input, InputFile};
use crate::source::{read_and_parse, ScrapeContext, Source};
use crate::yaml;

/// Kind of a flag.
pub const FLAG_KIND: &str = "flagd/flag";
/// Label holding the definition file's path relative to the configured location.
pub const FILE_LABEL: &str = "flagd.file";
/// Label holding the flag's state.
pub const STATE_LABEL: &str = "flagd.state";

/// The states the flagd schema allows.
const STATES: &[&str] = &["ENABLED", "DISABLED"];

/// Evaluators referring to evaluators rarely go deeper than two; past this a cycle is assumed.
const MAX_REF_DEPTH: usize = 16;

/// Most JSON nodes `$ref` resolution may copy per file: evaluators that each refer several
/// times to the next would otherwise expand like a YAML alias bomb.
const MAX_RESOLVED_NODES: usize = 1_000_000;

/// Reads OpenFeature flagd flag definition files.
#[derive(Debug, Clone)]
pub struct FlagdSource {
    name: String,
    input: Input,
}

impl FlagdSource {
    /// A source called `name` reading `input`.
    pub fn new(name: impl Into<String>, input: Input) -> Self {
        Self {
            name: name.into(),
            input,
        }
    }
}

fn is_flag_file(relative: &str) -> bool {
    input::has_extension(relative, &["json", "yaml", "yml"])
}

#[async_trait::async_trait]
impl Source for FlagdSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn source_type(&self) -> &'static str {
        "flagd"
    }

    fn input(&self) -> Option<&Input> {
        Some(&self.input)
    }

    async fn scrape(&self, context: &ScrapeContext) -> Result<Observation> {
        read_and_parse(&self.name, &self.input, is_flag_file, context, |files| {
            parse_files(&files)
        })
        .await
    }

    fn parse_content(&self, files: Vec<InputFile>) -> Option<Result<Observation>> {
        Some(parse_files(&files))
    }
}

/// Every flag of every file, sorted by key, first definition kept.
pub fn parse_files(files: &[InputFile]) -> Result<Observation> {
    let mut warnings = Vec::new();
    let mut seen: BTreeMap<String, (ObservedResource, String)> = BTreeMap::new();
    for file in files {
        for resource in file_flags(file, &mut warnings)? {
            if let Some((_, first_file)) = seen.get(&resource.id) {
                warnings.push(format!(
                    "flag {} in {} is also defined in {first_file}; kept the first",
                    resource.id, file.relative
                ));
            } else {
                seen.insert(resource.id.clone(), (resource, file.relative.clone()));
            }
        }
    }
    Ok(Observation {
        warnings,
        ..Observation::complete(seen.into_values().map(|(resource, _)| resource).collect())
    })
}

fn invalid(file: &InputFile, message: String) -> IngestError {
    IngestError::Invalid {
        path: file.path.clone(),
        message,
    }
}

fn parse_file(file: &InputFile) -> Result<Value> {
    if input::has_extension(&file.relative, &["json"]) {
        crate::terraform::parse_json(&file.path, file.text()?.as_bytes())
    } else {
        yaml::parse_document(file)
    }
}

fn file_flags(file: &InputFile, warnings: &mut Vec<String>) -> Result<Vec<ObservedResource>> {
    let Value::Object(root) = parse_file(file)? else {
        return Err(invalid(
            file,
            "not a flagd definition: the document is not an object".to_string(),
        ));
    };
    let Some(Value::Object(flags)) = root.get("flags") else {
        return Err(invalid(
            file,
            "not a flagd definition: no \"flags\" object".to_string(),
        ));
    };
    let empty = Map::new();
    let evaluators = match root.get("$evaluators") {
        Some(Value::Object(evaluators)) => evaluators,
        _ => &empty,
    };
    let set_metadata = match root.get("metadata") {
        Some(Value::Object(metadata)) => metadata,
        _ => &empty,
    };
    let mut expansion = Expansion {
        evaluators,
        sizes: evaluators
            .iter()
            .map(|(name, evaluator)| (name.as_str(), node_count(evaluator)))
            .collect(),
        budget: MAX_RESOLVED_NODES,
        exhausted: false,
    };
    let mut resources = Vec::new();
    for (key, flag) in flags {
        let Value::Object(flag) = flag else {
            return Err(invalid(file, format!("flag {key} is not an object")));
        };
        let context = format!("{}: flag {key}", file.relative);
        let state = flag.get("state").cloned().unwrap_or(Value::Null);
        let state_text = state.as_str().unwrap_or_default().to_string();
        if !STATES.contains(&state_text.as_str()) {
            warnings.push(format!(
                "{context}: state {state} is not ENABLED or DISABLED; flagd would reject the flag"
            ));
        }
        let variants = flag.get("variants").cloned().unwrap_or(Value::Null);
        let default_variant = flag.get("defaultVariant").cloned().unwrap_or(Value::Null);
        match (&default_variant, &variants) {
            // A null default lets the application's own default apply.
            (Value::Null, _) => {}
            (Value::String(name), Value::Object(variants)) if variants.contains_key(name) => {}
            _ => warnings.push(format!(
                "{context}: defaultVariant {default_variant} is not one of its variants; flagd would reject the flag"
            )),
        }
        let mut attrs = Map::new();
        attrs.insert("state".to_string(), state);
        attrs.insert("variants".to_string(), variants);
        attrs.insert("defaultVariant".to_string(), default_variant);
        if let Some(targeting) = flag.get("targeting") {
            let mut targeting = targeting.clone();
            expansion.resolve(&mut targeting, 0, &context, warnings);
            attrs.insert("targeting".to_string(), targeting);
        }
        let mut metadata = set_metadata.clone();
        if let Some(Value::Object(own)) = flag.get("metadata") {
            metadata.extend(own.clone());
        }
        if !metadata.is_empty() {
            attrs.insert("metadata".to_string(), Value::Object(metadata));
        }
        resources.push(
            ObservedResource::new(
                FLAG_KIND,
                key.clone(),
                Layer::Declared,
                Value::Object(attrs),
            )
            .with_name(key.clone())
            .with_label(FILE_LABEL, file.relative.clone())
            .with_label(STATE_LABEL, state_text),
        );
    }
    Ok(resources)
}

/// The evaluator name of a `{"$ref": "name"}` object.
fn reference(value: &Value) -> Option<&str> {
    match value {
        Value::Object(object) if object.len() == 1 => object.get("$ref")?.as_str(),
        _ => None,
    }
}

fn node_count(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(node_count).sum(),
        Value::Object(object) => object.values().map(node_count).sum(),
        _ => 0,
    }
}

/// `$ref` resolution for one file, with a bound on how much it may copy.
struct Expansion<'a> {
    evaluators: &'a Map<String, Value>,
    sizes: BTreeMap<&'a str, usize>,
    budget: usize,
    exhausted: bool,
}

impl Expansion<'_> {
    fn resolve(
        &mut self,
        value: &mut Value,
        depth: usize,
        context: &str,
        warnings: &mut Vec<String>,
    ) {
        if let Some(name) = reference(value) {
            let size = self.sizes.get(name).copied().unwrap_or(0);
            match self.evaluators.get(name) {
                Some(_) if depth >= MAX_REF_DEPTH => warnings.push(format!(
                    "{context}: $ref {name} nests too deeply (a cycle?); left as written"
                )),
                Some(_) if size > self.budget => {
                    // One warning per file is enough; a bomb would otherwise flood them.
                    if !self.exhausted {
                        self.exhausted = true;
                        warnings.push(format!(
                            "{context}: $ref {name} would expand past {MAX_RESOLVED_NODES} nodes; this and later references left as written"
                        ));
                    }
                }
                Some(evaluator) => {
                    self.budget -= size;
                    *value = evaluator.clone();
                    self.resolve(value, depth + 1, context, warnings);
                }
                None => warnings.push(format!(
                    "{context}: $ref to unknown evaluator {name}; left as written"
                )),
            }
            return;
        }
        match value {
            Value::Array(items) => {
                for item in items {
                    self.resolve(item, depth, context, warnings);
                }
            }
            Value::Object(object) => {
                for item in object.values_mut() {
                    self.resolve(item, depth, context, warnings);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::InputLocation;
    use chrono::{TimeZone, Utc};
    use serde_json::json;
    use std::path::PathBuf;
    use tokio_util::sync::CancellationToken;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/flagd/shop");

    fn context() -> ScrapeContext {
        ScrapeContext {
            started_at: Utc
                .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
                .single()
                .expect("valid time"),
            cancel: CancellationToken::new(),
        }
    }

    async fn scrape(path: PathBuf) -> Observation {
        FlagdSource::new("flags", Input::new(InputLocation::Path(path)))
            .scrape(&context())
            .await
            .expect("fixture parses")
    }

    fn find<'a>(observation: &'a Observation, key: &str) -> &'a ObservedResource {
        observation
            .resources
            .iter()
            .find(|resource| resource.id == key)
            .unwrap_or_else(|| panic!("no flag {key}"))
    }

    fn file(relative: &str, text: &str) -> InputFile {
        InputFile {
            path: PathBuf::from(format!("/repo/{relative}")),
            relative: relative.to_string(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[tokio::test]
    async fn flags_with_resolved_evaluators_and_merged_metadata() {
        let observation = scrape(PathBuf::from(FIXTURES).join("flags.json")).await;
        let keys: Vec<&str> = observation
            .resources
            .iter()
            .map(|resource| resource.id.as_str())
            .collect();
        assert_eq!(
            keys,
            vec![
                "header-color",
                "legacy-recommendations",
                "new-checkout",
                "payment-provider",
                "search-page-size"
            ]
        );
        assert!(
            observation.warnings.is_empty(),
            "{:?}",
            observation.warnings
        );
        assert!(observation
            .resources
            .iter()
            .all(|resource| resource.kind == FLAG_KIND));

        let internal_users = json!({"ends_with": [{"var": "email"}, "@acme.example"]});
        let checkout = find(&observation, "new-checkout");
        assert_eq!(checkout.name.as_deref(), Some("new-checkout"));
        assert_eq!(
            checkout.attrs,
            json!({
                "state": "ENABLED",
                "variants": {"on": true, "off": false},
                "defaultVariant": "off",
                "targeting": {"if": [
                    internal_users,
                    "on",
                    {"fractional": [
                        {"cat": [{"var": "$flagd.flagKey"}, {"var": "userId"}]},
                        ["on", 10],
                        ["off", 90]
                    ]}
                ]},
                "metadata": {"flagSetId": "shop", "version": "3", "owner": "team-checkout"},
            })
        );
        assert_eq!(
            checkout.labels,
            BTreeMap::from([
                (FILE_LABEL.to_string(), "flags.json".to_string()),
                (STATE_LABEL.to_string(), "ENABLED".to_string()),
            ])
        );
        // An evaluator referring to another one is resolved all the way down.
        assert_eq!(
            find(&observation, "header-color").attrs["targeting"],
            json!({"if": [
                {"or": [internal_users, {"in": [{"var": "userId"}, ["u-1001", "u-1002", "u-1003"]]}]},
                "green",
                null
            ]})
        );
        let legacy = find(&observation, "legacy-recommendations");
        assert_eq!(legacy.labels[STATE_LABEL], "DISABLED");
        assert_eq!(legacy.attrs["state"], json!("DISABLED"));
        assert!(legacy.attrs.get("targeting").is_none());
        assert_eq!(
            legacy.attrs["metadata"],
            json!({"flagSetId": "shop", "version": "2025-05-30", "owner": "team-discovery", "removeAfter": "2025-09-01"})
        );
        assert_eq!(
            find(&observation, "payment-provider").attrs["variants"]["adyen"],
            json!({"name": "adyen", "timeoutMs": 5000})
        );
    }

    #[tokio::test]
    async fn directory_yaml_validation_warnings_and_duplicates() {
        let observation = scrape(PathBuf::from(FIXTURES)).await;
        assert_eq!(observation.resources.len(), 7);
        assert_eq!(
            observation.warnings,
            vec![
                "experiments.yaml: flag free-shipping-threshold: defaultVariant \"medium\" is not one of its variants; flagd would reject the flag".to_string(),
                "experiments.yaml: flag onboarding-tour: state \"enabled\" is not ENABLED or DISABLED; flagd would reject the flag".to_string(),
                "flag search-page-size in flags.json is also defined in experiments.yaml; kept the first".to_string(),
            ]
        );
        let size = find(&observation, "search-page-size");
        assert_eq!(size.labels[FILE_LABEL], "experiments.yaml");
        assert_eq!(size.attrs["variants"], json!({"small": 20, "large": 100}));
        let tour = find(&observation, "onboarding-tour");
        assert_eq!(tour.labels[STATE_LABEL], "enabled");
        assert_eq!(tour.attrs["variants"], json!({"on": true, "off": false}));
    }

    #[test]
    fn unknown_and_cyclic_refs_warn_and_stay() {
        let observation = parse_files(&[file(
            "flags.json",
            r#"{"flags": {"f": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "a",
                "targeting": {"and": [{"$ref": "missing"}, {"$ref": "loop"}]}}},
               "$evaluators": {"loop": {"not": {"$ref": "loop"}}}}"#,
        )])
        .unwrap();
        assert_eq!(observation.warnings.len(), 2, "{:?}", observation.warnings);
        assert_eq!(
            observation.warnings[0],
            "flags.json: flag f: $ref to unknown evaluator missing; left as written"
        );
        assert!(observation.warnings[1].contains("nests too deeply"));
        assert_eq!(
            observation.resources[0].attrs["targeting"]["and"][0],
            json!({"$ref": "missing"})
        );
    }

    #[test]
    fn non_objects_are_errors_naming_the_file() {
        let error = parse_files(&[file("flags.json", "[1, 2]")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "/repo/flags.json: not a flagd definition: the document is not an object"
        );
        let error = parse_files(&[file("flags.yaml", "flags:\n  f: on\n")])
            .unwrap_err()
            .to_string();
        assert_eq!(error, "/repo/flags.yaml: flag f is not an object");
        let error = parse_files(&[file("flags.json", "{\"metadata\": {}}")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "/repo/flags.json: not a flagd definition: no \"flags\" object"
        );
        let error = parse_files(&[file("flags.json", "{\"flags\": {\n\"f\": ")])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("/repo/flags.json:2: invalid JSON"),
            "{error}"
        );
    }

    #[test]
    fn ref_bombs_are_cut_off_quickly() {
        let mut evaluators = Map::new();
        evaluators.insert("e0".to_string(), json!({"var": "x"}));
        for level in 1..=15 {
            let refs: Vec<Value> = (0..10)
                .map(|_| json!({"$ref": format!("e{}", level - 1)}))
                .collect();
            evaluators.insert(format!("e{level}"), json!({ "or": refs }));
        }
        let document = json!({
            "flags": {"f": {"state": "ENABLED", "variants": {"a": 1}, "defaultVariant": "a",
                "targeting": {"$ref": "e15"}}},
            "$evaluators": evaluators,
        });
        let started = std::time::Instant::now();
        let observation = parse_files(&[file("flags.json", &document.to_string())]).unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(60));
        assert_eq!(observation.warnings.len(), 1, "{:?}", observation.warnings);
        assert!(observation.warnings[0].contains("would expand past"));
    }
}
