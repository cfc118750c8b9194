//! Keyed secret markers: what the store keeps instead of a secret.
//!
//! Sources replace the secrets they know of (by field name) with
//! [`groundtruth_engine::canonical::redacted`], an in-memory stand-in holding a domain-separated
//! SHA-256 of the secret. That digest must never be stored: a weak secret could be brute-forced
//! from it. The runner, the store's only writer, passes every observation through
//! [`Redactor::seal_observation`] before anything is diffed or committed, which
//!
//! - turns each stand-in into `{"redacted": true, "key": ID, "hmac": HMAC-SHA256(key, digest)}`,
//!   so guessing a secret needs the key, kept outside the store (see the server's
//!   `[secrets]` configuration);
//! - finds secrets no field name announced ([`scan`]: AWS keys, private key blocks, JWTs,
//!   GitHub/Slack/Stripe/Google tokens, passwords in URLs and DSNs, high-entropy values under
//!   secret-sounding keys) in every attribute, label, name, warning and error text.
//!
//! The marker names its key's id, so markers written before a rotation stay recognisable; a
//! rotation changes every marker, which the next scrape records as a change (a secret rotated
//! while the key was rotated shows up too).

pub mod scan;

use std::fmt;
use std::sync::Arc;

use groundtruth_engine::canonical::{self, REDACTED_MARKER};
use groundtruth_engine::model::Observation;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{IngestError, Result};

/// Bytes of a secret key.
pub const KEY_LENGTH: usize = 32;

/// Hex digits of the keyed hash kept in in-text tags (`<redacted:ID:HMAC>`).
const TAG_HASH_LENGTH: usize = 16;

/// The key of the redaction HMAC, with the id markers carry. Never printed: `Debug` shows the id.
#[derive(Clone)]
pub struct SecretKey {
    bytes: [u8; KEY_LENGTH],
    id: String,
}

impl SecretKey {
    /// A new random key.
    pub fn generate() -> Self {
        Self::from_bytes(rand::random())
    }

    /// The key with these bytes; its id is derived from them (so the same key always has the
    /// same id, and the id reveals nothing usable about the key).
    pub fn from_bytes(bytes: [u8; KEY_LENGTH]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"groundtruth-secret-key-id\0");
        hasher.update(bytes);
        let id = hex::encode(&hasher.finalize()[..4]);
        Self { bytes, id }
    }

    /// Parse the text form ([`SecretKey::encode`]: 64 hex digits; surrounding whitespace is
    /// ignored). `origin` names where the text came from in errors; the text is never echoed.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let text = text.trim();
        let decoded = hex::decode(text)
            .ok()
            .filter(|bytes| bytes.len() == KEY_LENGTH);
        let Some(decoded) = decoded else {
            return Err(IngestError::Config(format!(
                "{origin}: a secret key is {} hex digits (got {} characters)",
                KEY_LENGTH * 2,
                text.len()
            )));
        };
        let mut bytes = [0u8; KEY_LENGTH];
        bytes.copy_from_slice(&decoded);
        Ok(Self::from_bytes(bytes))
    }

    /// The text form: 64 hex digits.
    pub fn encode(&self) -> String {
        hex::encode(self.bytes)
    }

    /// The id markers sealed with this key carry.
    pub fn id(&self) -> &str {
        &self.id
    }

    #[allow(clippy::expect_used, reason = "HMAC accepts keys of any length")]
    fn mac(&self, digest: &str) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.bytes)
            .expect("HMAC-SHA256 takes a key of any length");
        mac.update(b"groundtruth-redaction-v2\0");
        mac.update(digest.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey").field("id", &self.id).finish()
    }
}

/// Seals stand-ins and hides unannounced secrets with one [`SecretKey`].
#[derive(Debug, Clone)]
pub struct Redactor {
    key: Arc<SecretKey>,
}

impl Redactor {
    /// A redactor sealing with `key`.
    pub fn new(key: SecretKey) -> Self {
        Self { key: Arc::new(key) }
    }

