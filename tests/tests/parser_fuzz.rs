//! The reliability campaign, part 3, under stable Rust: every parser that reads untrusted
//! input is fed mutated copies of its fixtures (seeded byte flips, insertions of syntax
//! tokens, deletions, duplications, truncations) for a bounded time, through the same path a
//! scrape takes. A parser may refuse an input with an error; it must never panic. Panics are
//! caught by a hook (the blocking pool would otherwise turn them into an ordinary error), and
//! each crashing input is saved under `target/parser-fuzz-findings/` and fails the test.
//!
//! `FUZZ_SECONDS` (per target, default 2) and `FUZZ_SEED` (default fixed, so CI is repeatable)
//! tune the run; `tests/campaign/fuzz.sh` runs it long. Regression inputs for past findings
//! live in `tests/campaign/fuzz_regressions/<target>/` and are replayed first.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use groundtruth_ingest::config::{build_all, SourceConfig};
use groundtruth_ingest::source::ScrapeContext;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio_util::sync::CancellationToken;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Tokens that steer mutations into the grammars' interesting corners.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "\n",
    "---\n",
    "- ",
    "${",
    "$$",
    "'",
    "(",
    ")",
    ";",
    "\\",
    "\u{0}",
    "99999999999999999999999",
    "-1",
    "null",
    "true",
    "1e999",
    "&anchor ",
    "*anchor",
    "!Ref ",
    "<<: ",
    "/*",
    "*/",
    "--",
    "=",
    "resource \"a\" \"b\" {",
    "CREATE TABLE t (",
    "é",
    "\u{feff}",
    "\t",
    "\r\n",
    "#",
    "%{",
    "}}",
    "\"\":",
    "[[",
    "]]",
];

/// One parser: the source configuration that reads `file`, and the fixtures that seed it.
struct Target {
    name: &'static str,
    file: &'static str,
    seeds: Vec<PathBuf>,
    config: fn(&Path) -> String,
}

fn fixtures(paths: &[&str]) -> Vec<PathBuf> {
    paths
        .iter()
        .map(|path| Path::new(ROOT).join("tests/fixtures").join(path))
        .collect()
}

fn targets() -> Vec<Target> {
    vec![
        Target {
            name: "tfstate",
            file: "terraform.tfstate",
            seeds: fixtures(&[
                "terraform/v1.tfstate",
                "terraform/v2.tfstate",
                "terraform/v1.show.json",
            ]),
            config: |path| format!("type = \"terraform_state\"\npath = \"{}\"", path.display()),
        },
        Target {
            name: "plan_json",
            file: "plan.json",
            seeds: fixtures(&["terraform/plan/plan.json"]),
            config: |path| format!("type = \"terraform_plan\"\npath = \"{}\"", path.display()),
        },
        Target {
            name: "hcl",
            file: "main.tf",
            seeds: fixtures(&[
                "terraform/hcl/main.tf",
                "terraform/hcl/variables.tf",
                "terraform/hcl/outputs.tf",
            ]),
            config: |path| format!("type = \"terraform_hcl\"\npath = \"{}\"", path.display()),
        },
        Target {
            name: "cloudformation_yaml",
            file: "template.yaml",
            seeds: fixtures(&["cloudformation/orders-service.yaml"]),
            config: |path| format!("type = \"cloudformation\"\npath = \"{}\"", path.display()),
        },
        Target {
            name: "cloudformation_json",
            file: "template.json",
            seeds: fixtures(&["cloudformation/payments.json"]),
            config: |path| format!("type = \"cloudformation\"\npath = \"{}\"", path.display()),
        },
        Target {
            name: "kubernetes_yaml",
            file: "manifests.yaml",
            seeds: fixtures(&[
                "kubernetes/shop/web.yaml",
                "kubernetes/shop/config.yaml",
                "kubernetes/shop/rbac-list.yaml",
            ]),
            config: |path| {
                format!(
                    "type = \"kubernetes_manifests\"\npath = \"{}\"",
                    path.display()
                )
            },
        },
        Target {
            name: "compose",
            file: "compose.yaml",
            seeds: fixtures(&["compose/shop/compose.yaml"]),
            config: |path| format!("type = \"compose\"\npath = \"{}\"", path.display()),
        },
        Target {
            name: "flagd",
            file: "flags.json",
            seeds: fixtures(&["flagd/shop/flags.json", "flagd/shop/experiments.yaml"]),
            config: |path| format!("type = \"flagd\"\npath = \"{}\"", path.display()),
        },
        Target {
            name: "sql_migrations",
            file: "V1__fuzz.sql",
            seeds: fixtures(&[
                "migrations/flyway/V1__init.sql",
                "migrations/flyway/V2__orders.sql",
                "migrations/flyway/V21__reporting_schema.sql",
            ]),
            config: |path| {
                format!(
                    "type = \"sql_migrations\"\npath = \"{}\"",
                    path.parent().unwrap().display()
                )
            },
        },
        Target {
            name: "command_json",
            file: "stdout.json",
            seeds: fixtures(&["command/kubectl-get-pods.json"]),
            config: |path| {
                format!(
                    "type = \"command\"\ncommand = [\"cat\", \"{}\"]\nkind = \"k8s/core/Pod\"\n\
                     id_template = \"{{/metadata/namespace}}/{{/metadata/name}}\"\n\
                     labels_pointer = \"/metadata/labels\"",
                    path.display()
                )
            },
        },
    ]
}

