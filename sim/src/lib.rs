//! Groundtruth's simulator: a seeded, **synthetic** cloud estate that evolves hour by hour. It
//! backs `groundtruth demo` (30 days of history, sources `synthetic_iac` for the declared layer
//! and `synthetic_cloud` for the live layer) and the tests. Nothing it reports exists: the
//! account is AWS's documentation account `123456789012`, images come from
//! `registry.example.com`, and every resource carries the label `synthetic=true`.
//!
//! This crate owns the estate and its story (the hour-by-hour events below); it produces
//! [`groundtruth_engine::model::ObservedResource`]s and depends on nothing else in the
//! workspace. The `simulated` source of `groundtruth-ingest` scrapes one layer of it; it must
//! not depend on ingest, the server or any store code.
//!
//! # The estate
//!
//! Per service (named orders, reports, payments, billing, search, inventory, shipping,
//! notifications, auth, catalog; past ten the names repeat with a suffix: `orders2`,
//! `reports2`, ...), both layers hold the same `(kind, id)` identities, so drift is a join on
//! `(kind, id)`:
//!
//! | kind | id | attrs |
//! |------|----|-------|
//! | `aws_sqs_queue` | `arn:aws:sqs:us-east-1:123456789012:<svc>-jobs` | `visibility_timeout_seconds`, `message_retention_seconds`, `redrive_policy{maxReceiveCount, deadLetterTargetArn}` |
//! | `aws_lambda_function` | `arn:aws:lambda:us-east-1:123456789012:function:<svc>-worker` | `runtime`, `handler`, `memory_size`, `timeout`, `image_tag`, `environment.variables{LOG_LEVEL, DB_PASSWORD}` (the password redacted) |
//! | `aws_lambda_event_source_mapping` | `<consumer>-worker<-<queue>-jobs` | `function_name`, `event_source_arn`, `batch_size`, `enabled` |
//! | `postgres_index` | `public.<svc>_<column>_idx` (two per service) | `table`, `columns`, `unique`, `definition` |
//! | `feature_flag` | `<svc>.<flag>` (one or two per service) | `state`, `defaultVariant`, `variants` |
//! | `k8s_deployment` | `apps/Deployment/prod/<svc>` | `image`, `replicas`, `resources{cpu, memory}` |
//!
//! Every resource is labelled `team`, `env=prod` and `synthetic=true`. At the epoch the two
//! layers are identical: there is no drift until the story starts.
//!
//! # Time
//!
//! Events happen on the hour: the events of hour `k` (k ≥ 1) take effect at `epoch + k h`. The
//! state at an instant `t` is the initial estate with hours `1..=floor((t - epoch) / 1 h)`
//! replayed; before (and at) the epoch it is the initial estate. Hour `k` draws its randomness
//! from its own fixed slice of the seed's ChaCha8 keystream (words `3k..3k+3`, reached by
//! seeking, as ChaCha's counter allows), so the state at `t` depends only on (seed, epoch,
//! services, t), never on how often or in which order it is sampled. A separate ChaCha8 stream
//! of the same seed draws the initial estate.
//!
//! # The story
//!
//! These events happen at fixed hours after the epoch whatever the seed, so every 30-day demo
//! has the same drift to find. Background noise (below) never touches the fields they change.
//! Services are named for an estate of at least five services; with fewer, the highest-numbered
//! service stands in, and the new consumer needs two services. `hour` counts from the epoch;
//! `day` is the whole days elapsed (hour 100 is day 4, 04:00 after the epoch's time of day).
//!
//! | hour | day | layer | event |
//! |-----:|----:|-------|-------|
//! | 30 | 1 | both | payments deploys a new minor version: `image_tag` and `image` change together (no drift) |
//! | 100 | 4 | live | hotfix outside IaC: `orders-worker` `timeout` doubled (drift starts) |
//! | 196 | 8 | declared | the `orders-worker` timeout is written back to IaC (drift resolved) |
//! | 300 | 12 | live | hotfix outside IaC: `payments-jobs` `visibility_timeout_seconds` doubled, never written back |
//! | 360 | 15 | both | flag `orders.new_checkout` flipped to ENABLED and never turned off |
//! | 410 | 17 | live | hotfix outside IaC: `billing-worker` `memory_size` doubled, never written back |
//! | 480 | 20 | live | new consumer: `reports-worker` starts consuming `orders-jobs` (mapping `reports-worker<-orders-jobs`, live only) |
//! | 540 | 22 | live | `search` deployment scaled out by 3 replicas (autoscaler-style, live only) |
//! | 600 | 25 | live | index `public.orders_customer_id_idx` dropped by hand (declared still has it) |
//!
//! So at `epoch + 30 days` the live layer has drift in `payments-jobs`, `billing-worker`,
//! `reports-worker<-orders-jobs` (live only), `apps/Deployment/prod/search` and
//! `public.orders_customer_id_idx` (declared only), and the `orders-worker` timeout agrees
//! again (background hotfixes may still have drifted other fields elsewhere).
//!
//! # Background events
//!
//! Around the story, each hour may bring at most one background event, with these chances per
//! hour: a deploy of a random service on both layers (8% per weekday office hour, 09:00-17:00
//! UTC); a live-only hotfix raising a lambda's memory or timeout or a queue's visibility timeout
//! (0.6%); the write-back of one earlier background hotfix to the declared layer (0.4%); a
//! live-only replica change (1%); a flag toggled on both layers (0.8%); a new live-only consumer
//! between two services (0.2%); an index dropped by hand on the live layer (0.1%); a database
//! password rotated on both layers (0.2%). Thirty days therefore bring a few dozen changes.

// Library code returns errors; `unwrap`/`expect` only in tests (see the workspace Cargo.toml).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Datelike, DurationRound, TimeDelta, Timelike, Utc, Weekday};
use groundtruth_engine::canonical;
use groundtruth_engine::model::{Layer, ObservedResource};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// Kind of the simulated SQS queues.
pub const QUEUE_KIND: &str = "aws_sqs_queue";
/// Kind of the simulated Lambda functions.
pub const FUNCTION_KIND: &str = "aws_lambda_function";
/// Kind of the simulated queue → function consumer relations.
pub const EVENT_SOURCE_MAPPING_KIND: &str = "aws_lambda_event_source_mapping";
/// Kind of the simulated database indexes.
pub const INDEX_KIND: &str = "postgres_index";
/// Kind of the simulated feature flags.
pub const FLAG_KIND: &str = "feature_flag";
/// Kind of the simulated Kubernetes deployments.
pub const DEPLOYMENT_KIND: &str = "k8s_deployment";

/// How much history the demo simulates.
pub const DEMO_DAYS: i64 = 30;

