//! Canonical JSON, fingerprints, secret redaction and attribute diffs.
//!
//! Canonical form: object keys sorted bytewise at every depth, no insignificant whitespace.
//! Two observations with the same meaning therefore have the same text and the same hash.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The key a redacted value carries, so readers (and tests) can recognise it.
pub const REDACTED_MARKER: &str = "redacted";

/// Return `value` with every object's keys sorted, recursively.
pub fn canonicalize(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut sorted = Map::new();
            for key in keys {
                sorted.insert(key.clone(), canonicalize(&map[key]));
            }
            Value::Object(sorted)
        }
        Value::Array(items) => Value::Array(items.iter().map(canonicalize).collect()),
        other => other.clone(),
    }
}

/// Canonical JSON text of `value`: the text of [`canonicalize`], written directly (no copy of
/// the value is made; ingest calls this for every observed resource).
pub fn to_canonical_string(value: &Value) -> String {
    let mut text = Vec::with_capacity(512);
    write_canonical(value, &mut text);
    // Only serde_json output and ASCII punctuation were written, so the bytes are UTF-8.
    String::from_utf8(text).unwrap_or_default()
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|left, right| left.0.cmp(right.0));
            out.push(b'{');
            for (index, (key, item)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                // Writing a string into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, key.as_str());
                out.push(b':');
                write_canonical(item, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(value: &Value, out: &mut Vec<u8>) {
    // Writing JSON scalars into a Vec cannot fail (no I/O, no non-string map keys).
    let _ = serde_json::to_writer(&mut *out, value);
}

/// SHA-256 (hex) of the canonical text of `value`.
pub fn hash_value(value: &Value) -> String {
    hash_text(&to_canonical_string(value))
}

/// SHA-256 (hex) of text.
pub fn hash_text(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// SHA-256 (hex) of the concatenation of `parts`, without building it.
pub fn hash_parts(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// The in-memory stand-in a source puts in place of a secret: `{"redacted": true, "sha256": "..."}`.
///
/// It is never stored as is: the ingest runner seals it into a keyed marker
/// (`{"redacted": true, "key": ID, "hmac": ...}`, see `groundtruth_ingest::secrets`), since an
/// unkeyed hash of a weak secret can be brute-forced. The hash is domain-separated and still
/// changes when the secret changes, so a rotation is recorded as a change.
pub fn redacted(secret: &Value) -> Value {
    let text = match secret {
        Value::String(text) => text.clone(),
        other => to_canonical_string(other),
    };
    let digest = hash_text(&format!("groundtruth-redaction-v1\u{0}{text}"));
    serde_json::json!({ REDACTED_MARKER: true, "sha256": digest })
}

/// Whether `value` is a redaction marker produced by [`redacted`].
pub fn is_redacted(value: &Value) -> bool {
    value.get(REDACTED_MARKER) == Some(&Value::Bool(true))
}

/// One changed attribute path between two versions.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AttributeChange {
    /// Dotted path with `[i]` for array elements, e.g. `ingress[0].port`.
    pub path: String,
    /// Value before (`null` if absent).
    pub old: Value,
    /// Value after (`null` if absent).
    pub new: Value,
}

/// The attribute paths that differ between `old` and `new`, at the deepest level where both
/// sides are still objects (or equal-length arrays).
pub fn diff(old: &Value, new: &Value) -> Vec<AttributeChange> {
    let mut changes = Vec::new();
    diff_into("", old, new, &mut changes);
    changes
}

fn diff_into(path: &str, old: &Value, new: &Value, changes: &mut Vec<AttributeChange>) {
    if old == new {
        return;
    }
    match (old, new) {
        // A redacted secret is one value: its change is reported at the secret's own path.
        (Value::Object(before), Value::Object(after)) if !is_redacted(old) && !is_redacted(new) => {
            let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                diff_into(
                    &child,
                    before.get(key).unwrap_or(&Value::Null),
                    after.get(key).unwrap_or(&Value::Null),
                    changes,
                );
            }
        }
        (Value::Array(before), Value::Array(after)) if before.len() == after.len() => {
            for (index, (left, right)) in before.iter().zip(after).enumerate() {
                diff_into(&format!("{path}[{index}]"), left, right, changes);
            }
        }
        _ => changes.push(AttributeChange {
            path: path.to_string(),
            old: old.clone(),
            new: new.clone(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_text_ignores_key_order() {
        let a = json!({"b": 1, "a": {"y": [1, {"d": 1, "c": 2}], "x": null}});
        let b = json!({"a": {"x": null, "y": [1, {"c": 2, "d": 1}]}, "b": 1});
        assert_eq!(to_canonical_string(&a), to_canonical_string(&b));
        assert_eq!(
            to_canonical_string(&a),
            r#"{"a":{"x":null,"y":[1,{"c":2,"d":1}]},"b":1}"#
        );
        assert_eq!(hash_value(&a), hash_value(&b));
    }

    #[test]
    fn direct_writer_matches_canonicalize() {
        let value = json!({"é": "ü\"\n", "b": [1.5, -2, 1e300, null, true, {"z": {}, "a": []}], "a": {"k": "\u{1}"}});
        assert_eq!(
            to_canonical_string(&value),
            canonicalize(&value).to_string()
        );
    }

    #[test]
    fn diff_reports_leaf_paths() {
        let old = json!({"timeout": 30, "tags": {"env": "prod", "team": "a"}, "ports": [80, 443], "gone": 1});
        let new = json!({"timeout": 60, "tags": {"env": "prod", "team": "b"}, "ports": [80, 8443], "added": true});
        let paths: Vec<String> = diff(&old, &new)
            .into_iter()
            .map(|change| change.path)
            .collect();
        assert_eq!(
            paths,
            vec!["added", "gone", "ports[1]", "tags.team", "timeout"]
        );
    }

    #[test]
    fn diff_of_resized_array_is_the_whole_array() {
        let changes = diff(&json!({"a": [1]}), &json!({"a": [1, 2]}));
        assert_eq!(
            changes,
            vec![AttributeChange {
                path: "a".into(),
                old: json!([1]),
                new: json!([1, 2])
            }]
        );
    }

    #[test]
    fn a_changed_secret_is_reported_at_its_own_path() {
        let old = json!({"password": redacted(&json!("a"))});
        let new = json!({"password": redacted(&json!("b"))});
        let changes = diff(&old, &new);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path, "password");
    }

    #[test]
    fn redaction_hides_the_secret_but_tracks_changes() {
        let first = redacted(&json!("hunter2"));
        let text = first.to_string();
        assert!(!text.contains("hunter2"));
        assert_eq!(first, redacted(&json!("hunter2")));
        assert_ne!(first, redacted(&json!("hunter3")));
    }
}
