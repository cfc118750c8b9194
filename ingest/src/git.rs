//! Git history of declared files, through the `git` command line (no hand-written object
//! parsing): the provenance recorded on each version a declared source writes, and the
//! commits and checkouts a backfill replays.
//!
//! Provenance is the JSON object
//! `{"git": {"commit", "author", "committed_at", "path", "dirty"}}`: the last commit that
//! touched the source's path, its author and commit time, the path inside the repository, and
//! whether the working tree differs from that commit (a scrape of uncommitted edits).
//! A path outside any repository, or a machine without `git`, has no provenance; that is not
//! an error.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::error::{IngestError, Result};

/// Field separator in `git log` formats: the ASCII unit separator cannot occur in names.
const SEPARATOR: char = '\u{1f}';
const LOG_FORMAT: &str = "--format=%H%x1f%an <%ae>%x1f%cI";

/// A path inside a git work tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitPath {
    /// The work tree's top directory.
    pub top: PathBuf,
    /// The path relative to `top` (empty for the top itself), `/`-separated.
    pub relative: String,
}

/// One commit that touched a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// Full commit id.
    pub id: String,
    /// `Name <email>` of the author.
    pub author: String,
    /// Committer time: when the change landed on the branch.
    pub committed_at: DateTime<Utc>,
}

impl Commit {
    /// The provenance JSON of versions written from this commit.
    pub fn provenance(&self, path: &str, dirty: bool) -> String {
        json!({
            "git": {
                "commit": self.id,
                "author": self.author,
                "committed_at": self.committed_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "path": path,
                "dirty": dirty,
            }
        })
        .to_string()
    }
}

fn git_error(path: &Path, message: String) -> IngestError {
    IngestError::Invalid {
        path: path.to_path_buf(),
        message,
    }
}

/// Run git in `directory` and return its standard output, or an error carrying its standard
/// error.
fn git(directory: &Path, arguments: &[&str]) -> Result<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(directory)
        .args(arguments)
        // Never prompt, never page, never read the user's per-repository hooks or config
        // surprises that change output formats.
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_PAGER", "cat")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .map_err(|error| git_error(directory, format!("cannot run git: {error}")))?;
    if !output.status.success() {
        return Err(git_error(
            directory,
            format!(
                "git {} failed: {}",
                arguments.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        ));
    }
    String::from_utf8(output.stdout)
        .map_err(|_| git_error(directory, "git printed non-UTF-8 output".to_string()))
}

/// Locate `path` in a git work tree; `None` when it is not inside one (or git is missing).
pub fn locate(path: &Path) -> Option<GitPath> {
    let absolute = std::fs::canonicalize(path).ok()?;
    let directory = if absolute.is_dir() {
        absolute.clone()
    } else {
        absolute.parent()?.to_path_buf()
    };
    let top = git(&directory, &["rev-parse", "--show-toplevel"]).ok()?;
    let top = std::fs::canonicalize(top.trim()).ok()?;
    let relative = absolute
        .strip_prefix(&top)
        .ok()?
        .components()
        .map(|component| component.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    Some(GitPath { top, relative })
}

fn parse_commit(line: &str, top: &Path) -> Result<Commit> {
    let mut fields = line.split(SEPARATOR);
    let (Some(id), Some(author), Some(time)) = (fields.next(), fields.next(), fields.next()) else {
        return Err(git_error(top, format!("unexpected git log line {line:?}")));
    };
    let committed_at = DateTime::parse_from_rfc3339(time.trim())
        .map_err(|error| git_error(top, format!("bad commit time {time:?}: {error}")))?
        .with_timezone(&Utc);
    Ok(Commit {
        id: id.to_string(),
        author: author.to_string(),
        committed_at,
    })
}

/// The pathspec for a relative path: the whole tree when the path is the top itself.
fn pathspec(relative: &str) -> &str {
    if relative.is_empty() {
        "."
    } else {
        relative
    }
}

/// The provenance JSON for a scrape of `path`: the last commit touching it, and whether the
/// working copy has uncommitted changes there. `None` outside git or before the first commit.
pub fn provenance(path: &Path) -> Option<String> {
    let located = locate(path)?;
    let spec = pathspec(&located.relative);
    let line = git(&located.top, &["log", "-1", LOG_FORMAT, "--", spec]).ok()?;
    let commit = parse_commit(line.lines().next()?, &located.top).ok()?;
    let status = git(
        &located.top,
        &["status", "--porcelain", "--untracked-files=all", "--", spec],
    )
    .ok()?;
    Some(commit.provenance(&located.relative, !status.trim().is_empty()))
}

/// Every commit that touched the path, oldest first (by commit time), optionally only those
/// committed at or after `since`.
pub fn commits(located: &GitPath, since: Option<DateTime<Utc>>) -> Result<Vec<Commit>> {
    let since_argument = since.map(|since| format!("--since={}", since.to_rfc3339()));
    let mut arguments = vec!["log", "--date-order", "--reverse", LOG_FORMAT];
    if let Some(since) = &since_argument {
        arguments.push(since);
    }
    arguments.extend(["--", pathspec(&located.relative)]);
    git(&located.top, &arguments)?
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| parse_commit(line, &located.top))
        .collect()
}