    /// A redactor with a random key that lives as long as the process: for tests, benchmarks
    /// and the demo. A store written with it cannot be compared with later runs' markers (each
    /// run's markers differ), so servers configure a kept key instead.
    pub fn ephemeral() -> Self {
        Self::new(SecretKey::generate())
    }

    /// The id of the key markers are sealed with.
    pub fn key_id(&self) -> &str {
        self.key.id()
    }

    /// The stored marker for a secret value.
    pub fn marker(&self, secret: &Value) -> Value {
        self.seal_digest(&stand_in_digest(&canonical::redacted(secret)))
    }

    fn seal_digest(&self, digest: &str) -> Value {
        serde_json::json!({
            REDACTED_MARKER: true,
            "key": self.key.id(),
            "hmac": self.key.mac(digest),
        })
    }

    /// The in-text tag for a secret found inside a longer text.
    pub fn tag(&self, secret: &str) -> String {
        let digest = stand_in_digest(&canonical::redacted(&Value::String(secret.to_string())));
        self.tag_for_digest(&digest)
    }

    fn tag_for_digest(&self, digest: &str) -> String {
        let mac = self.key.mac(digest);
        format!("<redacted:{}:{}>", self.key.id(), &mac[..TAG_HASH_LENGTH])
    }

    /// Seal every stand-in and hide every unannounced secret in a scrape's resources and
    /// warnings. Identities (`kind`, `id`) are left alone: they must stay stable.
    pub fn seal_observation(&self, observation: &mut Observation) {
        for resource in &mut observation.resources {
            self.seal_value(&mut resource.attrs);
            if let Some(name) = &mut resource.name {
                *name = self.seal_text(name);
            }
            for (key, value) in resource.labels.iter_mut() {
                *value = if scan::suspicious_key_holds_secret(key, value) {
                    self.tag(value)
                } else {
                    self.seal_text(value)
                };
            }
        }
        for warning in &mut observation.warnings {
            *warning = self.seal_text(warning);
        }
        if let groundtruth_engine::model::Coverage::Partial { failures, .. } =
            &mut observation.coverage
        {
            for failure in failures {
                *failure = self.seal_text(failure);
            }
        }
    }

    /// Seal stand-ins and hide secrets in a JSON value, in place.
    pub fn seal_value(&self, value: &mut Value) {
        if canonical::is_redacted(value) {
            self.seal_marker(value);
            return;
        }
        match value {
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    match child {
                        Value::String(text) if scan::suspicious_key_holds_secret(key, text) => {
                            *child = self.marker(child);
                        }
                        other => self.seal_value(other),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.seal_value(item)),
            Value::String(text) => match scan::find(text) {
                scan::Found::Nothing => {}
                scan::Found::Whole => *value = self.marker(value),
                scan::Found::Spans(spans) => *value = Value::String(self.replace(text, &spans)),
            },
            _ => {}
        }
    }

    /// `text` with every secret it contains replaced by a tag (error messages, warnings,
    /// labels, names).
    pub fn seal_text(&self, text: &str) -> String {
        match scan::find(text) {
            scan::Found::Nothing => text.to_string(),
            scan::Found::Whole => self.tag(text),
            scan::Found::Spans(spans) => self.replace(text, &spans),
        }
    }

    fn replace(&self, text: &str, spans: &[scan::Span]) -> String {
        let mut result = String::with_capacity(text.len());
        let mut position = 0;
        for span in spans {
            result.push_str(&text[position..span.start]);
            match span.kind {
                // A source's own in-text stand-in: seal its digest prefix.
                scan::SpanKind::UnsealedTag => {
                    result.push_str(&self.tag_for_digest(&text[span.start..span.end]))
                }
                scan::SpanKind::Secret => result.push_str(&self.tag(&text[span.start..span.end])),
            }
            position = span.end;
        }
        result.push_str(&text[position..]);
        result
    }