/// Story: payments deploys a new minor version on both layers.
pub const STORY_DEPLOY_HOUR: u64 = 30;
/// Story: the orders-worker timeout is doubled on the live layer only.
pub const STORY_TIMEOUT_HOTFIX_HOUR: u64 = 100;
/// Story: the orders-worker timeout hotfix is written back to the declared layer.
pub const STORY_TIMEOUT_WRITE_BACK_HOUR: u64 = 196;
/// Story: the payments-jobs visibility timeout is doubled on the live layer only, for good.
pub const STORY_VISIBILITY_HOTFIX_HOUR: u64 = 300;
/// Story: the orders.new_checkout flag is enabled on both layers and left on.
pub const STORY_FLAG_HOUR: u64 = 360;
/// Story: the billing-worker memory is doubled on the live layer only, for good.
pub const STORY_MEMORY_HOTFIX_HOUR: u64 = 410;
/// Story: reports-worker starts consuming orders-jobs on the live layer only.
pub const STORY_CONSUMER_HOUR: u64 = 480;
/// Story: the search deployment is scaled out on the live layer only.
pub const STORY_SCALE_HOUR: u64 = 540;
/// Story: the orders customer_id index is dropped by hand on the live layer only.
pub const STORY_INDEX_DROP_HOUR: u64 = 600;

/// AWS's documentation example account: obviously not a real one.
const ACCOUNT_ID: &str = "123456789012";
const REGION: &str = "us-east-1";
/// A reserved domain, so no image reference can point at a real registry.
const IMAGE_REGISTRY: &str = "registry.example.com";

/// The keystream the hours draw from, and the one the initial estate draws from.
const HOURS_STREAM: u64 = 0;
const INITIAL_STREAM: u64 = 1;

/// Keystream words each hour owns: one picks the hour's background event, the others
/// parameterise it. Three words an hour means one ChaCha8 refill (64 words) every 21 hours.
const WORDS_PER_HOUR: u64 = 3;

/// One hour's share of the keystream.
#[derive(Debug, Clone, Copy)]
struct HourDraws {
    /// Picks the background event, if any.
    event: u32,
    /// Picks the service it happens to.
    first: u32,
    /// Picks the detail: which field, flag, index, queue, ...
    second: u32,
}

/// `word` as a uniform number in [0, 1).
fn unit(word: u32) -> f64 {
    f64::from(word) / 4_294_967_296.0
}

/// `word` mapped onto `0..count` by multiply-and-shift. Its bias (below count / 2^32) is
/// irrelevant to a simulator, and unlike rejection sampling it uses exactly one word.
fn below(word: u32, count: usize) -> usize {
    // The product of a u32 and a usize count fits in u64 for any count a caller passes here
    // (services, fields, flags), and the shifted result is below `count`.
    ((u64::from(word) * count as u64) >> 32) as usize
}

/// The background noise: rare, mutually exclusive (at most one per hour) changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BackgroundEvent {
    /// A release of a random service on both layers.
    Deploy,
    /// A lambda memory or timeout, or a queue visibility timeout, raised on the live layer.
    Hotfix,
    /// An earlier background hotfix copied into the declared layer.
    WriteBack,
    /// Live replicas set to the declared count plus 0 to 3.
    Scale,
    /// A flag toggled on both layers.
    FlagToggle,
    /// A worker starts consuming another service's queue, live only.
    NewConsumer,
    /// An index dropped by hand, live only.
    IndexDrop,
    /// A database password rotated on both layers.
    PasswordRotation,
}

impl BackgroundEvent {
    /// Each event and its chance per hour, chosen so thirty days bring a few dozen changes.
    /// Deploys only happen in office hours, where their chance is per office hour.
    const RATES: [(Self, f64); 8] = [
        (Self::Deploy, 0.08),
        (Self::Hotfix, 0.006),
        (Self::WriteBack, 0.004),
        (Self::Scale, 0.01),
        (Self::FlagToggle, 0.008),
        (Self::NewConsumer, 0.002),
        (Self::IndexDrop, 0.001),
        (Self::PasswordRotation, 0.002),
    ];

    /// The event whose slice of [0, 1) holds `roll`, if any.
    fn chosen(roll: f64, office_hour: bool) -> Option<Self> {
        let mut threshold = 0.0;
        for (event, rate) in Self::RATES {
            if event == Self::Deploy && !office_hour {
                continue;
            }
            threshold += rate;
            if roll < threshold {
                return Some(event);
            }
        }
        None
    }
}

/// Deploys happen in office hours (UTC) on weekdays, as most teams ship.
const OFFICE_HOURS: std::ops::Range<u32> = 9..17;

/// AWS limits the raised values stay within.
const MAX_LAMBDA_MEMORY_MB: u32 = 10_240;
const MAX_LAMBDA_TIMEOUT_SECONDS: u32 = 900;
const MAX_VISIBILITY_TIMEOUT_SECONDS: u32 = 43_200;

/// Batch size of consumers added outside IaC (the AWS default for SQS).
const DEFAULT_BATCH_SIZE: u32 = 10;

/// Lambda runtimes and the handler each uses.
const RUNTIMES: [(&str, &str); 3] = [
    ("python3.12", "app.handler"),
    ("nodejs20.x", "index.handler"),
    ("java21", "com.example.Worker::handleRequest"),
];

/// The fixed part of a service: who owns it, what its table is indexed on, which flags it has.
struct ServiceProfile {
    name: &'static str,
    team: &'static str,
    /// (column, unique) of the service's two indexes; the table is named after the service.
    indexed_columns: [(&'static str, bool); 2],
    flags: &'static [&'static str],
}

/// Ordered so the services the story names come first, and a small estate still tells it.
const PROFILES: [ServiceProfile; 10] = [
    ServiceProfile {
        name: "orders",
        team: "commerce",
        indexed_columns: [("customer_id", false), ("created_at", false)],
        flags: &["new_checkout", "split_shipments"],
    },
    ServiceProfile {
        name: "reports",
        team: "analytics",
        indexed_columns: [("owner_id", false), ("generated_at", false)],
        flags: &["pdf_export"],
    },
    ServiceProfile {
        name: "payments",
        team: "payments",
        indexed_columns: [("order_id", true), ("status", false)],
        flags: &["three_ds_v2", "retry_declines"],
    },
    ServiceProfile {
        name: "billing",
        team: "payments",
        indexed_columns: [("account_id", false), ("period_start", false)],
        flags: &["usage_invoices"],
    },
    ServiceProfile {
        name: "search",
        team: "discovery",
        indexed_columns: [("document_id", true), ("updated_at", false)],
        flags: &["semantic_ranking", "typo_tolerance"],
    },
    ServiceProfile {
        name: "inventory",
        team: "fulfilment",
        indexed_columns: [("sku", true), ("warehouse_id", false)],
        flags: &["reservations_v2"],
    },
    ServiceProfile {
        name: "shipping",
        team: "fulfilment",
        indexed_columns: [("tracking_number", true), ("order_id", false)],
        flags: &["carrier_fallback", "label_batching"],
    },
    ServiceProfile {
        name: "notifications",
        team: "growth",
        indexed_columns: [("recipient_id", false), ("sent_at", false)],
        flags: &["digest_emails"],
    },
    ServiceProfile {
        name: "auth",
        team: "identity",
        indexed_columns: [("user_id", false), ("expires_at", false)],
        flags: &["passkeys", "session_rotation"],
    },
    ServiceProfile {
        name: "catalog",
        team: "discovery",
        indexed_columns: [("slug", true), ("category_id", false)],
        flags: &["rich_snippets"],
    },
];

/// Indexes into [`PROFILES`] of the services the story is about.
const ORDERS: usize = 0;
const REPORTS: usize = 1;
const PAYMENTS: usize = 2;
const BILLING: usize = 3;
const SEARCH: usize = 4;

/// `now` minus [`DEMO_DAYS`] days, truncated to the hour: the epoch of the demo's history, so
/// the story's hours fall on whole hours.
pub fn demo_epoch(now: DateTime<Utc>) -> DateTime<Utc> {
    let start = now
        .checked_sub_signed(TimeDelta::days(DEMO_DAYS))
        .unwrap_or(now);
    // Truncation only fails for instants at the very edge of chrono's range; keep those as is.
    start.duration_trunc(TimeDelta::hours(1)).unwrap_or(start)
}

/// The password a service's worker uses after `rotation` rotations. Synthetic and predictable
/// on purpose: it only exists to prove that secrets leave this source redacted.
fn database_password(seed: u64, service: &str, rotation: u32) -> String {
    format!("synthetic-{service}-db-password-{seed:016x}-r{rotation}")
}

/// A service's identity: everything about it that never changes.
#[derive(Debug, Clone)]
struct Service {
    name: String,
    team: &'static str,
    indexed_columns: [(&'static str, bool); 2],
    flags: &'static [&'static str],
}

impl Service {
    fn nth(index: usize) -> Self {
        let profile = &PROFILES[index % PROFILES.len()];
        let round = index / PROFILES.len();
        let name = if round == 0 {
            profile.name.to_string()
        } else {
            // No separator: the name also appears in Postgres identifiers (`orders2_sku_idx`).
            format!("{}{}", profile.name, round + 1)
        };
        Self {
            name,
            team: profile.team,
            indexed_columns: profile.indexed_columns,
            flags: profile.flags,
        }
    }

