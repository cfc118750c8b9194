//! Groundtruth performance benchmarks: a seeded generator of a large change-only history and the
//! helpers the `foundation` criterion bench uses to build, reuse and measure it.
//!
//! The generator simulates one source (`bench`) scraped once a minute. Scrape 0 sees the whole
//! estate (every resource is `added`); every later scrape touches `churn × resources` resources
//! (80 % modified, 10 % removed, 10 % newly added, so the population stays constant). Because
//! the store is change-only, only those rows are written: the history is bulk-loaded as
//! [`VersionRow`]s and [`ScrapeRecord`]s through [`Store::commit`], several scrapes per commit,
//! then compacted once with [`Store::compact`] (the documented read layout).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Duration, Utc};
use groundtruth_engine::canonical;
use groundtruth_engine::model::{
    ChangeKind, Layer, Observation, ObservedResource, ResourceKey, ScrapeRecord, ScrapeStatus,
    VersionRow,
};
use groundtruth_engine::state::{CurrentVersion, SourceState};
use groundtruth_engine::store::{Store, StoreOptions, StoreUrl};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

pub mod answers;
pub mod drift;

/// The source name every generated row carries.
pub const SOURCE: &str = "bench";

/// Name of the marker file written once a dataset directory is complete.
pub const MARKER: &str = "complete.json";

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
            scrapes_per_commit: 50,
            seed: 42,
        }
    }

    /// A small configuration for smoke tests.
    pub fn small() -> Self {
        Self {
            resources: 1_000,
            scrapes: 40,
            churn: 0.02,
            kinds: 8,
            scrapes_per_commit: 10,
            seed: 7,
        }
    }

    /// [`Params::foundation`] overridden by `GT_BENCH_RESOURCES`, `GT_BENCH_SCRAPES`,
    /// `GT_BENCH_CHURN` and `GT_BENCH_SEED` when set.
    pub fn from_env() -> Result<Self> {
        let mut params = Self::foundation();
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
        if self.scrapes_per_commit == 0 {
            bail!("scrapes_per_commit must be positive");
        }
        Ok(())
    }

    /// Directory-name fragment identifying this configuration.
    pub fn slug(&self) -> String {
        format!(
            "r{}-s{}-c{}-k{}-seed{}",
            self.resources,
            self.scrapes,
            (self.churn * 1_000_000.0).round() as u64,
            self.kinds,
            self.seed
        )
    }

    /// Resources touched per scrape after the first.
    pub fn churn_per_scrape(&self) -> usize {
        (self.resources as f64 * self.churn).round() as usize
    }

    /// Start of scrape `index`: one per minute from [`epoch`].
    pub fn scrape_time(&self, index: usize) -> DateTime<Utc> {
        epoch() + Duration::minutes(index as i64)
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

const REGIONS: &[&str] = &[
    "eu-west-1",
    "eu-central-1",
    "us-east-1",
    "us-west-2",
    "ap-southeast-1",
];
const TEAMS: &[&str] = &[
    "payments", "search", "identity", "platform", "data", "growth", "infra",
];
const ENVS: &[&str] = &["prod", "staging", "dev"];
const LOG_LEVELS: &[&str] = &["debug", "info", "warn", "error"];
const TIERS: &[&str] = &["gold", "silver", "bronze"];

/// One scrape's worth of rows, ready for [`Store::commit`].
#[derive(Debug, Clone)]
pub struct ScrapeBatch {
    /// The scrape record.
    pub record: ScrapeRecord,
    /// Versions and deletion markers it wrote.
    pub rows: Vec<VersionRow>,
}

/// Seeded generator of the scrape history. Deterministic for a given [`Params`].
#[derive(Debug)]
pub struct Generator {
    params: Params,
    rng: ChaCha8Rng,
    live: Vec<ObservedResource>,
    next_serial: u64,
    next_scrape: usize,
    versions_per_id: HashMap<String, u32>,
}

impl Generator {
    /// A generator that has not produced any scrape yet.
    pub fn new(params: Params) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(params.seed),
            params,
            live: Vec::new(),
            next_serial: 0,
            next_scrape: 0,
            versions_per_id: HashMap::new(),
        }
    }

    /// The resources alive after the last produced scrape.
    pub fn live(&self) -> &[ObservedResource] {
        &self.live
    }

    /// Number of versions written so far for resource `id` (any kind).
    pub fn versions_of(&self, id: &str) -> u32 {
        self.versions_per_id.get(id).copied().unwrap_or(0)
    }

    /// The id of kind `kind` with the most versions so far (ties: smallest id).
    pub fn busiest(&self, kind: &str) -> Option<(String, u32)> {
        let prefix = format!("{kind}-");
        self.versions_per_id
            .iter()
            .filter(|(id, _)| id.starts_with(&prefix))
            .max_by(|left, right| left.1.cmp(right.1).then_with(|| right.0.cmp(left.0)))
            .map(|(id, count)| (id.clone(), *count))
    }

    fn new_resource(&mut self) -> ObservedResource {
        let serial = self.next_serial;
        self.next_serial += 1;
        let kind = format!("k{}", serial % self.params.kinds as u64);
        let id = format!("{kind}-{serial:07}");
        let rng = &mut self.rng;
        let region = REGIONS[rng.random_range(0..REGIONS.len())];
        let team = TEAMS[rng.random_range(0..TEAMS.len())];
        let env = ENVS[rng.random_range(0..ENVS.len())];
        let service = format!("svc-{:03}", rng.random_range(0..400));
        let account = format!("{:012}", 100_000_000_000u64 + rng.random_range(0..20u64));
        let subnets: Vec<String> = (0..rng.random_range(1..=2))
            .map(|_| format!("subnet-{:012x}", rng.random::<u64>() >> 16))
            .collect();
        let cpu = [250, 500, 1000, 2000][rng.random_range(0..4)];
        let memory = [256, 512, 1024, 2048][rng.random_range(0..4)];
        let timeout = [15, 30, 60, 120][rng.random_range(0..4)];
        let retention = [7, 14, 30, 90][rng.random_range(0..4)];
        let attrs = json!({
            "arn": format!("arn:bench:{kind}:{region}:{account}:{id}"),
            "region": region,
            "created_at": (epoch() - Duration::days(rng.random_range(1..900))).format("%Y-%m-%d").to_string(),
            "enabled": rng.random_bool(0.9),
            "tier": TIERS[rng.random_range(0..TIERS.len())],
            "spec": {
                "replicas": rng.random_range(1..=6),
                "cpu_millicores": cpu,
                "memory_mebibytes": memory,
                "image": format!("registry.example/{team}/{service}:1.{}.{}", rng.random_range(0..30), rng.random_range(0..50)),
            },
            "network": {
                "vpc_id": format!("vpc-{:012x}", rng.random::<u64>() >> 16),
                "subnet_ids": subnets,
                "security_groups": [format!("sg-{:012x}", rng.random::<u64>() >> 16)],
            },
            "config": {
                "timeout_seconds": timeout,
                "retention_days": retention,
                "log_level": LOG_LEVELS[rng.random_range(0..LOG_LEVELS.len())],
                "max_connections": rng.random_range(10..1000),
            },
            "encryption": {
                "enabled": true,
                "kms_key_id": format!("key/{:016x}", rng.random::<u64>()),
            },
            "tags": {
                "team": team,
                "env": env,
                "service": service,
            },
        });
        ObservedResource::new(kind, id.clone(), Layer::Live, attrs)
            .with_name(format!("{service}-{id}"))
            .with_label("team", team)
            .with_label("env", env)
    }

    /// Change one or two attributes of `resource`, the way deploys and edits do.
    fn mutate(rng: &mut ChaCha8Rng, resource: &mut ObservedResource) {
        let edits = rng.random_range(1..=2);
        for _ in 0..edits {
            let attrs = &mut resource.attrs;
            match rng.random_range(0..6) {
                0 => {
                    attrs["spec"]["replicas"] = json!(rng.random_range(1..=12));
                }
                1 => {
                    let image = attrs["spec"]["image"].as_str().unwrap_or("image:1.0.0");
                    let base = image.rsplit_once(':').map_or(image, |(base, _)| base);
                    attrs["spec"]["image"] = json!(format!(
                        "{base}:1.{}.{}",
                        rng.random_range(0..30),
                        rng.random_range(0..50)
                    ));
                }
                2 => {
                    attrs["config"]["timeout_seconds"] =
                        json!([15, 30, 60, 120, 300][rng.random_range(0..5)]);
                }
                3 => {
                    attrs["config"]["log_level"] =
                        json!(LOG_LEVELS[rng.random_range(0..LOG_LEVELS.len())]);
                }
                4 => {
                    attrs["config"]["max_connections"] = json!(rng.random_range(10..1000));
                }
                _ => {
                    attrs["enabled"] = json!(!attrs["enabled"].as_bool().unwrap_or(true));
                }
            }
        }
    }

    fn version_row(
        &mut self,
        resource: &ObservedResource,
        change: ChangeKind,
        diff: Option<String>,
        scrape_id: &str,
        started_at: DateTime<Utc>,
        window_start: Option<DateTime<Utc>>,
    ) -> Result<VersionRow> {
        *self.versions_per_id.entry(resource.id.clone()).or_default() += 1;
        let removed = change == ChangeKind::Removed;
        Ok(VersionRow {
            source: SOURCE.to_string(),
            kind: resource.kind.clone(),
            id: resource.id.clone(),
            layer: resource.layer,
            name: resource.name.clone(),
            attrs: (!removed).then(|| canonical::to_canonical_string(&resource.attrs)),
            attrs_hash: (!removed).then(|| resource.fingerprint()),
            labels: if removed {
                None
            } else {
                Some(serde_json::to_string(&resource.labels)?)
            },
            change,
            diff,
            scrape_id: scrape_id.to_string(),
            valid_from: started_at,
            change_window_start: window_start,
            provenance: None,
        })
    }

    /// Produce the next scrape's rows, or `None` once `params.scrapes` scrapes were produced.
    pub fn next_scrape(&mut self) -> Result<Option<ScrapeBatch>> {
        let index = self.next_scrape;
        if index >= self.params.scrapes {
            return Ok(None);
        }
        self.next_scrape += 1;
        let started_at = self.params.scrape_time(index);
        let window_start = index
            .checked_sub(1)
            .map(|previous| self.params.scrape_time(previous));
        let scrape_id = format!("bench-{index:06}");
        let mut rows = Vec::new();
        if index == 0 {
            for _ in 0..self.params.resources {
                let resource = self.new_resource();
                rows.push(self.version_row(
                    &resource,
                    ChangeKind::Added,
                    None,
                    &scrape_id,
                    started_at,
                    None,
                )?);
                self.live.push(resource);
            }
        } else {
            let touched = self.params.churn_per_scrape().min(self.live.len());
            let removed = touched / 10;
            let added = touched / 10;
            let modified = touched - removed - added;
            let mut picks = sample(&mut self.rng, self.live.len(), modified + removed).into_vec();
            let mut removals = picks.split_off(modified);
            for position in picks {
                let mut resource = self.live[position].clone();
                let before = canonical::canonicalize(&resource.attrs);
                Self::mutate(&mut self.rng, &mut resource);
                let after = canonical::canonicalize(&resource.attrs);
                let diff = canonical::diff(&before, &after);
                if diff.is_empty() {
                    // The edit happened to restore the same value: nothing changed, nothing is written.
                    continue;
                }
                let diff = serde_json::to_string(&diff)?;
                rows.push(self.version_row(
                    &resource,
                    ChangeKind::Modified,
                    Some(diff),
                    &scrape_id,
                    started_at,
                    window_start,
                )?);
                self.live[position] = resource;
            }
            // Descending order keeps every pending position valid across swap_remove.
            removals.sort_unstable_by(|left, right| right.cmp(left));
            for position in removals {
                let resource = self.live.swap_remove(position);
                rows.push(self.version_row(
                    &resource,
                    ChangeKind::Removed,
                    None,
                    &scrape_id,
                    started_at,
                    window_start,
                )?);
            }
            for _ in 0..added {
                let resource = self.new_resource();
                rows.push(self.version_row(
                    &resource,
                    ChangeKind::Added,
                    None,
                    &scrape_id,
                    started_at,
                    window_start,
                )?);
                self.live.push(resource);
            }
        }
        let record = ScrapeRecord {
            scrape_id,
            source: SOURCE.to_string(),
            source_type: "synthetic".to_string(),
            started_at,
            finished_at: started_at + Duration::seconds(5),
            status: ScrapeStatus::Ok,
            resources_seen: self.live.len() as i64,
            versions_written: rows.len() as i64,
            error: None,
            warnings: Vec::new(),
            interval_seconds: Some(60),
        };
        Ok(Some(ScrapeBatch { record, rows }))
    }
}

