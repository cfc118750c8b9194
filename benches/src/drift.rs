//! A seeded, drift-shaped history: a declared layer (Kubernetes manifests, source
//! [`DECLARED_SOURCE`]) and a live layer (the cluster, source [`LIVE_SOURCE`]) over the same
//! identities (kind `k8s/apps/Deployment`, `k8s/core/Service` or `k8s/core/ConfigMap`, id
//! `<namespace>/<name>`), so `identity_links` pairs them by the `same_identity` rule.
//!
//! The generator keeps a small model of each identity (replicas, image tag, CPU and memory
//! limits, log level, port, service type, timeout), renders it as a manifest for the declared
//! side and as the API server would return it for the live side (the same values in canonical
//! quantity spelling, plus server defaults: `imagePullPolicy`, `strategy`, `clusterIP`,
//! `creationTimestamp`, ...), and derives the expected drift status of every identity **from
//! the model, not from the engine**: both sides present and the model fields equal is
//! `in_sync`, unequal is `changed`, declared only is `missing`, live only is `unmanaged`.
//! Some declared manifests spell quantities differently from the API server (`0.5` for `500m`,
//! `1024Mi` for `1Gi`); the model says they are equal, so drift's normalization is tested too.
//!
//! Both sources are scraped once a minute at the same instants. Scrape 0 plants the initial
//! mix (90 % in sync, 4 % changed, 3 % missing, 3 % unmanaged); every later scrape applies
//! `events_per_scrape` events: deploys (declared edit applied live), declared edits not yet
//! applied, live edits (`kubectl scale`/`set image`/`edit`), live-only noise (revision
//! annotations), reverts, new apps, manifests not yet applied, deletions on either side,
//! retirements, unmanaged creations, orphans, clean-ups and adoptions. Only changes are
//! written, as in [`crate::Generator`].
//!
//! The history lies in the future ([`drift_epoch`], 2030-01-01) on purpose: `drift` judges
//! staleness against the wall clock, so a history in the past would make every row `stale`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Duration, Utc};
use groundtruth_engine::canonical;
use groundtruth_engine::model::{
    ChangeKind, Layer, ObservedResource, ScrapeRecord, ScrapeStatus, VersionRow,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use crate::{open_store, MARKER};

/// Source of the declared layer (Kubernetes manifests).
pub const DECLARED_SOURCE: &str = "manifests";
/// Source of the live layer (the cluster's API).
pub const LIVE_SOURCE: &str = "cluster";
/// The kinds of the drift dataset.
pub const KINDS: [&str; 3] = [
    "k8s/apps/Deployment",
    "k8s/core/Service",
    "k8s/core/ConfigMap",
];
/// The statuses drift can give a resource of this dataset (none is ever stale).
pub const STATUSES: [&str; 4] = ["changed", "in_sync", "missing", "unmanaged"];

/// Shape of a drift history.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftParams {
    /// Identities created by the initial scrape (each declared, live, or both).
    pub identities: usize,
    /// Scrapes of each source, including the initial full one.
    pub scrapes: usize,
    /// Events applied per scrape after the first.
    pub events_per_scrape: usize,
    /// Scrapes (of both sources) bulk-loaded per `Store::commit`.
    pub scrapes_per_commit: usize,
    /// Seconds between two scrapes (of each source).
    pub interval_seconds: i64,
    /// RNG seed.
    pub seed: u64,
}

impl DriftParams {
    /// The benchmark configuration: 20k identities (≈ 19.4k declared and 19.4k live
    /// resources), 400 scrapes of each source, 80 events per scrape.
    pub fn benchmark() -> Self {
        Self {
            identities: 20_000,
            scrapes: 400,
            events_per_scrape: 80,
            scrapes_per_commit: 50,
            interval_seconds: 60,
            seed: 11,
        }
    }

    /// Issue 12's drift shape: 100k identities, a year of hourly scrapes of both sources
    /// (8,760 each), 400 events per scrape (the benchmark's rate per identity), one day per
    /// commit.
    pub fn year() -> Self {
        Self {
            identities: 100_000,
            scrapes: 8_760,
            events_per_scrape: 400,
            scrapes_per_commit: 24,
            interval_seconds: 3_600,
            seed: 11,
        }
    }

    /// Name of the dataset in criterion groups and `benches/results/<name>.json`.
    pub fn dataset_name(&self) -> String {
        if *self == Self::benchmark() {
            "drift".into()
        } else if *self == Self::year() {
            "drift-year".into()
        } else {
            format!("drift-{}", self.slug())
        }
    }

    /// A small configuration for the smoke test.
    pub fn small() -> Self {
        Self {
            identities: 600,
            scrapes: 40,
            events_per_scrape: 12,
            scrapes_per_commit: 10,
            interval_seconds: 60,
            seed: 5,
        }
    }