    fn queue_name(&self) -> String {
        format!("{}-jobs", self.name)
    }

    fn queue_arn(&self) -> String {
        format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{}-jobs", self.name)
    }

    fn function_name(&self) -> String {
        format!("{}-worker", self.name)
    }
}

/// A semantic version, as deploys bump it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    major: u32,
    minor: u32,
    patch: u32,
}

impl Version {
    fn bumped(self, minor: bool) -> Self {
        if minor {
            Self {
                minor: self.minor + 1,
                patch: 0,
                ..self
            }
        } else {
            Self {
                patch: self.patch + 1,
                ..self
            }
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Everything about one service on one layer that events can change.
#[derive(Debug, Clone, PartialEq)]
struct ServiceState {
    visibility_timeout_seconds: u32,
    message_retention_seconds: u32,
    max_receive_count: u32,
    /// Index into [`RUNTIMES`].
    runtime: usize,
    memory_size: u32,
    timeout: u32,
    version: Version,
    password_rotation: u32,
    batch_size: u32,
    /// Whether each of the service's two indexes exists.
    indexes_present: [bool; 2],
    /// Whether each of the service's flags is on.
    flags_enabled: Vec<bool>,
    replicas: u32,
    cpu_millicores: u32,
    memory_mebibytes: u32,
}

/// One layer of the estate.
#[derive(Debug, Clone, PartialEq)]
struct LayerState {
    /// Indexed like [`SimulatedEstate::services`].
    services: Vec<ServiceState>,
    /// Consumers beyond each service's own worker: (consuming service, queue's service).
    extra_consumers: BTreeSet<(usize, usize)>,
}

/// Both layers, plus the bookkeeping background write-backs need.
#[derive(Debug, Clone, PartialEq)]
struct EstateState {
    declared: LayerState,
    live: LayerState,
    /// Background hotfixes not yet written back to the declared layer.
    unreconciled_hotfixes: BTreeSet<(usize, HotfixField)>,
}

/// The settings on-call engineers raise by hand during incidents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum HotfixField {
    LambdaMemory,
    LambdaTimeout,
    QueueVisibility,
}

impl HotfixField {
    const ALL: [Self; 3] = [
        Self::LambdaMemory,
        Self::LambdaTimeout,
        Self::QueueVisibility,
    ];

    fn get(self, state: &ServiceState) -> u32 {
        match self {
            Self::LambdaMemory => state.memory_size,
            Self::LambdaTimeout => state.timeout,
            Self::QueueVisibility => state.visibility_timeout_seconds,
        }
    }

    fn set(self, state: &mut ServiceState, value: u32) {
        match self {
            Self::LambdaMemory => state.memory_size = value,
            Self::LambdaTimeout => state.timeout = value,
            Self::QueueVisibility => state.visibility_timeout_seconds = value,
        }
    }

    /// What an incident raises the value to: double it, within the AWS limit.
    fn raised(self, value: u32) -> u32 {
        let limit = match self {
            Self::LambdaMemory => MAX_LAMBDA_MEMORY_MB,
            Self::LambdaTimeout => MAX_LAMBDA_TIMEOUT_SECONDS,
            Self::QueueVisibility => MAX_VISIBILITY_TIMEOUT_SECONDS,
        };
        value.saturating_mul(2).min(limit)
    }
}

/// The services the story events touch, resolved for this estate's size.
#[derive(Debug, Clone, Copy)]
struct Story {
    deploy: usize,
    timeout_hotfix: usize,
    visibility_hotfix: usize,
    memory_hotfix: usize,
    /// Its first flag is the one left on.
    flag_left_on: usize,
    /// (consuming service, queue's service); needs two services.
    new_consumer: Option<(usize, usize)>,
    scaled: usize,
    /// Its first index is the one dropped.
    dropped_index: usize,
}

impl Story {
    fn for_services(count: usize) -> Self {
        // With fewer services than the story names, the last service stands in.
        let pick = |preferred: usize| preferred.min(count.saturating_sub(1));
        Self {
            deploy: pick(PAYMENTS),
            timeout_hotfix: pick(ORDERS),
            visibility_hotfix: pick(PAYMENTS),
            memory_hotfix: pick(BILLING),
            flag_left_on: pick(ORDERS),
            new_consumer: (count >= 2).then_some((REPORTS, ORDERS)),
            scaled: pick(SEARCH),
            dropped_index: pick(ORDERS),
        }
    }

    /// Whether a story event owns this field, so background noise must leave it alone.
    fn owns_hotfix(&self, service: usize, field: HotfixField) -> bool {
        (field == HotfixField::LambdaTimeout && service == self.timeout_hotfix)
            || (field == HotfixField::QueueVisibility && service == self.visibility_hotfix)
            || (field == HotfixField::LambdaMemory && service == self.memory_hotfix)
    }

    /// Apply this hour's story event, if any. Needs at least one service.
    fn apply(&self, state: &mut EstateState, hour: u64) {
        match hour {
            STORY_DEPLOY_HOUR => deploy(state, self.deploy, true),
            STORY_TIMEOUT_HOTFIX_HOUR => {
                hotfix_live(state, self.timeout_hotfix, HotfixField::LambdaTimeout)
            }
            STORY_TIMEOUT_WRITE_BACK_HOUR => {
                write_back(state, self.timeout_hotfix, HotfixField::LambdaTimeout)
            }
            STORY_VISIBILITY_HOTFIX_HOUR => {
                hotfix_live(state, self.visibility_hotfix, HotfixField::QueueVisibility)
            }
            STORY_FLAG_HOUR => {
                for layer in [&mut state.declared, &mut state.live] {
                    if let Some(flag) = layer.services[self.flag_left_on].flags_enabled.first_mut()
                    {
                        *flag = true;
                    }
                }
            }
            STORY_MEMORY_HOTFIX_HOUR => {
                hotfix_live(state, self.memory_hotfix, HotfixField::LambdaMemory)
            }
            STORY_CONSUMER_HOUR => {
                if let Some(pair) = self.new_consumer {
                    state.live.extra_consumers.insert(pair);
                }
            }
            STORY_SCALE_HOUR => {
                let declared = state.declared.services[self.scaled].replicas;
                state.live.services[self.scaled].replicas = declared + 3;
            }
            STORY_INDEX_DROP_HOUR => {
                state.live.services[self.dropped_index].indexes_present[0] = false;
            }
            _ => {}
        }
    }
}

/// A release: the same new version on both layers, as a pipeline that applies IaC would do.
fn deploy(state: &mut EstateState, service: usize, minor: bool) {
    let version = state.declared.services[service].version.bumped(minor);
    state.declared.services[service].version = version;
    state.live.services[service].version = version;
}

/// Raise a field on the live layer only, starting from the declared value so the result
/// always differs from it (the declared value is below the limit for every story field).
fn hotfix_live(state: &mut EstateState, service: usize, field: HotfixField) {
    let declared = field.get(&state.declared.services[service]);
    field.set(&mut state.live.services[service], field.raised(declared));
}

/// Copy a live value back into the declared layer: the drift is resolved.
fn write_back(state: &mut EstateState, service: usize, field: HotfixField) {
    let live = field.get(&state.live.services[service]);
    field.set(&mut state.declared.services[service], live);
}

/// The estate replayed up to some hour, kept to continue from on the next, later call.
#[derive(Debug)]
struct Replayed {
    hour: u64,
    state: EstateState,
}

/// A synthetic estate of `services` services whose declared and live state at any instant is
/// a pure function of (seed, epoch, services, instant). See the module documentation for the
/// resources and the story.
pub struct SimulatedEstate {
    seed: u64,
    epoch: DateTime<Utc>,
    services: Vec<Service>,
    story: Story,
    initial: EstateState,
    /// The last replay, so a sampler moving forward in time replays each hour once. Results do
    /// not depend on it: a call before the cached hour replays from the epoch.
    cache: Mutex<Option<Replayed>>,
}

impl fmt::Debug for SimulatedEstate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The state itself is large and derivable; the inputs identify the estate.
        f.debug_struct("SimulatedEstate")
            .field("seed", &self.seed)
            .field("epoch", &self.epoch)
            .field("services", &self.services.len())
            .finish_non_exhaustive()
    }
}

impl SimulatedEstate {
    /// An estate of `services` services, drawn from `seed`, whose history starts at `epoch`.
    pub fn new(seed: u64, epoch: DateTime<Utc>, services: usize) -> Self {
        let services: Vec<Service> = (0..services).map(Service::nth).collect();
        let story = Story::for_services(services.len());
        let mut estate = Self {
            seed,
            epoch,
            story,
            initial: EstateState {
                declared: LayerState {
                    services: Vec::new(),
                    extra_consumers: BTreeSet::new(),
                },
                live: LayerState {
                    services: Vec::new(),
                    extra_consumers: BTreeSet::new(),
                },
                unreconciled_hotfixes: BTreeSet::new(),
            },
            services,
            cache: Mutex::new(None),
        };
        let layer = estate.initial_layer();
        estate.initial.declared = layer.clone();
        estate.initial.live = layer;
        estate
    }

