//! Groundtruth performance benchmarks: a seeded generator of a large change-only history and the
//! helpers the `foundation` criterion bench uses to build, reuse and measure it.
//!
//! Two configurations of the same generator ([`generator`]): the foundation dataset
//! ([`Params::foundation`], 2,000 one-minute scrapes) and the year dataset ([`Params::year`],
//! 8,760 hourly scrapes), both 100k resources over 8 kinds with 0.5 % churn per scrape. The
//! history is bulk-loaded as `VersionRow`s and `ScrapeRecord`s through [`Store::commit`],
//! several scrapes per commit (commit order is time order, so files are time-clustered), with
//! [`maybe_checkpoint`] after each commit, then compacted once with [`Store::compact`].

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Duration, Utc};
use groundtruth_engine::model::{Observation, ObservedResource, ResourceKey};
use groundtruth_engine::state::{CurrentVersion, SourceState};
use groundtruth_engine::store::{Store, StoreOptions, StoreUrl};
use serde_json::{json, Value};

pub mod answers;
pub mod drift;
pub mod generator;

pub use generator::{Generator, ScrapeBatch};

/// The source name every generated row carries.
pub const SOURCE: &str = "bench";

/// Name of the marker file written once a dataset directory is complete.
pub const MARKER: &str = "complete.json";

/// Whether dataset builds write state checkpoints ([`maybe_checkpoint`]): the `checkpoints`
/// feature of this crate (default). A dataset built with a different setting is rebuilt rather
/// than reused.
pub const CHECKPOINTS: bool = cfg!(feature = "checkpoints");

/// What [`maybe_checkpoint`] wrote after one commit.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckpointsWritten {
    /// Checkpoints written (one per source that was due).
    pub checkpoints: u64,
    /// Rows in them.
    pub rows: u64,
}

/// Write the state checkpoints that are due after a commit (`Store::maybe_checkpoint`, issue
/// 12), or nothing without the `checkpoints` feature (to measure history without checkpoints).
#[cfg(feature = "checkpoints")]
pub async fn maybe_checkpoint(store: &Store) -> Result<CheckpointsWritten> {
    let reports = store.maybe_checkpoint().await?;
    Ok(CheckpointsWritten {
        checkpoints: reports.len() as u64,
        rows: reports.iter().map(|report| report.rows).sum(),
    })
}

/// Without the `checkpoints` feature: nothing is written.
#[cfg(not(feature = "checkpoints"))]
pub async fn maybe_checkpoint(store: &Store) -> Result<CheckpointsWritten> {
    let _ = store;
    Ok(CheckpointsWritten::default())
}

/// Shape of a generated history.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Resources alive at any time (the population is kept constant).
    pub resources: usize,
    /// Scrapes, including the initial full one.
    pub scrapes: usize,
    /// Fraction of the resources touched per scrape (0.005 = 0.5 %).
    pub churn: f64,
    /// Number of resource kinds (`k0`, `k1`, ...).
    pub kinds: usize,
    /// Seconds between two scrapes.
    pub interval_seconds: i64,
    /// Scrapes bulk-loaded per `Store::commit`.
    pub scrapes_per_commit: usize,
    /// RNG seed.
    pub seed: u64,
}

impl Params {
    /// The foundation issue's configuration: 100k resources over 8 kinds, 2,000 scrapes,
    /// 0.5 % churn per scrape.
    pub fn foundation() -> Self {
        Self {
            resources: 100_000,
            scrapes: 2_000,
            churn: 0.005,
            kinds: 8,
            interval_seconds: 60,
            scrapes_per_commit: 50,
            seed: 42,
        }
    }

    /// One year of hourly scrapes (8,760) of the same estate, one day (24 scrapes) per commit.
    /// A year of 5-minute scrapes was measured and rejected (see benches/README.md).
    pub fn year() -> Self {
        Self {
            scrapes: 8_760,
            interval_seconds: 3_600,
            scrapes_per_commit: 24,
            ..Self::foundation()
        }
    }

    /// The preset named `name`: `foundation` or `year`.
    pub fn preset(name: &str) -> Result<Self> {
        match name {
            "foundation" => Ok(Self::foundation()),
            "year" => Ok(Self::year()),
            other => bail!("unknown dataset preset {other:?} (foundation, year)"),
        }
    }

    /// Name of the dataset in criterion groups and `benches/results/<name>.json`.
    pub fn dataset_name(&self) -> String {
        if *self == Self::foundation() {
            "foundation".into()
        } else if *self == Self::year() {
            "foundation-year".into()
        } else {
            format!("foundation-{}", self.slug())
        }
    }

