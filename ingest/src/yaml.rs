//! YAML reading shared by the declared sources (Kubernetes manifests, compose, CloudFormation):
//! every document of a file as JSON values, with the parser's budget guarding against alias
//! bombs ("billion laughs"), deep nesting and document storms, and errors that name the file
//! and line.

use serde_json::Value;

use crate::error::{IngestError, Result};
use crate::input::InputFile;

/// The parser's limits: generous for rendered Helm charts of thousands of objects, while
/// keeping alias expansion bounded (the alias-to-anchor ratio check stays on). Booleans follow
/// YAML 1.2 (`true`/`false` only), so `y`, `on` or `no` stay the strings people wrote.
fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        budget: serde_saphyr::budget! {
            // About 40,000 Kubernetes objects per file; an alias bomb stops after as many
            // replayed events, which is what bounds its time.
            max_events: 5_000_000,
            max_nodes: 2_000_000,
            max_documents: 100_000,
            max_depth: 128,
        },
    }
}

/// Every non-empty document of a YAML file, in order.
pub fn parse_documents(file: &InputFile) -> Result<Vec<Value>> {
    let text = file.text()?;
    serde_saphyr::from_multiple_with_options::<Value>(text, options())
        .map_err(|error| parse_error(file, &error))
}

/// A single YAML document (a compose file, a template).
pub fn parse_document(file: &InputFile) -> Result<Value> {
    let mut documents = parse_documents(file)?;
    match documents.len() {
        1 => Ok(documents.remove(0)),
        0 => Err(IngestError::Invalid {
            path: file.path.clone(),
            message: "empty YAML document".to_string(),
        }),
        count => Err(IngestError::Invalid {
            path: file.path.clone(),
            message: format!("expected one YAML document, found {count}"),
        }),
    }
}

/// The parser's error as a [`IngestError::Parse`] naming the file and, when known, the line.
pub fn parse_error(file: &InputFile, error: &serde_saphyr::Error) -> IngestError {
    let line = error
        .location()
        .and_then(|location| usize::try_from(location.line()).ok())
        .filter(|line| *line > 0);
    // The parser's own text repeats the position; keep only its first line.
    let message = error.to_string();
    let message = message.lines().next().unwrap_or("invalid YAML").to_string();
    IngestError::Parse {
        path: file.path.clone(),
        line,
        message: format!("invalid YAML: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn file(text: &str) -> InputFile {
        InputFile {
            path: PathBuf::from("/repo/app.yaml"),
            relative: "app.yaml".into(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn documents_are_split_and_empty_ones_skipped() {
        let documents =
            parse_documents(&file("a: 1\n---\n---\nb: [x, y]\n...\n---\nc: {d: true}\n")).unwrap();
        assert_eq!(
            documents,
            vec![
                serde_json::json!({"a": 1}),
                serde_json::json!({"b": ["x", "y"]}),
                serde_json::json!({"c": {"d": true}})
            ]
        );
    }

    #[test]
    fn invalid_yaml_names_file_and_line() {
        let error = parse_documents(&file("a: 1\nb: [unclosed\nc: 2\n"))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("/repo/app.yaml:"), "{error}");
        assert!(error.contains("invalid YAML"), "{error}");
    }

    #[test]
    fn alias_bombs_are_refused_quickly() {
        let mut text = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        let names = ["b", "c", "d", "e", "f", "g", "h", "i"];
        let mut previous = "a";
        for name in names {
            let aliases = vec![format!("*{previous}"); 9].join(",");
            text.push_str(&format!("{name}: &{name} [{aliases}]\n"));
            previous = name;
        }
        let started = std::time::Instant::now();
        let error = parse_documents(&file(&text)).unwrap_err().to_string();
        assert!(error.contains("/repo/app.yaml"), "{error}");
        // A generous bound: it only proves the expansion is cut off, not how fast it is
        // (unoptimized builds on busy CI machines are slow).
        assert!(started.elapsed() < std::time::Duration::from_secs(60));
    }
}
