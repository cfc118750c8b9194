//! Typed object-store locations: the store root and the tables under it.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use url::Url;

use crate::error::{EngineError, Result};

/// The root of a Groundtruth store: `file:///abs/path` or `s3://bucket/prefix`.
///
/// Always ends in `/`, so joining a table name never replaces the last path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUrl(Url);

impl StoreUrl {
    /// Parse a URL, or a local path (relative paths are resolved against the working directory).
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |reason: String| EngineError::InvalidStoreUrl {
            url: text.to_string(),
            reason,
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(invalid("empty".into()));
        }
        let url = if trimmed.contains("://") {
            Url::parse(trimmed).map_err(|error| invalid(error.to_string()))?
        } else {
            let path = Path::new(trimmed);
            let absolute = if path.is_absolute() {
                path.to_path_buf()
            } else {
                std::env::current_dir()
                    .map_err(|error| invalid(error.to_string()))?
                    .join(path)
            };
            Url::from_directory_path(&absolute)
                .map_err(|()| invalid("not an absolute path".into()))?
        };
        match url.scheme() {
            "file" => {}
            "s3" | "s3a" => {
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(invalid(
                        "an S3 URL needs a bucket: s3://bucket/prefix".into(),
                    ));
                }
            }
            other => {
                return Err(invalid(format!(
                    "unsupported scheme '{other}' (use file:// or s3://)"
                )))
            }
        }
        let mut url = url;
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(StoreUrl(url))
    }

    /// The URL of one of the store's tables.
    pub fn table(&self, table: StoreTable) -> Url {
        // Joining a plain relative segment onto a URL that ends in '/' cannot fail.
        self.0
            .join(table.directory())
            .unwrap_or_else(|_| self.0.clone())
    }

    /// The local directory, for `file://` stores.
    pub fn local_path(&self) -> Option<std::path::PathBuf> {
        (self.0.scheme() == "file")
            .then(|| self.0.to_file_path().ok())
            .flatten()
    }

    /// The URL itself.
    pub fn as_url(&self) -> &Url {
        &self.0
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// The Delta tables a store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreTable {
    /// Resource versions and deletion markers.
    Versions,
    /// One row per scrape.
    Scrapes,
    /// The full state of one source at chosen instants (see the crate docs).
    Checkpoints,
}

impl StoreTable {
    /// Name used in messages and as the SQL table name under the `storage` schema.
    pub fn name(self) -> &'static str {
        match self {
            StoreTable::Versions => "versions",
            StoreTable::Scrapes => "scrapes",
            StoreTable::Checkpoints => "checkpoints",
        }
    }

    fn directory(self) -> &'static str {
        match self {
            StoreTable::Versions => "versions/",
            StoreTable::Scrapes => "scrapes/",
            StoreTable::Checkpoints => "checkpoints/",
        }
    }
}

/// Connection settings for object stores that need them (S3 and S3-compatible servers).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreOptions {
    /// Custom endpoint (MinIO, moto, Ceph...). `AWS_ENDPOINT_URL` is used when unset.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Region; the AWS default chain decides when unset.
    #[serde(default)]
    pub region: Option<String>,
    /// Allow plain HTTP endpoints (local test servers).
    #[serde(default)]
    pub allow_http: bool,
    /// `[store_options.read_retries]`: how failed reads (get, head, list) are retried.
    /// Writes are never retried by the store (see [`super::ReadRetryPolicy`]).
    #[serde(default)]
    pub read_retries: super::ReadRetryPolicy,
    /// Faults to inject under the store (the reliability campaign only). Never read from a
    /// file: only `GROUNDTRUTH_STORE_FAULTS` sets it (see [`super::FaultPlan::from_env`]).
    #[serde(skip)]
    pub faults: Option<super::FaultPlan>,
}

impl StoreOptions {
    /// The storage options Delta Lake's object-store factory understands.
    pub fn to_storage_options(&self) -> HashMap<String, String> {
        let mut options = HashMap::new();
        let endpoint = self
            .endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
        if let Some(endpoint) = endpoint {
            if endpoint.starts_with("http://") {
                options.insert("AWS_ALLOW_HTTP".into(), "true".into());
            }
            options.insert("AWS_ENDPOINT_URL".into(), endpoint);
            options.insert("AWS_FORCE_PATH_STYLE".into(), "true".into());
        }
        if let Some(region) = &self.region {
            options.insert("AWS_REGION".into(), region.clone());
        }
        if self.allow_http {
            options.insert("AWS_ALLOW_HTTP".into(), "true".into());
        }
        // No AWS_S3_ALLOW_UNSAFE_RENAME: without it delta-rs creates each commit file with a
        // conditional put (`If-None-Match: *`), so two writers racing for the same log version
        // cannot overwrite each other; the loser retries at the next version. See the crate
        // docs, "Commit protocol".
        options
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_become_directory_urls_and_round_trip() {
        let url = StoreUrl::parse("/tmp/gt-data").unwrap();
        assert_eq!(url.to_string(), "file:///tmp/gt-data/");
        assert_eq!(StoreUrl::parse(&url.to_string()).unwrap(), url);
        assert_eq!(
            url.table(StoreTable::Versions).as_str(),
            "file:///tmp/gt-data/versions/"
        );
        assert_eq!(
            url.local_path().unwrap(),
            std::path::PathBuf::from("/tmp/gt-data/")
        );
    }

    #[test]
    fn s3_urls_keep_their_prefix() {
        let url = StoreUrl::parse("s3://bucket/team/prod").unwrap();
        assert_eq!(
            url.table(StoreTable::Scrapes).as_str(),
            "s3://bucket/team/prod/scrapes/"
        );
        assert!(url.local_path().is_none());
        assert_eq!(StoreUrl::parse(&url.to_string()).unwrap(), url);
    }

    #[test]
    fn bad_urls_name_the_problem() {
        for (text, expected) in [
            ("", "empty"),
            ("gs://bucket", "unsupported scheme"),
            ("s3:///x", "bucket"),
        ] {
            let message = StoreUrl::parse(text).unwrap_err().to_string();
            assert!(message.contains(expected), "{text}: {message}");
        }
    }
}
