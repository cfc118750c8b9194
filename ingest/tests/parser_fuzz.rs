//! The reliability campaign, part 3, under stable Rust: every parser that reads untrusted
//! input is fed mutated copies of its fixtures (seeded bit flips, insertions of syntax tokens,
//! deletions, duplications, truncations, stacked on inputs that parsed) and must never panic,
//! hang, or take more than a second. A parser may refuse an input with an error.
//!
//! Each input goes through [`Source::parse_content`], the parse half of the source's own
//! scrape, on the worker thread: no disk, process or thread pool between the fuzzer and the
//! parser, so a release build reaches millions of inputs per parser. The seeds, the replayed
//! regressions and one mutated input in [`SCRAPE_EVERY`] also go through the whole
//! [`Source::scrape`] (the file written to disk, or printed by `cat` for the command source),
//! and both answers must agree, which keeps the fast path honest.
//!
//! Knobs (environment): `FUZZ_SECONDS` per target (default 2, so CI is short), `FUZZ_EXECS`
//! per target (with `FUZZ_SECONDS` unset, the run stops at this count instead of a time),
//! `FUZZ_SEED` (default fixed, so CI is repeatable), `FUZZ_THREADS` (default: every core),
//! `FUZZ_TARGETS` (comma-separated names, run in that order; default all), `FUZZ_RSS_LIMIT_MB` (default 512: the
//! run fails when the process's peak resident memory exceeds it). `tests/campaign/fuzz.sh`
//! runs it long. A finding (a panic, an input over [`SLOW_INPUT`], a disagreement with the
//! scrape path) is saved under `target/parser-fuzz-findings/` and fails the test; an input
//! still running after [`HUNG_INPUT`] is saved and the process aborts. Regression inputs for
//! past findings live in `tests/campaign/fuzz_regressions/<target>/` and are replayed first.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use groundtruth_engine::model::Observation;
use groundtruth_ingest::config::{build_all, SourceConfig};
use groundtruth_ingest::error::Result as IngestResult;
use groundtruth_ingest::input::InputFile;
use groundtruth_ingest::source::{ScrapeContext, Source};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio_util::sync::CancellationToken;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// One mutated input in this many also takes the whole scrape path.
const SCRAPE_EVERY: u64 = 2_000;

/// An input parsed slower than this is a finding (the "0 timeouts over 1 s").
const SLOW_INPUT: Duration = Duration::from_secs(1);

/// An input still running after this is a hang: saved, reported, and the process aborted
/// (a parser cannot be interrupted on its own thread).
const HUNG_INPUT: Duration = Duration::from_secs(30);

/// Inputs that parsed, kept per target to mutate further (deeper than one step from a seed).
const POOL_SIZE: usize = 256;

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
    "!Sub ",
    "!GetAtt ",
    "<<: ",
    "/*",
    "*/",
    "--",
    "=",
    "resource \"a\" \"b\" {",
    "module \"m\" { source = \"./m\" }",
    "CREATE TABLE t (",
    "ALTER TABLE t ADD COLUMN c int;",
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
    "{\"items\": [",
    "\"kind\": \"List\"",
];

/// What a target feeds its inputs to.
enum Parser {
    /// A configured source: its `parse_content`, and now and then its whole scrape.
    Source {
        source: Arc<dyn Source>,
        /// Where the scrape path reads the input (the source's configured file).
        file: PathBuf,
        /// The file's name, as the source's reader reports it relative to its location.
        relative: String,
        /// Keeps `file` alive.
        _dir: tempfile::TempDir,
    },
    /// The statement pipeline every SQL statement of the wire and the CLI goes through.
    Statements,
}

/// One parser: how to call it, and the inputs that seed it.
struct Target {
    name: &'static str,
    parser: Parser,
    seeds: Vec<Vec<u8>>,
}

