//! The `command` source: runs a configured command (an argv, never through a shell) on every
//! scrape and records the JSON it prints on stdout as resources, in the live layer by default
//! (`layer = "declared"` for a command that prints what is declared rather than what runs).
//!
//! Stdout may be one JSON array, one object holding the items under `items` (kubectl, many
//! CLIs; another place with `items_pointer`), or a stream of JSON values (NDJSON, one item
//! each). Identity comes from JSON pointers into each item: kind is the fixed `kind` or the
//! string at `kind_pointer`; id is the string or number at `id_pointer`, or `id_template`
//! (`"{/metadata/namespace}/{/metadata/name}"`) when one field is not enough. Use the scheme
//! of [`crate::identity`] (kind `k8s/core/Pod`, id `<namespace>/<name>`; AWS kind = Terraform
//! type, id = ARN) so drift can join the command's output with declared sources.
//!
//! The values at `redact_pointers` are replaced by `canonical::redacted` before anything else
//! reads the item, so a name or label pointing at a secret cannot leak it; `exclude_pointers`
//! (e.g. `/status`, `/metadata/resourceVersion`) are removed from attrs so server-written
//! fields do not count as changes. Both accept `*` as a segment matching every array element
//! or object member. Values of `env` are passed to the command but never logged or stored,
//! and are masked in the stderr tail an error quotes.
//!
//! A command that cannot start, exits non-zero (the error quotes its exit code and the last
//! 4 KiB of stderr), prints more than `max_output_bytes`, prints something that is not JSON,
//! or prints nothing at all (unless `allow_empty_output`) fails the scrape, so a broken
//! command never reads as "everything was deleted"; valid output with zero items is an empty
//! estate. Items without a usable id or kind, duplicate (kind, id) pairs (the first is kept)
//! and label values that are not scalars become warnings that say how many were dropped.
//!
//! The command runs in its own process group; the whole group is killed when the scrape
//! ends, times out or is cancelled, so a hung command and its children never outlive it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;

use groundtruth_engine::canonical;
use groundtruth_engine::model::{Layer, Observation, ObservedResource};
use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::error::{IngestError, Result};
use crate::input::InputFile;
use crate::source::{ScrapeContext, Source};

/// Largest stdout accepted by default: 64 MiB.
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 64 * 1024 * 1024;

/// How much of the end of stderr an error quotes.
const STDERR_TAIL_BYTES: usize = 4096;

/// Env values shorter than this are not masked in quoted stderr: masking `1` or `on` would
/// garble the message without protecting anything secret.
const MIN_MASKED_ENV_VALUE_CHARS: usize = 4;

/// Settings of the `command` source (`type = "command"` in `[[sources]]`).
#[derive(Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CommandConfig {
    /// The program and its arguments, run without a shell.
    pub command: Vec<String>,
    /// Directory the command runs in (default: the server's).
    #[serde(default)]
    pub working_directory: Option<PathBuf>,
    /// Variables added to the inherited environment; values are never logged or stored.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// live (default) or declared.
    #[serde(default)]
    pub layer: Option<Layer>,
    /// Largest stdout accepted, in bytes (default 64 MiB); beyond it the command is killed.
    #[serde(default)]
    pub max_output_bytes: Option<u64>,
    /// Where the item array is in each printed JSON document (default: the document itself
    /// when it is an array, its `items` when it is an object holding an array there).
    #[serde(default)]
    pub items_pointer: Option<String>,
    /// Pointer to each item's id (a string or a number). Exactly one of this and
    /// `id_template` must be set.
    #[serde(default)]
    pub id_pointer: Option<String>,
    /// An id built from pointers in braces: `"{/metadata/namespace}/{/metadata/name}"`.
    #[serde(default)]
    pub id_template: Option<String>,
    /// The kind of every item. Exactly one of this and `kind_pointer` must be set.
    #[serde(default)]
    pub kind: Option<String>,
    /// Pointer to each item's kind.
    #[serde(default)]
    pub kind_pointer: Option<String>,
    /// Pointer to each item's display name.
    #[serde(default)]
    pub name_pointer: Option<String>,
    /// Pointer to the part of each item stored as attrs (default: the whole item).
    #[serde(default)]
    pub attrs_pointer: Option<String>,
    /// Pointer to an object whose members become labels.
    #[serde(default)]
    pub labels_pointer: Option<String>,
    /// Pointers removed from each item before attrs are taken (`*` matches every element).
    #[serde(default)]
    pub exclude_pointers: Vec<String>,
    /// Pointers whose values are replaced by a redaction marker (`*` matches every element).
    #[serde(default)]
    pub redact_pointers: Vec<String>,
    /// Accept a command that prints nothing as zero items (default: an error).
    #[serde(default)]
    pub allow_empty_output: bool,
}