    /// The start of the simulated history.
    pub fn epoch(&self) -> DateTime<Utc> {
        self.epoch
    }

    /// The declared or live resources at instant `at`, sorted by (kind, id).
    pub fn snapshot_at(&self, at: DateTime<Utc>, layer: Layer) -> Vec<ObservedResource> {
        let target = self.hours_elapsed(at);
        // A poisoned lock only means another caller panicked mid-replay. The replay is taken
        // out of the cache while it runs, so whatever the cache holds is a finished state.
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let mut replayed = match cache.take() {
            Some(cached) if cached.hour <= target => cached,
            _ => Replayed {
                hour: 0,
                state: self.initial.clone(),
            },
        };
        self.advance(&mut replayed, target);
        let layer_state = match layer {
            Layer::Declared => &replayed.state.declared,
            Layer::Live => &replayed.state.live,
        };
        let resources = self.render(layer_state, layer);
        *cache = Some(replayed);
        resources
    }

    /// Whole hours from the epoch to `at`; zero at or before the epoch.
    fn hours_elapsed(&self, at: DateTime<Utc>) -> u64 {
        u64::try_from(at.signed_duration_since(self.epoch).num_hours()).unwrap_or(0)
    }

    fn initial_layer(&self) -> LayerState {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(INITIAL_STREAM);
        let services = self
            .services
            .iter()
            .enumerate()
            .map(|(index, service)| {
                let timeout = [15, 30, 60][rng.random_range(0..3)];
                let flags_enabled = (0..service.flags.len())
                    .map(|flag| {
                        // The story's flag starts off so that turning it on is news.
                        let is_story_flag = index == self.story.flag_left_on && flag == 0;
                        !is_story_flag && rng.random_bool(0.3)
                    })
                    .collect();
                ServiceState {
                    // AWS advises a visibility timeout of six times the consuming function's
                    // timeout, so retries do not overlap a still-running invocation.
                    visibility_timeout_seconds: timeout * 6,
                    message_retention_seconds: [345_600, 1_209_600][rng.random_range(0..2)],
                    max_receive_count: [3, 5][rng.random_range(0..2)],
                    runtime: rng.random_range(0..RUNTIMES.len()),
                    memory_size: [256, 512, 1024][rng.random_range(0..3)],
                    timeout,
                    version: Version {
                        major: 1,
                        minor: rng.random_range(0..10),
                        patch: rng.random_range(0..20),
                    },
                    password_rotation: 0,
                    batch_size: [5, 10][rng.random_range(0..2)],
                    indexes_present: [true, true],
                    flags_enabled,
                    replicas: rng.random_range(2..=4),
                    cpu_millicores: [250, 500, 1000][rng.random_range(0..3)],
                    memory_mebibytes: [256, 512, 1024][rng.random_range(0..3)],
                }
            })
            .collect();
        LayerState {
            services,
            extra_consumers: BTreeSet::new(),
        }
    }

    /// Whether `hour` after the epoch falls in weekday office hours.
    fn is_office_hour(&self, hour: u64) -> bool {
        let instant = i64::try_from(hour)
            .ok()
            .and_then(TimeDelta::try_hours)
            .and_then(|offset| self.epoch.checked_add_signed(offset));
        instant.is_some_and(|instant| {
            !matches!(instant.weekday(), Weekday::Sat | Weekday::Sun)
                && OFFICE_HOURS.contains(&instant.hour())
        })
    }