    /// [`DriftParams::benchmark`] (or [`DriftParams::year`] with `GT_DRIFT_PRESET=year`)
    /// overridden by `GT_DRIFT_IDENTITIES`, `GT_DRIFT_SCRAPES`, `GT_DRIFT_EVENTS` and
    /// `GT_DRIFT_SEED` when set.
    pub fn from_env() -> Result<Self> {
        let mut params = match std::env::var("GT_DRIFT_PRESET").as_deref() {
            Ok("year") => Self::year(),
            Ok("benchmark") | Err(_) => Self::benchmark(),
            Ok(other) => bail!("unknown GT_DRIFT_PRESET {other:?} (benchmark, year)"),
        };
        let read = |name: &str, value: &mut usize| -> Result<()> {
            if let Ok(text) = std::env::var(name) {
                *value = text.parse().with_context(|| name.to_string())?;
            }
            Ok(())
        };
        read("GT_DRIFT_IDENTITIES", &mut params.identities)?;
        read("GT_DRIFT_SCRAPES", &mut params.scrapes)?;
        read("GT_DRIFT_EVENTS", &mut params.events_per_scrape)?;
        if let Ok(text) = std::env::var("GT_DRIFT_SEED") {
            params.seed = text.parse().context("GT_DRIFT_SEED")?;
        }
        params.validate()?;
        Ok(params)
    }

    /// Reject shapes the generator cannot produce.
    pub fn validate(&self) -> Result<()> {
        if self.identities < 10
            || self.scrapes < 2
            || self.scrapes_per_commit == 0
            || self.interval_seconds <= 0
        {
            bail!("need at least 10 identities, 2 scrapes and 1 scrape per commit: {self:?}");
        }
        Ok(())
    }

    /// Directory-name fragment identifying this configuration.
    pub fn slug(&self) -> String {
        // The one-minute shape keeps its historical name.
        let interval = if self.interval_seconds == 60 {
            String::new()
        } else {
            format!("-t{}", self.interval_seconds)
        };
        format!(
            "i{}-s{}-e{}{interval}-seed{}",
            self.identities, self.scrapes, self.events_per_scrape, self.seed
        )
    }

    /// Start of scrape `index` (both sources): one every `interval_seconds` from
    /// [`drift_epoch`].
    pub fn scrape_time(&self, index: usize) -> DateTime<Utc> {
        drift_epoch() + Duration::seconds(self.interval_seconds * index as i64)
    }

    /// The index of the scrape [`DriftParams::mid_time`] follows.
    pub fn mid_scrape(&self) -> usize {
        self.scrapes / 2
    }

    /// An instant in the middle of the history, 30 s after a scrape.
    pub fn mid_time(&self) -> DateTime<Utc> {
        self.scrape_time(self.mid_scrape()) + Duration::seconds(30)
    }
}

/// Start of the drift history: 2030-01-01T00:00:00Z (in the future, see the module docs).
pub fn drift_epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(1_893_456_000, 0).unwrap_or(DateTime::UNIX_EPOCH)
}

/// Directory of the drift dataset for `params`, next to the foundation datasets.
pub fn drift_dataset_dir(params: &DriftParams) -> PathBuf {
    crate::bench_data_root().join(format!("drift-{}", params.slug()))
}

const TEAMS: &[&str] = &[
    "payments", "search", "identity", "platform", "data", "growth",
];
const ENVS: &[&str] = &["prod", "staging"];
const LOG_LEVELS: &[&str] = &["debug", "info", "warn", "error"];
const CPU_MILLIS: &[u32] = &[250, 500, 1000, 1500, 2000];
const MEMORY_MIB: &[u32] = &[256, 512, 1024, 2048, 3072];
const PORTS: &[u32] = &[80, 8080, 8443, 9090, 3000];
const TIMEOUTS: &[u32] = &[5, 10, 30, 60, 120];
const SERVICE_TYPES: &[&str] = &["ClusterIP", "NodePort", "LoadBalancer"];

/// The settings of one identity that drift compares (the declared side states all of those
/// that belong to its kind). Two sides are in sync exactly when their specs are equal.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Spec {
    replicas: u32,
    tag: (u32, u32),
    cpu_millis: u32,
    memory_mib: u32,
    log_level: &'static str,
    port: u32,
    service_type: &'static str,
    timeout: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Status {
    Absent,
    InSync,
    Changed,
    Missing,
    Unmanaged,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Absent => "absent",
            Status::InSync => "in_sync",
            Status::Changed => "changed",
            Status::Missing => "missing",
            Status::Unmanaged => "unmanaged",
        }
    }

    fn drifted(self) -> bool {
        matches!(self, Status::Changed | Status::Missing | Status::Unmanaged)
    }
}

/// The live side: its spec plus what only the cluster writes.
#[derive(Debug, Clone)]
struct LiveSide {
    spec: Spec,
    created: DateTime<Utc>,
    revision: u32,
    node_port: u32,
}

#[derive(Debug, Clone)]
struct Identity {
    kind: usize,
    namespace: String,
    name: String,
    team: &'static str,
    /// The manifest spells quantities differently from the API server.
    alternate_spelling: bool,
    declared: Option<Spec>,
    live: Option<LiveSide>,
    /// Last rendered versions (what the store holds), with their fingerprints.
    declared_row: Option<(ObservedResource, String)>,
    live_row: Option<(ObservedResource, String)>,
    status: Status,
}