/// Env values are secrets: only their names are shown.
impl std::fmt::Debug for CommandConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CommandConfig")
            .field("command", &self.command)
            .field("working_directory", &self.working_directory)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("layer", &self.layer)
            .field("max_output_bytes", &self.max_output_bytes)
            .field("items_pointer", &self.items_pointer)
            .field("id_pointer", &self.id_pointer)
            .field("id_template", &self.id_template)
            .field("kind", &self.kind)
            .field("kind_pointer", &self.kind_pointer)
            .field("name_pointer", &self.name_pointer)
            .field("attrs_pointer", &self.attrs_pointer)
            .field("labels_pointer", &self.labels_pointer)
            .field("exclude_pointers", &self.exclude_pointers)
            .field("redact_pointers", &self.redact_pointers)
            .field("allow_empty_output", &self.allow_empty_output)
            .finish()
    }
}

impl CommandConfig {
    /// Check the settings that serde cannot: a non-empty command, exactly one id rule and one
    /// kind rule, well-formed pointers and template.
    pub fn validate(&self, source_name: &str) -> Result<()> {
        Mapping::checked(source_name, self)
            .map(|_| ())
            .map_err(IngestError::Config)
    }
}

/// A parsed JSON pointer: its text (for messages) and unescaped segments.
#[derive(Debug, Clone, PartialEq)]
struct Pointer {
    text: String,
    segments: Vec<String>,
}

