//! Attribute drift: how a live resource differs from the declared resource it is linked to.
//!
//! Only what the declared side states is compared: a declared object's keys are walked, and
//! whatever the live side adds (defaults, server-written fields, computed attributes) is not
//! drift. A declared `null`, empty list or empty object states nothing. A path the live side
//! does not report at all is drift only for kinds whose live sources report the whole object
//! (Kubernetes, PostgreSQL); for cloud kinds, where the live source maps a subset of the
//! provider's attributes, it is "not comparable" and skipped.
//!
//! Values are compared after per-kind normalization ([`normalize`]): numbers and booleans
//! against their string spellings, Kubernetes quantities (`500m` = `0.5`, `1Gi` = `1024Mi`),
//! PostgreSQL type aliases (`int4` = `integer`) and index-definition whitespace, JSON documents
//! held as strings (IAM and bucket policies) compared as JSON, and a name against an ARN that
//! ends in it. Lists of objects that all carry a `name` (containers, env, ports, volumes) are
//! matched by name, so order does not matter; other lists are compared element by element.
//!
//! Paths use the notation of version diffs: dots between keys, `[i]` for list elements, and
//! `[name=x]` for name-matched elements. Ignore rules are globs over those paths (`*` matches
//! one segment, `**` any number), per kind, and [`BUILT_IN_IGNORES`] covers computed and
//! server-written fields that would otherwise be noise.

pub mod normalize;
pub mod settings;

pub use settings::{DriftSettings, LinkRule};

use serde_json::{Map, Value};

/// One attribute that differs between the declared and the live side.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AttributeDrift {
    /// Where, e.g. `spec.template.spec.containers[name=web].resources.limits.cpu`.
    pub path: String,
    /// What the declared side states.
    pub declared: Value,
    /// What is running (`null` when the live side lacks the path).
    pub live: Value,
}

/// An ignore rule: a kind pattern (`*` for all, or a prefix ending in `*`) and a path glob.
/// Configured as `[[drift.ignore]]` with `kind` and `path` ([`settings`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreRule {
    /// `k8s/apps/Deployment`, `k8s/*`, `aws_*`, or `*`.
    pub kind: String,
    /// Path glob, e.g. `metadata.annotations.*` or `**.lastTransitionTime`.
    pub path: String,
}

impl IgnoreRule {
    /// A rule for `kind` ignoring `path`.
    pub fn new(kind: impl Into<String>, path: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            path: path.into(),
        }
    }

    fn applies_to(&self, kind: &str, path: &[String]) -> bool {
        kind_matches(&self.kind, kind) && glob_matches(&split_glob(&self.path), path)
    }
}

/// Computed and server-written fields never worth reporting as drift.
pub const BUILT_IN_IGNORES: &[(&str, &str)] = &[
    // Terraform's computed bookkeeping: the live side names these differently or not at all.
    ("aws_*", "id"),
    ("aws_*", "tags_all"),
    ("aws_*", "timeouts"),
    // Kubernetes: written by controllers and the API server.
    (
        "k8s/*",
        "metadata.annotations.deployment.kubernetes.io/revision",
    ),
    (
        "k8s/*",
        "metadata.annotations.kubectl.kubernetes.io/restartedAt",
    ),
    ("k8s/*", "metadata.finalizers"),
    ("k8s/*", "metadata.ownerReferences"),
    ("k8s/core/Service", "spec.clusterIP"),
    ("k8s/core/Service", "spec.clusterIPs"),
    ("k8s/core/ServiceAccount", "secrets"),
    // PostgreSQL: positions shift when columns are dropped and re-added; names of implicit
    // objects are compared through their ids already.
    ("postgres/column", "position"),
];

/// Whether the live sources of `kind` report whole objects, so a declared path missing live
/// is drift rather than an attribute the live source does not map.
pub fn live_side_is_complete(kind: &str) -> bool {
    kind.starts_with("k8s/") || kind.starts_with("postgres/")
}

/// The attributes of `declared` that `live` does not match, for a resource of `kind`.
pub fn compare(
    kind: &str,
    declared: &Value,
    live: &Value,
    ignores: &[IgnoreRule],
) -> Vec<AttributeDrift> {
    let built_in: Vec<IgnoreRule> = BUILT_IN_IGNORES
        .iter()
        .map(|(kind, path)| IgnoreRule::new(*kind, *path))
        .collect();
    let mut comparison = Comparison {
        kind,
        ignores: ignores.iter().chain(built_in.iter()).collect(),
        complete: live_side_is_complete(kind),
        drifts: Vec::new(),
    };
    comparison.walk(&mut Vec::new(), declared, Some(live));
    comparison.drifts
}

struct Comparison<'a> {
    kind: &'a str,
    ignores: Vec<&'a IgnoreRule>,
    complete: bool,
    drifts: Vec<AttributeDrift>,
}