impl Identity {
    fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    fn status(&self) -> Status {
        match (&self.declared, &self.live) {
            (None, None) => Status::Absent,
            (Some(_), None) => Status::Missing,
            (None, Some(_)) => Status::Unmanaged,
            (Some(declared), Some(live)) if *declared == live.spec => Status::InSync,
            (Some(_), Some(_)) => Status::Changed,
        }
    }
}

fn cpu_canonical(millis: u32) -> String {
    if millis.is_multiple_of(1000) {
        format!("{}", millis / 1000)
    } else {
        format!("{millis}m")
    }
}

fn cpu_alternate(millis: u32) -> Value {
    if millis.is_multiple_of(1000) {
        json!(format!("{millis}m"))
    } else {
        json!(format!("{}", f64::from(millis) / 1000.0))
    }
}

fn memory_canonical(mib: u32) -> String {
    if mib.is_multiple_of(1024) {
        format!("{}Gi", mib / 1024)
    } else {
        format!("{mib}Mi")
    }
}

fn memory_alternate(mib: u32) -> String {
    format!("{mib}Mi")
}

fn image(team: &str, name: &str, tag: (u32, u32)) -> String {
    format!("registry.example/{team}/{name}:1.{}.{}", tag.0, tag.1)
}

/// The declared manifest of `identity` with `spec`.
fn render_declared(identity: &Identity, spec: &Spec) -> ObservedResource {
    let (namespace, name, team) = (&identity.namespace, &identity.name, identity.team);
    let metadata =
        json!({"name": name, "namespace": namespace, "labels": {"app": name, "team": team}});
    let (cpu, memory, request_cpu, request_memory) = if identity.alternate_spelling {
        (
            cpu_alternate(spec.cpu_millis),
            json!(memory_alternate(spec.memory_mib)),
            cpu_alternate(spec.cpu_millis / 2),
            json!(memory_alternate(spec.memory_mib / 2)),
        )
    } else {
        (
            json!(cpu_canonical(spec.cpu_millis)),
            json!(memory_canonical(spec.memory_mib)),
            json!(cpu_canonical(spec.cpu_millis / 2)),
            json!(memory_canonical(spec.memory_mib / 2)),
        )
    };
    let attrs = match KINDS[identity.kind] {
        "k8s/apps/Deployment" => json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata,
            "spec": {
                "replicas": spec.replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name, "team": team}},
                    "spec": {
                        "containers": [{
                            "name": "app",
                            "image": image(team, name, spec.tag),
                            "args": [format!("--log-level={}", spec.log_level), "--metrics"],
                            "ports": [{"name": "http", "containerPort": spec.port}],
                            "resources": {
                                "limits": {"cpu": cpu, "memory": memory},
                                "requests": {"cpu": request_cpu, "memory": request_memory},
                            },
                        }],
                    },
                },
            },
        }),
        "k8s/core/Service" => json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata,
            "spec": {
                "type": spec.service_type,
                "selector": {"app": name},
                "ports": [{"name": "http", "port": spec.port, "targetPort": spec.port}],
            },
        }),
        _ => json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata,
            "data": {
                "LOG_LEVEL": spec.log_level,
                "TIMEOUT_SECONDS": spec.timeout.to_string(),
                "UPSTREAM": format!("http://{name}.{namespace}.svc:{}", 8080),
            },
        }),
    };
    ObservedResource::new(KINDS[identity.kind], identity.id(), Layer::Declared, attrs)
        .with_name(name.clone())
        .with_label("app", name.clone())
        .with_label("team", team)
        .with_label("k8s.file", format!("deploy/{namespace}/{name}.yaml"))
}

