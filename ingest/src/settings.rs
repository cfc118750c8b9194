//! The settings every `[[sources]]` entry shares, written once: the common fields
//! ([`CommonSettings`]: name, interval, timeout) and, for sources that read files, the input
//! fields ([`InputSettings`]: path and limits). A source's own settings type holds only what is
//! particular to it and lives beside the source.
//!
//! serde cannot combine `#[serde(flatten)]` with `deny_unknown_fields`, and a typo in a config
//! file must be refused by name. So a [`Sourced`] or [`FileSourced`] entry takes its shared
//! group's fields out of the table by name ([`FieldGroup::FIELDS`]) and hands the rest to the
//! source's own type, and every type involved denies unknown fields: a field no group claims is
//! "unknown field `pth`, expected one of ...".

use std::fmt;
use std::time::Duration;

use serde::de::{DeserializeOwned, Deserializer, Error as _, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::input::{Input, InputLimits, InputLocation};

/// Time between scrapes when a source sets no `interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
/// Per-scrape limit when a source sets no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// A struct whose fields are taken out of a source's table before the rest is read.
pub trait FieldGroup: DeserializeOwned {
    /// The field names, exactly as written in the configuration.
    const FIELDS: &'static [&'static str];
}

/// The fields every source has.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct CommonSettings {
    /// Unique source name.
    pub name: String,
    /// Time between scrapes, e.g. "5m" (default 5m).
    #[serde(default, deserialize_with = "crate::duration::optional_duration")]
    pub interval: Option<Duration>,
    /// Per-scrape limit, e.g. "2m" (default 2m).
    #[serde(default, deserialize_with = "crate::duration::optional_duration")]
    pub timeout: Option<Duration>,
}

impl FieldGroup for CommonSettings {
    const FIELDS: &'static [&'static str] = &["name", "interval", "timeout"];
}

impl CommonSettings {
    /// Settings with only a name: the default interval and timeout.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// The interval and timeout, defaults applied.
    pub fn schedule(&self) -> (Duration, Duration) {
        (
            self.interval.unwrap_or(DEFAULT_INTERVAL),
            self.timeout.unwrap_or(DEFAULT_TIMEOUT),
        )
    }
}

/// Where a declared source reads its files, with the limits enforced before anything is held
/// in memory.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InputSettings {
    /// A file, a directory, or an `s3://bucket/key` / `s3://bucket/prefix/` URL.
    pub path: InputLocation,
    /// Most files read from a directory or prefix (default 10000).
    #[serde(default)]
    pub max_files: Option<usize>,
    /// Largest file read, in bytes (default 64 MiB).
    #[serde(default)]
    pub max_file_bytes: Option<u64>,
}

impl FieldGroup for InputSettings {
    const FIELDS: &'static [&'static str] = &["path", "max_files", "max_file_bytes"];
}

impl InputSettings {
    /// Read from `path` with the default limits.
    pub fn at(path: InputLocation) -> Self {
        Self {
            path,
            max_files: None,
            max_file_bytes: None,
        }
    }

    /// The input with its configured limits.
    pub fn input(&self) -> Input {
        let defaults = InputLimits::default();
        Input::new(self.path.clone()).with_limits(InputLimits {
            max_files: self.max_files.unwrap_or(defaults.max_files),
            max_file_bytes: self.max_file_bytes.unwrap_or(defaults.max_file_bytes),
            max_total_bytes: defaults
                .max_total_bytes
                .max(self.max_file_bytes.unwrap_or(0)),
        })
    }
}

/// A source type with nothing to configure beyond the shared groups.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct NoSettings {}

/// The settings of a file-reading source: its input and its own settings `T`.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSourced<T> {
    /// Path and limits.
    pub input: InputSettings,
    /// What is particular to this source type.
    pub own: T,
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for FileSourced<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (input, own) = split::<InputSettings, T, D>(deserializer)?;
        Ok(Self { input, own })
    }
}

/// Split a table into `A`'s fields and the rest, read as `B`; both refuse unknown fields.
pub fn split<'de, A: FieldGroup, B: DeserializeOwned, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<(A, B), D::Error> {
    let mut rest = deserializer.deserialize_map(TableVisitor)?;
    let mut group = Map::new();
    for field in A::FIELDS {
        if let Some(value) = rest.remove(*field) {
            group.insert((*field).to_string(), value);
        }
    }
    let group = A::deserialize(Value::Object(group)).map_err(D::Error::custom)?;
    let rest = B::deserialize(Value::Object(rest)).map_err(D::Error::custom)?;
    Ok((group, rest))
}

/// Reads a table as JSON values, so it can be divided between types.
struct TableVisitor;

impl<'de> Visitor<'de> for TableVisitor {
    type Value = Map<String, Value>;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a table of settings")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut access: M) -> Result<Self::Value, M::Error> {
        let mut table = Map::new();
        while let Some((key, value)) = access.next_entry::<String, Value>()? {
            if table.insert(key.clone(), value).is_some() {
                return Err(M::Error::custom(format!("duplicate field `{key}`")));
            }
        }
        Ok(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Own {
        #[serde(default)]
        layout: Option<String>,
    }

    fn parse<T: DeserializeOwned>(text: &str) -> Result<T, String> {
        toml::from_str::<T>(text).map_err(|error| error.to_string())
    }

    #[test]
    fn groups_take_their_fields_and_the_rest_refuses_unknown_ones() {
        let parsed: FileSourced<Own> =
            parse("path = \"db/\"\nmax_files = 3\nlayout = \"flyway\"\n").unwrap();
        assert_eq!(parsed.input.max_files, Some(3));
        assert_eq!(parsed.own.layout.as_deref(), Some("flyway"));
        let error = parse::<FileSourced<Own>>("path = \"db/\"\npth = \"typo\"\n").unwrap_err();
        assert!(error.contains("unknown field `pth`"), "{error}");
        let error = parse::<FileSourced<Own>>("layout = \"x\"\n").unwrap_err();
        assert!(error.contains("missing field `path`"), "{error}");
    }

    /// The fields serde knows for `T`, read from its own "unknown field" message.
    fn declared_fields<T: DeserializeOwned + std::fmt::Debug>() -> Vec<String> {
        let error = serde_json::from_value::<T>(serde_json::json!({"no such field": 1}))
            .unwrap_err()
            .to_string();
        let listed = error
            .split("expected one of ")
            .nth(1)
            .unwrap_or_else(|| panic!("serde did not list the fields: {error}"));
        listed
            .split(", ")
            .map(|field| field.trim().trim_matches('`').to_string())
            .map(|field| field.split('`').next().unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn field_lists_are_exactly_the_groups_fields() {
        // A field missing from a list would be handed to the source's own type and refused
        // there as unknown; a listed name that is no field would be taken and then refused.
        assert_eq!(declared_fields::<CommonSettings>(), CommonSettings::FIELDS);
        assert_eq!(declared_fields::<InputSettings>(), InputSettings::FIELDS);
        let common: CommonSettings = serde_json::from_value(
            serde_json::json!({"name": "a", "interval": "1m", "timeout": "5s"}),
        )
        .unwrap();
        assert_eq!(
            common.schedule(),
            (Duration::from_secs(60), Duration::from_secs(5))
        );
    }
}