fn fixture(path: &str) -> Vec<u8> {
    let path = Path::new(ROOT).join("tests/fixtures").join(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A target reading `file_name` through the source configured by `config` (given the file's
/// path; it may point at the file or its directory).
fn source_target(
    name: &'static str,
    file_name: &str,
    seeds: &[&str],
    config: impl Fn(&Path) -> String,
) -> Target {
    let seeds: Vec<Vec<u8>> = seeds.iter().map(|path| fixture(path)).collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(file_name);
    // Some sources look at the location itself (a compose file alone is read whatever its
    // name): it exists from the start, as in a real scrape.
    std::fs::write(&file, &seeds[0]).unwrap();
    let toml = format!("[[sources]]\nname = \"fuzz_{name}\"\n{}\n", config(&file));
    #[derive(serde::Deserialize)]
    struct Sources {
        sources: Vec<SourceConfig>,
    }
    let sources: Sources = toml::from_str(&toml).unwrap_or_else(|e| panic!("{toml}: {e}"));
    let source = build_all(&sources.sources, chrono::Utc::now())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .remove(0)
        .source;
    Target {
        name,
        parser: Parser::Source {
            source,
            file,
            relative: file_name.to_string(),
            _dir: dir,
        },
        seeds,
    }
}

fn path_config(source_type: &str) -> impl Fn(&Path) -> String + '_ {
    move |path| format!("type = \"{source_type}\"\npath = \"{}\"", path.display())
}

fn targets() -> Vec<Target> {
    vec![
        source_target(
            "tfstate",
            "terraform.tfstate",
            &[
                "terraform/v1.tfstate",
                "terraform/v2.tfstate",
                "terraform/v1.show.json",
            ],
            path_config("terraform_state"),
        ),
        source_target(
            "plan_json",
            "plan.json",
            &["terraform/plan/plan.json"],
            path_config("terraform_plan"),
        ),
        source_target(
            "hcl",
            "main.tf",
            &[
                "terraform/hcl/main.tf",
                "terraform/hcl/variables.tf",
                "terraform/hcl/outputs.tf",
            ],
            path_config("terraform_hcl"),
        ),
        source_target(
            "cloudformation_yaml",
            "template.yaml",
            &["cloudformation/orders-service.yaml"],
            path_config("cloudformation"),
        ),
        source_target(
            "cloudformation_json",
            "template.json",
            &["cloudformation/payments.json"],
            path_config("cloudformation"),
        ),
        source_target(
            "kubernetes_yaml",
            "manifests.yaml",
            &[
                "kubernetes/shop/web.yaml",
                "kubernetes/shop/config.yaml",
                "kubernetes/shop/rbac-list.yaml",
            ],
            path_config("kubernetes_manifests"),
        ),
        source_target(
            "kubectl_json",
            "cluster.json",
            &["kubernetes/kubectl/shop-get-A.json"],
            path_config("kubernetes_api"),
        ),
        source_target(
            "compose",
            "compose.yaml",
            &["compose/shop/compose.yaml"],
            path_config("compose"),
        ),
        source_target(
            "flagd",
            "flags.json",
            &["flagd/shop/flags.json", "flagd/shop/experiments.yaml"],
            path_config("flagd"),
        ),
        source_target(
            "sql_migrations",
            "V1__fuzz.sql",
            &[
                "migrations/flyway/V1__init.sql",
                "migrations/flyway/V2__orders.sql",
                "migrations/flyway/V21__reporting_schema.sql",
            ],
            |path| {
                format!(
                    "type = \"sql_migrations\"\npath = \"{}\"",
                    path.parent().unwrap().display()
                )
            },
        ),
        source_target(
            "command_json",
            "stdout.json",
            &["command/kubectl-get-pods.json"],
            |path| {
                format!(
                    "type = \"command\"\ncommand = [\"cat\", \"{}\"]\nkind = \"k8s/core/Pod\"\n\
                     id_template = \"{{/metadata/namespace}}/{{/metadata/name}}\"\n\
                     labels_pointer = \"/metadata/labels\"",
                    path.display()
                )
            },
        ),
        Target {
            name: "statement_rewrites",
            parser: Parser::Statements,
            seeds: [
                "SELECT * FROM resources FOR SYSTEM_TIME AS OF now() - INTERVAL '1 day' WHERE kind = 'x'",
                "SELECT r.id FROM resources FOR SYSTEM_TIME AS OF TIMESTAMP '2026-01-01' AS r JOIN drift d ON r.id = d.id",
                "SELECT * FROM named_query('changes_since', since => now() - INTERVAL '7 days')",
                "WITH a AS (SELECT 1) SELECT * FROM a; SELECT 'it''s' -- comment\n",
                "SELECT attrs->>'name', attrs->'tags' FROM resources_at(now()) WHERE id LIKE '%$1%'",
                "SELECT * FROM changes(now() - INTERVAL '1 hour', now()) c WHERE c.source IN ('a', 'b')",
                "PREPARE q AS SELECT * FROM drift_at($1); EXECUTE q('2026-01-01'); DEALLOCATE q",
            ]
            .iter()
            .map(|seed| seed.as_bytes().to_vec())
            .collect(),
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

thread_local! {
    /// The last panic on this thread, with its location (the hook sees it; the payload alone
    /// has no location).
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_string());
    let located = LAST_PANIC.with(|last| last.borrow().clone());
    if located.is_empty() {
        text
    } else {
        located
    }
}

/// What one input did.
enum Outcome {
    Parsed,
    Refused,
    Panicked(String),
}

/// The answer of a parse, reduced to what both paths must agree on.
fn summary(result: &IngestResult<Observation>) -> String {
    match result {
        Ok(observation) => format!(
            "ok {:?} {:?} {:?}",
            observation.resources, observation.coverage, observation.warnings
        ),
        Err(error) => format!("error {error}"),
    }
}

fn run_statements(input: &[u8]) -> bool {
    let text = String::from_utf8_lossy(input);
    let prepared = groundtruth_engine::sql::pipeline::Pipeline::new(None).prepare(&text);
    if let Ok(statements) = groundtruth_engine::sql::parse(&text) {
        for statement in &statements {
            let _ = groundtruth_engine::sql::ensure_read_only(statement);
        }
    }
    prepared.is_ok()
}

/// Feed one input through the fast path, and the scrape path too when `scrape` is set.
/// A disagreement between the two is returned as a panic-like finding.
fn exec(target: &Target, input: &[u8], scrape: bool, runtime: &tokio::runtime::Runtime) -> Outcome {
    let fast = catch_unwind(AssertUnwindSafe(|| match &target.parser {
        Parser::Statements => run_statements(input).then_some(String::new()),
        Parser::Source {
            source,
            file,
            relative,
            ..
        } => {
            let content = vec![InputFile {
                path: file.clone(),
                relative: relative.clone(),
                bytes: input.to_vec(),
            }];
            let result = source
                .parse_content(content)
                .expect("every fuzzed source parses content");
            result.is_ok().then(|| summary(&result))
        }
    }));
    let fast = match fast {
        Ok(fast) => fast,
        Err(payload) => return Outcome::Panicked(panic_message(payload.as_ref())),
    };
    if let (true, Parser::Source { source, file, .. }) = (scrape, &target.parser) {
        std::fs::write(file, input).unwrap();
        let context = ScrapeContext {
            started_at: chrono::Utc::now(),
            cancel: CancellationToken::new(),
        };
        let slow = runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), source.scrape(&context)).await
        });
        let slow = match slow {
            Err(_) => return Outcome::Panicked("the scrape path hung for 10 s".to_string()),
            Ok(result) => result,
        };
        let slow_summary = slow.is_ok().then(|| summary(&slow));
        if slow_summary != fast {
            return Outcome::Panicked(format!(
                "the scrape path and parse_content disagree: scrape {}, parse_content {}",
                summary(&slow).chars().take(300).collect::<String>(),
                fast.as_deref()
                    .unwrap_or("error")
                    .chars()
                    .take(300)
                    .collect::<String>()
            ));
        }
    }
    if fast.is_some() {
        Outcome::Parsed
    } else {
        Outcome::Refused
    }
}