/// Write the path as it was at `commit` under `destination` (which must exist and be empty),
/// and return where it landed. `Ok(None)` when the path did not exist in that commit (the
/// commit deleted it).
pub fn checkout(located: &GitPath, commit: &str, destination: &Path) -> Result<Option<PathBuf>> {
    let spec = pathspec(&located.relative);
    let listed = git(
        &located.top,
        &["ls-tree", "--name-only", commit, "--", spec],
    )?;
    if listed.trim().is_empty() {
        return Ok(None);
    }
    // `git archive | tar -x`: git writes the tree, tar unpacks it; no index or work tree of
    // the user's repository is touched.
    let mut archive = Command::new("git")
        .arg("-C")
        .arg(&located.top)
        .args(["archive", "--format=tar", commit, "--", spec])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| git_error(&located.top, format!("cannot run git archive: {error}")))?;
    let Some(archive_output) = archive.stdout.take() else {
        return Err(git_error(
            &located.top,
            "git archive has no output pipe".into(),
        ));
    };
    let unpacked = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(destination)
        .stdin(archive_output)
        .stderr(Stdio::piped())
        .output()
        .map_err(|error| git_error(destination, format!("cannot run tar: {error}")))?;
    let archived = archive
        .wait_with_output()
        .map_err(|error| git_error(&located.top, format!("git archive failed: {error}")))?;
    if !archived.status.success() {
        return Err(git_error(
            &located.top,
            format!(
                "git archive {commit} failed: {}",
                String::from_utf8_lossy(&archived.stderr).trim()
            ),
        ));
    }
    if !unpacked.status.success() {
        return Err(git_error(
            destination,
            format!(
                "unpacking {commit} failed: {}",
                String::from_utf8_lossy(&unpacked.stderr).trim()
            ),
        ));
    }
    Ok(Some(destination.join(&located.relative)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(directory: &Path, arguments: &[&str], date: &str) {
        let status = Command::new("git")
            .arg("-C")
            .arg(directory)
            .args(arguments)
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date)
            .env("GIT_AUTHOR_NAME", "Ada")
            .env("GIT_AUTHOR_EMAIL", "ada@example.com")
            .env("GIT_COMMITTER_NAME", "Ada")
            .env("GIT_COMMITTER_EMAIL", "ada@example.com")
            .status()
            .unwrap();
        assert!(status.success(), "git {arguments:?}");
    }

    #[test]
    fn provenance_commits_and_checkouts_follow_the_path() {
        let repository = tempfile::tempdir().unwrap();
        let top = repository.path();
        run(top, &["init", "-q", "-b", "main"], "2026-01-01T00:00:00Z");
        std::fs::create_dir_all(top.join("deploy")).unwrap();
        std::fs::write(top.join("deploy/app.yaml"), "v: 1\n").unwrap();
        std::fs::write(top.join("README"), "unrelated\n").unwrap();
        run(top, &["add", "-A"], "2026-01-01T00:00:00Z");
        run(top, &["commit", "-qm", "one"], "2026-01-02T10:00:00Z");
        std::fs::write(top.join("README"), "still unrelated\n").unwrap();
        run(top, &["commit", "-qam", "readme"], "2026-01-03T10:00:00Z");
        std::fs::write(top.join("deploy/app.yaml"), "v: 2\n").unwrap();
        run(top, &["commit", "-qam", "two"], "2026-01-04T10:00:00Z");

        let located = locate(&top.join("deploy")).unwrap();
        assert_eq!(located.relative, "deploy");
        let history = commits(&located, None).unwrap();
        assert_eq!(history.len(), 2, "only commits touching deploy/");
        assert_eq!(history[0].author, "Ada <ada@example.com>");
        assert_eq!(
            history[0].committed_at.to_rfc3339(),
            "2026-01-02T10:00:00+00:00"
        );
        let since = DateTime::parse_from_rfc3339("2026-01-03T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(commits(&located, Some(since)).unwrap().len(), 1);

        let checkout_directory = tempfile::tempdir().unwrap();
        let landed = checkout(&located, &history[0].id, checkout_directory.path())
            .unwrap()
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(landed.join("app.yaml")).unwrap(),
            "v: 1\n"
        );

        let clean: serde_json::Value =
            serde_json::from_str(&provenance(&top.join("deploy")).unwrap()).unwrap();
        assert_eq!(clean["git"]["commit"], history[1].id.as_str());
        assert_eq!(clean["git"]["dirty"], false);
        std::fs::write(top.join("deploy/app.yaml"), "v: 3\n").unwrap();
        let dirty: serde_json::Value =
            serde_json::from_str(&provenance(&top.join("deploy/app.yaml")).unwrap()).unwrap();
        assert_eq!(dirty["git"]["dirty"], true);
        assert_eq!(dirty["git"]["path"], "deploy/app.yaml");

        let outside = tempfile::tempdir().unwrap();
        assert!(provenance(outside.path()).is_none());
    }
}