    /// Replay hours after `replayed.hour` up to `target`.
    fn advance(&self, replayed: &mut Replayed, target: u64) {
        if replayed.hour >= target {
            return;
        }
        let mut keystream = ChaCha8Rng::seed_from_u64(self.seed);
        keystream.set_stream(HOURS_STREAM);
        // Hour k owns the words [k, k + 1) × WORDS_PER_HOUR of the keystream: random access
        // by hour, so resuming from any hour reads exactly what a replay from the epoch would.
        keystream.set_word_pos(u128::from(replayed.hour + 1) * u128::from(WORDS_PER_HOUR));
        while replayed.hour < target {
            replayed.hour += 1;
            let draws = HourDraws {
                event: keystream.next_u32(),
                first: keystream.next_u32(),
                second: keystream.next_u32(),
            };
            self.apply_hour(&mut replayed.state, replayed.hour, draws);
        }
    }

    fn apply_hour(&self, state: &mut EstateState, hour: u64, draws: HourDraws) {
        let count = self.services.len();
        if count == 0 {
            return;
        }
        self.story.apply(state, hour);

        let story = &self.story;
        let Some(event) = BackgroundEvent::chosen(unit(draws.event), self.is_office_hour(hour))
        else {
            return;
        };
        let service = below(draws.first, count);
        match event {
            BackgroundEvent::Deploy => {
                // Mostly patch releases, now and then a minor one.
                deploy(state, service, unit(draws.second) < 0.2);
            }
            BackgroundEvent::Hotfix => {
                let field = HotfixField::ALL[below(draws.second, HotfixField::ALL.len())];
                let declared = field.get(&state.declared.services[service]);
                let live = field.get(&state.live.services[service]);
                // Leave story fields alone and do not stack a hotfix on an unresolved one.
                if !story.owns_hotfix(service, field)
                    && declared == live
                    && field.raised(declared) != declared
                {
                    hotfix_live(state, service, field);
                    state.unreconciled_hotfixes.insert((service, field));
                }
            }
            BackgroundEvent::WriteBack => {
                let pending = state.unreconciled_hotfixes.len();
                let chosen = state
                    .unreconciled_hotfixes
                    .iter()
                    .nth(below(draws.second, pending))
                    .copied();
                if let Some((service, field)) = chosen {
                    write_back(state, service, field);
                    state.unreconciled_hotfixes.remove(&(service, field));
                }
            }
            BackgroundEvent::Scale => {
                // Zero extra replicas is the autoscaler scaling back in to the declared count.
                // The top two bits: 0 to 3 extra replicas.
                let extra = draws.second >> 30;
                if service != story.scaled {
                    state.live.services[service].replicas =
                        state.declared.services[service].replicas + extra;
                }
            }
            BackgroundEvent::FlagToggle => {
                let flag = below(draws.second, self.services[service].flags.len());
                if !(service == story.flag_left_on && flag == 0) {
                    for layer in [&mut state.declared, &mut state.live] {
                        let enabled = &mut layer.services[service].flags_enabled[flag];
                        *enabled = !*enabled;
                    }
                }
            }
            BackgroundEvent::NewConsumer => {
                let queue = below(draws.second, count);
                if service != queue && story.new_consumer != Some((service, queue)) {
                    state.live.extra_consumers.insert((service, queue));
                }
            }
            BackgroundEvent::IndexDrop => {
                let index = below(draws.second, 2);
                if !(service == story.dropped_index && index == 0) {
                    state.live.services[service].indexes_present[index] = false;
                }
            }
            BackgroundEvent::PasswordRotation => {
                state.declared.services[service].password_rotation += 1;
                state.live.services[service].password_rotation += 1;
            }
        }
    }

    fn render(&self, state: &LayerState, layer: Layer) -> Vec<ObservedResource> {
        let mut resources = Vec::with_capacity(self.services.len() * 9);
        for (service, current) in self.services.iter().zip(&state.services) {
            resources.push(queue(service, current, layer));
            resources.push(self.function(service, current, layer));
            resources.push(consumer_mapping(
                service,
                service,
                current.batch_size,
                layer,
            ));
            for (present, &(column, unique)) in
                current.indexes_present.iter().zip(&service.indexed_columns)
            {
                if *present {
                    resources.push(index(service, column, unique, layer));
                }
            }
            for (enabled, flag) in current.flags_enabled.iter().zip(service.flags) {
                resources.push(feature_flag(service, flag, *enabled, layer));
            }
            resources.push(deployment(service, current, layer));
        }
        for &(consumer, queue) in &state.extra_consumers {
            resources.push(consumer_mapping(
                &self.services[consumer],
                &self.services[queue],
                DEFAULT_BATCH_SIZE,
                layer,
            ));
        }
        resources.sort_by(|left, right| (&left.kind, &left.id).cmp(&(&right.kind, &right.id)));
        resources
    }

    fn function(&self, service: &Service, state: &ServiceState, layer: Layer) -> ObservedResource {
        let (runtime, handler) = RUNTIMES[state.runtime % RUNTIMES.len()];
        let password = database_password(self.seed, &service.name, state.password_rotation);
        let attrs = json!({
            "runtime": runtime,
            "handler": handler,
            "memory_size": state.memory_size,
            "timeout": state.timeout,
            "image_tag": state.version.to_string(),
            "environment": {
                "variables": {
                    "LOG_LEVEL": "info",
                    "DB_PASSWORD": canonical::redacted(&Value::String(password)),
                },
            },
        });
        let id = format!(
            "arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{}",
            service.function_name()
        );
        labelled(
            ObservedResource::new(FUNCTION_KIND, id, layer, attrs)
                .with_name(service.function_name()),
            service,
        )
    }
}

/// Add the labels every simulated resource carries, including the synthetic marker.
fn labelled(resource: ObservedResource, service: &Service) -> ObservedResource {
    resource
        .with_label("team", service.team)
        .with_label("env", "prod")
        .with_label("synthetic", "true")
}

fn queue(service: &Service, state: &ServiceState, layer: Layer) -> ObservedResource {
    let attrs = json!({
        "visibility_timeout_seconds": state.visibility_timeout_seconds,
        "message_retention_seconds": state.message_retention_seconds,
        "redrive_policy": {
            "maxReceiveCount": state.max_receive_count,
            "deadLetterTargetArn": format!("{}-dlq", service.queue_arn()),
        },
    });
    labelled(
        ObservedResource::new(QUEUE_KIND, service.queue_arn(), layer, attrs)
            .with_name(service.queue_name()),
        service,
    )
}

/// `consumer`'s worker reading `queue`'s jobs queue.
fn consumer_mapping(
    consumer: &Service,
    queue: &Service,
    batch_size: u32,
    layer: Layer,
) -> ObservedResource {
    let id = format!("{}<-{}", consumer.function_name(), queue.queue_name());
    let attrs = json!({
        "function_name": consumer.function_name(),
        "event_source_arn": queue.queue_arn(),
        "batch_size": batch_size,
        "enabled": true,
    });
    labelled(
        ObservedResource::new(EVENT_SOURCE_MAPPING_KIND, id.clone(), layer, attrs).with_name(id),
        consumer,
    )
}

fn index(service: &Service, column: &str, unique: bool, layer: Layer) -> ObservedResource {
    let name = format!("{}_{column}_idx", service.name);
    let definition = format!(
        "CREATE {}INDEX {name} ON public.{} USING btree ({column})",
        if unique { "UNIQUE " } else { "" },
        service.name
    );
    let attrs = json!({
        "table": service.name,
        "columns": [column],
        "unique": unique,
        "definition": definition,
    });
    labelled(
        ObservedResource::new(INDEX_KIND, format!("public.{name}"), layer, attrs).with_name(name),
        service,
    )
}

fn feature_flag(service: &Service, flag: &str, enabled: bool, layer: Layer) -> ObservedResource {
    let id = format!("{}.{flag}", service.name);
    let attrs = json!({
        "state": if enabled { "ENABLED" } else { "DISABLED" },
        "defaultVariant": if enabled { "on" } else { "off" },
        "variants": { "on": true, "off": false },
    });
    labelled(
        ObservedResource::new(FLAG_KIND, id.clone(), layer, attrs).with_name(id),
        service,
    )
}

fn deployment(service: &Service, state: &ServiceState, layer: Layer) -> ObservedResource {
    let attrs = json!({
        "image": format!("{IMAGE_REGISTRY}/{}:{}", service.name, state.version),
        "replicas": state.replicas,
        "resources": {
            "cpu": format!("{}m", state.cpu_millicores),
            "memory": format!("{}Mi", state.memory_mebibytes),
        },
    });
    labelled(
        ObservedResource::new(
            DEPLOYMENT_KIND,
            format!("apps/Deployment/prod/{}", service.name),
            layer,
            attrs,
        )
        .with_name(service.name.clone()),
        service,
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::TimeZone;
    use groundtruth_engine::canonical::REDACTED_MARKER;

    use super::*;

    fn epoch() -> DateTime<Utc> {
        // A Monday at midnight, so office hours fall where a reader expects them.
        Utc.with_ymd_and_hms(2025, 3, 3, 0, 0, 0).unwrap()
    }

    fn hours(count: u64) -> TimeDelta {
        TimeDelta::hours(i64::try_from(count).unwrap())
    }

    fn keys(resources: &[ObservedResource]) -> Vec<(String, String)> {
        resources
            .iter()
            .map(|resource| (resource.kind.clone(), resource.id.clone()))
            .collect()
    }

    fn by_key(resources: &[ObservedResource]) -> BTreeMap<(String, String), &ObservedResource> {
        resources
            .iter()
            .map(|resource| ((resource.kind.clone(), resource.id.clone()), resource))
            .collect()
    }

    fn find<'a>(resources: &'a [ObservedResource], kind: &str, id: &str) -> &'a ObservedResource {
        resources
            .iter()
            .find(|resource| resource.kind == kind && resource.id == id)
            .unwrap_or_else(|| panic!("no {kind} {id}"))
    }