    /// A small configuration for smoke tests.
    pub fn small() -> Self {
        Self {
            resources: 1_000,
            scrapes: 40,
            churn: 0.02,
            kinds: 8,
            interval_seconds: 60,
            scrapes_per_commit: 10,
            seed: 7,
        }
    }

    /// The preset `GT_BENCH_PRESET` (`foundation` unless set) overridden by
    /// `GT_BENCH_RESOURCES`, `GT_BENCH_SCRAPES`, `GT_BENCH_CHURN`, `GT_BENCH_INTERVAL`
    /// (seconds), `GT_BENCH_SCRAPES_PER_COMMIT` and `GT_BENCH_SEED` when set.
    pub fn from_env() -> Result<Self> {
        let preset = std::env::var("GT_BENCH_PRESET").unwrap_or_else(|_| "foundation".into());
        let mut params = Self::preset(&preset)?;
        if let Ok(text) = std::env::var("GT_BENCH_INTERVAL") {
            params.interval_seconds = text.parse().context("GT_BENCH_INTERVAL")?;
        }
        if let Ok(text) = std::env::var("GT_BENCH_SCRAPES_PER_COMMIT") {
            params.scrapes_per_commit = text.parse().context("GT_BENCH_SCRAPES_PER_COMMIT")?;
        }
        if let Ok(text) = std::env::var("GT_BENCH_RESOURCES") {
            params.resources = text.parse().context("GT_BENCH_RESOURCES")?;
        }
        if let Ok(text) = std::env::var("GT_BENCH_SCRAPES") {
            params.scrapes = text.parse().context("GT_BENCH_SCRAPES")?;
        }
        if let Ok(text) = std::env::var("GT_BENCH_CHURN") {
            params.churn = text.parse().context("GT_BENCH_CHURN")?;
        }
        if let Ok(text) = std::env::var("GT_BENCH_SEED") {
            params.seed = text.parse().context("GT_BENCH_SEED")?;
        }
        params.validate()?;
        Ok(params)
    }

    /// Reject shapes the generator cannot produce.
    pub fn validate(&self) -> Result<()> {
        if self.resources == 0 || self.scrapes == 0 || self.kinds == 0 {
            bail!("resources, scrapes and kinds must be positive: {self:?}");
        }
        if !(0.0..=0.5).contains(&self.churn) {
            bail!("churn must be within [0, 0.5]: {}", self.churn);
        }
        if self.scrapes_per_commit == 0 || self.interval_seconds <= 0 {
            bail!("scrapes_per_commit and interval_seconds must be positive");
        }
        Ok(())
    }

    /// Directory-name fragment identifying this configuration.
    pub fn slug(&self) -> String {
        format!(
            "r{}-s{}-i{}-c{}-k{}-p{}-seed{}",
            self.resources,
            self.scrapes,
            self.interval_seconds,
            (self.churn * 1_000_000.0).round() as u64,
            self.kinds,
            self.scrapes_per_commit,
            self.seed
        )
    }

    /// Resources touched per scrape after the first.
    pub fn churn_per_scrape(&self) -> usize {
        (self.resources as f64 * self.churn).round() as usize
    }

    /// Start of scrape `index`: one every `interval_seconds` from [`epoch`].
    pub fn scrape_time(&self, index: usize) -> DateTime<Utc> {
        generator::scrape_time(self, index)
    }

    /// An instant in the middle of the history, 30 s after a scrape (so it falls between two).
    pub fn mid_time(&self) -> DateTime<Utc> {
        self.scrape_time(self.scrapes / 2) + Duration::seconds(30)
    }
}

/// Start of simulated time: 2026-01-01T00:00:00Z.
pub fn epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap_or(DateTime::UNIX_EPOCH)
}

/// SQL literal for an instant, e.g. `TIMESTAMP '2026-01-01 16:40:30'` (UTC).
pub fn sql_timestamp(at: DateTime<Utc>) -> String {
    format!("TIMESTAMP '{}'", at.format("%Y-%m-%d %H:%M:%S"))
}

/// The writer's index for a set of live resources, as `Store::load_state` would rebuild it.
pub fn state_of(resources: &[ObservedResource], last_success: DateTime<Utc>) -> SourceState {
    let resources = resources
        .iter()
        .map(|resource| (resource.key(), CurrentVersion::from(resource)))
        .collect::<HashMap<ResourceKey, CurrentVersion>>();
    SourceState {
        resources,
        last_success: Some(last_success),
    }
}