/// The writer's index for a set of live resources, as `Store::load_state` would rebuild it.
pub fn state_of(resources: &[ObservedResource], last_success: DateTime<Utc>) -> SourceState {
    let resources = resources
        .iter()
        .map(|resource| {
            (
                resource.key(),
                CurrentVersion {
                    layer: resource.layer,
                    name: resource.name.clone(),
                    attrs: canonical::canonicalize(&resource.attrs),
                    labels: resource.labels.clone(),
                    fingerprint: resource.fingerprint(),
                },
            )
        })
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
    let state = state_of(generator.live(), params.scrape_time(0));
    let mut following = params.clone();
    following.scrapes = following.scrapes.max(2);
    generator.params = following;
    let next = generator
        .next_scrape()?
        .context("the generator produces a second scrape")?;
    Ok(IngestFixture {
        state,
        observation: Observation::complete(generator.live().to_vec()),
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
        return Ok(Manifest { json });
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
    let started = Instant::now();
    let mut records = Vec::new();
    let mut rows = Vec::new();
    loop {
        let clock = Instant::now();
        let batch = generator.next_scrape()?;
        generate += clock.elapsed();
        let done = batch.is_none();
        if let Some(batch) = batch {
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
        if !records.is_empty() && (done || records.len() >= params.scrapes_per_commit) {
            let clock = Instant::now();
            store.commit(&records, &rows).await?;
            commit += clock.elapsed();
            log(&format!(
                "committed through {} ({} rows so far, {:.1}s)",
                records
                    .last()
                    .map_or("", |record| record.scrape_id.as_str()),
                rows_total,
                started.elapsed().as_secs_f64()
            ));
            records.clear();
            rows.clear();
        }
        if done {
            break;
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
        "params": {
            "resources": params.resources,
            "scrapes": params.scrapes,
            "churn": params.churn,
            "kinds": params.kinds,
            "scrapes_per_commit": params.scrapes_per_commit,
            "seed": params.seed,
        },
        "rows": rows_total,
        "live_at_mid": live_at_mid,
        "changes_in_hour": changes_in_hour,
        "mid": mid.to_rfc3339(),
        "history_id": history_id,
        "history_versions": history_versions,
        "generate_seconds": generate.as_secs_f64(),
        "commit_seconds": commit.as_secs_f64(),
        "compact_seconds": compact.as_secs_f64(),
        "files_removed_by_compaction": compaction.files_removed,
        "files_added_by_compaction": compaction.files_added,
        "built_at": Utc::now().to_rfc3339(),
    });
    std::fs::write(directory.join(MARKER), serde_json::to_string_pretty(&json)?)
        .context("writing dataset marker")?;
    Ok(Manifest { json })
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
/// Fails if the log has a checkpoint, because older commits may then be gone and a checkpoint
/// is Parquet, which this does not read.
pub fn delta_table_bytes(table: &Path) -> Result<TableBytes> {
    let log = table.join("_delta_log");
    let mut commits: Vec<PathBuf> = Vec::new();
    let mut log_bytes = 0;
    for entry in std::fs::read_dir(&log).with_context(|| format!("reading {}", log.display()))? {
        let entry = entry?;
        let path = entry.path();
        log_bytes += entry.metadata()?.len();
        let name = entry.file_name().to_string_lossy().to_string();
        if name.contains("checkpoint") {
            bail!(
                "{} has a checkpoint; JSON replay is not enough",
                log.display()
            );
        }
        if name.ends_with(".json") {
            commits.push(path);
        }
    }
    commits.sort();
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
    for entry in std::fs::read_dir(table)? {
        let path = entry?.path();
        if path
            .extension()
            .is_some_and(|extension| extension == "parquet")
            && !result.live_files.contains(&path)
        {
            result.dead_bytes += std::fs::metadata(&path)?.len();
        }
    }
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
        assert_eq!(first.live().len(), params.resources);
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