/// Apply one to four random mutations.
fn mutate(rng: &mut ChaCha8Rng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let at = if data.is_empty() {
            0
        } else {
            rng.random_range(0..=data.len())
        };
        match rng.random_range(0..6) {
            0 if !data.is_empty() => {
                let at = at.min(data.len() - 1);
                data[at] ^= 1 << rng.random_range(0..8);
            }
            1 => {
                let token = TOKENS[rng.random_range(0..TOKENS.len())].as_bytes();
                data.splice(at..at, token.iter().copied());
            }
            2 => {
                let end = (at + rng.random_range(1..64)).min(data.len());
                data.drain(at..end);
            }
            3 => {
                let end = (at + rng.random_range(1..256)).min(data.len());
                let copy = data[at..end].to_vec();
                let to = rng.random_range(0..=data.len());
                data.splice(to..to, copy);
            }
            4 => data.truncate(at),
            _ => data.insert(at.min(data.len()), rng.random()),
        }
    }
    data
}

#[derive(Default)]
struct Panics {
    count: AtomicUsize,
    last: Mutex<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parsers_never_panic_on_mutated_input() {
    let budget = Duration::from_secs_f64(
        std::env::var("FUZZ_SECONDS")
            .ok()
            .and_then(|text| text.parse().ok())
            .unwrap_or(2.0),
    );
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(20261206);
    let panics = Arc::new(Panics::default());
    let hook_panics = Arc::clone(&panics);
    std::panic::set_hook(Box::new(move |info| {
        hook_panics.count.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut last) = hook_panics.last.lock() {
            *last = info.to_string();
        }
    }));
    let findings_dir = Path::new(ROOT).join("target/parser-fuzz-findings");
    let mut findings = Vec::new();
    let mut report = Vec::new();
    for target in targets() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(target.file);
        let toml = format!(
            "[[sources]]\nname = \"fuzz_{}\"\n{}\n",
            target.name,
            (target.config)(&file)
        );
        #[derive(serde::Deserialize)]
        struct Sources {
            sources: Vec<SourceConfig>,
        }
        let sources: Sources = toml::from_str(&toml).unwrap_or_else(|e| panic!("{toml}: {e}"));
        let source = build_all(&sources.sources, chrono::Utc::now())
            .unwrap_or_else(|e| panic!("{}: {e}", target.name))
            .remove(0)
            .source;
        let seeds: Vec<Vec<u8>> = target
            .seeds
            .iter()
            .map(|path| std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
            .collect();
        let regressions = Path::new(ROOT)
            .join("tests/campaign/fuzz_regressions")
            .join(target.name);
        let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&regressions)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|entry| std::fs::read(entry.path()).ok())
                    .collect()
            })
            .unwrap_or_default();
        inputs.extend(seeds.iter().cloned());
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ target.name.len() as u64);
        let (started, mut execs, mut refused) = (Instant::now(), 0u64, 0u64);
        let mut target_findings = 0;
        loop {
            let input = if let Some(input) = inputs.pop() {
                input
            } else if started.elapsed() < budget {
                let seed = &seeds[rng.random_range(0..seeds.len())];
                mutate(&mut rng, seed)
            } else {
                break;
            };
            std::fs::write(&file, &input).unwrap();
            let before = panics.count.load(Ordering::SeqCst);
            let context = ScrapeContext {
                started_at: chrono::Utc::now(),
                cancel: CancellationToken::new(),
            };
            let outcome =
                tokio::time::timeout(Duration::from_secs(10), source.scrape(&context)).await;
            execs += 1;
            match outcome {
                Ok(Ok(_)) => {}
                Ok(Err(_)) => refused += 1,
                Err(_) => {
                    target_findings += 1;
                    findings.push(format!("{}: a scrape hung for 10 s", target.name));
                }
            }
            if panics.count.load(Ordering::SeqCst) > before {
                target_findings += 1;
                std::fs::create_dir_all(&findings_dir).unwrap();
                let saved = findings_dir.join(format!("{}-{execs}", target.name));
                std::fs::write(&saved, &input).unwrap();
                let message = panics.last.lock().map(|m| m.clone()).unwrap_or_default();
                findings.push(format!(
                    "{}: {message} (input saved to {})",
                    target.name,
                    saved.display()
                ));
            }
        }
        report.push(format!(
            "{:<20} {execs:>7} execs {refused:>7} refused {target_findings} findings",
            target.name
        ));
    }
    let _ = std::panic::take_hook();
    println!(
        "parser fuzz (seed {seed}, {budget:?} per target):\n{}",
        report.join("\n")
    );
    assert!(
        findings.is_empty(),
        "parsers panicked:\n{}",
        findings.join("\n")
    );
}