/// Inputs of one ingest: the index of a `resources`-sized estate and the next scrape of it
/// (with one scrape's churn applied), plus the rows of the initial full snapshot.
#[derive(Debug)]
pub struct IngestFixture {
    /// The writer's index after the initial scrape.
    pub state: SourceState,
    /// The following complete observation.
    pub observation: Observation,
    /// When that observation's scrape started.
    pub started_at: DateTime<Utc>,
    /// Rows the diff is expected to produce.
    pub expected_rows: usize,
    /// The initial scrape: one full snapshot of the estate as `added` rows.
    pub snapshot: ScrapeBatch,
}

/// Build an [`IngestFixture`] from the first two scrapes of `params`.
pub fn ingest_fixture(params: &Params) -> Result<IngestFixture> {
    let mut generator = Generator::new(params.clone());
    let snapshot = generator
        .next_scrape()?
        .context("the generator produces at least one scrape")?;
    let state = state_of(&generator.live()?, params.scrape_time(0));
    generator.extend_to(2);
    let next = generator
        .next_scrape()?
        .context("the generator produces a second scrape")?;
    Ok(IngestFixture {
        state,
        observation: Observation::complete(generator.live()?),
        started_at: params.scrape_time(1),
        expected_rows: next.rows.len(),
        snapshot,
    })
}

/// What building a dataset produced, stored as the directory's marker.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The marker's JSON content.
    pub json: Value,
}

impl Manifest {
    fn text(&self, key: &str) -> Result<String> {
        self.json[key]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("manifest field {key}"))
    }

    fn number(&self, key: &str) -> Result<u64> {
        self.json[key]
            .as_u64()
            .with_context(|| format!("manifest field {key}"))
    }

    /// The id whose full history the history benchmark reads (a `k3` with the most versions).
    pub fn history_id(&self) -> Result<String> {
        self.text("history_id")
    }

    /// Versions of that id (including its deletion marker, if any).
    pub fn history_versions(&self) -> Result<u64> {
        self.number("history_versions")
    }

    /// Resources alive at [`Params::mid_time`].
    pub fn live_at_mid(&self) -> Result<u64> {
        self.number("live_at_mid")
    }

    /// Rows with valid_from in (mid, mid + 1 h].
    pub fn changes_in_hour(&self) -> Result<u64> {
        self.number("changes_in_hour")
    }

    /// Total version rows written.
    pub fn rows(&self) -> Result<u64> {
        self.number("rows")
    }
}

/// Directory where the dataset for `params` lives: `$GT_BENCH_DATA` or
/// `<workspace>/target/bench-data`, then `foundation-<slug>`.
pub fn dataset_dir(params: &Params) -> PathBuf {
    bench_data_root().join(format!("foundation-{}", params.slug()))
}

/// Where datasets are built: `$GT_BENCH_DATA` or `<workspace>/target/bench-data`.
pub fn bench_data_root() -> PathBuf {
    std::env::var_os("GT_BENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
                .join("bench-data")
        })
}

/// Open a store rooted at a local directory.
pub async fn open_store(directory: &Path) -> Result<Store> {
    std::fs::create_dir_all(directory)
        .with_context(|| format!("creating {}", directory.display()))?;
    let absolute = directory
        .canonicalize()
        .with_context(|| format!("resolving {}", directory.display()))?;
    let text = absolute
        .to_str()
        .with_context(|| format!("non-UTF-8 path {}", absolute.display()))?;
    let url = StoreUrl::parse(text)?;
    Ok(Store::open(&url, &StoreOptions::default()).await?)
}