impl Pointer {
    fn parse(text: &str, setting: &str) -> std::result::Result<Self, String> {
        if text.is_empty() {
            return Ok(Self {
                text: String::new(),
                segments: Vec::new(),
            });
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!(
                "{setting} '{text}' is not a JSON pointer (it must start with '/')"
            ));
        };
        let segments = rest
            .split('/')
            .map(|segment| {
                unescape_segment(segment)
                    .ok_or_else(|| format!("{setting} '{text}': '~' must be followed by 0 or 1"))
            })
            .collect::<std::result::Result<_, _>>()?;
        Ok(Self {
            text: text.to_string(),
            segments,
        })
    }

    /// The value at this pointer; `*` is an ordinary key here.
    fn get<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        self.segments
            .iter()
            .try_fold(value, |current, segment| match current {
                Value::Object(map) => map.get(segment),
                Value::Array(items) => segment
                    .parse::<usize>()
                    .ok()
                    .and_then(|index| items.get(index)),
                _ => None,
            })
    }

    fn take(&self, value: &mut Value) -> Option<Value> {
        let mut current = value;
        for segment in &self.segments {
            current = match current {
                Value::Object(map) => map.get_mut(segment)?,
                Value::Array(items) => items.get_mut(segment.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(current.take())
    }
}

fn unescape_segment(segment: &str) -> Option<String> {
    let mut text = String::with_capacity(segment.len());
    let mut characters = segment.chars();
    while let Some(character) = characters.next() {
        if character == '~' {
            match characters.next() {
                Some('0') => text.push('~'),
                Some('1') => text.push('/'),
                _ => return None,
            }
        } else {
            text.push(character);
        }
    }
    Some(text)
}

/// Apply `apply` to every value matched by `segments`, where `*` matches every member.
fn visit_matches(value: &mut Value, segments: &[String], apply: &mut dyn FnMut(&mut Value)) {
    let Some((segment, rest)) = segments.split_first() else {
        apply(value);
        return;
    };
    match value {
        Value::Object(map) if segment == "*" => {
            for child in map.values_mut() {
                visit_matches(child, rest, apply);
            }
        }
        Value::Object(map) => {
            if let Some(child) = map.get_mut(segment) {
                visit_matches(child, rest, apply);
            }
        }
        Value::Array(items) if segment == "*" => {
            for child in items {
                visit_matches(child, rest, apply);
            }
        }
        Value::Array(items) => {
            if let Some(child) = segment
                .parse::<usize>()
                .ok()
                .and_then(|index| items.get_mut(index))
            {
                visit_matches(child, rest, apply);
            }
        }
        _ => {}
    }
}

fn remove_matches(value: &mut Value, pointer: &Pointer) {
    let Some((last, parent)) = pointer.segments.split_last() else {
        return;
    };
    visit_matches(value, parent, &mut |container| match container {
        Value::Object(map) if last == "*" => map.clear(),
        Value::Object(map) => {
            map.remove(last);
        }
        Value::Array(items) if last == "*" => items.clear(),
        Value::Array(items) => {
            if let Some(index) = last
                .parse::<usize>()
                .ok()
                .filter(|index| *index < items.len())
            {
                items.remove(index);
            }
        }
        _ => {}
    });
}

fn redact_matches(value: &mut Value, pointer: &Pointer) {
    visit_matches(value, &pointer.segments, &mut |secret| {
        if !canonical::is_redacted(secret) {
            *secret = canonical::redacted(secret);
        }
    });
}

/// One piece of an `id_template`.
#[derive(Debug, Clone, PartialEq)]
enum TemplatePart {
    Literal(String),
    Field(Pointer),
}

#[derive(Debug, Clone, PartialEq)]
enum IdRule {
    Pointer(Pointer),
    Template {
        text: String,
        parts: Vec<TemplatePart>,
    },
}

impl IdRule {
    fn describe(&self) -> &str {
        match self {
            IdRule::Pointer(pointer) => &pointer.text,
            IdRule::Template { text, .. } => text,
        }
    }

    fn id_of(&self, item: &Value) -> Option<String> {
        let id = match self {
            IdRule::Pointer(pointer) => scalar_text(pointer.get(item)?)?,
            IdRule::Template { parts, .. } => {
                let mut id = String::new();
                for part in parts {
                    match part {
                        TemplatePart::Literal(text) => id.push_str(text),
                        TemplatePart::Field(pointer) => {
                            id.push_str(&scalar_text(pointer.get(item)?)?)
                        }
                    }
                }
                id
            }
        };
        (!id.trim().is_empty()).then_some(id)
    }
}

fn parse_template(text: &str) -> std::result::Result<Vec<TemplatePart>, String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(TemplatePart::Literal(rest[..open].to_string()));
        }
        let Some(close) = rest[open..].find('}') else {
            return Err(format!("id_template '{text}': '{{' without a closing '}}'"));
        };
        let pointer = &rest[open + 1..open + close];
        parts.push(TemplatePart::Field(Pointer::parse(
            pointer,
            "id_template pointer",
        )?));
        rest = &rest[open + close + 1..];
    }
    if rest.contains('}') {
        return Err(format!(
            "id_template '{text}': '}}' without an opening '{{'"
        ));
    }
    if !rest.is_empty() {
        parts.push(TemplatePart::Literal(rest.to_string()));
    }
    if !parts
        .iter()
        .any(|part| matches!(part, TemplatePart::Field(_)))
    {
        return Err(format!(
            "id_template '{text}' has no {{/pointer}}, so every item would get the same id"
        ));
    }
    Ok(parts)
}

#[derive(Debug, Clone, PartialEq)]
enum KindRule {
    Fixed(String),
    Pointer(Pointer),
}

/// The validated settings that turn printed JSON into resources.
#[derive(Debug, Clone, PartialEq)]
struct Mapping {
    layer: Layer,
    items: Option<Pointer>,
    id: IdRule,
    kind: KindRule,
    name: Option<Pointer>,
    attrs: Option<Pointer>,
    labels: Option<Pointer>,
    exclude: Vec<Pointer>,
    redact: Vec<Pointer>,
    allow_empty_output: bool,
}

impl Mapping {
    /// The mapping, or the configuration error's text naming the source.
    fn checked(source_name: &str, config: &CommandConfig) -> std::result::Result<Self, String> {
        Self::build(config)
            .map_err(|message| format!("source '{source_name}' (command): {message}"))
    }