impl Comparison<'_> {
    fn ignored(&self, path: &[String]) -> bool {
        self.ignores
            .iter()
            .any(|rule| rule.applies_to(self.kind, path))
    }

    fn report(&mut self, path: &[String], declared: &Value, live: Option<&Value>) {
        self.drifts.push(AttributeDrift {
            path: render_path(path),
            declared: declared.clone(),
            live: live.cloned().unwrap_or(Value::Null),
        });
    }

    fn walk(&mut self, path: &mut Vec<String>, declared: &Value, live: Option<&Value>) {
        if states_nothing(declared) || self.ignored(path) {
            return;
        }
        let Some(live) = live.filter(|live| !live.is_null()) else {
            if self.complete || path.is_empty() {
                self.report(path, declared, None);
            }
            return;
        };
        match (declared, live) {
            (Value::Object(declared_map), Value::Object(live_map))
                if !crate::canonical::is_redacted(declared) =>
            {
                self.walk_object(path, declared_map, live_map);
            }
            (Value::Array(declared_items), Value::Array(live_items)) => {
                self.walk_array(path, declared_items, live_items);
            }
            _ => {
                if !normalize::equivalent(self.kind, path, declared, live) {
                    self.report(path, declared, Some(live));
                }
            }
        }
    }

    fn walk_object(
        &mut self,
        path: &mut Vec<String>,
        declared: &Map<String, Value>,
        live: &Map<String, Value>,
    ) {
        for (key, declared_value) in declared {
            path.push(key.clone());
            self.walk(path, declared_value, live.get(key));
            path.pop();
        }
    }

    fn walk_array(&mut self, path: &mut Vec<String>, declared: &[Value], live: &[Value]) {
        if let (Some(declared_named), Some(live_named)) = (named(declared), named(live)) {
            for (name, declared_item) in declared_named {
                path.push(format!("[name={name}]"));
                let live_item = live_named
                    .iter()
                    .find(|(live_name, _)| *live_name == name)
                    .map(|(_, item)| *item);
                match live_item {
                    Some(live_item) => self.walk(path, declared_item, Some(live_item)),
                    // A named element missing live is drift whatever the kind.
                    None => self.report(path, declared_item, None),
                }
                path.pop();
            }
            return;
        }
        let scalars = |items: &[Value]| {
            items
                .iter()
                .all(|item| !item.is_object() && !item.is_array())
        };
        if declared.len() != live.len() || (scalars(declared) && scalars(live)) {
            // Lists of scalars (CIDR blocks, security group ids, ...) are sets to the APIs
            // that return them: compared whole, ignoring order.
            let declared_list = Value::Array(declared.to_vec());
            let live_list = Value::Array(live.to_vec());
            if !normalize::equivalent(self.kind, path, &declared_list, &live_list) {
                self.report(path, &declared_list, Some(&live_list));
            }
            return;
        }
        for (index, (declared_item, live_item)) in declared.iter().zip(live).enumerate() {
            path.push(format!("[{index}]"));
            self.walk(path, declared_item, Some(live_item));
            path.pop();
        }
    }
}

/// `(name, element)` pairs when every element is an object with a string `name`.
fn named(items: &[Value]) -> Option<Vec<(&str, &Value)>> {
    if items.is_empty() {
        return None;
    }
    items
        .iter()
        .map(|item| {
            item.get("name")
                .and_then(Value::as_str)
                .map(|name| (name, item))
        })
        .collect()
}

/// A declared value that states nothing: null, or an empty list or object.
fn states_nothing(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// `a.b[0].c` from `["a", "b", "[0]", "c"]`.
fn render_path(path: &[String]) -> String {
    let mut rendered = String::new();
    for segment in path {
        if !segment.starts_with('[') && !rendered.is_empty() {
            rendered.push('.');
        }
        rendered.push_str(segment);
    }
    rendered
}

/// Glob segments: split on dots outside brackets; `[...]` segments stand alone. Keys may
/// contain dots (`kubernetes.io/...` annotations), so a glob's trailing segment may too: see
/// [`glob_matches`].
fn split_glob(glob: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut current = String::new();
    for character in glob.chars() {
        match character {
            '.' => segments.push(std::mem::take(&mut current)),
            '[' => {
                if !current.is_empty() {
                    segments.push(std::mem::take(&mut current));
                }
                current.push('[');
            }
            ']' => {
                current.push(']');
                segments.push(std::mem::take(&mut current));
            }
            other => current.push(other),
        }
    }
    if !current.is_empty() {
        segments.push(current);
    }
    segments.retain(|segment| !segment.is_empty());
    segments
}

/// Whether a path matches glob segments. `*` matches one segment, `[*]` one list element,
/// `**` any number of segments. Keys may contain dots (`deployment.kubernetes.io/revision` is
/// one key), so several dotted glob segments may spell one path segment.
fn glob_matches(glob: &[String], path: &[String]) -> bool {
    let Some((first, rest)) = glob.split_first() else {
        return path.is_empty();
    };
    if first == "**" {
        return (0..=path.len()).any(|skip| glob_matches(rest, &path[skip..]));
    }
    let Some((segment, remaining_path)) = path.split_first() else {
        return false;
    };
    if first == "*" || (first == "[*]" && segment.starts_with('[')) {
        return glob_matches(rest, remaining_path);
    }
    let mut joined = String::new();
    for (count, part) in glob.iter().enumerate() {
        if part == "*" || part == "**" || (count > 0 && part.starts_with('[')) {
            break;
        }
        if count > 0 {
            joined.push('.');
        }
        joined.push_str(part);
        if joined == *segment && glob_matches(&glob[count + 1..], remaining_path) {
            return true;
        }
        if !segment.starts_with(joined.as_str()) {
            break;
        }
    }
    false
}

fn kind_matches(pattern: &str, kind: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => kind.starts_with(prefix),
        None => pattern == kind,
    }
}

#[cfg(test)]
mod tests;
