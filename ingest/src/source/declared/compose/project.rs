//! What `docker compose` does to a compose file before it creates anything, so the declared
//! layer records the model compose would apply: `${VAR}` interpolation (from the `.env`
//! file beside the compose file, overlaid by the source's configured `variables`), the
//! override file beside it (`compose.override.yaml` for `compose.yaml`, ...) merged in, and
//! `include:` entries loaded as further files of the same project, and services' `extends:`
//! resolved (from the same file or another one).
//!
//! A value that interpolates a variable whose name looks secret (`*PASSWORD*`, `*TOKEN*`,
//! ...) is redacted whole, wherever it sits: a secret from `.env` must not reach the store
//! by way of a `command:` line. `environment` and `build.args` are exempt here only because
//! every value there is redacted anyway.

use std::collections::{BTreeMap, BTreeSet};

use groundtruth_engine::canonical;
use serde_json::{Map, Value};

use crate::error::{IngestError, Result};
use crate::input::{join_relative as join, parent_relative as parent, InputFile};
use crate::source::declared::terraform_hcl::looks_secret;
use crate::yaml;

/// The largest `.env`, override or included file read from disk beside a single-file input.
const MAX_SIBLING_BYTES: u64 = 16 * 1024 * 1024;
/// How deep `include:` may nest (compose rejects cycles; this also bounds them).
const MAX_INCLUDE_DEPTH: usize = 8;

/// Sequences that compose merges by appending the override's entries (the compose
/// specification's merge rules); every other sequence is replaced by the override's.
const APPENDED_SEQUENCES: &[&str] = &[
    "ports",
    "expose",
    "external_links",
    "dns",
    "dns_search",
    "tmpfs",
    "cap_add",
    "cap_drop",
    "security_opt",
    "volumes",
    "devices",
    "extra_hosts",
    "secrets",
    "configs",
    "env_file",
];

/// Lists of `KEY=VALUE` that compose merges by key, like mappings.
const KEYED_LISTS: &[&str] = &["environment", "labels", "args", "sysctls", "annotations"];

/// Top-level keys of the compose specification this source reads.
const KNOWN_TOP_LEVEL: &[&str] = &[
    "name", "version", "services", "networks", "volumes", "secrets", "configs", "include",
];

/// The files one scrape read, found by their relative path; siblings of a single-file input
/// are read from disk next to it.
pub struct Files<'a> {
    by_relative: BTreeMap<&'a str, &'a InputFile>,
}

impl<'a> Files<'a> {
    /// Index the files of one scrape.
    pub fn new(files: &'a [InputFile]) -> Self {
        Self {
            by_relative: files
                .iter()
                .map(|file| (file.relative.as_str(), file))
                .collect(),
        }
    }

    /// The file at `relative` (`/`-separated, relative to the input), beside `near` on disk
    /// when the input did not read it.
    fn find(&self, near: &InputFile, relative: &str) -> Result<Option<InputFile>> {
        if let Some(file) = self.by_relative.get(relative) {
            return Ok(Some((*file).clone()));
        }
        let file_name = relative.rsplit('/').next().unwrap_or(relative);
        let near_directory = parent(&near.relative);
        let relative_to_near = relative
            .strip_prefix(&format!("{near_directory}/"))
            .unwrap_or(if near_directory.is_empty() {
                relative
            } else {
                file_name
            });
        let Some(directory) = near.path.parent() else {
            return Ok(None);
        };
        let path = directory.join(relative_to_near);
        let Ok(metadata) = std::fs::metadata(&path) else {
            return Ok(None);
        };
        if !metadata.is_file() || !near.path.is_file() {
            return Ok(None);
        }
        if metadata.len() > MAX_SIBLING_BYTES {
            return Err(IngestError::Invalid {
                path,
                message: format!("larger than {MAX_SIBLING_BYTES} bytes"),
            });
        }
        let bytes = std::fs::read(&path).map_err(|error| IngestError::Invalid {
            path: path.clone(),
            message: format!("cannot read: {error}"),
        })?;
        Ok(Some(InputFile {
            path,
            relative: relative.to_string(),
            bytes,
        }))
    }
}

