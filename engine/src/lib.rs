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
//!   version's `valid_to` is the `valid_from` of the next row for the same identity; it is
//!   derived at query time, never rewritten. Scrape start times strictly increase per source,
//!   so versions of one identity are totally ordered.
//! * Current-state answers carry `observed_at`, the last successful scrape of the source, and
//!   `sources.stale` says whether that is older than twice the schedule interval.
//! * Secrets never reach the store: sources replace them with [`canonical::redacted`], a
//!   marker holding a domain-separated SHA-256, so rotation still shows as a change.
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
//! ```
//!
//! Both are Delta Lake tables (protocol via the `deltalake` crate), readable by Spark, Trino,
//! DuckDB and Polars. Columns of `versions`: source, kind, id, layer, name, attrs, attrs_hash,
//! labels, change, diff, scrape_id, valid_from, change_window_start, provenance (see
//! `store/rows.rs`).
//!
//! # Commit protocol
//!
//! One process writes a store (the `serve` or `ingest` process); any number read it.
//!
//! 1. Scrape, then diff against the in-memory index of latest versions.
//! 2. Append the scrape's version rows to `versions` as one Delta commit: Parquet files are
//!    written under fresh names first, then the commit file `_delta_log/N.json` is created
//!    with put-if-absent. Readers only see files named by a committed log entry, so a reader in
//!    any process never sees a half-written file, and a crash before the log entry leaves only
//!    unreferenced files.
//! 3. Append the scrape record to `scrapes` as one Delta commit.
//! 4. Update the in-memory index, then tell query sessions to refresh their snapshots.
//!
//! A kill between 2 and 3 leaves versions without a scrape record; [`store::Store::recover`]
//! (called by the writer when it starts) finds such scrape ids and writes their records (marked as recovered), so a restart needs no
//! manual repair and no version is lost or doubled. Compaction ([`store::Store::compact`]) is
//! Delta's optimize: one commit removes the small files and adds the rewritten ones (Z-ordered
//! on id and valid_from so Parquet statistics prune per-resource and time-window reads), so a
//! snapshot shows every version exactly once before and after. Old files stay on disk for
//! readers of older snapshots until a vacuum.
//!
//! # SQL surface
//!
//! [`session::Engine`] exposes `resources`, `resource_versions`, `resources_at(T)`,
//! `changes(FROM, TO)`, `scrapes` and `sources` (definitions in `session/definitions.rs`),
//! `identity_links`, `drift` and `drift_at(T)` (one SQL text over "now" or "as of T" inputs in
//! `session/drift_definitions.rs`, comparing attributes with [`drift::compare`] through the
//! `attribute_drift` function), `drift_history` and `attribute_drift_history` (intervals per
//! resource and per attribute path), `relations`, `relations_at(T)` and
//! `relation_changes(FROM, TO)` (derived from versions with the rules of [`relations`], in
//! `session/relation_definitions.rs`), the
//! raw tables as `storage.versions` and `storage.scrapes`, and JSON operators from
//! datafusion-functions-json. [`sql`] rewrites `resources FOR SYSTEM_TIME AS OF T` into
//! `resources_at(T)`, expands `named_query('name', param => value)` into the SQL of a query
//! library handed in through [`sql::NamedQueries`] (the library, `queries`, is not a
//! dependency: the server installs it, with its `query_catalog` table), and refuses anything
//! but reads (after expansion, so a named query cannot smuggle in a write).

pub mod canonical;
pub mod clock;
pub mod drift;
pub mod error;
pub mod model;
pub mod relations;
pub mod session;
pub mod sql;
pub mod state;
pub mod store;
