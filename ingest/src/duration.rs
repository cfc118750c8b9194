//! Durations in configuration files: "90s", "5m", "2h", "1d" or a bare number of seconds.
//! One parser and one serde helper for every source's and the server's settings.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::error::{IngestError, Result};

/// Parse "90s", "5m", "2h", "1d" or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|character: char| !character.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number.parse().map_err(|_| {
        IngestError::Config(format!(
            "invalid duration '{text}' (use e.g. 30s, 5m, 2h, 1d)"
        ))
    })?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "m" => value * 60,
        "h" => value * 3600,
        "d" => value * 86_400,
        other => {
            return Err(IngestError::Config(format!(
                "invalid duration unit '{other}' in '{text}' (use s, m, h or d)"
            )))
        }
    };
    Ok(Duration::from_secs(seconds))
}

/// Serde helper for `Option<Duration>` fields written as [`parse_duration`] text:
/// `#[serde(default, deserialize_with = "crate::duration::optional_duration")]`.
pub fn optional_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<Duration>, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    text.map(|text| parse_duration(&text).map_err(serde::de::Error::custom))
        .transpose()
}