    fn seal_marker(&self, marker: &mut Value) {
        // Already sealed (by this or an earlier key): leave it; re-sealing would hide which
        // key sealed it without hiding anything more.
        if marker.get("hmac").is_some() {
            return;
        }
        let digest = stand_in_digest(marker);
        *marker = self.seal_digest(&digest);
    }
}

/// The digest a source's stand-in carries (its canonical text if it has none, so a malformed
/// stand-in is still sealed rather than stored).
fn stand_in_digest(stand_in: &Value) -> String {
    match stand_in.get("sha256").and_then(Value::as_str) {
        Some(digest) => digest.to_string(),
        None => canonical::hash_value(stand_in),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use groundtruth_engine::model::{Layer, ObservedResource};
    use serde_json::json;

    #[test]
    fn markers_are_keyed_and_name_their_key() {
        let one = Redactor::new(SecretKey::from_bytes([1; KEY_LENGTH]));
        let two = Redactor::new(SecretKey::from_bytes([2; KEY_LENGTH]));
        let mut first = json!({"password": canonical::redacted(&json!("hunter2"))});
        let mut second = first.clone();
        one.seal_value(&mut first);
        two.seal_value(&mut second);
        assert!(canonical::is_redacted(&first["password"]));
        assert_eq!(first["password"]["key"], one.key_id());
        assert_ne!(first, second, "a rotated key changes the marker");
        assert!(first["password"].get("sha256").is_none(), "{first}");
        // The unkeyed digest is gone; the same secret under the same key seals the same.
        assert_eq!(first["password"], one.marker(&json!("hunter2")));
        assert_ne!(first["password"], one.marker(&json!("hunter3")));
        // Sealing twice changes nothing.
        let again = first.clone();
        one.seal_value(&mut first);
        assert_eq!(first, again);
    }

    #[test]
    fn key_text_round_trips_and_errors_do_not_echo_it() {
        let key = SecretKey::generate();
        let parsed = SecretKey::parse(&format!("{}\n", key.encode()), "file").unwrap();
        assert_eq!(parsed.id(), key.id());
        let error = SecretKey::parse("not-a-key-hunter2", "GROUNDTRUTH_SECRET_KEY")
            .unwrap_err()
            .to_string();
        assert!(error.contains("GROUNDTRUTH_SECRET_KEY"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        assert!(!format!("{key:?}").contains(&key.encode()));
    }

    #[test]
    fn unannounced_secrets_are_sealed_everywhere_in_an_observation() {
        let redactor = Redactor::new(SecretKey::from_bytes([7; KEY_LENGTH]));
        let resource = ObservedResource::new(
            "k8s/core/ConfigMap",
            "shop/app",
            Layer::Declared,
            json!({"data": {
                "DATABASE_URL": "postgres://app:s3cr3t-pw@db:5432/shop",
                "AWS_KEY": "AKIAIOSFODNN7EXAMPLE",
                "api_token": "Zq8vX2mR7tLw4nYp9sKc3bHf",
                "level": "info",
            }}),
        )
        .with_label("ci.token", "Zq8vX2mR7tLw4nYp9sKc3bHf")
        .with_label("team", "payments");
        let mut observation = Observation::complete(vec![resource]);
        observation
            .warnings
            .push("argv --token=<redacted:0123456789abcdef>".into());
        redactor.seal_observation(&mut observation);
        let text = format!("{observation:?}");
        for secret in [
            "s3cr3t-pw",
            "AKIAIOSFODNN7EXAMPLE",
            "Zq8vX2mR7tLw4nYp9sKc3bHf",
            "0123456789abcdef",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let data = &observation.resources[0].attrs["data"];
        assert_eq!(data["level"], "info");
        assert!(data["DATABASE_URL"]
            .as_str()
            .unwrap()
            .starts_with("postgres://app:<redacted:"));
        assert!(canonical::is_redacted(&data["AWS_KEY"]));
        assert!(canonical::is_redacted(&data["api_token"]));
        assert_eq!(observation.resources[0].labels["team"], "payments");
    }
}
