//! The key secret markers are sealed with: from `GROUNDTRUTH_SECRET_KEY`, or a file kept beside
//! the configuration (never in the store), created on first use with mode 0600.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use groundtruth_ingest::secrets::{Redactor, SecretKey};

use crate::config::SecretsConfig;

/// The environment variable that, when set, holds the key (64 hex digits) and wins over the file.
pub const KEY_ENV: &str = "GROUNDTRUTH_SECRET_KEY";

/// The redactor of the writer commands (`serve`, `ingest`, `backfill`).
pub fn load_redactor(config: &SecretsConfig) -> anyhow::Result<Redactor> {
    if let Ok(text) = std::env::var(KEY_ENV) {
        let key = SecretKey::parse(&text, KEY_ENV)?;
        tracing::info!(
            key_id = key.id(),
            "secret markers are sealed with the key from {KEY_ENV}"
        );
        return Ok(Redactor::new(key));
    }
    let path = &config.key_file;
    if path.exists() {
        let key = read_key(path)?;
        tracing::debug!(key_id = key.id(), path = %path.display(), "secret key loaded");
        return Ok(Redactor::new(key));
    }
    let key = SecretKey::generate();
    write_key(path, &key, false)?;
    tracing::warn!(
        key_id = key.id(),
        path = %path.display(),
        "created a new secret key: secret values are stored as HMACs under this key. Keep the \
         file out of the store and back it up with the configuration; losing it makes every \
         secret marker change once (recorded as a change), and anyone holding it can test \
         guesses against the markers"
    );
    Ok(Redactor::new(key))
}

/// Replace the key file's key with a new one; returns (old id, new id).
pub fn rotate(config: &SecretsConfig) -> anyhow::Result<(Option<String>, String)> {
    anyhow::ensure!(
        std::env::var_os(KEY_ENV).is_none(),
        "the key comes from {KEY_ENV}: rotate by setting a new value there (64 hex digits, e.g. \
         from `openssl rand -hex 32`) and restarting"
    );
    let path = &config.key_file;
    let old = if path.exists() {
        Some(read_key(path)?.id().to_string())
    } else {
        None
    };
    let key = SecretKey::generate();
    write_key(path, &key, true)?;
    Ok((old, key.id().to_string()))
}

fn read_key(path: &Path) -> anyhow::Result<SecretKey> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("reading {}", path.display()))?
            .permissions()
            .mode();
        anyhow::ensure!(
            mode & 0o077 == 0,
            "secret key file {} is readable by others (mode {:o}); run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        );
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading secret key file {}", path.display()))?;
    Ok(SecretKey::parse(&text, &path.display().to_string())?)
}

/// Write `key` to `path` with mode 0600: a new file, or (`replace`) a temporary file renamed
/// over the old one, so a crash leaves either key whole.
fn write_key(path: &Path, key: &SecretKey, replace: bool) -> anyhow::Result<()> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let target = if replace {
        path.with_extension("new")
    } else {
        path.to_path_buf()
    };
    let mut options = std::fs::OpenOptions::new();
    options
        .write(true)
        .create_new(!replace)
        .create(true)
        .truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&target)
        .with_context(|| format!("creating secret key file {}", target.display()))?;
    writeln!(file, "{}", key.encode())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing secret key file {}", target.display()))?;
    if replace {
        std::fs::rename(&target, path)
            .with_context(|| format!("replacing secret key file {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_with_0600_reused_and_rotated() {
        let directory = tempfile::tempdir().unwrap();
        let config = SecretsConfig {
            key_file: directory.path().join("keys/groundtruth.secret-key"),
        };
        let first = load_redactor(&config).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&config.key_file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(load_redactor(&config).unwrap().key_id(), first.key_id());
        let (old, new) = rotate(&config).unwrap();
        assert_eq!(old.as_deref(), Some(first.key_id()));
        assert_ne!(new, first.key_id());
        assert_eq!(load_redactor(&config).unwrap().key_id(), new);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&config.key_file, std::fs::Permissions::from_mode(0o644))
                .unwrap();
            let error = load_redactor(&config).unwrap_err().to_string();
            assert!(error.contains("chmod 600"), "{error}");
        }
    }
}
