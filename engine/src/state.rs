//! The latest known version of every resource, per source, and the diff that turns a new
//! observation into the few rows worth storing.
//!
//! This is where "only changes are stored" is decided. The index lives in memory in the writer
//! and is rebuilt from the store on start, so a restart needs no repair.

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::canonical;
use crate::model::{ChangeKind, Layer, Observation, ObservedResource, ResourceKey, VersionRow};

/// The latest live (not deleted) version of one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentVersion {
    /// Declared or live.
    pub layer: Layer,
    /// Display name.
    pub name: Option<String>,
    /// Attributes, as canonical JSON text (the text stored): a tree per resource would cost
    /// the writer several kilobytes each, and only a changed resource's diff needs one.
    pub attrs: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Change-detection fingerprint.
    pub fingerprint: String,
}

impl CurrentVersion {
    /// The version an observed resource becomes once committed, from its canonical form.
    pub fn observed(resource: &ObservedResource, attrs: String, fingerprint: String) -> Self {
        Self {
            layer: resource.layer,
            name: resource.name.clone(),
            attrs,
            labels: resource.labels.clone(),
            fingerprint,
        }
    }
}

impl CurrentVersion {
    /// Whether `resource`, whose canonical attrs text is `attrs`, is this version unchanged.
    fn is_same(&self, resource: &ObservedResource, attrs: &str) -> bool {
        self.attrs == attrs
            && self.layer == resource.layer
            && self.name == resource.name
            && self.labels == resource.labels
    }
}

impl From<&ObservedResource> for CurrentVersion {
    fn from(resource: &ObservedResource) -> Self {
        let (attrs, fingerprint) = resource.canonical_form();
        Self::observed(resource, attrs, fingerprint)
    }
}

/// What the store knows about one source.
#[derive(Debug, Clone, Default)]
pub struct SourceState {
    /// Latest version of every resource not deleted.
    pub resources: HashMap<ResourceKey, CurrentVersion>,
    /// Start of the last scrape with status ok or partial.
    pub last_success: Option<DateTime<Utc>>,
}

/// Rows to write for one scrape, and how the index changes once they are committed.
#[derive(Debug, Clone, Default)]
pub struct ChangeSet {
    /// New versions and deletion markers, in a deterministic order.
    pub rows: Vec<VersionRow>,
    /// Non-fatal problems found while diffing (duplicate identities).
    pub warnings: Vec<String>,
    upserts: Vec<(ResourceKey, CurrentVersion)>,
    removals: Vec<ResourceKey>,
}

/// Identity and timing of the scrape being diffed.
#[derive(Debug, Clone)]
pub struct ScrapeStamp<'a> {
    /// Source name.
    pub source: &'a str,
    /// Scrape id.
    pub scrape_id: &'a str,
    /// Scrape start: `valid_from` of every row written.
    pub started_at: DateTime<Utc>,
    /// Provenance JSON attached to every row (git commit of a declared file, ...).
    pub provenance: Option<&'a str>,
}