    fn serialized(resources: &[ObservedResource]) -> String {
        let values: Vec<Value> = resources
            .iter()
            .map(|resource| {
                json!([
                    resource.kind,
                    resource.id,
                    resource.name,
                    resource.attrs,
                    resource.labels
                ])
            })
            .collect();
        Value::Array(values).to_string()
    }

    /// Resources added, removed or modified between two snapshots of one layer.
    fn changes(before: &[ObservedResource], after: &[ObservedResource]) -> usize {
        let before = by_key(before);
        let after = by_key(after);
        let removed_or_modified = before
            .iter()
            .filter(|(key, resource)| after.get(*key) != Some(*resource))
            .count();
        let added = after
            .keys()
            .filter(|key| !before.contains_key(*key))
            .count();
        removed_or_modified + added
    }

    #[test]
    fn same_inputs_give_identical_snapshots() {
        let first = SimulatedEstate::new(7, epoch(), 10);
        let second = SimulatedEstate::new(7, epoch(), 10);
        for hour in [0, 1, 30, 100, 250, 480, 719, 720, 1000] {
            let at = epoch() + hours(hour);
            for layer in [Layer::Declared, Layer::Live] {
                assert_eq!(
                    first.snapshot_at(at, layer),
                    second.snapshot_at(at, layer),
                    "hour {hour} {layer}"
                );
            }
        }
        let other_seed = SimulatedEstate::new(8, epoch(), 10);
        let at = epoch() + TimeDelta::days(30);
        assert_ne!(
            first.snapshot_at(at, Layer::Live),
            other_seed.snapshot_at(at, Layer::Live)
        );
    }

    #[test]
    fn state_does_not_depend_on_sampling() {
        let end = epoch() + TimeDelta::days(30) + TimeDelta::minutes(17);
        let direct = SimulatedEstate::new(42, epoch(), 10);
        let expected_live = direct.snapshot_at(end, Layer::Live);
        let expected_declared = direct.snapshot_at(end, Layer::Declared);

        // Sampled every hour (and at odd minutes) on the way.
        let stepped = SimulatedEstate::new(42, epoch(), 10);
        for hour in 0..720 {
            let at = epoch() + hours(hour) + TimeDelta::minutes(29);
            stepped.snapshot_at(at, Layer::Live);
            stepped.snapshot_at(at, Layer::Declared);
        }
        assert_eq!(stepped.snapshot_at(end, Layer::Live), expected_live);
        assert_eq!(stepped.snapshot_at(end, Layer::Declared), expected_declared);

        // Sampled out of order: later first, then earlier, then the instant itself.
        let jumping = SimulatedEstate::new(42, epoch(), 10);
        jumping.snapshot_at(end + TimeDelta::days(5), Layer::Live);
        let midway = jumping.snapshot_at(epoch() + TimeDelta::days(12), Layer::Live);
        assert_eq!(
            midway,
            SimulatedEstate::new(42, epoch(), 10)
                .snapshot_at(epoch() + TimeDelta::days(12), Layer::Live)
        );
        assert_eq!(jumping.snapshot_at(end, Layer::Live), expected_live);
        assert_eq!(jumping.snapshot_at(end, Layer::Declared), expected_declared);

        // Within an hour nothing changes: events happen on the hour.
        let on_the_hour = direct.snapshot_at(epoch() + TimeDelta::days(30), Layer::Live);
        assert_eq!(on_the_hour, expected_live);
    }

    #[test]
    fn before_and_at_the_epoch_the_layers_agree() {
        let estate = SimulatedEstate::new(3, epoch(), 10);
        let initial = estate.snapshot_at(epoch(), Layer::Live);
        assert_eq!(
            estate.snapshot_at(epoch() - TimeDelta::days(400), Layer::Live),
            initial
        );
        let declared = estate.snapshot_at(epoch(), Layer::Declared);
        assert_eq!(keys(&declared), keys(&initial));
        for (declared, live) in declared.iter().zip(&initial) {
            assert_eq!(
                declared.attrs, live.attrs,
                "{} {}",
                declared.kind, declared.id
            );
            assert_eq!(declared.labels, live.labels);
            assert_eq!(declared.layer, Layer::Declared);
            assert_eq!(live.layer, Layer::Live);
        }
        // 10 services: queue, function, own mapping, 2 indexes, 1-2 flags, deployment each.
        let flags: usize = PROFILES.iter().map(|profile| profile.flags.len()).sum();
        assert_eq!(initial.len(), 10 * 6 + flags);
    }