    fn build(config: &CommandConfig) -> std::result::Result<Self, String> {
        match config.command.first() {
            None => return Err("`command` is empty; give the program and its arguments".into()),
            Some(program) if program.trim().is_empty() => {
                return Err("`command` starts with an empty program name".into())
            }
            Some(_) => {}
        }
        if config.max_output_bytes == Some(0) {
            return Err("max_output_bytes must be positive".into());
        }
        let optional = |text: &Option<String>, setting: &str| {
            text.as_deref()
                .map(|text| Pointer::parse(text, setting))
                .transpose()
        };
        let id = match (&config.id_pointer, &config.id_template) {
            (Some(pointer), None) => IdRule::Pointer(Pointer::parse(pointer, "id_pointer")?),
            (None, Some(template)) => IdRule::Template {
                text: template.clone(),
                parts: parse_template(template)?,
            },
            (Some(_), Some(_)) => {
                return Err("set only one of id_pointer and id_template".into());
            }
            (None, None) => return Err("set id_pointer or id_template".into()),
        };
        let kind = match (&config.kind, &config.kind_pointer) {
            (Some(kind), None) if !kind.trim().is_empty() => KindRule::Fixed(kind.clone()),
            (Some(_), None) => return Err("kind is empty".into()),
            (None, Some(pointer)) => KindRule::Pointer(Pointer::parse(pointer, "kind_pointer")?),
            (Some(_), Some(_)) => return Err("set only one of kind and kind_pointer".into()),
            (None, None) => return Err("set kind or kind_pointer".into()),
        };
        let whole_item_pointers = |pointers: &[String], setting: &str| {
            pointers
                .iter()
                .map(|text| match Pointer::parse(text, setting)? {
                    pointer if pointer.segments.is_empty() => Err(format!(
                        "{setting} must not hold the empty pointer (the whole item)"
                    )),
                    pointer => Ok(pointer),
                })
                .collect::<std::result::Result<Vec<_>, String>>()
        };
        Ok(Self {
            layer: config.layer.unwrap_or(Layer::Live),
            items: optional(&config.items_pointer, "items_pointer")?,
            id,
            kind,
            name: optional(&config.name_pointer, "name_pointer")?,
            attrs: optional(&config.attrs_pointer, "attrs_pointer")?,
            labels: optional(&config.labels_pointer, "labels_pointer")?,
            exclude: whole_item_pointers(&config.exclude_pointers, "exclude_pointers")?,
            redact: whole_item_pointers(&config.redact_pointers, "redact_pointers")?,
            allow_empty_output: config.allow_empty_output,
        })
    }
}

/// Runs one command per scrape and maps its JSON output to resources.
#[derive(Debug, Clone)]
pub struct CommandSource {
    name: String,
    config: CommandConfig,
    /// The configuration error, if any, is reported by every scrape: `build` refuses such a
    /// configuration up front, this only covers sources built without it.
    mapping: std::result::Result<Mapping, String>,
}

impl CommandSource {
    /// A source named `name` running `config.command` on every scrape.
    pub fn new(name: impl Into<String>, config: CommandConfig) -> Self {
        let name = name.into();
        let mapping = Mapping::checked(&name, &config);
        Self {
            name,
            config,
            mapping,
        }
    }

    /// How errors name the command: its argv, quoted where a shell would need it.
    fn display_path(&self) -> PathBuf {
        let words: Vec<String> = self
            .config
            .command
            .iter()
            .map(|word| {
                let plain = !word.is_empty()
                    && word.chars().all(|character| {
                        character.is_ascii_alphanumeric() || "-_./=:,@%+".contains(character)
                    });
                if plain {
                    word.clone()
                } else {
                    format!("'{}'", word.replace('\'', r"'\''"))
                }
            })
            .collect();
        PathBuf::from(format!("command `{}`", words.join(" ")))
    }

    fn invalid(&self, message: String) -> IngestError {
        IngestError::Invalid {
            path: self.display_path(),
            message,
        }
    }