/// The object as the API server returns it: canonical spellings and server defaults.
fn render_live(identity: &Identity, live: &LiveSide) -> ObservedResource {
    let (namespace, name, team) = (&identity.namespace, &identity.name, identity.team);
    let spec = &live.spec;
    let created = live.created.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let attrs = match KINDS[identity.kind] {
        "k8s/apps/Deployment" => json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name, "namespace": namespace, "labels": {"app": name, "team": team},
                "annotations": {"deployment.kubernetes.io/revision": live.revision.to_string()},
                "creationTimestamp": created,
                "generation": live.revision,
            },
            "spec": {
                "replicas": spec.replicas,
                "progressDeadlineSeconds": 600,
                "revisionHistoryLimit": 10,
                "selector": {"matchLabels": {"app": name}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "template": {
                    "metadata": {"labels": {"app": name, "team": team}},
                    "spec": {
                        "containers": [{
                            "name": "app",
                            "image": image(team, name, spec.tag),
                            "args": [format!("--log-level={}", spec.log_level), "--metrics"],
                            "imagePullPolicy": "IfNotPresent",
                            "ports": [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}],
                            "resources": {
                                "limits": {"cpu": cpu_canonical(spec.cpu_millis), "memory": memory_canonical(spec.memory_mib)},
                                "requests": {"cpu": cpu_canonical(spec.cpu_millis / 2), "memory": memory_canonical(spec.memory_mib / 2)},
                            },
                            "terminationMessagePath": "/dev/termination-log",
                            "terminationMessagePolicy": "File",
                        }],
                        "dnsPolicy": "ClusterFirst",
                        "restartPolicy": "Always",
                        "schedulerName": "default-scheduler",
                        "securityContext": {},
                        "terminationGracePeriodSeconds": 30,
                    },
                },
            },
        }),
        "k8s/core/Service" => {
            let mut port = json!({"name": "http", "port": spec.port, "targetPort": spec.port, "protocol": "TCP"});
            if spec.service_type != "ClusterIP" {
                port["nodePort"] = json!(live.node_port);
            }
            json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": name, "namespace": namespace, "labels": {"app": name, "team": team},
                    "annotations": {"bench.groundtruth/observed-revision": live.revision.to_string()},
                    "creationTimestamp": created,
                },
                "spec": {
                    "type": spec.service_type,
                    "selector": {"app": name},
                    "ports": [port],
                    "clusterIP": format!("10.96.{}.{}", live.node_port % 256, live.node_port / 256 % 256),
                    "clusterIPs": [format!("10.96.{}.{}", live.node_port % 256, live.node_port / 256 % 256)],
                    "internalTrafficPolicy": "Cluster",
                    "ipFamilies": ["IPv4"],
                    "ipFamilyPolicy": "SingleStack",
                    "sessionAffinity": "None",
                },
            })
        }
        _ => json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name, "namespace": namespace, "labels": {"app": name, "team": team},
                "annotations": {"bench.groundtruth/observed-revision": live.revision.to_string()},
                "creationTimestamp": created,
            },
            "data": {
                "LOG_LEVEL": spec.log_level,
                "TIMEOUT_SECONDS": spec.timeout.to_string(),
                "UPSTREAM": format!("http://{name}.{namespace}.svc:{}", 8080),
            },
        }),
    };
    ObservedResource::new(KINDS[identity.kind], identity.id(), Layer::Live, attrs)
        .with_name(name.clone())
        .with_label("app", name.clone())
        .with_label("team", team)
}

/// Counts per drift status (`changed`, `in_sync`, `missing`, `unmanaged`).
pub type StatusCounts = BTreeMap<String, u64>;

fn empty_counts() -> StatusCounts {
    STATUSES
        .iter()
        .map(|status| (status.to_string(), 0))
        .collect()
}

/// One scrape of both sources: two records and the rows they wrote.
#[derive(Debug, Clone)]
pub struct DriftScrape {
    /// The declared source's record, then the live source's.
    pub records: Vec<ScrapeRecord>,
    /// Versions and deletion markers of both.
    pub rows: Vec<VersionRow>,
}

#[derive(Debug, Clone, Copy)]
enum Event {
    Deploy,
    DeclaredEdit,
    LiveEdit,
    LiveNoise,
    Revert,
    NewApp,
    NotYetApplied,
    Apply,
    LiveDeleted,
    Retire,
    UnmanagedCreated,
    Orphaned,
    CleanedUp,
    Adopted,
}

/// Event mix per scrape, in percent.
const EVENT_MIX: &[(Event, u32)] = &[
    (Event::Deploy, 34),
    (Event::DeclaredEdit, 8),
    (Event::LiveEdit, 14),
    (Event::LiveNoise, 12),
    (Event::Revert, 6),
    (Event::NewApp, 5),
    (Event::NotYetApplied, 3),
    (Event::Apply, 3),
    (Event::LiveDeleted, 3),
    (Event::Retire, 3),
    (Event::UnmanagedCreated, 3),
    (Event::Orphaned, 2),
    (Event::CleanedUp, 2),
    (Event::Adopted, 2),
];

/// Seeded generator of the two-layer history. Deterministic for given [`DriftParams`].
#[derive(Debug)]
pub struct DriftGenerator {
    params: DriftParams,
    rng: ChaCha8Rng,
    identities: Vec<Identity>,
    /// Indices of identities with at least one side present.
    present: Vec<usize>,
    next_scrape: usize,
    /// Drift intervals started so far, per status (what `drift_history` should count).
    intervals: StatusCounts,
}