/// Return the dataset's manifest, generating the store first unless its marker exists.
/// `log` receives progress lines.
pub async fn ensure_dataset(
    params: &Params,
    directory: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<Manifest> {
    if let Some(json) = reusable_marker(directory, log)? {
        if json["checkpoints"].as_bool() == Some(CHECKPOINTS) {
            return Ok(Manifest { json });
        }
        // Built with the other checkpoint setting: not the layout being measured.
        log("the dataset's checkpoint setting differs from this build's: rebuilding");
        std::fs::remove_dir_all(directory)
            .with_context(|| format!("removing {}", directory.display()))?;
    }
    build_dataset(params, directory, log).await
}

/// The marker of a complete dataset at `directory`, if there is one; otherwise the directory
/// is cleared so the caller builds from scratch.
pub(crate) fn reusable_marker(
    directory: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<Option<Value>> {
    let marker = directory.join(MARKER);
    if let Ok(text) = std::fs::read_to_string(&marker) {
        let json: Value = serde_json::from_str(&text).context("parsing dataset marker")?;
        log(&format!("reusing dataset {}", directory.display()));
        return Ok(Some(json));
    }
    if directory.exists() {
        // A previous build stopped midway: start over rather than append to a partial history.
        std::fs::remove_dir_all(directory)
            .with_context(|| format!("removing incomplete {}", directory.display()))?;
    }
    Ok(None)
}

/// Generate the full history into a new store at `directory`, compact it and write the marker.
pub async fn build_dataset(
    params: &Params,
    directory: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<Manifest> {
    params.validate()?;
    let store = open_store(directory).await?;
    let mut generator = Generator::new(params.clone());
    let mid = params.mid_time();
    let hour_end = mid + Duration::hours(1);
    let (mut rows_total, mut live_at_mid, mut changes_in_hour) = (0u64, 0u64, 0u64);
    let mut generate = std::time::Duration::ZERO;
    let mut commit = std::time::Duration::ZERO;
    let mut checkpoint = std::time::Duration::ZERO;
    let mut checkpoints = CheckpointsWritten::default();
    let mut commits = 0u64;
    let started = Instant::now();
    loop {
        let clock = Instant::now();
        let batches = generator.next_scrapes(params.scrapes_per_commit)?;
        generate += clock.elapsed();
        if batches.is_empty() {
            break;
        }
        let mut records = Vec::with_capacity(batches.len());
        let mut rows = Vec::new();
        for batch in batches {
            let at = batch.record.started_at;
            if at <= mid {
                live_at_mid = batch.record.resources_seen as u64;
            }
            if at > mid && at <= hour_end {
                changes_in_hour += batch.rows.len() as u64;
            }
            rows_total += batch.rows.len() as u64;
            records.push(batch.record);
            rows.extend(batch.rows);
        }
        let clock = Instant::now();
        store.commit(&records, &rows).await?;
        commit += clock.elapsed();
        commits += 1;
        let clock = Instant::now();
        let written = maybe_checkpoint(&store).await?;
        checkpoint += clock.elapsed();
        checkpoints.checkpoints += written.checkpoints;
        checkpoints.rows += written.rows;
        if commits % 20 == 1 || generator.scrapes_done() == params.scrapes {
            log(&format!(
                "committed through {} ({} rows, {} checkpoints so far, {:.1}s: generate {:.1}s, commit {:.1}s, checkpoint {:.1}s)",
                records.last().map_or("", |record| record.scrape_id.as_str()),
                rows_total,
                checkpoints.checkpoints,
                started.elapsed().as_secs_f64(),
                generate.as_secs_f64(),
                commit.as_secs_f64(),
                checkpoint.as_secs_f64(),
            ));
        }
    }
    let clock = Instant::now();
    let compaction = store.compact().await?;
    let compact = clock.elapsed();
    log(&format!(
        "compacted: {} files removed, {} added in {:.1}s",
        compaction.files_removed,
        compaction.files_added,
        compact.as_secs_f64()
    ));
    let (history_id, history_versions) = generator
        .busiest("k3")
        .or_else(|| generator.busiest("k0"))
        .context("no resource to read the history of")?;
    let json = json!({
        "params": params_json(params),
        "dataset": params.dataset_name(),
        "rows": rows_total,
        "live_at_mid": live_at_mid,
        "changes_in_hour": changes_in_hour,
        "mid": mid.to_rfc3339(),
        "history_id": history_id,
        "history_versions": history_versions,
        "commits": commits,
        "checkpoints": CHECKPOINTS,
        "checkpoints_written": checkpoints.checkpoints,
        "checkpoint_rows": checkpoints.rows,
        "generate_seconds": generate.as_secs_f64(),
        "commit_seconds": commit.as_secs_f64(),
        "checkpoint_seconds": checkpoint.as_secs_f64(),
        "compact_seconds": compact.as_secs_f64(),
        "files_removed_by_compaction": compaction.files_removed,
        "files_added_by_compaction": compaction.files_added,
        "generator_threads": std::thread::available_parallelism().map_or(1, usize::from),
        "built_at": Utc::now().to_rfc3339(),
    });
    std::fs::write(directory.join(MARKER), serde_json::to_string_pretty(&json)?)
        .context("writing dataset marker")?;
    Ok(Manifest { json })
}

/// `params` as JSON, for markers and reports.
pub fn params_json(params: &Params) -> Value {
    json!({
        "resources": params.resources,
        "scrapes": params.scrapes,
        "churn": params.churn,
        "kinds": params.kinds,
        "interval_seconds": params.interval_seconds,
        "scrapes_per_commit": params.scrapes_per_commit,
        "seed": params.seed,
    })
}

/// Bytes of one Delta table on disk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableBytes {
    /// Data files live in the latest table version.
    pub live_files: Vec<PathBuf>,
    /// Their total size.
    pub live_bytes: u64,
    /// Size of `_delta_log` (commits, checkpoints).
    pub log_bytes: u64,
    /// Parquet files on disk that are no longer live (replaced by compaction, not vacuumed).
    pub dead_bytes: u64,
}

impl TableBytes {
    /// Live data plus log: what a reader needs.
    pub fn total(&self) -> u64 {
        self.live_bytes + self.log_bytes
    }
}

/// Measure a local Delta table: replay the JSON commits of `_delta_log` (adds minus removes).
///
/// Delta log checkpoints (written every 100 commits) are counted in the log's bytes but not
/// read: replaying every JSON commit from version 0 gives the same live set. Fails if the
/// first commit is gone (log cleanup), because the replay would then be incomplete.
pub fn delta_table_bytes(table: &Path) -> Result<TableBytes> {
    let log = table.join("_delta_log");
    let mut commits: Vec<PathBuf> = Vec::new();
    let mut log_bytes = 0;
    for entry in std::fs::read_dir(&log).with_context(|| format!("reading {}", log.display()))? {
        let entry = entry?;
        let path = entry.path();
        log_bytes += entry.metadata()?.len();
        let name = entry.file_name().to_string_lossy().to_string();
        if name.ends_with(".json") && !name.starts_with('_') {
            commits.push(path);
        }
    }
    commits.sort();
    if commits
        .first()
        .and_then(|path| path.file_name())
        .is_none_or(|name| name != "00000000000000000000.json")
    {
        bail!(
            "{} lacks its first commit; JSON replay is not enough",
            log.display()
        );
    }
    let mut live: BTreeMap<String, u64> = BTreeMap::new();
    for commit in &commits {
        let text = std::fs::read_to_string(commit)?;
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            let action: Value = serde_json::from_str(line)
                .with_context(|| format!("parsing {}", commit.display()))?;
            if let Some(path) = action["add"]["path"].as_str() {
                live.insert(
                    path.to_string(),
                    action["add"]["size"].as_u64().unwrap_or(0),
                );
            } else if let Some(path) = action["remove"]["path"].as_str() {
                live.remove(path);
            }
        }
    }
    let mut result = TableBytes {
        log_bytes,
        ..TableBytes::default()
    };
    for (path, logged_size) in &live {
        let file = table.join(path);
        let size = std::fs::metadata(&file).map_or(*logged_size, |metadata| metadata.len());
        result.live_bytes += size;
        result.live_files.push(file);
    }
    // Partitioned tables (checkpoints) keep their files in subdirectories.
    let live: std::collections::HashSet<&PathBuf> = result.live_files.iter().collect();
    let mut dead = 0;
    let mut pending = vec![table.to_path_buf()];
    while let Some(directory) = pending.pop() {
        for entry in std::fs::read_dir(&directory)? {
            let path = entry?.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|name| name != "_delta_log") {
                    pending.push(path);
                }
            } else if path
                .extension()
                .is_some_and(|extension| extension == "parquet")
                && !live.contains(&path)
            {
                dead += std::fs::metadata(&path)?.len();
            }
        }
    }
    result.dead_bytes = dead;
    Ok(result)
}

