//! The SQL surface: each published table's definition and description.

/// A published table: name, description, SQL.
pub struct Definition {
    /// Table name in the `public` schema.
    pub name: &'static str,
    /// What it holds, for the catalog.
    pub description: &'static str,
    /// The query.
    pub sql: String,
}

/// The published tables, in dependency order.
pub fn tables() -> Vec<Definition> {
    vec![
        Definition {
            name: "scrapes",
            description: "One row per scrape (one run of one source), whatever its outcome: ok, partial or failed, with counts and error text.",
            sql: "SELECT scrape_id, source, source_type, started_at, finished_at, status, resources_seen, versions_written, \
                  error, CAST(warnings AS JSON) AS warnings, interval_seconds FROM storage.scrapes"
                .into(),
        },
        Definition {
            name: "sources",
            description: "Per source: last scrape and its status, last success, last failure and its error, and whether the data is stale (no success within twice the schedule interval, or one hour when unknown).",
            sql: "WITH ranked AS (
                    SELECT *, row_number() OVER (PARTITION BY source ORDER BY started_at DESC) AS recency FROM storage.scrapes),
                  failures AS (
                    SELECT source, error AS last_error, row_number() OVER (PARTITION BY source ORDER BY started_at DESC) AS recency
                    FROM storage.scrapes WHERE status = 'failed'),
                  summary AS (
                    SELECT source, max(started_at) AS last_scrape_at,
                           max(CASE WHEN status IN ('ok', 'partial') THEN started_at END) AS last_success_at,
                           max(CASE WHEN status = 'failed' THEN started_at END) AS last_failure_at,
                           count(*) AS scrapes,
                           sum(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failures
                    FROM storage.scrapes GROUP BY source)
                  SELECT s.source, r.source_type, r.status AS last_status, s.last_scrape_at, s.last_success_at, s.last_failure_at,
                         f.last_error, s.scrapes, s.failures, r.interval_seconds,
                         date_part('epoch', now()) - date_part('epoch', s.last_success_at) AS staleness_seconds,
                         s.last_success_at IS NULL
                           OR date_part('epoch', now()) - date_part('epoch', s.last_success_at) > 2 * coalesce(r.interval_seconds, 1800) AS stale
                  FROM summary s
                  JOIN ranked r ON r.source = s.source AND r.recency = 1
                  LEFT JOIN failures f ON f.source = s.source AND f.recency = 1"
                .into(),
        },
        Definition {
            name: "store_snapshot",
            description: "What this server's answers are read from: per stored table, the Delta log version it has loaded and when it loaded it (age_seconds ago). A writer reloads after each of its commits; a replica (serve --no-ingest) every [server] refresh_every, so its age says how far behind the writers it may be.",
            sql: "SELECT table_name, log_version, loaded_at,
                         date_part('epoch', now()) - date_part('epoch', loaded_at) AS age_seconds
                  FROM internals.snapshot"
                .into(),
        },
        Definition {
            name: "freshness",
            description: "How far each source's data can be trusted, one envelope per source: the instant of the answer (as_of), its last success, staleness and last error, and a warning line when it is stale or its last scrape failed. The MCP server attaches the same envelope to every answer; over the wire, a NOTICE carries the warnings of the sources a query reads (SET groundtruth.freshness_notices = off silences it).",
            sql: "SELECT now() AS as_of, source, last_status, last_success_at, staleness_seconds, stale, last_error,
                         CASE
                           WHEN last_status = 'failed' THEN concat('source ''', source, ''' failed its last scrape (',
                             coalesce(last_error, 'no error text'), '); ',
                             CASE WHEN last_success_at IS NULL THEN 'never succeeded'
                                  ELSE concat('last success ', CAST(last_success_at AS VARCHAR)) END)
                           WHEN stale THEN concat('source ''', source, ''' is stale (',
                             CASE WHEN last_success_at IS NULL THEN 'never succeeded'
                                  ELSE concat('last success ', CAST(last_success_at AS VARCHAR), ', ',
                                              CAST(CAST(staleness_seconds AS BIGINT) AS VARCHAR), ' s ago') END, ')')
                         END AS warning
                  FROM sources"
                .into(),
        },
        Definition {
            name: "resource_versions",
            description: "Every version of every resource. A version holds from valid_from until valid_to (NULL while current); the change happened after change_window_start (the previous successful scrape) and at or before valid_from.",
            sql: "SELECT source, kind, id, layer, name, CAST(attrs AS JSON) AS attrs, attrs_hash,
                         CAST(labels AS JSON) AS labels, change, CAST(diff AS JSON) AS diff, scrape_id,
                         valid_from, valid_to, change_window_start, provenance
                  FROM (SELECT *, lead(valid_from) OVER (PARTITION BY source, kind, id ORDER BY valid_from) AS valid_to
                        FROM storage.versions)
                  WHERE change <> 'removed'"
                .into(),
        },
    ]
}

/// `changes($1, $2)`: events with valid_from in ($1, $2].
pub fn changes() -> String {
    "SELECT source, kind, id, layer, name, change, valid_from AS changed_at, change_window_start AS changed_after,
            changed_paths(diff) AS changed_paths, CAST(diff AS JSON) AS diff, CAST(attrs AS JSON) AS attrs,
            scrape_id, provenance
     FROM storage.versions
     WHERE valid_from > $1 AND valid_from <= $2"
        .into()
}

/// What `resources` holds.
pub const RESOURCES_DESCRIPTION: &str = "Current state: the latest version of every resource not deleted, with first_seen (start of its current existence), last_changed, observed_at (the last successful scrape of its source) and provenance (for declared files in git: the commit, author and time of the last change).";

/// Descriptions of the table functions.
pub const RESOURCES_AT_DESCRIPTION: &str =
    "resources_at(T): the state as of instant T, with the columns of resources. Same as SELECT ... FROM resources FOR SYSTEM_TIME AS OF T.";
/// Description of `changes`.
pub const CHANGES_DESCRIPTION: &str =
    "changes(FROM, TO): added, modified and removed events with valid_from in (FROM, TO], with the changed attribute paths and old/new values (diff). Unordered: add ORDER BY changed_at.";