/// What a worker is running now, for the hang watchdog.
#[derive(Default)]
struct Running {
    since: Option<Instant>,
    target: &'static str,
    input: Arc<Vec<u8>>,
}

/// The figures of one target's run.
#[derive(Default)]
struct Report {
    execs: u64,
    refused: u64,
    scrape_checks: u64,
    slowest: Duration,
    findings: Vec<String>,
}

struct Budget {
    seconds: Option<Duration>,
    execs: Option<u64>,
}

impl Budget {
    fn from_env() -> Self {
        let seconds = std::env::var("FUZZ_SECONDS")
            .ok()
            .and_then(|text| text.parse::<f64>().ok())
            .map(Duration::from_secs_f64);
        let execs = std::env::var("FUZZ_EXECS")
            .ok()
            .and_then(|text| text.replace('_', "").parse().ok());
        match (seconds, execs) {
            (None, None) => Budget {
                seconds: Some(Duration::from_secs(2)),
                execs: None,
            },
            (seconds, execs) => Budget { seconds, execs },
        }
    }

    fn spent(&self, started: Instant, execs: u64) -> bool {
        self.seconds.is_some_and(|limit| started.elapsed() >= limit)
            || self.execs.is_some_and(|limit| execs >= limit)
    }
}

fn save_finding(target: &str, execs: u64, input: &[u8]) -> PathBuf {
    let dir = Path::new(ROOT).join("target/parser-fuzz-findings");
    std::fs::create_dir_all(&dir).unwrap();
    let saved = dir.join(format!("{target}-{execs}"));
    std::fs::write(&saved, input).unwrap();
    saved
}