    /// Run the command to completion and return its stdout; every way it can go wrong is an
    /// error naming the command.
    async fn run(&self, context: &ScrapeContext) -> Result<Vec<u8>> {
        let Some((program, arguments)) = self.config.command.split_first() else {
            return Err(self.invalid("`command` is empty".to_string()));
        };
        if let Some(directory) = &self.config.working_directory {
            if let Err(error) = tokio::fs::metadata(directory).await {
                return Err(IngestError::Invalid {
                    path: directory.clone(),
                    message: format!(
                        "working_directory of {} is not usable: {error}",
                        self.display_path().display()
                    ),
                });
            }
        }
        let mut command = tokio::process::Command::new(program);
        command
            .args(arguments)
            .envs(&self.config.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Its own group, so the guard below can kill the children it starts too.
            .process_group(0);
        if let Some(directory) = &self.config.working_directory {
            command.current_dir(directory);
        }
        let mut child = command.spawn().map_err(|error| {
            self.invalid(match error.kind() {
                std::io::ErrorKind::NotFound => {
                    format!("cannot run '{program}': command not found ({error})")
                }
                std::io::ErrorKind::PermissionDenied => {
                    format!("cannot run '{program}': permission denied ({error})")
                }
                _ => format!("cannot run '{program}': {error}"),
            })
        })?;
        // Declared after `child`, so dropped before it: on every early return (timeout,
        // cancel, output limit) the group dies while its unreaped leader still holds the id.
        // After a normal exit the leader is reaped, and the kill only reaches children it left
        // behind (a group id stays reserved while the group has members).
        let _group = ProcessGroupKiller(child.id());
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(self.invalid("stdout or stderr was not captured".to_string()));
        };
        let limit = self
            .config
            .max_output_bytes
            .unwrap_or(DEFAULT_MAX_OUTPUT_BYTES);
        let finished = async {
            let (stdout, stderr_tail) = tokio::try_join!(
                read_limited(stdout, limit),
                read_tail(stderr, STDERR_TAIL_BYTES)
            )?;
            let status = child.wait().await.map_err(ReadFailure::Io)?;
            Ok::<_, ReadFailure>((stdout, stderr_tail, status))
        };
        let outcome = tokio::select! {
            outcome = finished => outcome,
            () = context.cancel.cancelled() => {
                return Err(IngestError::Cancelled { source_name: self.name.clone() })
            }
        };
        let (stdout, stderr_tail, status) = match outcome {
            Ok(outcome) => outcome,
            Err(ReadFailure::TooLarge) => {
                return Err(self.invalid(format!(
                    "output exceeds max_output_bytes ({limit} bytes); the command was killed"
                )))
            }
            Err(ReadFailure::Io(error)) => {
                return Err(self.invalid(format!("reading the command's output failed: {error}")))
            }
        };
        if !status.success() {
            use std::os::unix::process::ExitStatusExt;
            let how = match (status.code(), status.signal()) {
                (Some(code), _) => format!("exited with code {code}"),
                (None, Some(signal)) => format!("was killed by signal {signal}"),
                (None, None) => format!("failed ({status})"),
            };
            let stderr = self.masked_stderr(&stderr_tail);
            let stderr = if stderr.is_empty() {
                "no stderr".to_string()
            } else {
                format!("stderr: {stderr}")
            };
            return Err(self.invalid(format!("{how}; {stderr}")));
        }
        Ok(stdout)
    }

    /// The stderr tail as text, with env values masked (a CLI may echo its credentials).
    fn masked_stderr(&self, tail: &[u8]) -> String {
        let mut text = String::from_utf8_lossy(tail).trim().to_string();
        for value in self.config.env.values() {
            if value.chars().count() >= MIN_MASKED_ENV_VALUE_CHARS {
                text = text.replace(value.as_str(), "<redacted>");
            }
        }
        text
    }
}

/// Kills a process group when dropped: at the end of every scrape, so neither a timed-out
/// command nor a child it left behind keeps running.
struct ProcessGroupKiller(Option<u32>);

impl Drop for ProcessGroupKiller {
    fn drop(&mut self) {
        if let Some(group) = self.0.and_then(|id| i32::try_from(id).ok()) {
            // SAFETY: kill has no memory-safety preconditions; a group already gone gives
            // ESRCH, which is ignored.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
    }
}

enum ReadFailure {
    TooLarge,
    Io(std::io::Error),
}

/// Read all of `reader`, failing as soon as more than `limit` bytes arrive.
async fn read_limited(
    mut reader: impl AsyncRead + Unpin,
    limit: u64,
) -> std::result::Result<Vec<u8>, ReadFailure> {
    let mut output = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let read = reader.read(&mut chunk).await.map_err(ReadFailure::Io)?;
        if read == 0 {
            return Ok(output);
        }
        if (output.len() + read) as u64 > limit {
            return Err(ReadFailure::TooLarge);
        }
        output.extend_from_slice(&chunk[..read]);
    }
}

