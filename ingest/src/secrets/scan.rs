//! Finding secrets no field name announced: by their shape (provider token formats, private
//! key blocks, passwords in URLs, DSNs and `key=value` text) and by the key they sit under
//! (a literal password, or a random-looking value under a token or API-key name).
//!
//! False positives cost a readable value; false negatives leak a secret into an append-only
//! store. The patterns lean to the first, but stay specific enough that ordinary attributes
//! (ARNs, ids, image digests, hostnames) are kept.

// The patterns here are literals; every test that reads them compiles them.
#![allow(clippy::expect_used)]

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

/// Where secrets were found in a text.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// None.
    Nothing,
    /// The whole text is one secret.
    Whole,
    /// These ranges, in order, not overlapping.
    Spans(Vec<Span>),
}

/// A byte range of a text to replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Start byte.
    pub start: usize,
    /// End byte (exclusive).
    pub end: usize,
    /// What is there.
    pub kind: SpanKind,
}

/// What a [`Span`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// A secret.
    Secret,
    /// The digest prefix of a source's unsealed in-text stand-in (`<redacted:HEX>`).
    UnsealedTag,
}

/// How a pattern's match is confirmed.
#[derive(Clone, Copy)]
enum Check {
    /// The shape is enough.
    Shape,
    /// Group 1 must name a secret ([`names_secret`]) and the value must not be a reference.
    KeyNamesSecret,
    /// The value must not be a reference (`${VAR}`, an earlier tag).
    NotReference,
}

struct Pattern {
    regex: Regex,
    /// The capture group holding the secret (0: the whole match).
    group: usize,
    check: Check,
    kind: SpanKind,
}

