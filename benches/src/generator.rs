//! The seeded scrape-history generator of the foundation and year datasets.
//!
//! It simulates one source ([`SOURCE`]) scraped every `Params::interval_seconds`. Scrape 0 sees
//! the whole estate (every resource is `added`); every later scrape touches
//! `churn × resources` resources (80 % modified, 10 % removed, 10 % newly added, so the
//! population stays constant). Only those rows are written.
//!
//! A year of 5-minute scrapes is ~52M rows, so generation is split in two:
//!
//! * **planning** (sequential, one RNG, cheap): which resources change and how. A resource is
//!   a small `Copy` struct of the values its attributes are rendered from, not a JSON tree, so
//!   a modification is a few field writes;
//! * **rendering** (parallel across threads, the expensive part): canonical attrs text written
//!   directly with keys already in sorted order (no `serde_json::Value`, no re-parsing), the
//!   engine's fingerprint (SHA-256 of the same text [`ObservedResource::fingerprint`] hashes)
//!   and the diff in the engine's format. Unit tests assert all three equal what the engine
//!   computes from the equivalent `ObservedResource`, so `SourceState::plan` over a store built
//!   here sees exactly the generated changes.

use std::fmt::Write as _;
use std::sync::OnceLock;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use groundtruth_engine::canonical;
use groundtruth_engine::model::{
    ChangeKind, Layer, ObservedResource, ScrapeRecord, ScrapeStatus, VersionRow,
};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{epoch, Params, SOURCE};

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
const CPUS: [u16; 4] = [250, 500, 1000, 2000];
const MEMORIES: [u16; 4] = [256, 512, 1024, 2048];
const TIMEOUTS: [u16; 5] = [15, 30, 60, 120, 300];
const RETENTIONS: [u8; 4] = [7, 14, 30, 90];
/// `created_at` lies 1..900 days before [`epoch`].
const CREATED_DAYS: u16 = 900;

/// One resource: the values its attributes, name and labels are rendered from.
///
/// `Copy` and ~100 bytes, so planning a year of changes moves no heap data.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Resource {
    serial: u32,
    region: u8,
    team: u8,
    env: u8,
    tier: u8,
    service: u16,
    account: u8,
    created_days: u16,
    subnet_count: u8,
    subnets: [u64; 2],
    vpc: u64,
    security_group: u64,
    kms_key: u64,
    cpu: u16,
    memory: u16,
    retention: u8,
    // The six attributes scrapes modify.
    replicas: u8,
    image_minor: u8,
    image_patch: u8,
    timeout: u16,
    log_level: u8,
    max_connections: u16,
    enabled: bool,
}

/// What one scrape did to one resource.
#[derive(Debug, Clone, Copy)]
enum Event {
    Added(Resource),
    Modified { before: Resource, after: Resource },
    Removed(Resource),
}

/// One scrape's worth of rows, ready for [`groundtruth_engine::store::Store::commit`].
#[derive(Debug, Clone)]
pub struct ScrapeBatch {
    /// The scrape record.
    pub record: ScrapeRecord,
    /// Versions and deletion markers it wrote.
    pub rows: Vec<VersionRow>,
}

/// Seeded generator of the scrape history. Deterministic for a given [`Params`] (whatever the
/// number of rendering threads).
#[derive(Debug)]
pub struct Generator {
    params: Params,
    rng: ChaCha8Rng,
    live: Vec<Resource>,
    next_serial: u32,
    next_scrape: usize,
    /// Versions written per serial (deletion markers included).
    versions: Vec<u32>,
    threads: usize,
}

fn created_dates() -> &'static [String] {
    static DATES: OnceLock<Vec<String>> = OnceLock::new();
    DATES.get_or_init(|| {
        (0..CREATED_DAYS)
            .map(|days| {
                (epoch() - Duration::days(i64::from(days)))
                    .format("%Y-%m-%d")
                    .to_string()
            })
            .collect()
    })
}

impl Resource {
    fn kind(&self, kinds: usize) -> String {
        format!("k{}", self.serial as usize % kinds)
    }

    fn id(&self, kinds: usize) -> String {
        format!("k{}-{:07}", self.serial as usize % kinds, self.serial)
    }

    fn service(&self) -> String {
        format!("svc-{:03}", self.service)
    }

    fn name(&self, kinds: usize) -> String {
        format!("{}-{}", self.service(), self.id(kinds))
    }

