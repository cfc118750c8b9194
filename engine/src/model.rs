//! The data model every source produces and the store records: resources, scrapes and
//! coverage. See the crate documentation for the time model these types implement.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::canonical;

/// Which side of the drift question a resource belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    /// Written down by people: IaC, manifests, migrations, flag files.
    Declared,
    /// Observed running: cloud APIs, cluster APIs, database catalogs, the host.
    Live,
}

impl Layer {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Declared => "declared",
            Layer::Live => "live",
        }
    }

    /// Parse the stored spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "declared" => Some(Layer::Declared),
            "live" => Some(Layer::Live),
            _ => None,
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One resource as a source saw it in one scrape, before the store decides whether it changed.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedResource {
    /// Resource type within the source, e.g. `aws_sqs_queue`, `process`, `k8s/apps/Deployment`.
    pub kind: String,
    /// Identity within (source, kind); stable across scrapes.
    pub id: String,
    /// Declared or live.
    pub layer: Layer,
    /// Human-friendly name, when the source has one.
    pub name: Option<String>,
    /// Configuration attributes. Secrets must already be replaced by [`canonical::redacted`].
    pub attrs: serde_json::Value,
    /// Labels or tags, kept apart from attrs so they can be filtered cheaply.
    pub labels: BTreeMap<String, String>,
}

impl ObservedResource {
    /// A resource with no name and no labels.
    pub fn new(
        kind: impl Into<String>,
        id: impl Into<String>,
        layer: Layer,
        attrs: serde_json::Value,
    ) -> Self {
        Self {
            kind: kind.into(),
            id: id.into(),
            layer,
            name: None,
            attrs,
            labels: BTreeMap::new(),
        }
    }

    /// Set the display name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Add one label.
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Identity key within the source.
    pub fn key(&self) -> ResourceKey {
        ResourceKey {
            kind: self.kind.clone(),
            id: self.id.clone(),
        }
    }

    /// The fingerprint used for change detection: SHA-256 of the canonical JSON of
    /// `{"attrs", "labels", "layer", "name"}`.
    pub fn fingerprint(&self) -> String {
        self.canonical_form().1
    }

    /// Canonical attrs text and the fingerprint, computed with one canonicalization.
    ///
    /// The fingerprint object's keys are already in sorted order and labels are a sorted map,
    /// so its canonical text is the concatenation below: the same hash as canonicalizing the
    /// whole object, for a fraction of the work (ingest diffs every observed resource).
    pub fn canonical_form(&self) -> (String, String) {
        let attrs = canonical::to_canonical_string(&self.attrs);
        let fingerprint = self.fingerprint_with(&attrs);
        (attrs, fingerprint)
    }

    /// The fingerprint, given the canonical text of this resource's attrs.
    pub fn fingerprint_with(&self, attrs: &str) -> String {
        // Serializing a map of strings, a string and an optional string cannot fail.
        let labels = serde_json::to_string(&self.labels).unwrap_or_default();
        let name = serde_json::to_string(&self.name).unwrap_or_default();
        canonical::hash_parts(&[
            r#"{"attrs":"#,
            attrs,
            r#","labels":"#,
            &labels,
            r#","layer":""#,
            self.layer.as_str(),
            r#"","name":"#,
            &name,
            "}",
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fingerprint_equals_the_hash_of_the_canonical_object() {
        let resources = [
            ObservedResource::new(
                "k",
                "i",
                Layer::Live,
                json!({"z": [1, {"b": "\"quoted\"", "a": null}], "a": 1.5}),
            ),
            ObservedResource::new("k", "i", Layer::Declared, json!(null))
                .with_name("name with \"quotes\"")
                .with_label("z", "1")
                .with_label("a", "é"),
            ObservedResource::new("k", "i", Layer::Live, json!("text")).with_label("env", "prod"),
        ];
        for resource in resources {
            let expected = canonical::hash_value(&json!({
                "attrs": resource.attrs,
                "labels": resource.labels,
                "layer": resource.layer.as_str(),
                "name": resource.name,
            }));
            assert_eq!(resource.fingerprint(), expected, "{resource:?}");
            assert_eq!(
                resource.canonical_form().0,
                canonical::to_canonical_string(&resource.attrs)
            );
        }
    }
}

/// (kind, id): a resource's identity inside one source.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceKey {
    /// Resource type.
    pub kind: String,
    /// Identity within the kind.
    pub id: String,
}

/// How a scrape ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScrapeStatus {
    /// Everything the source covers was read.
    Ok,
    /// Some scopes (a region, an API) failed; only the covered scopes are authoritative.
    Partial,
    /// Nothing usable was read; nothing is deleted.
    Failed,
}

impl ScrapeStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ScrapeStatus::Ok => "ok",
            ScrapeStatus::Partial => "partial",
            ScrapeStatus::Failed => "failed",
        }
    }

    /// Parse the stored spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ok" => Some(ScrapeStatus::Ok),
            "partial" => Some(ScrapeStatus::Partial),
            "failed" => Some(ScrapeStatus::Failed),
            _ => None,
        }
    }
}