impl SourceState {
    /// Diff an observation against the current state.
    ///
    /// Most of a diff's cost is the canonical text and SHA-256 of every observed resource
    /// (100k per scrape at scale), so that part runs on all cores; the few changed resources
    /// are then ordered by identity, so the rows written do not depend on the schedule.
    pub fn plan(
        &self,
        stamp: &ScrapeStamp<'_>,
        observation: &Observation,
    ) -> Result<ChangeSet, serde_json::Error> {
        let mut changes = ChangeSet::default();
        // The last report of an identity is the one kept.
        let mut latest: HashMap<(&str, &str), usize, foldhash::fast::RandomState> =
            HashMap::with_capacity_and_hasher(observation.resources.len(), Default::default());
        for (index, resource) in observation.resources.iter().enumerate() {
            if latest
                .insert((resource.kind.as_str(), resource.id.as_str()), index)
                .is_some()
            {
                changes.warnings.push(format!(
                    "resource {}/{} reported more than once; the last report was kept",
                    resource.kind, resource.id
                ));
            }
        }

        let mut changed: Vec<Changed<'_>> = observation
            .resources
            .par_iter()
            .enumerate()
            .filter(|(index, resource)| {
                latest.get(&(resource.kind.as_str(), resource.id.as_str())) == Some(index)
            })
            .filter_map(|(_, resource)| {
                let key = resource.key();
                let previous = self.resources.get(&key);
                let attrs_text = canonical::to_canonical_string(&resource.attrs);
                // Same attrs text, name, labels and layer give the same fingerprint, so most
                // resources (unchanged) are settled without hashing.
                if previous.is_some_and(|previous| previous.is_same(resource, &attrs_text)) {
                    return None;
                }
                let fingerprint = resource.fingerprint_with(&attrs_text);
                if previous.is_some_and(|previous| previous.fingerprint == fingerprint) {
                    return None;
                }
                Some(Changed {
                    key,
                    resource,
                    previous,
                    attrs_text,
                    fingerprint,
                })
            })
            .collect();
        changed.sort_unstable_by(|left, right| left.key.cmp(&right.key));

        for Changed {
            key,
            resource,
            previous,
            attrs_text,
            fingerprint,
        } in changed
        {
            let (change, diff) = match previous {
                None => (ChangeKind::Added, None),
                Some(previous) => (
                    ChangeKind::Modified,
                    Some(serde_json::to_string(&attribute_changes(
                        previous, resource,
                    )?)?),
                ),
            };
            changes.rows.push(VersionRow {
                source: stamp.source.to_string(),
                kind: key.kind.clone(),
                id: key.id.clone(),
                layer: resource.layer,
                name: resource.name.clone(),
                attrs: Some(attrs_text.clone()),
                attrs_hash: Some(fingerprint.clone()),
                labels: Some(serde_json::to_string(&resource.labels)?),
                change,
                diff,
                scrape_id: stamp.scrape_id.to_string(),
                valid_from: stamp.started_at,
                change_window_start: self.last_success,
                provenance: stamp.provenance.map(str::to_string),
            });
            changes.upserts.push((
                key,
                CurrentVersion::observed(resource, attrs_text, fingerprint),
            ));
        }

        let mut absent: Vec<(&ResourceKey, &CurrentVersion)> = self
            .resources
            .iter()
            .filter(|(key, _)| {
                !latest.contains_key(&(key.kind.as_str(), key.id.as_str()))
                    && observation.coverage.proves_absence(key)
            })
            .collect();
        absent.sort_by(|left, right| left.0.cmp(right.0));
        for (key, previous) in absent {
            changes.rows.push(VersionRow {
                source: stamp.source.to_string(),
                kind: key.kind.clone(),
                id: key.id.clone(),
                layer: previous.layer,
                name: previous.name.clone(),
                attrs: None,
                attrs_hash: None,
                labels: None,
                change: ChangeKind::Removed,
                diff: None,
                scrape_id: stamp.scrape_id.to_string(),
                valid_from: stamp.started_at,
                change_window_start: self.last_success,
                provenance: stamp.provenance.map(str::to_string),
            });
            changes.removals.push(key.clone());
        }
        Ok(changes)
    }

    /// Make the index reflect a committed change set from a scrape that started at `started_at`.
    pub fn apply(&mut self, changes: ChangeSet, started_at: DateTime<Utc>) {
        for (key, version) in changes.upserts {
            self.resources.insert(key, version);
        }
        for key in changes.removals {
            self.resources.remove(&key);
        }
        self.last_success = Some(
            self.last_success
                .map_or(started_at, |previous| previous.max(started_at)),
        );
    }
}

/// An observed resource whose fingerprint differs from the stored one (or that is new).
struct Changed<'a> {
    key: ResourceKey,
    resource: &'a ObservedResource,
    previous: Option<&'a CurrentVersion>,
    attrs_text: String,
    fingerprint: String,
}