    fn labels_json(&self) -> String {
        format!(
            r#"{{"env":"{}","team":"{}"}}"#,
            ENVS[self.env as usize], TEAMS[self.team as usize]
        )
    }

    fn image(&self) -> String {
        format!(
            "registry.example/{}/{}:1.{}.{}",
            TEAMS[self.team as usize],
            self.service(),
            self.image_minor,
            self.image_patch
        )
    }

    /// Canonical JSON of the attributes: keys sorted bytewise at every depth, no whitespace.
    /// Every string is plain ASCII without quotes or backslashes, so none needs escaping.
    fn attrs_json(&self, kinds: usize) -> String {
        let mut out = String::with_capacity(640);
        let kind = self.kind(kinds);
        let id = self.id(kinds);
        let region = REGIONS[self.region as usize];
        // Writing into a String cannot fail.
        let _ = write!(
            out,
            r#"{{"arn":"arn:bench:{kind}:{region}:{:012}:{id}","config":{{"log_level":"{}","max_connections":{},"retention_days":{},"timeout_seconds":{}}},"created_at":"{}","enabled":{},"encryption":{{"enabled":true,"kms_key_id":"key/{:016x}"}},"network":{{"security_groups":["sg-{:012x}"],"subnet_ids":["#,
            100_000_000_000u64 + u64::from(self.account),
            LOG_LEVELS[self.log_level as usize],
            self.max_connections,
            self.retention,
            self.timeout,
            created_dates()[self.created_days as usize],
            self.enabled,
            self.kms_key,
            self.security_group,
        );
        for (index, subnet) in self.subnets[..self.subnet_count as usize]
            .iter()
            .enumerate()
        {
            if index > 0 {
                out.push(',');
            }
            let _ = write!(out, r#""subnet-{subnet:012x}""#);
        }
        let _ = write!(
            out,
            r#"],"vpc_id":"vpc-{:012x}"}},"region":"{region}","spec":{{"cpu_millicores":{},"image":"{}","memory_mebibytes":{},"replicas":{}}},"tags":{{"env":"{}","service":"{}","team":"{}"}},"tier":"{}"}}"#,
            self.vpc,
            self.cpu,
            self.image(),
            self.memory,
            self.replicas,
            ENVS[self.env as usize],
            self.service(),
            TEAMS[self.team as usize],
            TIERS[self.tier as usize],
        );
        out
    }

    /// The engine's fingerprint (see `ObservedResource::canonical_form`) of this resource.
    fn fingerprint(&self, attrs: &str, kinds: usize) -> String {
        let text = format!(
            r#"{{"attrs":{attrs},"labels":{},"layer":"live","name":"{}"}}"#,
            self.labels_json(),
            self.name(kinds)
        );
        canonical::hash_text(&text)
    }

    /// Whether any attribute differs (name and labels never change).
    fn same_attrs(&self, other: &Resource) -> bool {
        self == other
    }

    /// The engine's diff text (`canonical::diff`, serialized) from `before` to `self`: the
    /// changed leaf paths in sorted order, `{"path","old","new"}` each.
    fn diff_from(&self, before: &Resource) -> String {
        let mut entries: Vec<String> = Vec::with_capacity(2);
        let mut push = |path: &str, old: String, new: String| {
            entries.push(format!(r#"{{"path":"{path}","old":{old},"new":{new}}}"#));
        };
        let quoted = |text: &str| format!("\"{text}\"");
        if before.log_level != self.log_level {
            push(
                "config.log_level",
                quoted(LOG_LEVELS[before.log_level as usize]),
                quoted(LOG_LEVELS[self.log_level as usize]),
            );
        }
        if before.max_connections != self.max_connections {
            push(
                "config.max_connections",
                before.max_connections.to_string(),
                self.max_connections.to_string(),
            );
        }
        if before.timeout != self.timeout {
            push(
                "config.timeout_seconds",
                before.timeout.to_string(),
                self.timeout.to_string(),
            );
        }
        if before.enabled != self.enabled {
            push(
                "enabled",
                before.enabled.to_string(),
                self.enabled.to_string(),
            );
        }
        if (before.image_minor, before.image_patch) != (self.image_minor, self.image_patch) {
            push("spec.image", quoted(&before.image()), quoted(&self.image()));
        }
        if before.replicas != self.replicas {
            push(
                "spec.replicas",
                before.replicas.to_string(),
                self.replicas.to_string(),
            );
        }
        format!("[{}]", entries.join(","))
    }

    fn observed(&self, kinds: usize) -> Result<ObservedResource> {
        let attrs = serde_json::from_str(&self.attrs_json(kinds)).context("generated attrs")?;
        Ok(
            ObservedResource::new(self.kind(kinds), self.id(kinds), Layer::Live, attrs)
                .with_name(self.name(kinds))
                .with_label("team", TEAMS[self.team as usize])
                .with_label("env", ENVS[self.env as usize]),
        )
    }
}

impl Generator {
    /// A generator that has not produced any scrape yet. Renders on every available core.
    pub fn new(params: Params) -> Self {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            rng: ChaCha8Rng::seed_from_u64(params.seed),
            params,
            live: Vec::new(),
            next_serial: 0,
            next_scrape: 0,
            versions: Vec::new(),
            threads,
        }
    }

    /// Render with this many threads (the output does not depend on it).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Let the generator produce up to `scrapes` scrapes in total (e.g. one past the dataset,
    /// for the ingest benchmark's next scrape).
    pub fn extend_to(&mut self, scrapes: usize) {
        self.params.scrapes = self.params.scrapes.max(scrapes);
    }

    /// Scrapes produced (or skipped) so far.
    pub fn scrapes_done(&self) -> usize {
        self.next_scrape
    }

    /// Number of resources alive after the last produced scrape.
    pub fn live_count(&self) -> usize {
        self.live.len()
    }

    /// The resources alive after the last produced scrape, as a source would report them.
    pub fn live(&self) -> Result<Vec<ObservedResource>> {
        let kinds = self.params.kinds;
        self.live
            .iter()
            .map(|resource| resource.observed(kinds))
            .collect()
    }

    /// Number of versions written so far for resource `id` (any kind).
    pub fn versions_of(&self, id: &str) -> u32 {
        id.rsplit_once('-')
            .and_then(|(_, serial)| serial.parse::<usize>().ok())
            .and_then(|serial| self.versions.get(serial).copied())
            .unwrap_or(0)
    }

    /// The id of kind `kind` (`k3`) with the most versions so far (ties: smallest id).
    pub fn busiest(&self, kind: &str) -> Option<(String, u32)> {
        let kinds = self.params.kinds;
        let wanted: usize = kind.strip_prefix('k')?.parse().ok()?;
        self.versions
            .iter()
            .enumerate()
            .filter(|(serial, count)| serial % kinds == wanted && **count > 0)
            // max_by keeps the last maximum; iterate in reverse so ties keep the smallest id.
            .rev()
            .max_by_key(|(_, count)| **count)
            .map(|(serial, count)| (format!("k{wanted}-{serial:07}"), *count))
    }

    fn new_resource(&mut self) -> Resource {
        let serial = self.next_serial;
        self.next_serial += 1;
        let rng = &mut self.rng;
        let subnet_count = rng.random_range(1..=2u8);
        let mut subnets = [0u64; 2];
        for subnet in subnets.iter_mut().take(subnet_count as usize) {
            *subnet = rng.random::<u64>() >> 16;
        }
        Resource {
            serial,
            region: rng.random_range(0..REGIONS.len()) as u8,
            team: rng.random_range(0..TEAMS.len()) as u8,
            env: rng.random_range(0..ENVS.len()) as u8,
            service: rng.random_range(0..400),
            account: rng.random_range(0..20),
            subnet_count,
            subnets,
            cpu: CPUS[rng.random_range(0..CPUS.len())],
            memory: MEMORIES[rng.random_range(0..MEMORIES.len())],
            timeout: TIMEOUTS[rng.random_range(0..4)],
            retention: RETENTIONS[rng.random_range(0..RETENTIONS.len())],
            created_days: rng.random_range(1..CREATED_DAYS),
            enabled: rng.random_bool(0.9),
            tier: rng.random_range(0..TIERS.len()) as u8,
            replicas: rng.random_range(1..=6),
            image_minor: rng.random_range(0..30),
            image_patch: rng.random_range(0..50),
            vpc: rng.random::<u64>() >> 16,
            security_group: rng.random::<u64>() >> 16,
            kms_key: rng.random(),
            log_level: rng.random_range(0..LOG_LEVELS.len()) as u8,
            max_connections: rng.random_range(10..1000),
        }
    }

    /// Change one or two attributes, the way deploys and edits do.
    fn mutate(rng: &mut ChaCha8Rng, resource: &mut Resource) {
        for _ in 0..rng.random_range(1..=2) {
            match rng.random_range(0..6) {
                0 => resource.replicas = rng.random_range(1..=12),
                1 => {
                    resource.image_minor = rng.random_range(0..30);
                    resource.image_patch = rng.random_range(0..50);
                }
                2 => resource.timeout = TIMEOUTS[rng.random_range(0..TIMEOUTS.len())],
                3 => resource.log_level = rng.random_range(0..LOG_LEVELS.len()) as u8,
                4 => resource.max_connections = rng.random_range(10..1000),
                _ => resource.enabled = !resource.enabled,
            }
        }
    }

    fn count_version(&mut self, resource: &Resource) {
        let serial = resource.serial as usize;
        if self.versions.len() <= serial {
            self.versions.resize(serial + 1, 0);
        }
        self.versions[serial] += 1;
    }

    /// Decide what the next scrape changes (no rendering), or `None` once all were produced.
    fn plan_scrape(&mut self) -> Option<Vec<Event>> {
        let index = self.next_scrape;
        if index >= self.params.scrapes {
            return None;
        }
        self.next_scrape += 1;
        let mut events = Vec::new();
        if index == 0 {
            for _ in 0..self.params.resources {
                let resource = self.new_resource();
                self.live.push(resource);
                events.push(Event::Added(resource));
            }
        } else {
            let touched = self.params.churn_per_scrape().min(self.live.len());
            let removed = touched / 10;
            let added = touched / 10;
            let modified = touched - removed - added;
            let mut picks = sample(&mut self.rng, self.live.len(), modified + removed).into_vec();
            let mut removals = picks.split_off(modified);
            for position in picks {
                let before = self.live[position];
                let mut after = before;
                Self::mutate(&mut self.rng, &mut after);
                if after.same_attrs(&before) {
                    // The edit happened to restore the same value: nothing changed, nothing is written.
                    continue;
                }
                self.live[position] = after;
                events.push(Event::Modified { before, after });
            }
            // Descending order keeps every pending position valid across swap_remove.
            removals.sort_unstable_by(|left, right| right.cmp(left));
            for position in removals {
                events.push(Event::Removed(self.live.swap_remove(position)));
            }
            for _ in 0..added {
                let resource = self.new_resource();
                self.live.push(resource);
                events.push(Event::Added(resource));
            }
        }
        for event in &events {
            let resource = match event {
                Event::Added(resource) | Event::Removed(resource) => *resource,
                Event::Modified { after, .. } => *after,
            };
            self.count_version(&resource);
        }
        Some(events)
    }

    /// Advance over `count` scrapes without rendering them (cheap: what the ingest benchmark
    /// uses to rebuild the estate a dataset ends with).
    pub fn skip(&mut self, count: usize) {
        for _ in 0..count {
            if self.plan_scrape().is_none() {
                break;
            }
        }
    }

    fn scrape_id(index: usize) -> String {
        format!("bench-{index:06}")
    }

    fn render(&self, index: usize, event: &Event) -> VersionRow {
        let kinds = self.params.kinds;
        let started_at = self.params.scrape_time(index);
        let window_start = index
            .checked_sub(1)
            .map(|previous| self.params.scrape_time(previous));
        let (resource, change, diff) = match event {
            Event::Added(resource) => (resource, ChangeKind::Added, None),
            Event::Modified { before, after } => {
                (after, ChangeKind::Modified, Some(after.diff_from(before)))
            }
            Event::Removed(resource) => (resource, ChangeKind::Removed, None),
        };
        let (attrs, attrs_hash, labels) = if change == ChangeKind::Removed {
            (None, None, None)
        } else {
            let attrs = resource.attrs_json(kinds);
            let hash = resource.fingerprint(&attrs, kinds);
            (Some(attrs), Some(hash), Some(resource.labels_json()))
        };
        VersionRow {
            source: SOURCE.to_string(),
            kind: resource.kind(kinds),
            id: resource.id(kinds),
            layer: Layer::Live,
            name: Some(resource.name(kinds)),
            attrs,
            attrs_hash,
            labels,
            change,
            diff,
            scrape_id: Self::scrape_id(index),
            valid_from: started_at,
            change_window_start: window_start,
            provenance: None,
        }
    }

    /// Produce up to `count` scrapes (fewer at the end; empty once all were produced), planning
    /// sequentially and rendering rows on [`Generator::with_threads`] threads.
    pub fn next_scrapes(&mut self, count: usize) -> Result<Vec<ScrapeBatch>> {
        let mut planned: Vec<(usize, usize, Vec<Event>)> = Vec::new();
        for _ in 0..count {
            let index = self.next_scrape;
            match self.plan_scrape() {
                Some(events) => planned.push((index, self.live.len(), events)),
                None => break,
            }
        }
        let work: Vec<(usize, &Event)> = planned
            .iter()
            .flat_map(|(index, _, events)| events.iter().map(move |event| (*index, event)))
            .collect();
        let chunk = work.len().div_ceil(self.threads).max(1);
        let this: &Generator = self;
        let rendered: Vec<Vec<VersionRow>> = std::thread::scope(|scope| {
            let handles: Vec<_> = work
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|(index, event)| this.render(*index, event))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap_or_default())
                .collect()
        });
        let mut rows = rendered.into_iter().flatten();
        let mut batches = Vec::with_capacity(planned.len());
        for (index, live, events) in &planned {
            let rows: Vec<VersionRow> = rows.by_ref().take(events.len()).collect();
            anyhow::ensure!(rows.len() == events.len(), "a rendering thread failed");
            let started_at = self.params.scrape_time(*index);
            let record = ScrapeRecord {
                scrape_id: Self::scrape_id(*index),
                source: SOURCE.to_string(),
                source_type: "synthetic".to_string(),
                started_at,
                finished_at: started_at + Duration::seconds(5),
                status: ScrapeStatus::Ok,
                resources_seen: *live as i64,
                versions_written: rows.len() as i64,
                error: None,
                warnings: Vec::new(),
                interval_seconds: Some(self.params.interval_seconds),
            };
            batches.push(ScrapeBatch { record, rows });
        }
        Ok(batches)
    }