/// One part of a source's reach that a partial scrape did read, e.g. one kind, or one kind in
/// one region (an id prefix such as `arn:aws:sqs:eu-west-1:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The kind this scope covers; `None` covers every kind.
    pub kind: Option<String>,
    /// Only ids starting with this prefix; `None` covers every id of the kind.
    pub id_prefix: Option<String>,
}

impl Scope {
    /// Every resource of one kind.
    pub fn kind(kind: impl Into<String>) -> Self {
        Self {
            kind: Some(kind.into()),
            id_prefix: None,
        }
    }

    /// Whether a stored resource falls inside this scope.
    pub fn contains(&self, key: &ResourceKey) -> bool {
        self.kind.as_deref().is_none_or(|kind| kind == key.kind)
            && self
                .id_prefix
                .as_deref()
                .is_none_or(|prefix| key.id.starts_with(prefix))
    }
}

/// Which part of the source's previous state a scrape is authoritative for: only resources
/// inside the coverage can be marked deleted by their absence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    /// The scrape read everything the source covers.
    Complete,
    /// The scrape read only these scopes; `failures` says what was missed and why.
    Partial {
        /// The scopes read in full: only resources inside them can be marked removed.
        covered: Vec<Scope>,
        /// What could not be read, and why (recorded on the scrape).
        failures: Vec<String>,
    },
}

impl Coverage {
    /// Whether absence from this scrape proves that `key` is gone.
    pub fn proves_absence(&self, key: &ResourceKey) -> bool {
        match self {
            Coverage::Complete => true,
            Coverage::Partial { covered, .. } => covered.iter().any(|scope| scope.contains(key)),
        }
    }
}

/// What a source hands back from one successful (possibly partial) scrape.
#[derive(Debug, Clone)]
pub struct Observation {
    /// Everything seen.
    pub resources: Vec<ObservedResource>,
    /// What the scrape is authoritative for.
    pub coverage: Coverage,
    /// Non-fatal problems (an unparseable statement skipped, a field ignored).
    pub warnings: Vec<String>,
}

impl Observation {
    /// A complete observation with no warnings.
    pub fn complete(resources: Vec<ObservedResource>) -> Self {
        Self {
            resources,
            coverage: Coverage::Complete,
            warnings: Vec::new(),
        }
    }
}

/// The record of one scrape, written whatever happened.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeRecord {
    /// Unique, time-ordered id.
    pub scrape_id: String,
    /// Source name from the configuration.
    pub source: String,
    /// Source type (`terraform_state`, `host`, ...).
    pub source_type: String,
    /// When the scrape started: the observation instant of every version it writes.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// ok, partial or failed.
    pub status: ScrapeStatus,
    /// Resources the source reported.
    pub resources_seen: i64,
    /// Versions (new, changed, deletion markers) written.
    pub versions_written: i64,
    /// Failure text for failed scrapes, missed scopes for partial ones.
    pub error: Option<String>,
    /// Non-fatal problems.
    pub warnings: Vec<String>,
    /// The schedule interval, so staleness can be judged from the data alone.
    pub interval_seconds: Option<i64>,
}

/// How a version relates to the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// First sighting (or reappearance after a deletion).
    Added,
    /// Attributes, name, labels or layer changed.
    Modified,
    /// Deletion marker: absent from an authoritative scrape.
    Removed,
}

impl ChangeKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Modified => "modified",
            ChangeKind::Removed => "removed",
        }
    }
}

/// One row of the `versions` table: a new version or a deletion marker.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRow {
    /// Source name.
    pub source: String,
    /// Resource kind.
    pub kind: String,
    /// Resource id.
    pub id: String,
    /// Declared or live.
    pub layer: Layer,
    /// Display name.
    pub name: Option<String>,
    /// Canonical JSON text; `None` for deletion markers.
    pub attrs: Option<String>,
    /// Fingerprint; `None` for deletion markers.
    pub attrs_hash: Option<String>,
    /// Canonical JSON object of labels; `None` for deletion markers.
    pub labels: Option<String>,
    /// Added, modified or removed.
    pub change: ChangeKind,
    /// JSON array of `{path, old, new}` against the previous version (modified only).
    pub diff: Option<String>,
    /// The scrape that wrote it.
    pub scrape_id: String,
    /// Start of that scrape: from here the version holds.
    pub valid_from: DateTime<Utc>,
    /// The previous successful scrape of the source: the change happened after this.
    pub change_window_start: Option<DateTime<Utc>>,
    /// Where the declaration came from (git commit, author, ...), as JSON; `None` if unknown.
    pub provenance: Option<String>,
}
