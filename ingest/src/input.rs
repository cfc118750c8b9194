//! Where declared sources read their files from: one file, a directory walked recursively, or
//! an object-store URL (`s3://bucket/key` for one object, `s3://bucket/prefix/` for many).
//!
//! Every read is bounded: a file over [`InputLimits::max_file_bytes`], a directory with more
//! than [`InputLimits::max_files`] matching files, or more than
//! [`InputLimits::max_total_bytes`] in all is refused with an error naming the path, before
//! the content is held in memory. Binary files (a NUL byte near the start) and text that is
//! not UTF-8 are refused by [`InputFile::text`], also naming the file.
//!
//! Relative paths ([`InputFile::relative`]) are what sources may put in resources: they do
//! not depend on where the input was checked out, so a git backfill that materializes an old
//! commit in a temporary directory produces the same resources as a scrape of the original.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;
use object_store::ObjectStoreExt;
use serde::{Deserialize, Deserializer};
use url::Url;

use crate::error::{IngestError, Result};

/// Bytes inspected for a NUL byte when deciding whether a file is binary (as git does).
const BINARY_PROBE_BYTES: usize = 8000;

/// Directory entries visited before a walk gives up, matching or not: a mistaken path such as
/// `/` must fail in bounded time rather than walk a whole disk.
const MAX_ENTRIES_VISITED: usize = 200_000;

/// Where a declared source reads from, as written in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputLocation {
    /// A local file or directory.
    Path(PathBuf),
    /// An object (`s3://bucket/key`) or every object under a prefix (`s3://bucket/prefix/`).
    ObjectStore(Url),
}

impl InputLocation {
    /// Parse a path, a `file://` URL or an `s3://` URL.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.is_empty() {
            return Err(IngestError::Config("empty input path".to_string()));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            let url = Url::parse(text).map_err(|error| {
                IngestError::Config(format!("invalid input URL '{text}': {error}"))
            })?;
            return match scheme {
                "file" => url.to_file_path().map(InputLocation::Path).map_err(|()| {
                    IngestError::Config(format!("invalid file URL '{text}'"))
                }),
                "s3" => {
                    if url.host_str().unwrap_or_default().is_empty() {
                        return Err(IngestError::Config(format!(
                            "input URL '{text}' has no bucket"
                        )));
                    }
                    Ok(InputLocation::ObjectStore(url))
                }
                other => Err(IngestError::Config(format!(
                    "unsupported input URL scheme '{other}' in '{text}' (use a path, file:// or s3://)"
                ))),
            };
        }
        Ok(InputLocation::Path(PathBuf::from(text)))
    }

    /// The local path, when the input is on this machine (git provenance needs one).
    pub fn local_path(&self) -> Option<&Path> {
        match self {
            InputLocation::Path(path) => Some(path),
            InputLocation::ObjectStore(_) => None,
        }
    }

    /// A path-like value for error messages.
    pub fn display_path(&self) -> PathBuf {
        match self {
            InputLocation::Path(path) => path.clone(),
            InputLocation::ObjectStore(url) => PathBuf::from(url.as_str()),
        }
    }
}

impl fmt::Display for InputLocation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputLocation::Path(path) => write!(formatter, "{}", path.display()),
            InputLocation::ObjectStore(url) => formatter.write_str(url.as_str()),
        }
    }
}

impl<'de> Deserialize<'de> for InputLocation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        InputLocation::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Bounds on what one scrape reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputLimits {
    /// Largest single file accepted.
    pub max_file_bytes: u64,
    /// Largest sum of accepted files.
    pub max_total_bytes: u64,
    /// Most matching files in a directory or under a prefix.
    pub max_files: usize,
}

impl Default for InputLimits {
    fn default() -> Self {
        Self {
            max_file_bytes: 64 * 1024 * 1024,
            max_total_bytes: 512 * 1024 * 1024,
            max_files: 10_000,
        }
    }
}

/// One file read from an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// The full path (or URL) for error messages.
    pub path: PathBuf,
    /// Path relative to the configured location, `/`-separated; the file name when the
    /// location is a single file. Stable across checkouts.
    pub relative: String,
    /// The content.
    pub bytes: Vec<u8>,
}