/// (pattern, secret group, check). Order does not matter: overlapping spans are merged.
const PATTERNS: &[(&str, usize, Check)] = &[
    // PEM private keys of any algorithm, to the END line (or the end of the text if cut).
    (
        r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----(?s:.*?)(?:-----END[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----|\z)",
        0,
        Check::Shape,
    ),
    // AWS access key ids (long-term and temporary).
    (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", 0, Check::Shape),
    // JSON Web Tokens.
    (
        r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        0,
        Check::Shape,
    ),
    // GitHub tokens (classic, OAuth, app, refresh) and fine-grained PATs.
    (
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b",
        0,
        Check::Shape,
    ),
    // Slack tokens and incoming-webhook paths.
    (r"\bxox[abposr]-[A-Za-z0-9-]{10,}", 0, Check::Shape),
    (
        r"hooks\.slack\.com/services/([A-Za-z0-9_/-]{16,})",
        1,
        Check::Shape,
    ),
    // Stripe secret and restricted keys.
    (r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}\b", 0, Check::Shape),
    // Google API keys.
    (r"\bAIza[0-9A-Za-z_-]{35}\b", 0, Check::Shape),
    // npm and SendGrid tokens.
    (r"\bnpm_[A-Za-z0-9]{36}\b", 0, Check::Shape),
    (
        r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}",
        0,
        Check::Shape,
    ),
    // The password of scheme://user:password@host.
    (
        r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:([^@\s/]+)@",
        1,
        Check::NotReference,
    ),
    // HTTP credentials in text: `Authorization: Bearer ...`, `Basic ...`.
    (
        r"(?i)\b(?:bearer|basic)\s+([A-Za-z0-9._~+/=-]{16,})",
        1,
        Check::Shape,
    ),
    // `password=...`, `api_key: ...`, `DB_PASSWORD="..."` in DSNs, env files, inline code,
    // command lines and error messages.
    (
        r#"(?i)([A-Za-z0-9_.-]*(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential)[A-Za-z0-9_.-]*)["']?\s*[=:]\s*["']?([^\s"'&;,<>{}()\[\]]+)"#,
        2,
        Check::KeyNamesSecret,
    ),
];

/// The stand-in digest prefix a source writes inside a text (the host source's arguments).
const UNSEALED_TAG: &str = r"<redacted:([0-9a-f]{16})>";

struct Scanner {
    set: RegexSet,
    patterns: Vec<Pattern>,
}

static SCANNER: LazyLock<Scanner> = LazyLock::new(|| {
    let mut patterns: Vec<Pattern> = PATTERNS
        .iter()
        .map(|(text, group, check)| Pattern {
            regex: Regex::new(text).expect("secret patterns are valid"),
            group: *group,
            check: *check,
            kind: SpanKind::Secret,
        })
        .collect();
    patterns.push(Pattern {
        regex: Regex::new(UNSEALED_TAG).expect("the tag pattern is valid"),
        group: 0,
        check: Check::Shape,
        kind: SpanKind::UnsealedTag,
    });
    let set = RegexSet::new(patterns.iter().map(|pattern| pattern.regex.as_str()))
        .expect("secret patterns are valid");
    Scanner { set, patterns }
});

/// Where `text` holds secrets.
pub fn find(text: &str) -> Found {
    // Every pattern needs more than this (`pwd=xy` is the shortest); most attribute values
    // are shorter, and ingest scans every one of them.
    if text.len() < 6 {
        return Found::Nothing;
    }
    let scanner = &*SCANNER;
    let matched = scanner.set.matches(text);
    if !matched.matched_any() {
        return Found::Nothing;
    }
    let mut spans: Vec<Span> = Vec::new();
    for index in matched.iter() {
        let pattern = &scanner.patterns[index];
        for captures in pattern.regex.captures_iter(text) {
            let Some(secret) = captures.get(pattern.group) else {
                continue;
            };
            let confirmed = match pattern.check {
                Check::Shape => true,
                Check::NotReference => !is_reference(secret.as_str()),
                Check::KeyNamesSecret => {
                    captures
                        .get(1)
                        .is_some_and(|key| names_secret(key.as_str()))
                        && !is_reference(secret.as_str())
                        && !is_placeholder(secret.as_str())
                }
            };
            if confirmed {
                spans.push(Span {
                    start: secret.start(),
                    end: secret.end(),
                    kind: pattern.kind,
                });
            }
        }
    }
    if spans.is_empty() {
        return Found::Nothing;
    }
    spans.sort_by_key(|span| (span.start, std::cmp::Reverse(span.end)));
    let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
    for span in spans {
        match merged.last_mut() {
            Some(last) if span.start < last.end => {
                last.end = last.end.max(span.end);
                last.kind = SpanKind::Secret;
            }
            _ => merged.push(span),
        }
    }
    let trimmed = text.trim();
    let offset = text.len() - text.trim_start().len();
    if merged.len() == 1
        && merged[0].kind == SpanKind::Secret
        && merged[0].start <= offset
        && merged[0].end >= offset + trimmed.len()
    {
        return Found::Whole;
    }
    // An unsealed tag is replaced by its sealed form; its bytes are the digest prefix.
    for span in &mut merged {
        if span.kind == SpanKind::UnsealedTag {
            span.start += "<redacted:".len();
            span.end -= ">".len();
        }
    }
    Found::Spans(merged)
}

/// Whether a key (an attribute, label, env var or parameter name) names a secret: it contains
/// a secret word, and does not end in a word saying it only points at one (`secretName`,
/// `password_file`, `token_url`, `secretKeyRef`, `kms_key_id`).
pub fn names_secret(key: &str) -> bool {
    let words = key_words(key);
    let joined: String = words.concat();
    let secret = [
        "password",
        "passwd",
        "passphrase",
        "secret",
        "token",
        "apikey",
        "accesskey",
        "privatekey",
        "credential",
    ]
    .iter()
    .any(|word| joined.contains(word))
        || words.iter().any(|word| word == "pwd");
    let pointer = words.last().is_some_and(|last| {
        [
            "name",
            "names",
            "ref",
            "refs",
            "file",
            "files",
            "path",
            "env",
            "arn",
            "arns",
            "id",
            "ids",
            "type",
            "version",
            "ttl",
            "length",
            "expiry",
            "expiration",
            "expires",
            "enabled",
            "count",
            "mount",
            "provider",
            "selector",
            "kind",
            "template",
            "hash",
            "sha256",
            "digest",
            "policy",
            "rotation",
            "required",
            "prefix",
            "url",
            "uri",
            "endpoint",
            "secrets",
            "tokens",
            "seconds",
            "source",
            "store",
            "key",
        ]
        .contains(&last.as_str())
    });
    // "...key" alone is a pointer (`secret_key` is not: its last word is `key` but it is
    // the secret itself), so keys ending in `key` count when a secret word precedes it.
    let key_of_secret = words.last().is_some_and(|last| last == "key")
        && words.len() >= 2
        && [
            "secret",
            "private",
            "access",
            "api",
            "signing",
            "encryption",
            "master",
        ]
        .contains(&words[words.len() - 2].as_str());
    secret && (!pointer || key_of_secret)
}

/// Whether a string under `key` is a secret: a literal under a password-like name, or a
/// random-looking value under a token-like name.
pub fn suspicious_key_holds_secret(key: &str, value: &str) -> bool {
    if !names_secret(key) || is_reference(value) || is_placeholder(value) {
        return false;
    }
    let joined = key_words(key).concat();
    let password_like = ["password", "passwd", "passphrase", "secret", "pwd"]
        .iter()
        .any(|word| joined.contains(word));
    if password_like {
        return true;
    }
    looks_random(value)
}

/// A value long enough, without spaces, and with the character spread of generated tokens.
pub fn looks_random(value: &str) -> bool {
    value.len() >= 12
        && !value.contains(char::is_whitespace)
        && !value.contains("://")
        && entropy_bits_per_char(value) >= 3.0
}

fn entropy_bits_per_char(value: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut total = 0usize;
    for character in value.chars() {
        *counts.entry(character).or_insert(0usize) += 1;
        total += 1;
    }
    counts
        .values()
        .map(|count| {
            let share = *count as f64 / total as f64;
            -share * share.log2()
        })
        .sum()
}

/// A value that points at a secret instead of holding one.
fn is_reference(value: &str) -> bool {
    let value = value.trim();
    ["${", "{{", "$(", "arn:", "<redacted", "(known after apply)"]
        .iter()
        .any(|prefix| value.starts_with(prefix))
        || (value.starts_with('$')
            && value[1..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// Nothing worth hiding: empty, or a boolean or null spelled as text.
fn is_placeholder(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "" | "true" | "false" | "null" | "none" | "yes" | "no"
    )
}

/// `dbPassword`, `DB_PASSWORD`, `db-password.txt` -> `["db", "password", ...]`, lowercase.
fn key_words(key: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for character in key.chars() {
        if !character.is_ascii_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            previous_lower = false;
            continue;
        }
        if character.is_ascii_uppercase() && previous_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        previous_lower = character.is_ascii_lowercase() || character.is_ascii_digit();
        current.push(character.to_ascii_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names() {
        for key in [
            "password",
            "DB_PASSWORD",
            "dbPassword",
            "client_secret",
            "api_key",
            "apiKey",
            "x-api-key",
            "aws_secret_access_key",
            "secret_key",
            "GITHUB_TOKEN",
            "private_key",
            "pwd",
        ] {
            assert!(names_secret(key), "{key}");
        }
        for key in [
            "secretName",
            "secretKeyRef",
            "password_file",
            "password_env",
            "token_url",
            "kms_key_id",
            "secret_arn",
            "secrets",
            "name",
            "image",
            "expirationSeconds",
            "keyword",
        ] {
            assert!(!names_secret(key), "{key}");
        }
    }

    #[test]
    fn values_under_secret_keys() {
        assert!(suspicious_key_holds_secret("DB_PASSWORD", "hunter2"));
        assert!(!suspicious_key_holds_secret(
            "DB_PASSWORD",
            "${DB_PASSWORD}"
        ));
        assert!(!suspicious_key_holds_secret("DB_PASSWORD", ""));
        assert!(suspicious_key_holds_secret(
            "api_token",
            "Zq8vX2mR7tLw4nYp9sKc3bHf"
        ));
        assert!(!suspicious_key_holds_secret("api_token", "short"));
        assert!(!suspicious_key_holds_secret(
            "token_ttl",
            "Zq8vX2mR7tLw4nYp9sKc3bHf"
        ));
        assert!(!suspicious_key_holds_secret(
            "region",
            "Zq8vX2mR7tLw4nYp9sKc3bHf"
        ));
    }

    #[test]
    fn shapes_are_found_and_ordinary_values_kept() {
        for whole in [
            "AKIAIOSFODNN7EXAMPLE",
            "ghp_0123456789abcdefghijABCDEFGHIJ012345",
            "xoxb-123456789012-abcdefghijkl",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "AIzaSyA1234567890abcdefghijklmnopqrstuv",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
        ] {
            assert_eq!(find(whole), Found::Whole, "{whole}");
        }
        let Found::Spans(spans) = find("postgres://app:s3cr3t@db:5432/shop?sslmode=require") else {
            panic!("URL password not found");
        };
        assert_eq!(spans.len(), 1);
        let Found::Spans(spans) = find("host=db user=app password=s3cr3t dbname=shop") else {
            panic!("DSN password not found");
        };
        assert_eq!(spans.len(), 1);
        for ordinary in [
            "arn:aws:sqs:us-east-1:123456789012:orders",
            "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "postgres://app@db:5432/shop",
            "postgres://app:${DB_PASSWORD}@db/shop",
            "secretName: app-secrets",
            "token=<redacted>",
            "ghcr.io/acme/api:1.4.2",
            "i-0abc123def4567890",
        ] {
            assert_eq!(find(ordinary), Found::Nothing, "{ordinary}");
        }
    }
}