/// The override file compose reads beside `file_name`, if it has one.
fn override_name(file_name: &str) -> Option<String> {
    let (stem, extension) = file_name.rsplit_once('.')?;
    Some(format!("{stem}.override.{extension}"))
}

/// One compose file as compose models it: interpolated, with its override merged in.
pub struct Assembled {
    /// The root mapping.
    pub root: Map<String, Value>,
    /// The file the resources are attributed to.
    pub file: InputFile,
}

/// Interpolate and merge `file` (a root compose file), and load what it includes; the
/// result lists the file itself first, then included files in order.
pub fn assemble(
    file: &InputFile,
    files: &Files,
    variables: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Assembled>> {
    let directory = parent(&file.relative);
    let mut environment = BTreeMap::new();
    if let Some(env_file) = files.find(file, &join(directory, ".env"))? {
        environment = parse_env_file(&env_file)?;
    }
    environment.extend(variables.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    load(
        file,
        files,
        &environment,
        true,
        0,
        &mut seen,
        &mut out,
        warnings,
    )?;
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn load(
    file: &InputFile,
    files: &Files,
    environment: &BTreeMap<String, String>,
    with_override: bool,
    depth: usize,
    seen: &mut BTreeSet<String>,
    out: &mut Vec<Assembled>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    if !seen.insert(file.relative.clone()) {
        return Err(IngestError::Invalid {
            path: file.path.clone(),
            message: "included more than once (an include cycle?)".to_string(),
        });
    }
    let mut root = interpolated_root(file, environment, warnings)?;
    if with_override {
        let file_name = file.relative.rsplit('/').next().unwrap_or(&file.relative);
        if let Some(name) = override_name(file_name) {
            let relative = join(parent(&file.relative), &name);
            if let Some(override_file) = files.find(file, &relative)? {
                let overriding = interpolated_root(&override_file, environment, warnings)?;
                merge_maps(&mut root, overriding, "");
            }
        }
    }
    resolve_extends(&mut root, file, files, environment, warnings)?;
    for key in root.keys() {
        if !KNOWN_TOP_LEVEL.contains(&key.as_str()) && !key.starts_with("x-") {
            warnings.push(format!(
                "{}: top-level \"{key}\" is not modelled; ignored",
                file.relative
            ));
        }
    }
    let includes = root.remove("include");
    out.push(Assembled {
        root,
        file: file.clone(),
    });
    let Some(includes) = includes else {
        return Ok(());
    };
    let Value::Array(includes) = includes else {
        return Err(IngestError::Invalid {
            path: file.path.clone(),
            message: "\"include\" is not a list".to_string(),
        });
    };
    if depth >= MAX_INCLUDE_DEPTH {
        return Err(IngestError::Invalid {
            path: file.path.clone(),
            message: format!("includes nest deeper than {MAX_INCLUDE_DEPTH} files"),
        });
    }
    for entry in includes {
        let paths = match &entry {
            Value::String(path) => vec![Value::String(path.clone())],
            Value::Object(entry) => match entry.get("path") {
                Some(Value::Array(paths)) => paths.clone(),
                Some(path) => vec![path.clone()],
                None => Vec::new(),
            },
            _ => Vec::new(),
        };
        if paths.is_empty() {
            return Err(IngestError::Invalid {
                path: file.path.clone(),
                message: format!("include entry {entry} has no path"),
            });
        }
        for path in paths {
            let Some(path) = path.as_str() else {
                return Err(IngestError::Invalid {
                    path: file.path.clone(),
                    message: format!("include path {path} is not a string"),
                });
            };
            let relative = join(parent(&file.relative), path);
            let Some(included) = files.find(file, &relative)? else {
                return Err(IngestError::Invalid {
                    path: file.path.clone(),
                    message: format!("included file {path} not found"),
                });
            };
            load(
                &included,
                files,
                environment,
                false,
                depth + 1,
                seen,
                out,
                warnings,
            )?;
        }
    }
    Ok(())
}

/// Replace every service's `extends:` by the service it names merged under it, as compose
/// does: `extends: base` or `{service: base}` from the same file, `{service, file}` from
/// another file (relative to this one; its own `extends:` resolved there). The extending
/// service's values win, with the override file's merge rules.
fn resolve_extends(
    root: &mut Map<String, Value>,
    file: &InputFile,
    files: &Files,
    environment: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let Some(Value::Object(services)) = root.get("services") else {
        return Ok(());
    };
    let names: Vec<String> = services.keys().cloned().collect();
    let mut resolved: BTreeMap<String, Value> = BTreeMap::new();
    for name in names {
        let service = extended(
            file,
            files,
            environment,
            root,
            &name,
            &mut Vec::new(),
            warnings,
        )?;
        resolved.insert(name, service);
    }
    if let Some(Value::Object(services)) = root.get_mut("services") {
        for (name, service) in resolved {
            services.insert(name, service);
        }
    }
    Ok(())
}

/// Service `name` of `root` (the compose file `file`) with its `extends:` chain merged in;
/// `chain` holds the `file:service` pairs being resolved, to refuse cycles.
fn extended(
    file: &InputFile,
    files: &Files,
    environment: &BTreeMap<String, String>,
    root: &Map<String, Value>,
    name: &str,
    chain: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Result<Value> {
    let invalid = |message: String| IngestError::Invalid {
        path: file.path.clone(),
        message,
    };
    let link = format!("{}:{name}", file.relative);
    if chain.contains(&link) {
        chain.push(link);
        return Err(invalid(format!(
            "services.{name}: extends cycle ({})",
            chain.join(" -> ")
        )));
    }
    let Some(service) = root
        .get("services")
        .and_then(|services| services.get(name))
        .cloned()
    else {
        return Err(invalid(format!(
            "extends names service \"{name}\", which {} does not define",
            file.relative
        )));
    };
    let Value::Object(mut service) = service else {
        return Ok(service);
    };
    let Some(extends) = service.remove("extends") else {
        return Ok(Value::Object(service));
    };
    let (base_name, base_file) = match &extends {
        Value::String(base) => (base.clone(), None),
        Value::Object(entry) => match entry.get("service").and_then(Value::as_str) {
            Some(base) => (
                base.to_string(),
                entry
                    .get("file")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            ),
            None => {
                return Err(invalid(format!(
                    "services.{name}.extends has no \"service\""
                )))
            }
        },
        other => {
            return Err(invalid(format!(
                "services.{name}.extends is neither a service name nor a mapping: {other}"
            )))
        }
    };
    chain.push(link);
    let base = match base_file {
        None => extended(file, files, environment, root, &base_name, chain, warnings)?,
        Some(path) => {
            let relative = join(parent(&file.relative), &path);
            let Some(other) = files.find(file, &relative)? else {
                return Err(invalid(format!(
                    "services.{name}.extends: file {path} not found"
                )));
            };
            let other_root = interpolated_root(&other, environment, warnings)?;
            extended(
                &other,
                files,
                environment,
                &other_root,
                &base_name,
                chain,
                warnings,
            )?
        }
    };
    chain.pop();
    let mut merged = match base {
        Value::Object(base) => base,
        _ => Map::new(),
    };
    merge_maps(&mut merged, service, name);
    Ok(Value::Object(merged))
}

fn interpolated_root(
    file: &InputFile,
    environment: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<Map<String, Value>> {
    let mut document = yaml::parse_document(file)?;
    let mut problems = Vec::new();
    interpolate_value(&mut document, environment, &mut Vec::new(), &mut problems);
    for problem in problems {
        warnings.push(format!("{}: {problem}", file.relative));
    }
    match document {
        Value::Object(root) => Ok(root),
        Value::Null => Ok(Map::new()),
        _ => Err(IngestError::Invalid {
            path: file.path.clone(),
            message: "not a compose file: the document is not a mapping".to_string(),
        }),
    }
}

/// `KEY=VALUE` lines (`export` prefix, quotes and `#` comments as compose reads them).
fn parse_env_file(file: &InputFile) -> Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    for (index, line) in file.text()?.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err(IngestError::Parse {
                path: file.path.clone(),
                line: Some(index + 1),
                message: format!("expected KEY=VALUE, found {line:?}"),
            });
        };
        let value = value.trim();
        let value = if let Some(quoted) = value
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
        {
            quoted.replace("\\n", "\n").replace("\\\"", "\"")
        } else if let Some(quoted) = value
            .strip_prefix('\'')
            .and_then(|rest| rest.strip_suffix('\''))
        {
            quoted.to_string()
        } else {
            // An unquoted value ends at a ` #` comment.
            value
                .split_once(" #")
                .map(|(value, _)| value)
                .unwrap_or(value)
                .trim()
                .to_string()
        };
        values.insert(key.trim().to_string(), value);
    }
    Ok(values)
}

/// Whether values under `path` are redacted by the service normalization anyway.
fn redacted_later(path: &[String]) -> bool {
    matches!(path, [services, _, field, ..] if services == "services" && field == "environment")
        || matches!(path, [services, _, build, args, ..]
            if services == "services" && build == "build" && args == "args")
}

fn interpolate_value(
    value: &mut Value,
    environment: &BTreeMap<String, String>,
    path: &mut Vec<String>,
    problems: &mut Vec<String>,
) {
    match value {
        Value::String(text) if text.contains('$') => {
            let mut secret = false;
            let result = interpolate(text, environment, &mut secret, problems);
            *value = if secret && !redacted_later(path) {
                canonical::redacted(&Value::String(result))
            } else {
                Value::String(result)
            };
        }
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                path.push(key.clone());
                interpolate_value(item, environment, path, problems);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                path.push(index.to_string());
                interpolate_value(item, environment, path, problems);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Compose's interpolation: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
/// `${VAR:?error}`, `${VAR?error}`, `${VAR:+replacement}`, `${VAR+replacement}`, defaults
/// themselves interpolated. An unset variable becomes empty, with a warning, as in compose.
pub fn interpolate(
    text: &str,
    environment: &BTreeMap<String, String>,
    secret: &mut bool,
    problems: &mut Vec<String>,
) -> String {
    let characters: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut index = 0;
    while index < characters.len() {
        let character = characters[index];
        if character != '$' {
            out.push(character);
            index += 1;
            continue;
        }
        match characters.get(index + 1) {
            Some('$') => {
                out.push('$');
                index += 2;
            }
            Some('{') => {
                let mut depth = 1;
                let mut end = index + 2;
                while end < characters.len() && depth > 0 {
                    match characters[end] {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    end += 1;
                }
                if depth > 0 {
                    problems.push(format!("unterminated ${{ in {text:?}; kept as written"));
                    out.extend(&characters[index..]);
                    break;
                }
                let inner: String = characters[index + 2..end - 1].iter().collect();
                out.push_str(&expand(&inner, environment, secret, problems));
                index = end;
            }
            Some(next) if next.is_ascii_alphabetic() || *next == '_' => {
                let mut end = index + 1;
                while end < characters.len()
                    && (characters[end].is_ascii_alphanumeric() || characters[end] == '_')
                {
                    end += 1;
                }
                let name: String = characters[index + 1..end].iter().collect();
                out.push_str(&lookup(&name, environment, secret, problems).unwrap_or_default());
                index = end;
            }
            _ => {
                out.push('$');
                index += 1;
            }
        }
    }
    out
}

fn lookup(
    name: &str,
    environment: &BTreeMap<String, String>,
    secret: &mut bool,
    problems: &mut Vec<String>,
) -> Option<String> {
    match environment.get(name) {
        Some(value) => {
            if looks_secret(name) && !value.is_empty() {
                *secret = true;
            }
            Some(value.clone())
        }
        None => {
            problems.push(format!(
                "variable {name} is not set (no .env entry or configured variable); empty"
            ));
            None
        }
    }
}

fn expand(
    inner: &str,
    environment: &BTreeMap<String, String>,
    secret: &mut bool,
    problems: &mut Vec<String>,
) -> String {
    let name_end = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    let (name, rest) = inner.split_at(name_end);
    let value = environment.get(name);
    let set = value.is_some();
    let non_empty = value.is_some_and(|value| !value.is_empty());
    let mut word = |operand: &str| interpolate(operand, environment, secret, problems);
    for (operator, needs_non_empty) in [(":-", true), ("-", false)] {
        if let Some(default) = rest.strip_prefix(operator) {
            let present = if needs_non_empty { non_empty } else { set };
            return if present {
                lookup(name, environment, secret, problems).unwrap_or_default()
            } else {
                word(default)
            };
        }
    }
    for (operator, needs_non_empty) in [(":+", true), ("+", false)] {
        if let Some(replacement) = rest.strip_prefix(operator) {
            let present = if needs_non_empty { non_empty } else { set };
            return if present {
                word(replacement)
            } else {
                String::new()
            };
        }
    }
    for (operator, needs_non_empty) in [(":?", true), ("?", false)] {
        if let Some(message) = rest.strip_prefix(operator) {
            let present = if needs_non_empty { non_empty } else { set };
            if !present {
                problems.push(format!(
                    "required variable {name} is not set ({message}); empty"
                ));
                return String::new();
            }
            return lookup(name, environment, secret, problems).unwrap_or_default();
        }
    }
    if !rest.is_empty() || name.is_empty() {
        problems.push(format!(
            "unsupported interpolation ${{{inner}}}; kept as written"
        ));
        return format!("${{{inner}}}");
    }
    lookup(name, environment, secret, problems).unwrap_or_default()
}

/// `KEY=VALUE` list entries as a mapping, so lists and maps merge by key.
fn keyed(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Object(
            items
                .into_iter()
                .map(|item| match item {
                    Value::String(text) => match text.split_once('=') {
                        Some((key, value)) => (key.to_string(), Value::String(value.to_string())),
                        None => (text, Value::Null),
                    },
                    other => (other.to_string(), Value::Null),
                })
                .collect(),
        ),
        other => other,
    }
}

/// Merge `overriding` into `base` as compose merges an override file.
fn merge_maps(base: &mut Map<String, Value>, overriding: Map<String, Value>, parent_key: &str) {
    for (key, value) in overriding {
        let Some(existing) = base.get_mut(&key) else {
            base.insert(key, value);
            continue;
        };
        if KEYED_LISTS.contains(&key.as_str()) && !parent_key.is_empty() {
            let mut merged = match keyed(existing.take()) {
                Value::Object(map) => map,
                _ => Map::new(),
            };
            if let Value::Object(additions) = keyed(value) {
                merged.extend(additions);
            }
            *existing = Value::Object(merged);
            continue;
        }
        match (existing, value) {
            (Value::Object(existing), Value::Object(value)) => merge_maps(existing, value, &key),
            (Value::Array(existing), Value::Array(items))
                if APPENDED_SEQUENCES.contains(&key.as_str()) =>
            {
                for item in items {
                    if !existing.contains(&item) {
                        existing.push(item);
                    }
                }
            }
            (existing, value) => *existing = value,
        }
    }
}