    #[test]
    fn resources_are_sorted_unique_and_labelled_synthetic() {
        let estate = SimulatedEstate::new(11, epoch(), 23);
        for hour in [0, 300, 720] {
            for layer in [Layer::Declared, Layer::Live] {
                let resources = estate.snapshot_at(epoch() + hours(hour), layer);
                let found = keys(&resources);
                let mut sorted = found.clone();
                sorted.sort();
                sorted.dedup();
                assert_eq!(found, sorted, "sorted and unique at hour {hour}");
                for resource in &resources {
                    assert_eq!(resource.layer, layer);
                    assert_eq!(
                        resource.labels.get("synthetic").map(String::as_str),
                        Some("true")
                    );
                    assert_eq!(resource.labels.get("env").map(String::as_str), Some("prod"));
                }
            }
        }
        let resources = estate.snapshot_at(epoch(), Layer::Live);
        find(
            &resources,
            QUEUE_KIND,
            "arn:aws:sqs:us-east-1:123456789012:orders2-jobs",
        );
        find(&resources, INDEX_KIND, "public.reports3_owner_id_idx");
        find(&resources, DEPLOYMENT_KIND, "apps/Deployment/prod/catalog");
        find(
            &resources,
            EVENT_SOURCE_MAPPING_KIND,
            "orders-worker<-orders-jobs",
        );
        find(
            &resources,
            FUNCTION_KIND,
            "arn:aws:lambda:us-east-1:123456789012:function:payments-worker",
        );
        find(&resources, FLAG_KIND, "orders.new_checkout");
    }

    #[test]
    fn after_thirty_days_live_has_a_new_consumer_and_lacks_an_index() {
        for services in [2, 5, 8, 10] {
            for seed in 0..20 {
                let estate = SimulatedEstate::new(seed, epoch(), services);
                let at = epoch() + TimeDelta::days(30);
                let declared = estate.snapshot_at(at, Layer::Declared);
                let live = estate.snapshot_at(at, Layer::Live);
                let declared_keys: BTreeSet<_> = keys(&declared).into_iter().collect();
                let live_keys: BTreeSet<_> = keys(&live).into_iter().collect();

                let consumer = (
                    EVENT_SOURCE_MAPPING_KIND.to_string(),
                    "reports-worker<-orders-jobs".to_string(),
                );
                assert!(
                    live_keys.contains(&consumer),
                    "seed {seed}, {services} services"
                );
                assert!(
                    !declared_keys.contains(&consumer),
                    "seed {seed}, {services} services"
                );
                let mapping = find(
                    &live,
                    EVENT_SOURCE_MAPPING_KIND,
                    "reports-worker<-orders-jobs",
                );
                assert_eq!(mapping.attrs["function_name"], json!("reports-worker"));
                assert_eq!(
                    mapping.attrs["event_source_arn"],
                    json!("arn:aws:sqs:us-east-1:123456789012:orders-jobs")
                );

                let index = (
                    INDEX_KIND.to_string(),
                    "public.orders_customer_id_idx".to_string(),
                );
                assert!(
                    declared_keys.contains(&index),
                    "seed {seed}, {services} services"
                );
                assert!(
                    !live_keys.contains(&index),
                    "seed {seed}, {services} services"
                );

                // The flag left on is on in both layers.
                for layer in [&declared, &live] {
                    let flag = find(layer, FLAG_KIND, "orders.new_checkout");
                    assert_eq!(flag.attrs["state"], json!("ENABLED"));
                    assert_eq!(flag.attrs["defaultVariant"], json!("on"));
                }
                // The orders-worker timeout hotfix was written back: that drift is resolved.
                let function = "arn:aws:lambda:us-east-1:123456789012:function:orders-worker";
                assert_eq!(
                    find(&declared, FUNCTION_KIND, function).attrs["timeout"],
                    find(&live, FUNCTION_KIND, function).attrs["timeout"]
                );
            }
        }
    }

    #[test]
    fn story_events_happen_at_their_hours() {
        let estate = SimulatedEstate::new(5, epoch(), 8);
        let at = |hour: u64| epoch() + hours(hour);
        let attr = |hour: u64, layer: Layer, kind: &str, id: &str, path: &str| {
            let resources = estate.snapshot_at(at(hour), layer);
            find(&resources, kind, id)
                .attrs
                .pointer(path)
                .cloned()
                .unwrap_or(Value::Null)
        };

        let orders = "arn:aws:lambda:us-east-1:123456789012:function:orders-worker";
        let before = attr(
            STORY_TIMEOUT_HOTFIX_HOUR - 1,
            Layer::Live,
            FUNCTION_KIND,
            orders,
            "/timeout",
        );
        assert_eq!(
            before,
            attr(
                STORY_TIMEOUT_HOTFIX_HOUR - 1,
                Layer::Declared,
                FUNCTION_KIND,
                orders,
                "/timeout"
            )
        );
        let hotfixed = attr(
            STORY_TIMEOUT_HOTFIX_HOUR,
            Layer::Live,
            FUNCTION_KIND,
            orders,
            "/timeout",
        );
        assert_eq!(hotfixed, json!(before.as_u64().unwrap() * 2));
        assert_eq!(
            attr(
                STORY_TIMEOUT_HOTFIX_HOUR,
                Layer::Declared,
                FUNCTION_KIND,
                orders,
                "/timeout"
            ),
            before
        );
        assert_eq!(
            attr(
                STORY_TIMEOUT_WRITE_BACK_HOUR - 1,
                Layer::Declared,
                FUNCTION_KIND,
                orders,
                "/timeout"
            ),
            before
        );
        assert_eq!(
            attr(
                STORY_TIMEOUT_WRITE_BACK_HOUR,
                Layer::Declared,
                FUNCTION_KIND,
                orders,
                "/timeout"
            ),
            hotfixed
        );

        let payments_queue = "arn:aws:sqs:us-east-1:123456789012:payments-jobs";
        let path = "/visibility_timeout_seconds";
        let declared = attr(
            STORY_VISIBILITY_HOTFIX_HOUR,
            Layer::Declared,
            QUEUE_KIND,
            payments_queue,
            path,
        );
        assert_eq!(
            attr(
                STORY_VISIBILITY_HOTFIX_HOUR - 1,
                Layer::Live,
                QUEUE_KIND,
                payments_queue,
                path
            ),
            declared
        );
        assert_eq!(
            attr(
                STORY_VISIBILITY_HOTFIX_HOUR,
                Layer::Live,
                QUEUE_KIND,
                payments_queue,
                path
            ),
            json!(declared.as_u64().unwrap() * 2)
        );

        let billing = "arn:aws:lambda:us-east-1:123456789012:function:billing-worker";
        let declared = attr(
            STORY_MEMORY_HOTFIX_HOUR,
            Layer::Declared,
            FUNCTION_KIND,
            billing,
            "/memory_size",
        );
        assert_eq!(
            attr(720, Layer::Live, FUNCTION_KIND, billing, "/memory_size"),
            json!(declared.as_u64().unwrap() * 2)
        );

        let payments = "arn:aws:lambda:us-east-1:123456789012:function:payments-worker";
        let old_tag = attr(
            STORY_DEPLOY_HOUR - 1,
            Layer::Declared,
            FUNCTION_KIND,
            payments,
            "/image_tag",
        );
        for layer in [Layer::Declared, Layer::Live] {
            let tag = attr(
                STORY_DEPLOY_HOUR,
                layer,
                FUNCTION_KIND,
                payments,
                "/image_tag",
            );
            assert_ne!(tag, old_tag);
            let image = attr(
                STORY_DEPLOY_HOUR,
                layer,
                DEPLOYMENT_KIND,
                "apps/Deployment/prod/payments",
                "/image",
            );
            assert_eq!(
                image,
                json!(format!(
                    "registry.example.com/payments:{}",
                    tag.as_str().unwrap()
                ))
            );
        }

        let search = "apps/Deployment/prod/search";
        let declared = attr(
            STORY_SCALE_HOUR,
            Layer::Declared,
            DEPLOYMENT_KIND,
            search,
            "/replicas",
        );
        assert_eq!(
            attr(
                STORY_SCALE_HOUR,
                Layer::Live,
                DEPLOYMENT_KIND,
                search,
                "/replicas"
            ),
            json!(declared.as_u64().unwrap() + 3)
        );

        let has = |hour: u64, layer: Layer, kind: &str, id: &str| {
            estate
                .snapshot_at(at(hour), layer)
                .iter()
                .any(|resource| resource.kind == kind && resource.id == id)
        };
        let mapping = "reports-worker<-orders-jobs";
        assert!(!has(
            STORY_CONSUMER_HOUR - 1,
            Layer::Live,
            EVENT_SOURCE_MAPPING_KIND,
            mapping
        ));
        assert!(has(
            STORY_CONSUMER_HOUR,
            Layer::Live,
            EVENT_SOURCE_MAPPING_KIND,
            mapping
        ));
        let index = "public.orders_customer_id_idx";
        assert!(has(
            STORY_INDEX_DROP_HOUR - 1,
            Layer::Live,
            INDEX_KIND,
            index
        ));
        assert!(!has(STORY_INDEX_DROP_HOUR, Layer::Live, INDEX_KIND, index));
        assert!(has(
            STORY_INDEX_DROP_HOUR,
            Layer::Declared,
            INDEX_KIND,
            index
        ));
        let flag = |hour: u64| {
            attr(
                hour,
                Layer::Declared,
                FLAG_KIND,
                "orders.new_checkout",
                "/state",
            )
        };
        assert_eq!(flag(STORY_FLAG_HOUR - 1), json!("DISABLED"));
        assert_eq!(flag(STORY_FLAG_HOUR), json!("ENABLED"));
        assert_eq!(flag(24 * 365), json!("ENABLED"));
    }