/// Peak and current resident set size of this process in KiB (`VmHWM`, `VmRSS`), if readable.
pub fn rss_kib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|value| value.parse::<u64>().ok())
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// Reset the peak RSS counter (`echo 5 > /proc/self/clear_refs`); false if the kernel refused.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_deterministic_and_change_only() {
        let params = Params::small();
        let mut first = Generator::new(params.clone());
        let mut second = Generator::new(params.clone());
        let mut total = 0;
        while let Some(batch) = first.next_scrape().unwrap() {
            let other = second.next_scrape().unwrap().unwrap();
            assert_eq!(batch.rows, other.rows);
            if batch.record.scrape_id != "bench-000000" {
                assert!(batch.rows.len() <= params.churn_per_scrape());
            }
            total += batch.rows.len();
        }
        assert_eq!(first.live_count(), params.resources);
        assert!(total > params.resources);
    }

    #[test]
    fn attrs_are_realistically_sized() {
        let mut generator = Generator::new(Params::small());
        let batch = generator.next_scrape().unwrap().unwrap();
        let sizes: Vec<usize> = batch
            .rows
            .iter()
            .map(|row| row.attrs.as_ref().unwrap().len())
            .collect();
        let mean = sizes.iter().sum::<usize>() / sizes.len();
        eprintln!("mean attrs size {mean}");
        assert!((400..=600).contains(&mean), "mean attrs size {mean}");
    }
}