impl InputFile {
    /// The content as UTF-8 text, refusing binary files and invalid UTF-8 with an error that
    /// names the file (and the line of the first invalid byte).
    pub fn text(&self) -> Result<&str> {
        let probe = &self.bytes[..self.bytes.len().min(BINARY_PROBE_BYTES)];
        if probe.contains(&0) {
            return Err(IngestError::Invalid {
                path: self.path.clone(),
                message: "binary file (contains NUL bytes); expected text".to_string(),
            });
        }
        std::str::from_utf8(&self.bytes).map_err(|error| {
            let valid = &self.bytes[..error.valid_up_to()];
            let line = valid.iter().filter(|byte| **byte == b'\n').count() + 1;
            IngestError::Parse {
                path: self.path.clone(),
                line: Some(line),
                message: format!("not valid UTF-8 text at byte {}", error.valid_up_to()),
            }
        })
    }

    /// The 1-based line of a byte offset into the content.
    pub fn line_of_offset(&self, offset: usize) -> usize {
        let end = offset.min(self.bytes.len());
        self.bytes[..end]
            .iter()
            .filter(|byte| **byte == b'\n')
            .count()
            + 1
    }
}

/// Which files of a directory a source wants, by relative path.
pub type FileFilter = fn(&str) -> bool;

/// A configured input: a location and the limits for reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    location: InputLocation,
    limits: InputLimits,
}

impl Input {
    /// Read `location` with the default limits.
    pub fn new(location: InputLocation) -> Self {
        Self {
            location,
            limits: InputLimits::default(),
        }
    }

    /// Parse a location written as text (a path or a URL).
    pub fn parse(text: &str) -> Result<Self> {
        InputLocation::parse(text).map(Input::new)
    }

    /// Replace the limits.
    pub fn with_limits(mut self, limits: InputLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Where this input reads from.
    pub fn location(&self) -> &InputLocation {
        &self.location
    }

    /// The limits applied.
    pub fn limits(&self) -> InputLimits {
        self.limits
    }

    /// Read every file: the file itself when the location is a file (whatever its name), or
    /// the files under a directory or prefix whose relative path `accept`s, sorted by relative
    /// path. Hidden entries (`.git`, `.terraform`, ...) are skipped in directories.
    pub async fn read(&self, accept: FileFilter) -> Result<Vec<InputFile>> {
        match &self.location {
            InputLocation::Path(path) => {
                let path = path.clone();
                let limits = self.limits;
                tokio::task::spawn_blocking(move || read_local(&path, accept, limits))
                    .await
                    .map_err(|error| IngestError::Invalid {
                        path: self.location.display_path(),
                        message: format!("reading task failed: {error}"),
                    })?
            }
            InputLocation::ObjectStore(url) => read_object_store(url, accept, self.limits).await,
        }
    }
}

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> IngestError + '_ {
    move |source| IngestError::Read {
        path: path.to_path_buf(),
        source,
    }
}

fn too_large(path: &Path, length: u64, limit: u64) -> IngestError {
    IngestError::Invalid {
        path: path.to_path_buf(),
        message: format!("file is {length} bytes, over the limit of {limit} bytes"),
    }
}

