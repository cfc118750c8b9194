//! Groundtruth's engine: the time model, the store and the SQL surface.
//!
//! This crate owns what a resource version is, how versions are stored, and how they are
//! queried. It depends on no other workspace crate; sources (`groundtruth-ingest`) and the
//! Postgres-wire server (`groundtruth-server`) build on it.
//!
//! # Time model
//!
//! * A **scrape** is one run of one source. Every scrape is recorded, whatever happens, in the
//!   `scrapes` table: source, scrape id, started_at, finished_at, status (`ok`, `partial`,
//!   `failed`), resources seen, versions written, error text, warnings, schedule interval.
//! * A **resource** is identified by (source, kind, id) and has a layer (`declared` or
//!   `live`), a name, attrs (JSON in canonical form: keys sorted at every depth), a fingerprint
//!   (`attrs_hash`, SHA-256 of attrs, name, layer and labels) and labels.
//! * **Only changes are stored** ([`state::SourceState::plan`]). A resource whose fingerprint
//!   equals its latest version writes nothing. A new or changed resource writes a version
//!   (`change` = `added` or `modified`, with a `diff` of `{path, old, new}`). A resource absent
//!   from an `ok` scrape gets a deletion marker (`change` = `removed`). A `failed` scrape writes
//!   no versions at all. A `partial` scrape declares the scopes it covered
//!   ([`model::Coverage`]) and only resources inside them can be marked removed.
//! * **Two clocks.** Every row carries `valid_from` (the start of the scrape that saw the
//!   change) and `change_window_start` (the start of the previous successful scrape of the
//!   source), so the change is known to lie in (`change_window_start`, `valid_from`]. A
//!   version's `valid_to` is the `valid_from` of the next row for the same identity; stored
//!   files are immutable, so it is never written into them: `resource_versions` derives it
//!   for the rows a query selects, and the state at an instant needs no `valid_to` at all
//!   (see "State checkpoints"). Scrape start times strictly increase per source, so versions
//!   of one identity are totally ordered.
//! * Current-state answers carry `observed_at`, the last successful scrape of the source, and
//!   `sources.stale` says whether that is older than twice the schedule interval.
//! * Secrets never reach the store: sources replace them with [`canonical::redacted`], and
//!   the writer (the ingest runner) seals each into a marker keyed with an HMAC whose key lives
//!   outside the store, so rotation still shows as a change and weak secrets cannot be
//!   brute-forced from the files.
//!
//! # Storage layout
//!
//! A store is a URL ([`store::StoreUrl`]): `file:///path/` or `s3://bucket/prefix/`. Under it:
//!
//! ```text
//! <store>/versions/_delta_log/NNNNNNNNNNNNNNNNNNNN.json   Delta Lake log of the versions table
//! <store>/versions/part-*.parquet                         version rows and deletion markers
//! <store>/scrapes/_delta_log/...                          Delta Lake log of the scrapes table
//! <store>/scrapes/part-*.parquet                          scrape records
//! <store>/checkpoints/_delta_log/...                      Delta Lake log of the checkpoints table
//! <store>/checkpoints/source=S/checkpoint_at_us=C/*.parquet   the state of source S at instant C
//! ```
//!
//! All three are Delta Lake tables (protocol via the `deltalake` crate), readable by Spark,
//! Trino, DuckDB and Polars. Columns of `versions`: source, kind, id, layer, name, attrs,
//! attrs_hash, labels, change, diff, scrape_id, valid_from, change_window_start, provenance.
//! Columns of `checkpoints`: source and checkpoint_at_us (the partition columns: the
//! instant in µs since the epoch), kind, id, layer, name, attrs, attrs_hash, labels,
//! provenance, scrape_id, first_seen, last_changed (see `store/rows.rs`).
//!
//! **Layout for time.** `versions` is append-only and every commit holds one scrape (or a
//! batch of consecutive scrapes), so each file covers a narrow range of `valid_from`;
//! compaction bins files in commit order (Delta's optimize "compact", row groups of 64k rows),
//! so file and row-group statistics on `valid_from` keep pruning time windows after it. A
//! checkpoint is one partition, found from the Delta log's partition values without opening
//! a file, and written in row groups of 16k rows so one checkpoint is decoded by every core.
//!
//! # State checkpoints and the current state
//!
//! The state of source S at instant T is the newest checkpoint of S at or before T, overlaid
//! with the versions of S with `valid_from` in (checkpoint, T] applied in time order: a
//! `removed` version deletes the resource, an `added` one starts a new existence (its
//! `first_seen`), any other change keeps `first_seen`; `last_changed` is the `valid_from`
//! of the version that holds ([`timeline::merge::merge`]). A source with no checkpoint at or
//! before T is read from its first scrape. So `resources_at(T)` reads one checkpoint and the
//! versions after it, never all of history, and reads `attrs` only from those rows (and not
//! at all when the query does not ask for it).
//!
//! **Cadence** ([`store::CheckpointPolicy`]): after a commit, a source whose versions since
//! its newest checkpoint number at least `max(1000, resources alive)` gets a checkpoint. The
//! tail read with a checkpoint is then at most about the state's size, and checkpoints cost
//! about as much storage as the versions (at 100k resources and 0.5 % churn per 5-minute
//! scrape, one checkpoint every ~17 hours, ~0.5 % of a year of full snapshots each).
//!
//! The **current state** is kept in memory by each engine ([`timeline::live::LiveState`]):
//! loaded once per source from its newest checkpoint and the versions after it, and advanced
//! at every refresh (after every commit of the writer, or when a reader refreshes) with only
//! the versions committed since. `resources`, `drift` and `identity_links` read it. The
//! identity links of the current state are derived at the same refresh, from the state about
//! to be published, and held beside it (`internals.current_links`), so `drift` joins them
//! instead of re-deriving them at each reference; the new state and its links are installed
//! together after both are computed (a failed derivation leaves the previous pair in place).
//! A drift-at-T query computes the state at T once and every reference in the query reads
//! that.
//! The time index (per source: every scrape's start and outcome, every checkpoint's instant)
//! and the kinds each source has reported are small and kept in memory too.
//!
//! # Commit protocol
//!
//! Each source has exactly one writer (the `serve` or `ingest` process; with `[[workers]]`,
//! the worker that owns the source), and any number of processes read. Several writers may
//! share a store, each owning a disjoint set of sources: every Delta commit file is created
//! with put-if-absent (a rename that refuses to replace on a local disk; a conditional put,
//! `If-None-Match: *`, on S3, never the unsafe copy-and-delete rename), so two writers racing
//! for log version N cannot both win: the loser re-reads the log, checks that the winner's
//! commit does not conflict with its own (appends of different scrapes never do) and retries
//! at N+1. Nothing committed is lost or doubled, and the step numbers below hold per source.
//!
//! 1. Scrape, then diff against the in-memory index of latest versions.
//! 2. Append the scrape's version rows to `versions` as one Delta commit: Parquet files are
//!    written under fresh names first, then the commit file `_delta_log/N.json` is created
//!    with put-if-absent. Readers only see files named by a committed log entry, so a reader in
//!    any process never sees a half-written file, and a crash before the log entry leaves only
//!    unreferenced files.
//! 3. Append the scrape record to `scrapes` as one Delta commit.
//! 4. Update the in-memory index, then tell query sessions to refresh their snapshots (each
//!    advances its current state with the versions after the last it applied).
//! 5. If the source is due ([`store::Store::maybe_checkpoint`]), compute its state at the start
//!    of its latest recorded scrape C from committed rows only (its checkpoint before C and the
//!    versions in between) and append it to `checkpoints` as one Delta commit, partition
//!    (S, C).
//!
//! A kill between 2 and 3 leaves versions without a scrape record; [`store::Store::recover`]
//! (called by the writer when it starts) finds such scrape ids and writes their records
//! (marked as recovered), so a restart needs no manual repair and no version is lost or
//! doubled. With several writers, each recovers only its own sources
//! ([`store::Store::recover_sources`]): another writer's scrape may be between steps 2 and 3
//! at that moment, and recording it would record it twice. Checkpoints are per source, so
//! only a source's writer writes them. Compaction removes and adds files in one commit; an
//! append racing it does not conflict (the appended files are not among those it removes),
//! but two compactions would, so only one writer compacts and vacuums (the sole writer, or
//! the first `[[workers]]` entry). A kill during 5 leaves at most unreferenced checkpoint files: readers never see
//! them, the previous checkpoint still holds, and the next commit finds the source still due
//! and writes the checkpoint again. A checkpoint is never the only copy of anything: it is
//! derived from `versions`, so a store without checkpoints (or with its checkpoints deleted)
//! reads the same, only slower. Compaction ([`store::Store::compact`]) is Delta's optimize:
//! one commit removes the small files and adds the rewritten ones, so a snapshot shows every
//! version exactly once before and after. Old files stay on disk for readers of older
//! snapshots until a vacuum.
//!
//! **Failed calls.** Delta reads and writes through [`store::RetryingStore`]: a read (get,
//! head, list) that fails transiently is retried, bounded in calls and time
//! ([`store::ReadRetryPolicy`]); a write is issued once: a commit whose answer was lost may
//! have landed, and a second put could land it twice. The scrape fails instead, and before the
//! next one the writer finishes what did land ([`store::Store::recover`]) and reloads its index.
//!
//! # SQL surface
//!
//! [`session::Engine`] exposes `resources` (the in-memory current state), `resource_versions`,
//! `resources_at(T)` (a checkpoint and the versions after it, [`session::StateAtTable`]),
//! `changes(FROM, TO)`, `scrapes` and `sources` (definitions in `session/definitions.rs`),
//! `identity_links`, `drift` and `drift_at(T)` (one SQL text over "now" or "as of T" inputs in
//! `session/drift_definitions.rs`, comparing attributes with [`drift::compare`] through the
//! `attribute_drift` function), `drift_history` and `attribute_drift_history` (intervals per
//! resource and per attribute path), `relations`, `relations_at(T)` and
//! `relation_changes(FROM, TO)` (derived from versions with the rules of [`relations`], in
//! `session/relation_definitions.rs`), the
//! raw tables as `storage.versions` and `storage.scrapes` (and what the engine derives, in
//! `internals`: `internals.checkpoints` and `internals.kinds_seen`), and JSON operators from
//! datafusion-functions-json. [`sql`] rewrites `resources FOR SYSTEM_TIME AS OF T` into
//! `resources_at(T)`, expands `named_query('name', param => value)` into the SQL of a query
//! library handed in through [`sql::NamedQueries`] (the library, `queries`, is not a
//! dependency: the server installs it, with its `query_catalog` table), and refuses anything
//! but reads (after expansion, so a named query cannot smuggle in a write).
//!
//! **Other processes running the same surface** (the Ballista scheduler and executors of
//! `groundtruth-cluster`) open their own engine over the same store and rebuild a table from
//! what it is: a catalog name, or the state at T ([`session::Engine::state_at`], with
//! [`session::StateAtTable::instant`] saying which). Nothing here is serialised as data: every
//! table is a function of the store's Delta log versions ([`store::Store::log_versions`]), so
//! a process at the same versions rebuilds the same rows, and one behind refreshes first.

// Library code returns errors (`unwrap`/`expect` only in tests) and documents what it exports
// (see the workspace Cargo.toml).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, missing_docs)
)]

pub mod canonical;
pub mod clock;
pub mod drift;
pub mod error;
pub mod json_type;
pub mod kinds;
pub mod model;
pub mod relations;
pub mod session;
pub mod sql;
pub mod sqlstate;
pub mod state;
pub mod store;
pub mod timeline;