/// Read all of `reader`, keeping only its last `keep` bytes.
async fn read_tail(
    mut reader: impl AsyncRead + Unpin,
    keep: usize,
) -> std::result::Result<Vec<u8>, ReadFailure> {
    let mut tail = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let read = reader.read(&mut chunk).await.map_err(ReadFailure::Io)?;
        if read == 0 {
            let start = tail.len().saturating_sub(keep);
            return Ok(tail.split_off(start));
        }
        tail.extend_from_slice(&chunk[..read]);
        if tail.len() > 2 * keep {
            tail.drain(..tail.len() - keep);
        }
    }
}

#[async_trait::async_trait]
impl Source for CommandSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn source_type(&self) -> &'static str {
        "command"
    }

    async fn scrape(&self, context: &ScrapeContext) -> Result<Observation> {
        let mapping = self.mapping.clone().map_err(IngestError::Config)?;
        let stdout = self.run(context).await?;
        let path = self.display_path();
        // Up to max_output_bytes of JSON: parse off the async runtime.
        tokio::task::spawn_blocking(move || parse_output(&path, &stdout, &mapping))
            .await
            .map_err(|error| IngestError::Invalid {
                path: self.display_path(),
                message: format!("parsing task failed: {error}"),
            })?
    }

    /// The content is the command's standard output, as one file.
    fn parse_content(&self, mut files: Vec<InputFile>) -> Option<Result<Observation>> {
        Some(match (&self.mapping, files.len()) {
            (Err(message), _) => Err(IngestError::Config(message.clone())),
            (Ok(mapping), 1) => parse_output(&self.display_path(), &files.remove(0).bytes, mapping),
            (Ok(_), count) => Err(IngestError::Invalid {
                path: self.display_path(),
                message: format!("a command has one standard output, given {count} files"),
            }),
        })
    }
}

/// Turn a command's stdout into an observation. `path` names the command in errors.
fn parse_output(path: &std::path::Path, stdout: &[u8], mapping: &Mapping) -> Result<Observation> {
    let documents = parse_documents(path, stdout)?;
    if documents.is_empty() && !mapping.allow_empty_output {
        return Err(IngestError::Invalid {
            path: path.to_path_buf(),
            message: "printed nothing on stdout; an empty estate must be printed as `[]` or \
                      `{\"items\": []}` (or set allow_empty_output = true)"
                .to_string(),
        });
    }
    let items = split_items(path, documents, mapping)?;
    Ok(map_items(items, mapping))
}

/// Every JSON value on stdout: one document, or a stream (NDJSON, or concatenated pretty
/// JSON as `jq` prints it).
fn parse_documents(path: &std::path::Path, stdout: &[u8]) -> Result<Vec<Value>> {
    serde_json::Deserializer::from_slice(stdout)
        .into_iter::<Value>()
        .map(|document| {
            document.map_err(|error| {
                let text = error.to_string();
                let position = format!(" at line {} column {}", error.line(), error.column());
                let message = text.strip_suffix(&position).unwrap_or(&text);
                IngestError::Parse {
                    path: path.to_path_buf(),
                    line: Some(error.line()),
                    message: format!("output is not JSON: {message} (column {})", error.column()),
                }
            })
        })
        .collect()
}

fn split_items(
    path: &std::path::Path,
    documents: Vec<Value>,
    mapping: &Mapping,
) -> Result<Vec<Value>> {
    let single_document = documents.len() == 1;
    let mut items = Vec::new();
    for (position, mut document) in documents.into_iter().enumerate() {
        match &mapping.items {
            Some(pointer) => match pointer.take(&mut document) {
                Some(Value::Array(found)) => items.extend(found),
                _ => {
                    return Err(IngestError::Invalid {
                        path: path.to_path_buf(),
                        message: format!(
                            "printed JSON document {} has no array at items_pointer '{}'",
                            position + 1,
                            pointer.text
                        ),
                    })
                }
            },
            // A stream holds one item per value; only a lone document is unwrapped, so an
            // NDJSON record that happens to have an `items` field stays one item.
            None if single_document => match document {
                Value::Array(found) => items.extend(found),
                Value::Object(mut object) if object.get("items").is_some_and(Value::is_array) => {
                    if let Some(Value::Array(found)) = object.remove("items") {
                        items.extend(found);
                    }
                }
                other => items.push(other),
            },
            None => items.push(document),
        }
    }
    Ok(items)
}