fn read_local(root: &Path, accept: FileFilter, limits: InputLimits) -> Result<Vec<InputFile>> {
    let metadata = std::fs::metadata(root).map_err(read_error(root))?;
    if metadata.is_file() {
        let relative = root
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bytes = read_bounded_file(root, limits.max_file_bytes)?;
        return Ok(vec![InputFile {
            path: root.to_path_buf(),
            relative,
            bytes,
        }]);
    }
    if !metadata.is_dir() {
        return Err(IngestError::Invalid {
            path: root.to_path_buf(),
            message: "neither a regular file nor a directory".to_string(),
        });
    }

    let mut matching: Vec<(String, PathBuf, u64)> = Vec::new();
    let mut pending = vec![(root.to_path_buf(), String::new())];
    let mut visited = 0usize;
    while let Some((directory, prefix)) = pending.pop() {
        let entries = std::fs::read_dir(&directory).map_err(read_error(&directory))?;
        for entry in entries {
            let entry = entry.map_err(read_error(&directory))?;
            visited += 1;
            if visited > MAX_ENTRIES_VISITED {
                return Err(IngestError::Invalid {
                    path: root.to_path_buf(),
                    message: format!(
                        "more than {MAX_ENTRIES_VISITED} directory entries; point the source at a narrower directory"
                    ),
                });
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let relative = format!("{prefix}{name}");
            // Symlinks are followed to files but never to directories, so a link cycle cannot
            // make the walk endless.
            let file_type = entry.file_type().map_err(read_error(&path))?;
            if file_type.is_dir() {
                pending.push((path, format!("{relative}/")));
                continue;
            }
            if !accept(&relative) {
                continue;
            }
            // A matching entry that cannot be inspected (a dangling link, no permission) is an
            // error, not a silent skip: skipping would read as "its resources were deleted".
            let metadata = std::fs::metadata(&path).map_err(read_error(&path))?;
            if !metadata.is_file() {
                continue;
            }
            if metadata.len() > limits.max_file_bytes {
                return Err(too_large(&path, metadata.len(), limits.max_file_bytes));
            }
            matching.push((relative, path, metadata.len()));
            if matching.len() > limits.max_files {
                return Err(IngestError::Invalid {
                    path: root.to_path_buf(),
                    message: format!(
                        "more than {} matching files; raise the source's file limit or point it at a narrower directory",
                        limits.max_files
                    ),
                });
            }
        }
    }
    let total: u64 = matching.iter().map(|(_, _, length)| *length).sum();
    if total > limits.max_total_bytes {
        return Err(IngestError::Invalid {
            path: root.to_path_buf(),
            message: format!(
                "matching files hold {total} bytes, over the limit of {} bytes",
                limits.max_total_bytes
            ),
        });
    }
    matching.sort_by(|left, right| left.0.cmp(&right.0));
    matching
        .into_iter()
        .map(|(relative, path, _)| {
            let bytes = read_bounded_file(&path, limits.max_file_bytes)?;
            Ok(InputFile {
                path,
                relative,
                bytes,
            })
        })
        .collect()
}

/// Read a whole file, bounded even if it grows after its size was checked.
fn read_bounded_file(path: &Path, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(read_error(path))?;
    let metadata = file.metadata().map_err(read_error(path))?;
    if !metadata.is_file() {
        return Err(IngestError::Invalid {
            path: path.to_path_buf(),
            message: "not a regular file".to_string(),
        });
    }
    if metadata.len() > limit {
        return Err(too_large(path, metadata.len(), limit));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error(path))?;
    let length = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if length > limit {
        return Err(too_large(path, length, limit));
    }
    Ok(bytes)
}

/// The object store for an `s3://` URL, configured from the standard AWS environment
/// variables (`AWS_ENDPOINT_URL`, `AWS_REGION`, credentials, `AWS_ALLOW_HTTP`).
fn object_store_for(url: &Url) -> Result<Arc<dyn ObjectStore>> {
    let store = object_store::aws::AmazonS3Builder::from_env()
        .with_url(url.as_str())
        .build()
        .map_err(|error| IngestError::Invalid {
            path: PathBuf::from(url.as_str()),
            message: format!("cannot configure the object store: {error}"),
        })?;
    Ok(Arc::new(store))
}

async fn read_object_store(
    url: &Url,
    accept: FileFilter,
    limits: InputLimits,
) -> Result<Vec<InputFile>> {
    let store = object_store_for(url)?;
    let display = PathBuf::from(url.as_str());
    let store_error = |path: PathBuf| {
        move |error: object_store::Error| IngestError::Invalid {
            path,
            message: format!("object store: {error}"),
        }
    };
    let key = url.path().trim_start_matches('/');
    let object_url = |location: &ObjectPath| {
        PathBuf::from(format!(
            "s3://{}/{}",
            url.host_str().unwrap_or_default(),
            location
        ))
    };

    if !key.is_empty() && !key.ends_with('/') {
        let location = ObjectPath::from(key);
        match store.head(&location).await {
            Ok(meta) => {
                let bytes = get_bounded(&*store, &meta, &display, limits.max_file_bytes).await?;
                let relative = key.rsplit('/').next().unwrap_or(key).to_string();
                return Ok(vec![InputFile {
                    path: display,
                    relative,
                    bytes,
                }]);
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => return Err(store_error(display)(error)),
        }
    }

    // A prefix: every object below it, as a directory would be read.
    let prefix = key.trim_end_matches('/');
    let prefix_path = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
    let objects: Vec<object_store::ObjectMeta> = store
        .list(prefix_path.as_ref())
        .try_collect()
        .await
        .map_err(store_error(display.clone()))?;
    let mut matching = Vec::new();
    for meta in objects {
        let full = meta.location.to_string();
        let relative = full
            .strip_prefix(prefix)
            .unwrap_or(&full)
            .trim_start_matches('/')
            .to_string();
        if relative.split('/').any(|part| part.starts_with('.')) || !accept(&relative) {
            continue;
        }
        if meta.size > limits.max_file_bytes {
            return Err(too_large(
                &object_url(&meta.location),
                meta.size,
                limits.max_file_bytes,
            ));
        }
        matching.push((relative, meta));
        if matching.len() > limits.max_files {
            return Err(IngestError::Invalid {
                path: display,
                message: format!("more than {} matching objects", limits.max_files),
            });
        }
    }
    if matching.is_empty() {
        return Err(IngestError::Invalid {
            path: display,
            message: "no such object, and no matching objects under this prefix".to_string(),
        });
    }
    let total: u64 = matching.iter().map(|(_, meta)| meta.size).sum();
    if total > limits.max_total_bytes {
        return Err(IngestError::Invalid {
            path: display,
            message: format!(
                "matching objects hold {total} bytes, over the limit of {} bytes",
                limits.max_total_bytes
            ),
        });
    }
    matching.sort_by(|left, right| left.0.cmp(&right.0));
    let mut files = Vec::with_capacity(matching.len());
    for (relative, meta) in matching {
        let path = object_url(&meta.location);
        let bytes = get_bounded(&*store, &meta, &path, limits.max_file_bytes).await?;
        files.push(InputFile {
            path,
            relative,
            bytes,
        });
    }
    Ok(files)
}

async fn get_bounded(
    store: &dyn ObjectStore,
    meta: &object_store::ObjectMeta,
    path: &Path,
    limit: u64,
) -> Result<Vec<u8>> {
    if meta.size > limit {
        return Err(too_large(path, meta.size, limit));
    }
    let bytes = store
        .get(&meta.location)
        .await
        .map_err(|error| IngestError::Invalid {
            path: path.to_path_buf(),
            message: format!("object store: {error}"),
        })?
        .bytes()
        .await
        .map_err(|error| IngestError::Invalid {
            path: path.to_path_buf(),
            message: format!("object store: {error}"),
        })?;
    let length = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if length > limit {
        return Err(too_large(path, length, limit));
    }
    Ok(bytes.to_vec())
}

/// Accept files whose name ends with one of `extensions` (without the dot, case-insensitive).
pub fn has_extension(relative: &str, extensions: &[&str]) -> bool {
    let lower = relative.to_ascii_lowercase();
    extensions
        .iter()
        .any(|extension| lower.ends_with(&format!(".{extension}")))
}

/// The directory part of a `/`-separated relative path: `a/b/c.tf` → `a/b`, `c.tf` → ``.
pub fn parent_relative(relative: &str) -> &str {
    relative.rsplit_once('/').map(|(dir, _)| dir).unwrap_or("")
}

/// `directory` joined with the relative `path` a file names (`../modules/x`), `.` and `..`
/// resolved, `/`-separated; a `..` above the top is kept, so the result can say it left the
/// input.
pub fn join_relative(directory: &str, path: &str) -> String {
    let mut parts: Vec<&str> = directory
        .split('/')
        .filter(|part| !part.is_empty())
        .collect();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|last| *last != "..") => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_join_like_a_file_system() {
        assert_eq!(parent_relative("a/b/c.tf"), "a/b");
        assert_eq!(parent_relative("c.tf"), "");
        assert_eq!(join_relative("examples/x", "../../modules/y"), "modules/y");
        assert_eq!(join_relative("", "./modules/y"), "modules/y");
        assert_eq!(join_relative("x", "../../y"), "../y");
    }

    fn yaml(relative: &str) -> bool {
        has_extension(relative, &["yaml", "yml"])
    }

    #[test]
    fn locations_parse_and_display() {
        assert_eq!(
            InputLocation::parse("manifests/").unwrap(),
            InputLocation::Path(PathBuf::from("manifests/"))
        );
        assert_eq!(
            InputLocation::parse("file:///srv/state.tfstate").unwrap(),
            InputLocation::Path(PathBuf::from("/srv/state.tfstate"))
        );
        let remote = InputLocation::parse("s3://bucket/env/prod.tfstate").unwrap();
        assert_eq!(remote.to_string(), "s3://bucket/env/prod.tfstate");
        assert!(remote.local_path().is_none());
        assert!(InputLocation::parse("gs://bucket/x")
            .unwrap_err()
            .to_string()
            .contains("gs"));
        assert!(InputLocation::parse("s3:///key").is_err());
        assert!(InputLocation::parse("  ").is_err());
    }

    #[tokio::test]
    async fn directories_are_walked_sorted_filtered_and_hidden_entries_skipped() {
        let directory = tempfile::tempdir().unwrap();
        let root = directory.path();
        std::fs::create_dir_all(root.join("b/nested")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join("b/nested/z.yaml"), "z: 1").unwrap();
        std::fs::write(root.join("a.yml"), "a: 1").unwrap();
        std::fs::write(root.join("notes.txt"), "ignored").unwrap();
        std::fs::write(root.join(".git/config.yaml"), "hidden").unwrap();
        let files = Input::new(InputLocation::Path(root.to_path_buf()))
            .read(yaml)
            .await
            .unwrap();
        let relatives: Vec<&str> = files.iter().map(|file| file.relative.as_str()).collect();
        assert_eq!(relatives, ["a.yml", "b/nested/z.yaml"]);
        assert_eq!(files[1].bytes, b"z: 1");

        // A single file is read whatever its name.
        let single = Input::new(InputLocation::Path(root.join("notes.txt")))
            .read(yaml)
            .await
            .unwrap();
        assert_eq!(single[0].relative, "notes.txt");
    }

    #[tokio::test]
    async fn limits_are_enforced_before_reading() {
        let directory = tempfile::tempdir().unwrap();
        let root = directory.path();
        let big = root.join("big.yaml");
        // Sparse: the size check must refuse it without reading 200 MB.
        std::fs::File::create(&big)
            .unwrap()
            .set_len(200 * 1024 * 1024)
            .unwrap();
        let error = Input::new(InputLocation::Path(big.clone()))
            .read(yaml)
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains(&big.display().to_string()), "{error}");
        assert!(error.contains("over the limit"), "{error}");

        std::fs::remove_file(&big).unwrap();
        for index in 0..5 {
            std::fs::write(root.join(format!("{index}.yaml")), "a: 1").unwrap();
        }
        let limited =
            Input::new(InputLocation::Path(root.to_path_buf())).with_limits(InputLimits {
                max_files: 3,
                ..InputLimits::default()
            });
        let error = limited.read(yaml).await.unwrap_err().to_string();
        assert!(error.contains("more than 3 matching files"), "{error}");
    }

    #[tokio::test]
    async fn dangling_links_and_binary_files_name_the_file() {
        let directory = tempfile::tempdir().unwrap();
        let root = directory.path();
        std::os::unix::fs::symlink(root.join("gone.yaml"), root.join("link.yaml")).unwrap();
        let error = Input::new(InputLocation::Path(root.to_path_buf()))
            .read(yaml)
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("link.yaml"), "{error}");

        let file = InputFile {
            path: PathBuf::from("/x/bin.yaml"),
            relative: "bin.yaml".into(),
            bytes: vec![0x7f, b'E', b'L', b'F', 0, 1, 2],
        };
        assert!(file.text().unwrap_err().to_string().contains("/x/bin.yaml"));
        let latin1 = InputFile {
            path: PathBuf::from("/x/l.yaml"),
            relative: "l.yaml".into(),
            bytes: b"a: 1\nb: caf\xe9\n".to_vec(),
        };
        let error = latin1.text().unwrap_err().to_string();
        assert!(error.contains("/x/l.yaml:2"), "{error}");
    }
}