    /// Produce the next scrape's rows, or `None` once `params.scrapes` scrapes were produced.
    pub fn next_scrape(&mut self) -> Result<Option<ScrapeBatch>> {
        Ok(self.next_scrapes(1)?.pop())
    }
}

/// Start of scrape `index` of `params` (re-exported through [`Params::scrape_time`]).
pub(crate) fn scrape_time(params: &Params, index: usize) -> DateTime<Utc> {
    epoch() + Duration::seconds(params.interval_seconds * index as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn rendering_equals_what_the_engine_computes() {
        let mut generator = Generator::new(Params::small()).with_threads(3);
        let mut checked = 0;
        while let Some(batch) = generator.next_scrape().unwrap() {
            for row in &batch.rows {
                let Some(attrs) = &row.attrs else { continue };
                let value: Value = serde_json::from_str(attrs).unwrap();
                assert_eq!(&canonical::to_canonical_string(&value), attrs);
                let labels = serde_json::from_str(row.labels.as_deref().unwrap()).unwrap();
                let mut resource = ObservedResource::new(&row.kind, &row.id, Layer::Live, value)
                    .with_name(row.name.clone().unwrap());
                resource.labels = labels;
                assert_eq!(
                    row.attrs_hash.as_deref(),
                    Some(resource.fingerprint().as_str())
                );
                checked += 1;
            }
        }
        assert!(checked > 1_000);
    }

    #[test]
    fn diff_equals_the_engine_diff() {
        let mut generator = Generator::new(Params::small());
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..500 {
            let before = generator.new_resource();
            let mut after = before;
            Generator::mutate(&mut rng, &mut after);
            if after.same_attrs(&before) {
                continue;
            }
            let parse = |resource: &Resource| -> Value {
                serde_json::from_str(&resource.attrs_json(8)).unwrap()
            };
            let expected = canonical::diff(&parse(&before), &parse(&after));
            assert_eq!(
                after.diff_from(&before),
                serde_json::to_string(&expected).unwrap()
            );
        }
    }

    #[test]
    fn output_does_not_depend_on_threads() {
        let mut one = Generator::new(Params::small()).with_threads(1);
        let mut four = Generator::new(Params::small()).with_threads(4);
        let left = one.next_scrapes(7).unwrap();
        let right = four.next_scrapes(3).unwrap();
        let right: Vec<_> = right
            .into_iter()
            .chain(four.next_scrapes(4).unwrap())
            .collect();
        for (left, right) in left.iter().zip(&right) {
            assert_eq!(left.rows, right.rows);
            assert_eq!(left.record.scrape_id, right.record.scrape_id);
        }
        let mut skipped = Generator::new(Params::small());
        skipped.skip(7);
        assert_eq!(skipped.live().unwrap(), one.live().unwrap());
    }
}
