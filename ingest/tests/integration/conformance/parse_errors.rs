//! Parse errors, source by source: a malformed file fails the scrape with an error naming the
//! file, the line and the construct that could not be read, and nothing the scrape would have
//! returned is reported instead (a failed scrape records no deletion of the good files'
//! resources); a construct a source does not support is a warning on a scrape that goes on.

use std::fs;
use std::path::Path;

use chrono::{TimeZone, Utc};
use groundtruth_ingest::config::SourceConfig;
use serde_json::json;

use super::context;

/// What a broken input must produce.
enum Outcome {
    /// The scrape fails; the error names the file, `:line` (when the parser knows it) and every
    /// listed word.
    Error {
        line: Option<usize>,
        construct: &'static [&'static str],
    },
    /// The scrape succeeds with the good files' resources and a warning naming the file,
    /// `:line` and every listed word.
    Warning {
        line: usize,
        construct: &'static [&'static str],
    },
}

struct Case {
    source_type: &'static str,
    /// Files of a good input next to the broken one (empty for single-file sources).
    good: &'static [(&'static str, &'static str)],
    /// The broken file and its text.
    broken: (&'static str, &'static str),
    /// The configured path: the directory, or the broken file itself.
    path_is_file: bool,
    outcome: Outcome,
}

const GOOD_MANIFEST: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n";