#[test]
fn statement_rewrites_never_panic_on_mutated_sql() {
    let seeds = [
        "SELECT * FROM resources FOR SYSTEM_TIME AS OF now() - INTERVAL '1 day' WHERE kind = 'x'",
        "SELECT r.id FROM resources FOR SYSTEM_TIME AS OF TIMESTAMP '2026-01-01' AS r JOIN drift d ON r.id = d.id",
        "SELECT * FROM named_query('changes_since', since => now() - INTERVAL '7 days')",
        "WITH a AS (SELECT 1) SELECT * FROM a; SELECT 'it''s' -- comment\n",
        "SELECT attrs->>'name', attrs->'tags' FROM resources_at(now()) WHERE id LIKE '%$1%'",
    ];
    let budget = Duration::from_secs_f64(
        std::env::var("FUZZ_SECONDS")
            .ok()
            .and_then(|text| text.parse().ok())
            .unwrap_or(2.0),
    );
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (started, mut execs) = (Instant::now(), 0u64);
    while started.elapsed() < budget {
        let seed = seeds[rng.random_range(0..seeds.len())].as_bytes();
        let text = String::from_utf8_lossy(&mutate(&mut rng, seed)).into_owned();
        let outcome = std::panic::catch_unwind(|| {
            let _ = groundtruth_engine::sql::pipeline::Pipeline::new(None).prepare(&text);
            if let Ok(statements) = groundtruth_engine::sql::parse(&text) {
                for statement in &statements {
                    let _ = groundtruth_engine::sql::ensure_read_only(statement);
                }
            }
        });
        assert!(outcome.is_ok(), "statement rewrite panicked on {text:?}");
        execs += 1;
    }
    println!("statement rewrites: {execs} execs, 0 findings");
}