    #[test]
    fn thirty_days_bring_a_few_dozen_changes() {
        for seed in 0..4 {
            let estate = SimulatedEstate::new(seed, epoch(), 10);
            let mut total = 0;
            for layer in [Layer::Declared, Layer::Live] {
                let mut previous = estate.snapshot_at(epoch(), layer);
                for hour in 1..=720 {
                    let current = estate.snapshot_at(epoch() + hours(hour), layer);
                    total += changes(&previous, &current);
                    previous = current;
                }
            }
            println!("seed {seed}: {total} resource changes in 30 days");
            assert!(
                (40..=200).contains(&total),
                "seed {seed}: {total} resource changes"
            );
        }
    }

    /// The internal state after replaying up to `hour`.
    fn state_at(estate: &SimulatedEstate, hour: u64) -> EstateState {
        let mut replayed = Replayed {
            hour: 0,
            state: estate.initial.clone(),
        };
        estate.advance(&mut replayed, hour);
        replayed.state
    }

    #[test]
    fn no_plaintext_secret_in_any_snapshot() {
        let services = 12;
        let mut rotations_seen = 0;
        for seed in [0, 1, 99] {
            let estate = SimulatedEstate::new(seed, epoch(), services);
            for hour in (0..=24 * 60).step_by(31) {
                let state = state_at(&estate, hour);
                for (layer, layer_state) in [
                    (Layer::Declared, &state.declared),
                    (Layer::Live, &state.live),
                ] {
                    let resources = estate.snapshot_at(epoch() + hours(hour), layer);
                    let text = serialized(&resources);
                    // Every password this estate has used so far, on this layer.
                    for (service, current) in estate.services.iter().zip(&layer_state.services) {
                        rotations_seen += current.password_rotation;
                        for rotation in 0..=current.password_rotation {
                            let password = database_password(seed, &service.name, rotation);
                            assert!(!text.contains(&password), "{password} leaked");
                        }
                        let function = format!(
                            "arn:aws:lambda:us-east-1:123456789012:function:{}",
                            service.function_name()
                        );
                        let stored = &find(&resources, FUNCTION_KIND, &function).attrs
                            ["environment"]["variables"]["DB_PASSWORD"];
                        assert_eq!(stored[REDACTED_MARKER], json!(true));
                        let password =
                            database_password(seed, &service.name, current.password_rotation);
                        assert_eq!(stored, &canonical::redacted(&json!(password)));
                    }
                    assert!(!text.contains("-db-password-"), "leak at hour {hour}");
                }
            }
        }
        assert!(
            rotations_seen > 0,
            "no rotation exercised the redaction of a new password"
        );
    }

    #[test]
    fn password_rotation_changes_the_redacted_value() {
        let one = canonical::redacted(&json!(database_password(1, "orders", 0)));
        let two = canonical::redacted(&json!(database_password(1, "orders", 1)));
        assert_ne!(one, two);
    }

    #[test]
    fn small_estates_still_work() {
        let empty = SimulatedEstate::new(1, epoch(), 0);
        assert!(empty
            .snapshot_at(epoch() + TimeDelta::days(30), Layer::Live)
            .is_empty());

        let single = SimulatedEstate::new(1, epoch(), 1);
        let at = epoch() + TimeDelta::days(30);
        let live = single.snapshot_at(at, Layer::Live);
        let declared = single.snapshot_at(at, Layer::Declared);
        // One service cannot gain a consumer from another, but the dropped index still shows.
        assert!(live
            .iter()
            .all(|resource| resource.id != "reports-worker<-orders-jobs"));
        assert!(declared
            .iter()
            .any(|resource| resource.id == "public.orders_customer_id_idx"));
        assert!(live
            .iter()
            .all(|resource| resource.id != "public.orders_customer_id_idx"));
    }

    #[test]
    fn replaying_thirty_days_is_fast() {
        // Not a timing assertion: prints the cost of an uncached 30-day replay, for `--nocapture`.
        let at = epoch() + TimeDelta::days(30);
        let started = std::time::Instant::now();
        let rounds = 20;
        for seed in 0..rounds {
            let estate = SimulatedEstate::new(seed, epoch(), 10);
            assert!(!estate.snapshot_at(at, Layer::Live).is_empty());
        }
        println!(
            "30-day replay of 10 services: {:?} per call",
            started.elapsed() / rounds as u32
        );
    }

    #[test]
    fn demo_epoch_is_thirty_days_back_on_the_hour() {
        let now = Utc.with_ymd_and_hms(2025, 4, 2, 13, 47, 12).unwrap();
        assert_eq!(
            demo_epoch(now),
            Utc.with_ymd_and_hms(2025, 3, 3, 13, 0, 0).unwrap()
        );
    }
}