fn fuzz_target(
    target: &Target,
    seed: u64,
    budget: &Budget,
    running: &Mutex<Running>,
    runtime: &tokio::runtime::Runtime,
) -> Report {
    let mut report = Report::default();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ target.name.len() as u64);
    let regressions = Path::new(ROOT)
        .join("tests/campaign/fuzz_regressions")
        .join(target.name);
    let mut replay: Vec<Vec<u8>> = std::fs::read_dir(&regressions)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| std::fs::read(entry.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    replay.extend(target.seeds.iter().cloned());
    let mut pool: Vec<Vec<u8>> = Vec::new();
    let started = Instant::now();
    loop {
        let (input, checked) = if let Some(input) = replay.pop() {
            (input, true)
        } else if budget.spent(started, report.execs) {
            break;
        } else {
            let base = if !pool.is_empty() && rng.random_bool(0.5) {
                &pool[rng.random_range(0..pool.len())]
            } else {
                &target.seeds[rng.random_range(0..target.seeds.len())]
            };
            let input = mutate(&mut rng, base);
            (input, report.execs % SCRAPE_EVERY == 0)
        };
        let input = Arc::new(input);
        let began = Instant::now();
        *running.lock().unwrap() = Running {
            since: Some(began),
            target: target.name,
            input: Arc::clone(&input),
        };
        LAST_PANIC.with(|last| last.borrow_mut().clear());
        let outcome = exec(target, &input, checked, runtime);
        running.lock().unwrap().since = None;
        let took = began.elapsed();
        report.execs += 1;
        report.scrape_checks +=
            u64::from(checked && matches!(target.parser, Parser::Source { .. }));
        report.slowest = report.slowest.max(took);
        if took > SLOW_INPUT && !checked {
            let saved = save_finding(target.name, report.execs, &input);
            report.findings.push(format!(
                "{}: an input took {took:?} (saved to {})",
                target.name,
                saved.display()
            ));
        }
        match outcome {
            Outcome::Parsed => {
                if pool.len() < POOL_SIZE {
                    pool.push(Arc::unwrap_or_clone(input));
                } else {
                    let slot = rng.random_range(0..POOL_SIZE);
                    pool[slot] = Arc::unwrap_or_clone(input);
                }
            }
            Outcome::Refused => report.refused += 1,
            Outcome::Panicked(message) => {
                let saved = save_finding(target.name, report.execs, &input);
                report.findings.push(format!(
                    "{}: {message} (input saved to {})",
                    target.name,
                    saved.display()
                ));
            }
        }
    }
    report
}

/// Peak resident memory of this process, in MiB (`VmHWM`, Linux's high-water mark).
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .expect("/proc/self/status has VmHWM")
        / 1024
}

