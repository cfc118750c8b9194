//! PostgreSQL-format SCRAM-SHA-256 verifiers (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`):
//! parsing them from the configuration, making them (`groundtruth hash-password`), and checking
//! a client's proof against one. Both the configuration and the wire's SCRAM startup use this,
//! so neither depends on the other.

use std::fmt::Debug;
use std::num::NonZeroU32;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::{digest, hmac, pbkdf2};

/// The mechanism offered.
pub const MECHANISM: &str = "SCRAM-SHA-256";
/// Bytes of salt in verifiers made by `groundtruth hash-password`.
pub const SALT_LENGTH: usize = 16;

/// Iterations for verifiers made by `groundtruth hash-password` (PostgreSQL's default).
pub const DEFAULT_ITERATIONS: u32 = 4096;

/// A stored SCRAM-SHA-256 verifier.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    pub(crate) iterations: u32,
    pub(crate) salt: Vec<u8>,
    pub(crate) stored_key: Vec<u8>,
    pub(crate) server_key: Vec<u8>,
}

impl Debug for Verifier {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Verifiers are not passwords, but there is no reason to print them either.
        formatter
            .debug_struct("Verifier")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Parse PostgreSQL's format, `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`
    /// (base64 parts), as `pg_authid.rolpassword` stores it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text.strip_prefix("SCRAM-SHA-256$").ok_or(
            "a verifier starts with SCRAM-SHA-256$ (make one with `groundtruth hash-password`)",
        )?;
        let (parameters, keys) = rest
            .split_once('$')
            .ok_or("expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>")?;
        let (iterations, salt) = parameters
            .split_once(':')
            .ok_or("expected <iterations>:<salt> after SCRAM-SHA-256$")?;
        let (stored_key, server_key) = keys
            .split_once(':')
            .ok_or("expected <StoredKey>:<ServerKey> after the salt")?;
        let decode = |part: &str, what: &str| {
            STANDARD
                .decode(part)
                .map_err(|error| format!("{what} is not base64: {error}"))
        };
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| format!("iterations '{iterations}' is not a number"))?;
        if iterations == 0 {
            return Err("iterations must be positive".into());
        }
        let verifier = Self {
            iterations,
            salt: decode(salt, "the salt")?,
            stored_key: decode(stored_key, "StoredKey")?,
            server_key: decode(server_key, "ServerKey")?,
        };
        if verifier.stored_key.len() != 32 || verifier.server_key.len() != 32 {
            return Err("StoredKey and ServerKey must be 32 bytes (SHA-256)".into());
        }
        Ok(verifier)
    }

    /// The verifier of `password` with `salt` (what `hash-password` prints).
    pub fn from_password(password: &str, salt: &[u8], iterations: u32) -> Self {
        let salted = salted_password(password, salt, iterations);
        let client_key = hmac_sha256(&salted, b"Client Key");
        Self {
            iterations,
            salt: salt.to_vec(),
            stored_key: digest::digest(&digest::SHA256, &client_key)
                .as_ref()
                .to_vec(),
            server_key: hmac_sha256(&salted, b"Server Key"),
        }
    }

    /// A verifier for a user that does not exist: random, so no password matches it.
    pub fn throwaway() -> Self {
        Self {
            iterations: DEFAULT_ITERATIONS,
            salt: rand::random::<[u8; 16]>().to_vec(),
            stored_key: rand::random::<[u8; 32]>().to_vec(),
            server_key: rand::random::<[u8; 32]>().to_vec(),
        }
    }
}

impl std::fmt::Display for Verifier {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "SCRAM-SHA-256${}:{}${}:{}",
            self.iterations,
            STANDARD.encode(&self.salt),
            STANDARD.encode(&self.stored_key),
            STANDARD.encode(&self.server_key)
        )
    }
}

fn salted_password(password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
    // RFC 5802 normalizes with SASLprep; like PostgreSQL, a password that cannot be
    // normalized is used as it is.
    let normalized = stringprep::saslprep(password)
        .map(|normalized| normalized.into_owned())
        .unwrap_or_else(|_| password.to_string());
    let mut salted = vec![0_u8; 32];
    // `iterations` is validated positive when a verifier is parsed; 1 is the floor otherwise.
    let rounds = NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        salt,
        normalized.as_bytes(),
        &mut salted,
    );
    salted
}

pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message)
        .as_ref()
        .to_vec()
}

/// If `proof` shows the client holds the key behind `verifier` for this exchange
/// (`auth_message`), the server's signature that proves the server holds it too.
pub fn verify_proof(verifier: &Verifier, auth_message: &str, proof: &[u8]) -> Option<Vec<u8>> {
    let client_signature = hmac_sha256(&verifier.stored_key, auth_message.as_bytes());
    if proof.len() != client_signature.len() {
        return None;
    }
    let client_key: Vec<u8> = proof
        .iter()
        .zip(&client_signature)
        .map(|(left, right)| left ^ right)
        .collect();
    let stored = digest::digest(&digest::SHA256, &client_key);
    // Compared without an early exit, so timing does not tell how much of the key matched.
    let difference = stored
        .as_ref()
        .iter()
        .zip(&verifier.stored_key)
        .fold(0_u8, |difference, (left, right)| {
            difference | (left ^ right)
        });
    if difference != 0 || stored.as_ref().len() != verifier.stored_key.len() {
        return None;
    }
    Some(hmac_sha256(&verifier.server_key, auth_message.as_bytes()))
}