impl DriftGenerator {
    /// A generator that has not produced any scrape yet.
    pub fn new(params: DriftParams) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(params.seed),
            params,
            identities: Vec::new(),
            present: Vec::new(),
            next_scrape: 0,
            intervals: empty_counts(),
        }
    }

    /// Expected `drift` answer after the last produced scrape: resources per status.
    pub fn counts(&self) -> StatusCounts {
        let mut counts = empty_counts();
        for identity in &self.identities {
            let status = identity.status();
            if status != Status::Absent {
                *counts.entry(status.name().to_string()).or_default() += 1;
            }
        }
        counts
    }

    /// Drift intervals (`missing`, `unmanaged`, `changed`) started so far.
    pub fn intervals(&self) -> &StatusCounts {
        &self.intervals
    }

    /// Declared and live resources present after the last produced scrape.
    pub fn layer_sizes(&self) -> (u64, u64) {
        let declared = self
            .identities
            .iter()
            .filter(|identity| identity.declared.is_some());
        let live = self
            .identities
            .iter()
            .filter(|identity| identity.live.is_some());
        (declared.count() as u64, live.count() as u64)
    }

    fn random_spec(rng: &mut ChaCha8Rng) -> Spec {
        Spec {
            replicas: rng.random_range(1..=6),
            tag: (rng.random_range(0..30), rng.random_range(0..50)),
            cpu_millis: CPU_MILLIS[rng.random_range(0..CPU_MILLIS.len())],
            memory_mib: MEMORY_MIB[rng.random_range(0..MEMORY_MIB.len())],
            log_level: LOG_LEVELS[rng.random_range(0..LOG_LEVELS.len())],
            port: PORTS[rng.random_range(0..PORTS.len())],
            service_type: SERVICE_TYPES[rng.random_range(0..SERVICE_TYPES.len())],
            timeout: TIMEOUTS[rng.random_range(0..TIMEOUTS.len())],
        }
    }

    /// Change one setting of `kind` in `spec` to a different value.
    fn edit(rng: &mut ChaCha8Rng, kind: usize, spec: &mut Spec) {
        fn other<T: Copy + PartialEq>(rng: &mut ChaCha8Rng, choices: &[T], current: T) -> T {
            loop {
                let pick = choices[rng.random_range(0..choices.len())];
                if pick != current {
                    return pick;
                }
            }
        }
        match (KINDS[kind], rng.random_range(0..4)) {
            ("k8s/apps/Deployment", 0) => {
                spec.replicas = other(rng, &[1, 2, 3, 4, 5, 6, 8, 12], spec.replicas)
            }
            ("k8s/apps/Deployment", 1) => spec.cpu_millis = other(rng, CPU_MILLIS, spec.cpu_millis),
            ("k8s/apps/Deployment", 2) => spec.log_level = other(rng, LOG_LEVELS, spec.log_level),
            ("k8s/apps/Deployment", _) => {
                spec.tag = (spec.tag.0, spec.tag.1 + 1);
                if rng.random_bool(0.3) {
                    spec.memory_mib = other(rng, MEMORY_MIB, spec.memory_mib);
                }
            }
            ("k8s/core/Service", 0 | 1) => spec.port = other(rng, PORTS, spec.port),
            ("k8s/core/Service", _) => {
                spec.service_type = other(rng, SERVICE_TYPES, spec.service_type)
            }
            (_, 0 | 1) => spec.log_level = other(rng, LOG_LEVELS, spec.log_level),
            (_, _) => spec.timeout = other(rng, TIMEOUTS, spec.timeout),
        }
    }

    fn live_side(&mut self, spec: Spec, at: DateTime<Utc>) -> LiveSide {
        LiveSide {
            spec,
            created: at,
            revision: 1,
            node_port: self.rng.random_range(30_000..32_768),
        }
    }

    fn new_identity(&mut self, declared: bool, live: bool, at: DateTime<Utc>) -> usize {
        let serial = self.identities.len();
        let kind = match self.rng.random_range(0..100) {
            0..45 => 0,
            45..80 => 1,
            _ => 2,
        };
        let team = TEAMS[self.rng.random_range(0..TEAMS.len())];
        let env = ENVS[self.rng.random_range(0..ENVS.len())];
        let spec = Self::random_spec(&mut self.rng);
        let alternate_spelling = self.rng.random_bool(0.25);
        let live_side = live.then(|| self.live_side(spec.clone(), at));
        self.identities.push(Identity {
            kind,
            namespace: format!("{team}-{env}"),
            name: format!("app-{serial:06}"),
            team,
            alternate_spelling,
            declared: declared.then_some(spec),
            live: live_side,
            declared_row: None,
            live_row: None,
            status: Status::Absent,
        });
        self.present.push(serial);
        serial
    }

    /// A present identity with the given status, if one is found within a few tries.
    fn pick(&mut self, wanted: &[Status]) -> Option<usize> {
        for _ in 0..64 {
            if self.present.is_empty() {
                return None;
            }
            let index = self.present[self.rng.random_range(0..self.present.len())];
            if wanted.contains(&self.identities[index].status()) {
                return Some(index);
            }
        }
        None
    }

    /// Apply one event; returns the identity it touched.
    fn apply(&mut self, event: Event, at: DateTime<Utc>) -> Option<usize> {
        use Status::*;
        let index = match event {
            Event::NewApp => return Some(self.new_identity(true, true, at)),
            Event::NotYetApplied => return Some(self.new_identity(true, false, at)),
            Event::UnmanagedCreated => return Some(self.new_identity(false, true, at)),
            Event::Deploy | Event::DeclaredEdit => self.pick(&[InSync, Changed])?,
            Event::LiveEdit | Event::LiveNoise => self.pick(&[InSync, Changed, Unmanaged])?,
            Event::Revert => self.pick(&[Changed])?,
            Event::Apply => self.pick(&[Missing])?,
            Event::LiveDeleted | Event::Retire => self.pick(&[InSync, Changed])?,
            Event::Orphaned => self.pick(&[InSync])?,
            Event::CleanedUp | Event::Adopted => self.pick(&[Unmanaged])?,
        };
        let rng = &mut self.rng;
        let identity = &mut self.identities[index];
        let kind = identity.kind;
        match event {
            Event::Deploy => {
                let declared = identity.declared.as_mut()?;
                Self::edit(rng, kind, declared);
                let live = identity.live.as_mut()?;
                live.spec = declared.clone();
                live.revision += 1;
            }
            Event::DeclaredEdit => Self::edit(rng, kind, identity.declared.as_mut()?),
            Event::LiveEdit => {
                let live = identity.live.as_mut()?;
                Self::edit(rng, kind, &mut live.spec);
                live.revision += 1;
            }
            Event::LiveNoise => identity.live.as_mut()?.revision += 1,
            Event::Revert => {
                let declared = identity.declared.clone()?;
                let live = identity.live.as_mut()?;
                live.spec = declared;
                live.revision += 1;
            }
            Event::Apply => {
                let spec = identity.declared.clone()?;
                let node_port = rng.random_range(30_000..32_768);
                identity.live = Some(LiveSide {
                    spec,
                    created: at,
                    revision: 1,
                    node_port,
                });
            }
            Event::LiveDeleted | Event::CleanedUp => identity.live = None,
            Event::Retire => {
                identity.declared = None;
                identity.live = None;
            }
            Event::Orphaned => identity.declared = None,
            Event::Adopted => identity.declared = Some(identity.live.as_ref()?.spec.clone()),
            Event::NewApp | Event::NotYetApplied | Event::UnmanagedCreated => {}
        }
        if identity.declared.is_none() && identity.live.is_none() {
            self.present.retain(|present| *present != index);
        }
        Some(index)
    }

    fn row(
        resource: &ObservedResource,
        change: ChangeKind,
        diff: Option<String>,
        scrape_id: &str,
        started_at: DateTime<Utc>,
        window_start: Option<DateTime<Utc>>,
    ) -> Result<VersionRow> {
        let removed = change == ChangeKind::Removed;
        let source = match resource.layer {
            Layer::Declared => DECLARED_SOURCE,
            Layer::Live => LIVE_SOURCE,
        };
        Ok(VersionRow {
            source: source.to_string(),
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

    /// The rows one side of `index` writes now that the model may have changed.
    fn sync_side(
        &mut self,
        index: usize,
        layer: Layer,
        scrape_ids: (&str, &str),
        started_at: DateTime<Utc>,
        window_start: Option<DateTime<Utc>>,
        rows: &mut Vec<VersionRow>,
    ) -> Result<()> {
        let identity = &self.identities[index];
        let (rendered, previous, scrape_id) = match layer {
            Layer::Declared => (
                identity
                    .declared
                    .as_ref()
                    .map(|spec| render_declared(identity, spec)),
                &identity.declared_row,
                scrape_ids.0,
            ),
            Layer::Live => (
                identity
                    .live
                    .as_ref()
                    .map(|live| render_live(identity, live)),
                &identity.live_row,
                scrape_ids.1,
            ),
        };
        let rendered = rendered.map(|resource| {
            let fingerprint = resource.fingerprint();
            (resource, fingerprint)
        });
        match (previous, &rendered) {
            (None, None) => {}
            (None, Some((resource, _))) => rows.push(Self::row(
                resource,
                ChangeKind::Added,
                None,
                scrape_id,
                started_at,
                window_start,
            )?),
            (Some((resource, _)), None) => rows.push(Self::row(
                resource,
                ChangeKind::Removed,
                None,
                scrape_id,
                started_at,
                window_start,
            )?),
            (Some((before, old)), Some((after, new))) => {
                if old != new {
                    let diff = canonical::diff(
                        &canonical::canonicalize(&before.attrs),
                        &canonical::canonicalize(&after.attrs),
                    );
                    rows.push(Self::row(
                        after,
                        ChangeKind::Modified,
                        Some(serde_json::to_string(&diff)?),
                        scrape_id,
                        started_at,
                        window_start,
                    )?);
                }
            }
        }
        let identity = &mut self.identities[index];
        match layer {
            Layer::Declared => identity.declared_row = rendered,
            Layer::Live => identity.live_row = rendered,
        }
        Ok(())
    }

    /// Produce the next scrape of both sources, or `None` once `params.scrapes` were produced.
    pub fn next_scrape(&mut self) -> Result<Option<DriftScrape>> {
        let index = self.next_scrape;
        if index >= self.params.scrapes {
            return Ok(None);
        }
        self.next_scrape += 1;
        let started_at = self.params.scrape_time(index);
        let window_start = index
            .checked_sub(1)
            .map(|previous| self.params.scrape_time(previous));
        let mut touched = BTreeSet::new();
        if index == 0 {
            for _ in 0..self.params.identities {
                // 94 % both sides (of which 1 in 25 drifted below), 3 % declared only, 3 %
                // live only.
                let (declared, live) = match self.rng.random_range(0..100) {
                    0..94 => (true, true),
                    94..97 => (true, false),
                    _ => (false, true),
                };
                let created = self.new_identity(declared, live, started_at);
                touched.insert(created);
            }
            // 4 % start with a live edit nobody declared.
            for position in 0..self.identities.len() {
                if position % 25 == 7 && self.identities[position].status() == Status::InSync {
                    let kind = self.identities[position].kind;
                    let rng = &mut self.rng;
                    if let Some(live) = self.identities[position].live.as_mut() {
                        Self::edit(rng, kind, &mut live.spec);
                        live.revision += 1;
                    }
                }
            }
        } else {
            let total: u32 = EVENT_MIX.iter().map(|(_, weight)| weight).sum();
            for _ in 0..self.params.events_per_scrape {
                let mut roll = self.rng.random_range(0..total);
                let mut event = Event::Deploy;
                for (candidate, weight) in EVENT_MIX {
                    if roll < *weight {
                        event = *candidate;
                        break;
                    }
                    roll -= weight;
                }
                if let Some(touched_index) = self.apply(event, started_at) {
                    touched.insert(touched_index);
                }
            }
        }
        let declared_id = format!("{DECLARED_SOURCE}-{index:06}");
        let live_id = format!("{LIVE_SOURCE}-{index:06}");
        let mut declared_rows = Vec::new();
        let mut live_rows = Vec::new();
        for &touched_index in &touched {
            let ids = (declared_id.as_str(), live_id.as_str());
            self.sync_side(
                touched_index,
                Layer::Declared,
                ids,
                started_at,
                window_start,
                &mut declared_rows,
            )?;
            self.sync_side(
                touched_index,
                Layer::Live,
                ids,
                started_at,
                window_start,
                &mut live_rows,
            )?;
            let identity = &mut self.identities[touched_index];
            let status = identity.status();
            if status != identity.status {
                if status.drifted() {
                    *self.intervals.entry(status.name().to_string()).or_default() += 1;
                }
                identity.status = status;
            }
        }
        let (declared_count, live_count) = self.layer_sizes();
        let record =
            |scrape_id: String, source: &str, source_type: &str, seen: u64, written: usize| {
                ScrapeRecord {
                    scrape_id,
                    source: source.to_string(),
                    source_type: source_type.to_string(),
                    started_at,
                    finished_at: started_at + Duration::seconds(5),
                    status: ScrapeStatus::Ok,
                    resources_seen: seen as i64,
                    versions_written: written as i64,
                    error: None,
                    warnings: Vec::new(),
                    interval_seconds: Some(self.params.interval_seconds),
                }
            };
        let records = vec![
            record(
                declared_id.clone(),
                DECLARED_SOURCE,
                "kubernetes_manifests",
                declared_count,
                declared_rows.len(),
            ),
            record(
                live_id.clone(),
                LIVE_SOURCE,
                "kubernetes_api",
                live_count,
                live_rows.len(),
            ),
        ];
        declared_rows.extend(live_rows);
        Ok(Some(DriftScrape {
            records,
            rows: declared_rows,
        }))
    }
}

/// What building a drift dataset produced (its marker file's content).
#[derive(Debug, Clone)]
pub struct DriftManifest {
    /// The marker's JSON content.
    pub json: Value,
}

impl DriftManifest {
    fn counts(&self, key: &str) -> Result<StatusCounts> {
        let object = self.json[key]
            .as_object()
            .with_context(|| format!("manifest field {key}"))?;
        object
            .iter()
            .map(|(status, count)| {
                Ok((
                    status.clone(),
                    count.as_u64().with_context(|| format!("{key}.{status}"))?,
                ))
            })
            .collect()
    }

    /// Expected `drift` counts per status after the last scrape.
    pub fn counts_now(&self) -> Result<StatusCounts> {
        self.counts("counts_now")
    }

    /// Expected `drift_at(mid)` counts per status.
    pub fn counts_mid(&self) -> Result<StatusCounts> {
        self.counts("counts_mid")
    }

    /// Expected `drift_history` intervals per status.
    pub fn intervals(&self) -> Result<StatusCounts> {
        self.counts("history_intervals")
    }

    /// Total version rows written.
    pub fn rows(&self) -> Result<u64> {
        self.json["rows"].as_u64().context("manifest field rows")
    }
}

/// Rows `SELECT * FROM drift WHERE status <> 'in_sync'` should return for `counts`.
pub fn drifted(counts: &StatusCounts) -> u64 {
    counts
        .iter()
        .filter(|(status, _)| status.as_str() != "in_sync")
        .map(|(_, count)| count)
        .sum()
}

/// Return the drift dataset's manifest, generating the store first unless its marker exists.
pub async fn ensure_drift_dataset(
    params: &DriftParams,
    directory: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<DriftManifest> {
    if let Some(json) = crate::reusable_marker(directory, log)? {
        if json["checkpoints"].as_bool().unwrap_or(false) == crate::CHECKPOINTS {
            return Ok(DriftManifest { json });
        }
        // Built with the other checkpoint setting: not the layout being measured.
        log("the dataset's checkpoint setting differs from this build's: rebuilding");
        std::fs::remove_dir_all(directory)
            .with_context(|| format!("removing {}", directory.display()))?;
    }
    build_drift_dataset(params, directory, log).await
}

/// Generate the two-layer history into a new store at `directory`, compact it and write the
/// marker with the expected answers.
pub async fn build_drift_dataset(
    params: &DriftParams,
    directory: &Path,
    log: &mut dyn FnMut(&str),
) -> Result<DriftManifest> {
    params.validate()?;
    let store = open_store(directory).await?;
    let mut generator = DriftGenerator::new(params.clone());
    let mut rows_total = 0u64;
    let mut counts_mid = None;
    let mut layers_mid = None;
    let (mut generate, mut commit) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    let mut checkpoint = std::time::Duration::ZERO;
    let mut checkpoints = crate::CheckpointsWritten::default();
    let mut commits = 0u64;
    let started = Instant::now();
    let (mut records, mut rows) = (Vec::new(), Vec::new());
    let mut scrapes_pending = 0;
    loop {
        let clock = Instant::now();
        let scrape = generator.next_scrape()?;
        generate += clock.elapsed();
        let done = scrape.is_none();
        if let Some(scrape) = scrape {
            rows_total += scrape.rows.len() as u64;
            records.extend(scrape.records);
            rows.extend(scrape.rows);
            scrapes_pending += 1;
            if generator.next_scrape == params.mid_scrape() + 1 {
                counts_mid = Some(generator.counts());
                layers_mid = Some(generator.layer_sizes());
            }
        }
        if scrapes_pending > 0 && (done || scrapes_pending >= params.scrapes_per_commit) {
            let clock = Instant::now();
            store.commit(&records, &rows).await?;
            commit += clock.elapsed();
            commits += 1;
            let clock = Instant::now();
            let written = crate::maybe_checkpoint(&store).await?;
            checkpoint += clock.elapsed();
            checkpoints.checkpoints += written.checkpoints;
            checkpoints.rows += written.rows;
            log(&format!(
                "committed through {} ({rows_total} rows, {} checkpoints so far, {:.1}s)",
                records
                    .last()
                    .map_or("", |record| record.scrape_id.as_str()),
                checkpoints.checkpoints,
                started.elapsed().as_secs_f64()
            ));
            records.clear();
            rows.clear();
            scrapes_pending = 0;
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
    let (declared_now, live_now) = generator.layer_sizes();
    let (declared_mid, live_mid) = layers_mid.context("the mid scrape was produced")?;
    let json = json!({
        "params": {
            "identities": params.identities,
            "scrapes": params.scrapes,
            "events_per_scrape": params.events_per_scrape,
            "scrapes_per_commit": params.scrapes_per_commit,
            "interval_seconds": params.interval_seconds,
            "seed": params.seed,
        },
        "dataset": params.dataset_name(),
        "rows": rows_total,
        "commits": commits,
        "checkpoints": crate::CHECKPOINTS,
        "checkpoints_written": checkpoints.checkpoints,
        "checkpoint_rows": checkpoints.rows,
        "checkpoint_seconds": checkpoint.as_secs_f64(),
        "declared_now": declared_now,
        "live_now": live_now,
        "declared_mid": declared_mid,
        "live_mid": live_mid,
        "counts_now": generator.counts(),
        "counts_mid": counts_mid.context("the mid scrape was produced")?,
        "history_intervals": generator.intervals(),
        "mid": params.mid_time().to_rfc3339(),
        "end": params.scrape_time(params.scrapes - 1).to_rfc3339(),
        "generate_seconds": generate.as_secs_f64(),
        "commit_seconds": commit.as_secs_f64(),
        "compact_seconds": compact.as_secs_f64(),
        "files_removed_by_compaction": compaction.files_removed,
        "files_added_by_compaction": compaction.files_added,
        "built_at": Utc::now().to_rfc3339(),
    });
    std::fs::write(directory.join(MARKER), serde_json::to_string_pretty(&json)?)
        .context("writing dataset marker")?;
    Ok(DriftManifest { json })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_generator_is_deterministic_and_plants_every_status() {
        let params = DriftParams::small();
        let mut first = DriftGenerator::new(params.clone());
        let mut second = DriftGenerator::new(params.clone());
        while let Some(scrape) = first.next_scrape().unwrap() {
            let other = second.next_scrape().unwrap().unwrap();
            assert_eq!(scrape.rows, other.rows);
        }
        let counts = first.counts();
        for status in STATUSES {
            assert!(counts[status] > 0, "{status}: {counts:?}");
        }
        assert!(counts["in_sync"] > counts["changed"]);
        assert!(first.intervals()["changed"] >= counts["changed"]);
    }

    #[test]
    fn alternate_spellings_are_the_same_quantities() {
        for millis in CPU_MILLIS {
            let alternate = cpu_alternate(*millis);
            assert_ne!(alternate, json!(cpu_canonical(*millis)));
        }
        assert_eq!(memory_canonical(1024), "1Gi");
        assert_eq!(memory_alternate(1024), "1024Mi");
    }
}