fn cases() -> Vec<Case> {
    vec![
        Case {
            source_type: "terraform_state",
            good: &[],
            broken: (
                "terraform.tfstate",
                "{\n  \"version\": 4,\n  \"resources\": [\n    {\"mode\": \"managed\", \"type\": \"aws_s3_bucket\" \"name\": \"logs\"}\n  ]\n}\n",
            ),
            path_is_file: true,
            outcome: Outcome::Error { line: Some(4), construct: &["JSON", "expected `,` or `}`"] },
        },
        Case {
            source_type: "terraform_plan",
            good: &[],
            broken: (
                "plan.json",
                "{\n  \"format_version\": \"1.2\",\n  \"planned_values\": {\n    \"root_module\": {\"resources\": [}\n  }\n}\n",
            ),
            path_is_file: true,
            outcome: Outcome::Error { line: Some(4), construct: &["JSON", "expected value"] },
        },
        Case {
            source_type: "terraform_hcl",
            good: &[("main.tf", "resource \"aws_sqs_queue\" \"jobs\" {\n  name = \"jobs\"\n}\n")],
            broken: (
                "broken.tf",
                "variable \"region\" {\n  default = \"eu-west-1\"\n}\n\nresource \"aws_s3_bucket\" \"logs\" {\n  bucket = \n}\n",
            ),
            path_is_file: false,
            outcome: Outcome::Error { line: Some(6), construct: &["HCL", "expression"] },
        },
        Case {
            source_type: "cloudformation",
            good: &[("queue.yaml", "Resources:\n  Jobs:\n    Type: AWS::SQS::Queue\n")],
            broken: (
                "broken.yaml",
                "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Sub [unclosed\n",
            ),
            path_is_file: false,
            outcome: Outcome::Error { line: Some(5), construct: &["YAML", "unclosed bracket"] },
        },
        Case {
            source_type: "cloudformation",
            good: &[("queue.yaml", "Resources:\n  Jobs:\n    Type: AWS::SQS::Queue\n")],
            broken: (
                "broken.json",
                "{\n  \"Resources\": {\n    \"Bucket\": {\n      \"Type\": \"AWS::S3::Bucket\",\n    }\n  }\n}\n",
            ),
            path_is_file: false,
            outcome: Outcome::Error { line: Some(5), construct: &["JSON", "trailing comma"] },
        },
        Case {
            source_type: "kubernetes_manifests",
            good: &[("settings.yaml", GOOD_MANIFEST)],
            broken: (
                "broken.yaml",
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {app: web\nspec: {}\n",
            ),
            path_is_file: false,
            outcome: Outcome::Error { line: Some(11), construct: &["YAML", "flow mapping"] },
        },
        Case {
            source_type: "compose",
            good: &[],
            broken: (
                "compose.yaml",
                "services:\n  web:\n    image: nginx\n    ports:\n      - \"8080:80\"\n     environment: {}\n",
            ),
            path_is_file: true,
            outcome: Outcome::Error { line: Some(6), construct: &["YAML", "block mapping"] },
        },
        Case {
            source_type: "flagd",
            good: &[(
                "good.flagd.json",
                "{\"flags\": {\"dark-mode\": {\"state\": \"ENABLED\", \"variants\": {\"on\": true, \"off\": false}, \"defaultVariant\": \"off\"}}}\n",
            )],
            broken: (
                "broken.flagd.json",
                "{\n  \"flags\": {\n    \"checkout\": {\n      \"state\": \"ENABLED\"\n      \"variants\": {}\n    }\n  }\n}\n",
            ),
            path_is_file: false,
            outcome: Outcome::Error { line: Some(5), construct: &["JSON", "expected `,` or `}`"] },
        },
        // Well-formed documents of the wrong shape: the construct is named.
        Case {
            source_type: "terraform_plan",
            good: &[],
            broken: ("plan.json", "{\"format_version\": \"1.2\", \"planned_values\": []}\n"),
            path_is_file: true,
            outcome: Outcome::Error { line: None, construct: &["\"planned_values\" is not an object"] },
        },
        Case {
            source_type: "cloudformation",
            good: &[("queue.yaml", "Resources:\n  Jobs:\n    Type: AWS::SQS::Queue\n")],
            broken: ("broken.yaml", "Resources:\n  - Bucket\n"),
            path_is_file: false,
            outcome: Outcome::Error { line: None, construct: &["Resources is not a mapping"] },
        },
        Case {
            source_type: "kubernetes_manifests",
            good: &[("settings.yaml", GOOD_MANIFEST)],
            broken: ("broken.yaml", "apiVersion: v1\nmetadata:\n  name: nameless\n"),
            path_is_file: false,
            outcome: Outcome::Error { line: Some(1), construct: &["document 1", "no string \"kind\""] },
        },
        Case {
            source_type: "compose",
            good: &[],
            broken: ("compose.yaml", "services:\n  - web\n"),
            path_is_file: true,
            outcome: Outcome::Error { line: None, construct: &["\"services\" is not a mapping"] },
        },
        Case {
            source_type: "sql_migrations",
            good: &[("V1__orders.sql", "CREATE TABLE orders (id bigint PRIMARY KEY);\n")],
            broken: (
                "V2__broken.sql",
                "-- a typo in the second statement\nALTER TABLE orders ADD COLUMN note text;\nCREATE TABLE lines (id bigint PRIMARY KEY,, order_id bigint);\n",
            ),
            path_is_file: false,
            // sqlparser does not read all of PostgreSQL: a statement it cannot parse may be
            // valid SQL, so it is a warning and the rest of the history is still folded.
            outcome: Outcome::Warning { line: 3, construct: &["CREATE TABLE"] },
        },
    ]
}

#[tokio::test]
async fn malformed_files_fail_the_scrape_naming_file_line_and_construct() {
    let mut report = Vec::new();
    for case in cases() {
        let directory = tempfile::tempdir().expect("tempdir");
        let root = directory.path().join("inputs");
        fs::create_dir_all(&root).expect("inputs dir");
        for (name, text) in case.good {
            fs::write(root.join(name), text).expect("write good file");
        }
        let broken = root.join(case.broken.0);
        fs::write(&broken, case.broken.1).expect("write broken file");
        let path: &Path = if case.path_is_file { &broken } else { &root };
        let config: SourceConfig = serde_json::from_value(json!({
            "type": case.source_type,
            "name": "audit",
            "path": path.display().to_string(),
        }))
        .expect("source configuration");
        let epoch = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap();
        let label = format!("{} {}", case.source_type, case.broken.0);
        let outcome = config.build_source(epoch).scrape(&context()).await;
        let file = broken.display().to_string();
        match (&case.outcome, outcome) {
            (Outcome::Error { line, construct }, Err(error)) => {
                let text = error.to_string();
                let located = match line {
                    Some(line) => format!("{file}:{line}:"),
                    None => format!("{file}:"),
                };
                if !text.contains(&located) {
                    report.push(format!("{label}: error does not name {located}: {text}"));
                }
                for word in *construct {
                    if !text.contains(word) {
                        report.push(format!("{label}: error does not name {word:?}: {text}"));
                    }
                }
            }
            (Outcome::Error { .. }, Ok(observation)) => report.push(format!(
                "{label}: scrape succeeded with {} resources (warnings {:?}); a partial result \
                 would read the broken file's resources as deleted",
                observation.resources.len(),
                observation.warnings
            )),
            (Outcome::Warning { line, construct }, Ok(observation)) => {
                let located = format!("{}:{line}", case.broken.0);
                let warning = observation
                    .warnings
                    .iter()
                    .find(|warning| warning.contains(&located));
                match warning {
                    None => report.push(format!(
                        "{label}: no warning names {located}: {:?}",
                        observation.warnings
                    )),
                    Some(warning) => {
                        for word in *construct {
                            if !warning.contains(word) {
                                report.push(format!(
                                    "{label}: warning does not name {word:?}: {warning}"
                                ));
                            }
                        }
                    }
                }
                if observation.resources.is_empty() {
                    report.push(format!("{label}: the good migrations were not folded"));
                }
            }
            (Outcome::Warning { .. }, Err(error)) => report.push(format!(
                "{label}: expected a warning, the scrape failed: {error}"
            )),
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}