/// What changed between the stored version and the observed one: attribute paths, then the
/// name and the labels as `$name` and `$labels`. Only changed resources get here, so parsing
/// the stored text is cheap next to keeping every resource's attributes as a JSON tree.
fn attribute_changes(
    previous: &CurrentVersion,
    resource: &ObservedResource,
) -> Result<Vec<canonical::AttributeChange>, serde_json::Error> {
    let old: Value = serde_json::from_str(&previous.attrs)?;
    let mut changes = canonical::diff(&old, &canonical::canonicalize(&resource.attrs));
    if previous.name != resource.name {
        changes.push(canonical::AttributeChange {
            path: "$name".into(),
            old: previous.name.clone().map_or(Value::Null, Value::String),
            new: resource.name.clone().map_or(Value::Null, Value::String),
        });
    }
    if previous.labels != resource.labels {
        changes.push(canonical::AttributeChange {
            path: "$labels".into(),
            old: serde_json::to_value(&previous.labels)?,
            new: serde_json::to_value(&resource.labels)?,
        });
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Coverage, Scope};
    use serde_json::json;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn queue(id: &str, timeout: i64) -> ObservedResource {
        ObservedResource::new(
            "queue",
            id,
            Layer::Live,
            json!({"visibility_timeout": timeout}),
        )
        .with_name(id)
    }

    fn stamp(started: &str) -> ScrapeStamp<'static> {
        ScrapeStamp {
            source: "aws",
            scrape_id: "s",
            started_at: at(started),
            provenance: None,
        }
    }

    #[test]
    fn unchanged_resources_write_nothing_and_changes_carry_their_diff() {
        let mut state = SourceState::default();
        let first = state
            .plan(
                &stamp("2026-01-01T00:00:00Z"),
                &Observation::complete(vec![queue("a", 30), queue("b", 30)]),
            )
            .unwrap();
        assert_eq!(first.rows.len(), 2);
        assert!(first
            .rows
            .iter()
            .all(|row| row.change == ChangeKind::Added && row.change_window_start.is_none()));
        state.apply(first, at("2026-01-01T00:00:00Z"));

        let second = state
            .plan(
                &stamp("2026-01-01T01:00:00Z"),
                &Observation::complete(vec![queue("a", 30), queue("b", 60)]),
            )
            .unwrap();
        assert_eq!(second.rows.len(), 1);
        let row = &second.rows[0];
        assert_eq!((row.id.as_str(), row.change), ("b", ChangeKind::Modified));
        assert_eq!(row.change_window_start, Some(at("2026-01-01T00:00:00Z")));
        let diff: Value = serde_json::from_str(row.diff.as_deref().unwrap()).unwrap();
        assert_eq!(
            diff,
            json!([{"path": "visibility_timeout", "old": 30, "new": 60}])
        );
    }

    #[test]
    fn absence_deletes_only_inside_coverage() {
        let mut state = SourceState::default();
        let observed = Observation::complete(vec![
            ObservedResource::new("queue", "q1", Layer::Live, json!({})),
            ObservedResource::new("function", "f1", Layer::Live, json!({})),
        ]);
        let first = state
            .plan(&stamp("2026-01-01T00:00:00Z"), &observed)
            .unwrap();
        state.apply(first, at("2026-01-01T00:00:00Z"));

        let partial = Observation {
            resources: vec![],
            coverage: Coverage::Partial {
                covered: vec![Scope::kind("queue")],
                failures: vec!["lambda: throttled".into()],
            },
            warnings: vec![],
        };
        let changes = state
            .plan(&stamp("2026-01-01T01:00:00Z"), &partial)
            .unwrap();
        assert_eq!(changes.rows.len(), 1);
        assert_eq!(
            (changes.rows[0].kind.as_str(), changes.rows[0].change),
            ("queue", ChangeKind::Removed)
        );
        state.apply(changes, at("2026-01-01T01:00:00Z"));
        assert!(state.resources.contains_key(&ResourceKey {
            kind: "function".into(),
            id: "f1".into()
        }));
    }

    #[test]
    fn a_stored_text_in_another_spelling_is_judged_by_its_fingerprint() {
        let resource = queue("a", 30);
        let mut version = CurrentVersion::from(&resource);
        // The same attributes, not in canonical spelling (as an older writer might store).
        version.attrs = r#"{ "visibility_timeout": 30 }"#.into();
        let mut state = SourceState::default();
        state.resources.insert(resource.key(), version.clone());
        let same = state
            .plan(
                &stamp("2026-01-01T00:00:00Z"),
                &Observation::complete(vec![resource]),
            )
            .unwrap();
        assert!(same.rows.is_empty(), "{:?}", same.rows);

        let changed = state
            .plan(
                &stamp("2026-01-01T00:00:00Z"),
                &Observation::complete(vec![queue("a", 31)]),
            )
            .unwrap();
        assert_eq!(changed.rows.len(), 1);
        assert_eq!(changed.rows[0].change, ChangeKind::Modified);
    }

    #[test]
    fn duplicate_identities_are_reported_not_doubled() {
        let state = SourceState::default();
        let changes = state
            .plan(
                &stamp("2026-01-01T00:00:00Z"),
                &Observation::complete(vec![queue("a", 1), queue("a", 2)]),
            )
            .unwrap();
        assert_eq!(changes.rows.len(), 1);
        assert_eq!(changes.warnings.len(), 1);
        assert!(changes.rows[0].attrs.as_deref().unwrap().contains('2'));
    }
}