#[test]
fn parsers_never_panic_hang_or_crawl_on_mutated_input() {
    let budget = Budget::from_env();
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(20261206);
    let threads = std::env::var("FUZZ_THREADS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let rss_limit: u64 = std::env::var("FUZZ_RSS_LIMIT_MB")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(512);
    let wanted: Option<Vec<String>> = std::env::var("FUZZ_TARGETS").ok().map(|text| {
        text.split(',')
            .map(|name| name.trim().to_string())
            .collect()
    });
    // Targets run in the order FUZZ_TARGETS lists them (the slowest first balances a long run).
    let mut targets: Vec<Target> = targets()
        .into_iter()
        .filter(|target| {
            wanted
                .as_ref()
                .is_none_or(|names| names.iter().any(|name| name == target.name))
        })
        .collect();
    if let Some(names) = &wanted {
        targets.sort_by_key(|target| names.iter().position(|name| name == target.name));
    }
    assert!(!targets.is_empty(), "FUZZ_TARGETS names no target");

    // Quiet panics (a parser's panic is a finding, reported below), keeping where it was.
    std::panic::set_hook(Box::new(|info| {
        LAST_PANIC.with(|last| *last.borrow_mut() = info.to_string());
    }));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let running: Vec<Mutex<Running>> = (0..threads).map(|_| Mutex::default()).collect();
    let next = AtomicUsize::new(0);
    let reports: Mutex<Vec<(usize, Report, Duration)>> = Mutex::default();
    let finished = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            // The hang watchdog: a parser cannot be stopped on its own thread.
            while finished.load(Ordering::SeqCst) < threads {
                std::thread::sleep(Duration::from_millis(200));
                for slot in &running {
                    let slot = slot.lock().unwrap();
                    if let Some(since) = slot.since.filter(|since| since.elapsed() > HUNG_INPUT) {
                        let saved = save_finding(slot.target, 0, &slot.input);
                        eprintln!(
                            "{}: an input has run for {:?}, a hang (saved to {}); aborting",
                            slot.target,
                            since.elapsed(),
                            saved.display()
                        );
                        std::process::abort();
                    }
                }
            }
        });
        for slot in &running {
            let (targets, next, reports, finished, runtime) =
                (&targets, &next, &reports, &finished, &runtime);
            let budget = &budget;
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(target) = targets.get(index) else {
                        break;
                    };
                    let started = Instant::now();
                    let report = fuzz_target(target, seed, budget, slot, runtime);
                    reports
                        .lock()
                        .unwrap()
                        .push((index, report, started.elapsed()));
                }
                finished.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    let _ = std::panic::take_hook();

    let mut reports = reports.into_inner().unwrap();
    reports.sort_by_key(|(index, ..)| *index);
    let peak = peak_rss_mib();
    println!(
        "parser fuzz (seed {seed}, {threads} threads, per target: {}):",
        match (budget.seconds, budget.execs) {
            (Some(seconds), Some(execs)) => format!("{seconds:?} or {execs} execs"),
            (Some(seconds), None) => format!("{seconds:?}"),
            (None, Some(execs)) => format!("{execs} execs"),
            (None, None) => unreachable!(),
        }
    );
    println!(
        "{:<20} {:>11} {:>11} {:>8} {:>10} {:>9} {:>9} findings",
        "target", "execs", "refused", "scrapes", "execs/s", "slowest", "took"
    );
    let mut findings = Vec::new();
    for (index, report, took) in &reports {
        println!(
            "{:<20} {:>11} {:>11} {:>8} {:>10.0} {:>7}ms {:>8.0}s {}",
            targets[*index].name,
            report.execs,
            report.refused,
            report.scrape_checks,
            report.execs as f64 / took.as_secs_f64(),
            report.slowest.as_millis(),
            took.as_secs_f64(),
            report.findings.len()
        );
        findings.extend(report.findings.iter().cloned());
    }
    println!("peak resident memory {peak} MiB (limit {rss_limit} MiB)");
    assert!(
        findings.is_empty(),
        "parser findings:\n{}",
        findings.join("\n")
    );
    assert!(
        peak <= rss_limit,
        "the fuzz process peaked at {peak} MiB, over the {rss_limit} MiB limit"
    );
    // Every target really parsed something and refused something: a harness whose inputs
    // never reach the parser, or whose mutations never break a grammar, fails here.
    for (index, report, _) in &reports {
        let name = targets[*index].name;
        assert!(
            report.refused > 0 && report.refused < report.execs,
            "{name}: {} of {} inputs refused; the fuzzer is not exercising the parser",
            report.refused,
            report.execs
        );
    }
}