/// A string as is, a number as written; anything else is not an identity.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// How many items a rule dropped, and the first one's position for the warning.
#[derive(Default)]
struct Skipped {
    count: usize,
    first: Option<usize>,
}

impl Skipped {
    fn add(&mut self, position: usize) {
        self.count += 1;
        self.first.get_or_insert(position);
    }
}

fn map_items(items: Vec<Value>, mapping: &Mapping) -> Observation {
    let total = items.len();
    let mut resources = Vec::with_capacity(total);
    let mut without_id = Skipped::default();
    let mut without_kind = Skipped::default();
    let mut dropped_labels = 0usize;
    for (position, mut item) in items.into_iter().enumerate() {
        // Before anything reads the item, so no pointer can copy a secret out of it.
        for pointer in &mapping.redact {
            redact_matches(&mut item, pointer);
        }
        let Some(id) = mapping.id.id_of(&item) else {
            without_id.add(position);
            continue;
        };
        let kind = match &mapping.kind {
            KindRule::Fixed(kind) => kind.clone(),
            KindRule::Pointer(pointer) => match pointer.get(&item).and_then(Value::as_str) {
                Some(kind) if !kind.trim().is_empty() => kind.to_string(),
                _ => {
                    without_kind.add(position);
                    continue;
                }
            },
        };
        let name = mapping
            .name
            .as_ref()
            .and_then(|pointer| pointer.get(&item))
            .and_then(scalar_text);
        let mut labels = BTreeMap::new();
        if let Some(found) = mapping
            .labels
            .as_ref()
            .and_then(|pointer| pointer.get(&item))
        {
            match found {
                Value::Object(members) => {
                    for (key, value) in members {
                        match value {
                            Value::String(text) => {
                                labels.insert(key.clone(), text.clone());
                            }
                            Value::Number(_) | Value::Bool(_) => {
                                labels.insert(key.clone(), value.to_string());
                            }
                            _ => dropped_labels += 1,
                        }
                    }
                }
                Value::Null => {}
                _ => dropped_labels += 1,
            }
        }
        for pointer in &mapping.exclude {
            remove_matches(&mut item, pointer);
        }
        let attrs = match &mapping.attrs {
            Some(pointer) => pointer.take(&mut item).unwrap_or(Value::Null),
            None => item,
        };
        let mut resource = ObservedResource::new(kind, id, mapping.layer, attrs);
        resource.name = name;
        resource.labels = labels;
        resources.push(resource);
    }

    let mut warnings = Vec::new();
    if let Some(first) = without_id.first {
        warnings.push(format!(
            "{} of {total} items skipped: no string or number id at '{}' (first at item index {first})",
            without_id.count,
            mapping.id.describe()
        ));
    }
    if let (Some(first), KindRule::Pointer(pointer)) = (without_kind.first, &mapping.kind) {
        warnings.push(format!(
            "{} of {total} items skipped: no string kind at '{}' (first at item index {first})",
            without_kind.count, pointer.text
        ));
    }
    if dropped_labels > 0 {
        warnings.push(format!(
            "{dropped_labels} label values dropped: labels must be strings, numbers or booleans"
        ));
    }
    // Stable, so the first of duplicates in the command's output order is kept.
    resources.sort_by(|left, right| (&left.kind, &left.id).cmp(&(&right.kind, &right.id)));
    let before = resources.len();
    let mut first_duplicate = None;
    resources.dedup_by(|later, kept| {
        let duplicate = later.kind == kept.kind && later.id == kept.id;
        if duplicate && first_duplicate.is_none() {
            first_duplicate = Some(format!("{} {}", kept.kind, kept.id));
        }
        duplicate
    });
    if let Some(example) = first_duplicate {
        warnings.push(format!(
            "{} items skipped: duplicate (kind, id), the first was kept (e.g. {example})",
            before - resources.len()
        ));
    }
    Observation {
        warnings,
        ..Observation::complete(resources)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping(config: CommandConfig) -> Mapping {
        Mapping::checked(
            "test",
            &CommandConfig {
                command: vec!["true".into()],
                ..config
            },
        )
        .unwrap()
    }

    #[test]
    fn pointers_unescape_and_wildcards_match_every_member() {
        let pointer = Pointer::parse("/metadata/annotations/a~1b~0c", "p").unwrap();
        assert_eq!(pointer.segments, ["metadata", "annotations", "a/b~c"]);
        assert!(Pointer::parse("metadata", "p")
            .unwrap_err()
            .contains("must start"));
        assert!(Pointer::parse("/a~2", "p").unwrap_err().contains("'~'"));

        let mut item = json!({"containers": [
            {"env": [{"name": "A", "value": "x"}, {"name": "B", "value": "y"}]},
            {"env": [{"name": "C", "value": "z"}]}
        ], "status": {"phase": "Running"}});
        redact_matches(
            &mut item,
            &Pointer::parse("/containers/*/env/*/value", "p").unwrap(),
        );
        let values: Vec<&Value> = item["containers"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|container| container["env"].as_array().unwrap())
            .map(|variable| &variable["value"])
            .collect();
        assert_eq!(values.len(), 3);
        assert!(values.iter().all(|value| canonical::is_redacted(value)));
        assert_eq!(item["containers"][0]["env"][0]["name"], "A");

        remove_matches(
            &mut item,
            &Pointer::parse("/containers/*/env", "p").unwrap(),
        );
        remove_matches(&mut item, &Pointer::parse("/status", "p").unwrap());
        remove_matches(&mut item, &Pointer::parse("/absent/deeper", "p").unwrap());
        assert_eq!(item, json!({"containers": [{}, {}]}));
    }

    #[test]
    fn templates_join_fields_and_reject_malformed_text() {
        let parts = parse_template("{/ns}/{/name}").unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[1], TemplatePart::Literal("/".into()));
        let rule = IdRule::Template {
            text: "{/ns}/{/name}".into(),
            parts,
        };
        assert_eq!(
            rule.id_of(&json!({"ns": "shop", "name": "web"})).as_deref(),
            Some("shop/web")
        );
        assert_eq!(
            rule.id_of(&json!({"ns": "shop", "name": 7})).as_deref(),
            Some("shop/7")
        );
        assert_eq!(rule.id_of(&json!({"ns": "shop"})), None);
        assert_eq!(rule.id_of(&json!({"ns": "shop", "name": {"x": 1}})), None);
        assert!(parse_template("{/ns").unwrap_err().contains("closing"));
        assert!(parse_template("/ns}").unwrap_err().contains("opening"));
        assert!(parse_template("fixed").unwrap_err().contains("same id"));
        assert!(parse_template("{ns}").unwrap_err().contains("JSON pointer"));
    }

    #[test]
    fn lone_documents_are_unwrapped_but_stream_records_are_not() {
        let path = std::path::Path::new("command `x`");
        let rules = mapping(CommandConfig {
            id_pointer: Some("/id".into()),
            kind: Some("thing".into()),
            ..CommandConfig::default()
        });
        let lone = parse_documents(path, br#"{"items": [{"id": 1}, {"id": 2}]}"#).unwrap();
        assert_eq!(split_items(path, lone, &rules).unwrap().len(), 2);
        let stream =
            parse_documents(path, b"{\"id\": 1, \"items\": [1, 2, 3]}\n{\"id\": 2}\n").unwrap();
        let items = split_items(path, stream, &rules).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["items"], json!([1, 2, 3]));
    }

    #[test]
    fn debug_output_shows_env_names_but_never_values() {
        let config = CommandConfig {
            command: vec!["aws".into()],
            env: BTreeMap::from([("AWS_SECRET_ACCESS_KEY".into(), "wJalrXUtnFEMI".into())]),
            ..CommandConfig::default()
        };
        let text = format!("{:?}", CommandSource::new("cli", config));
        assert!(text.contains("AWS_SECRET_ACCESS_KEY"), "{text}");
        assert!(!text.contains("wJalrXUtnFEMI"), "{text}");
    }
}
