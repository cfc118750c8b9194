//! The SQL of `identity_links`, `drift` and `drift_at(T)`, written once over three inputs so
//! that "now" and "as of T" cannot disagree: the resources (current, or as of T), the health
//! of each source (its latest scrape's status, last success and staleness, now or as of T),
//! and the live kinds each live source has ever reported (up to T). Configured link rules
//! ([`LinkRule`], `[[drift.link]]`) are compiled into the same SQL.

use crate::drift::settings::sql_literal;
use crate::drift::LinkRule;
use crate::kinds::k8s;

/// The state a refresh is about to publish as `resources` (schema `internals`).
pub const INTERNAL_NEXT_RESOURCES: &str = "internals.next_resources";
/// The identity links of the current state, computed once per refresh (schema `internals`).
pub const INTERNAL_CURRENT_LINKS: &str = "internals.current_links";

/// The inputs of the drift queries, as SQL relations.
pub struct DriftInputs {
    /// Rows with the columns of `resources`.
    pub resources: String,
    /// `(source, last_success_at, last_status, stale)`.
    pub health: String,
    /// `(source, kind)`: live kinds each live source has reported.
    pub watched: String,
    /// The identity links of `resources`, already computed (the current ones are computed
    /// once per refresh); `None`: derived inline from `resources`.
    pub links: Option<String>,
}

impl DriftInputs {
    /// The current state.
    pub fn now() -> Self {
        Self {
            resources: "SELECT * FROM resources".into(),
            health: "SELECT source, last_success_at, last_status, stale FROM sources".into(),
            watched: "SELECT DISTINCT source, kind FROM internals.kinds_seen WHERE layer = 'live'"
                .into(),
            links: Some(format!("SELECT * FROM {INTERNAL_CURRENT_LINKS}")),
        }
    }

    /// The inputs the current identity links are computed from at a refresh: the state about
    /// to be published, so `resources` and the links it serves change together.
    pub fn next() -> Self {
        Self {
            resources: format!("SELECT * FROM {INTERNAL_NEXT_RESOURCES}"),
            links: None,
            ..Self::now()
        }
    }

    /// The state as of the instant in placeholder `$1`.
    pub fn as_of() -> Self {
        Self {
            resources: format!("SELECT * FROM {}", super::state_at_table::STATE_AT_PLACEHOLDER),
            health: "SELECT r.source, s.last_success_at, r.status AS last_status,
                            s.last_success_at IS NULL
                              OR date_part('epoch', $1) - date_part('epoch', s.last_success_at)
                                 > 2 * coalesce(r.interval_seconds, 1800) AS stale
                     FROM (SELECT source, status, interval_seconds,
                                  row_number() OVER (PARTITION BY source ORDER BY started_at DESC) AS recency
                           FROM storage.scrapes WHERE started_at <= $1) AS r
                     LEFT JOIN (SELECT source, max(started_at) AS last_success_at FROM storage.scrapes
                                WHERE status IN ('ok', 'partial') AND started_at <= $1
                                GROUP BY source) AS s ON s.source = r.source
                     WHERE r.recency = 1"
                .into(),
            watched: "SELECT DISTINCT source, kind FROM internals.kinds_seen
                      WHERE layer = 'live' AND first_seen <= $1"
                .into(),
            links: None,
        }
    }
}

/// A `CASE` over the configured link rules for a declared row under `alias` (columns `kind`,
/// `labels`, ...): `value` of the first rule naming the row's kind, for rows without a
/// `live.kind` label (that label is the more specific statement); NULL otherwise.
fn first_config_rule(
    alias: &str,
    links: &[LinkRule],
    value: impl Fn(&LinkRule) -> String,
) -> String {
    if links.is_empty() {
        return "CAST(NULL AS VARCHAR)".into();
    }
    let arms: String = links
        .iter()
        .map(|rule| {
            format!(
                " WHEN {alias}.kind = {} THEN {}",
                sql_literal(rule.declared_kind()),
                value(rule)
            )
        })
        .collect();
    format!(
        "CASE WHEN ({alias}.labels->>'live.kind') IS NOT NULL THEN CAST(NULL AS VARCHAR){arms} END"
    )
}

/// Declared resources with the live kind they correspond to and the live id or name their
/// labels give, if any. Without a `live.kind` label, the first configured link rule for the
/// kind gives the live kind (`config_id` is its template's id): that is the kind and id drift
/// reports a missing resource under, and the kind whose unlinked live resources are unmanaged.
fn declared(resources: &str, links: &[LinkRule]) -> String {
    let alias = "declared_resources";
    let config_kind = first_config_rule(alias, links, |rule| sql_literal(rule.live_kind()));
    let config_id = first_config_rule(alias, links, |rule| rule.live_id().sql(alias));
    format!(
        "SELECT source, kind, id, name, attrs, labels, observed_at,
                coalesce(labels->>'live.kind', {config_kind}, kind) AS target_kind,
                labels->>'live.id' AS target_id, labels->>'live.name' AS target_name,
                {config_id} AS config_id
         FROM ({resources}) AS {alias} WHERE layer = 'declared'"
    )
}

/// Every declared-to-live link, one per declared resource (the strongest rule wins):
/// 1. `live_id`: the declared resource's `live.id` label is a live id of its `live.kind`;
/// 2. `config:<name>`: a configured link rule for its kind fills its template into the id of
///    a live resource of the rule's live kind (rules in configuration order);
/// 3. `same_identity`: a live resource has the same kind and id (manifests and the Kubernetes
///    API, migrations and the PostgreSQL catalog);
/// 4. `live_name`: its `live.name` label is the name of a live resource of its `live.kind`;
/// 5. `cloudformation_physical_id`: a live stack resource with the declared id
///    (`<stack>/<LogicalId>`) names, as its physical id, a live resource of the live kind (by
///    id, name, or as the queue URL ending in the name).
/// 6. `compose_published_port`: a compose service publishes a host port (`ports:`) that a
///    socket of the host source listens on, with the same protocol. The socket carries the
///    process (`pid`, `comm`) that serves it.
///
/// Configured rules rank just after `live_id`: a `live.id` label is written on the one
/// resource it is about, so it is the most specific statement there is and a per-kind rule
/// must not override it; but a configured rule is still an explicit statement by the operator
/// about how that kind maps, whereas `same_identity`, `live_name` and the CloudFormation rule
/// are conventions that merely happen to hold for most sources, so the configured rule wins
/// over them (it is usually written precisely because the convention links wrongly or not
/// at all).
pub fn identity_links(inputs: &DriftInputs, links: &[LinkRule]) -> String {
    let declared = declared(&inputs.resources, links);
    let config_candidates: String = links
        .iter()
        .enumerate()
        .map(|(position, rule)| {
            format!(
                "
                UNION ALL
                SELECT d.source, d.kind, d.id, l.source, l.kind, l.id, {rule_name}, {priority}
                FROM link_declared d JOIN link_live l ON l.kind = {live_kind} AND l.id = {live_id}
                WHERE d.kind = {declared_kind}",
                rule_name = sql_literal(&rule.rule_name()),
                priority = 2 + position,
                live_kind = sql_literal(rule.live_kind()),
                live_id = rule.live_id().sql("d"),
                declared_kind = sql_literal(rule.declared_kind()),
            )
        })
        .collect();
    let same_identity = 2 + links.len();
    let live_name = same_identity + 1;
    let cloudformation = same_identity + 2;
    let compose_port = same_identity + 3;
    let resources = &inputs.resources;
    format!(
        "WITH link_declared AS ({declared}),
              link_live AS (SELECT source, kind, id, name, attrs FROM ({resources}) AS live_resources
                       WHERE layer = 'live'),
              candidates AS (
                SELECT d.source AS declared_source, d.kind AS declared_kind, d.id AS declared_id,
                       l.source AS live_source, l.kind AS live_kind, l.id AS live_id,
                       'live_id' AS rule, 1 AS priority
                FROM link_declared d JOIN link_live l ON l.kind = d.target_kind AND l.id = d.target_id{config_candidates}
                UNION ALL
                SELECT d.source, d.kind, d.id, l.source, l.kind, l.id, 'same_identity', {same_identity}
                FROM link_declared d JOIN link_live l ON l.kind = d.kind AND l.id = d.id
                UNION ALL
                SELECT d.source, d.kind, d.id, l.source, l.kind, l.id, 'live_name', {live_name}
                FROM link_declared d JOIN link_live l ON l.kind = d.target_kind AND l.name = d.target_name
                UNION ALL
                SELECT d.source, d.kind, d.id, l.source, l.kind, l.id, 'cloudformation_physical_id', {cloudformation}
                FROM link_declared d
                JOIN link_live stack_resource
                  ON stack_resource.kind = 'aws_cloudformation_stack_resource'
                 AND stack_resource.id = d.id
                JOIN link_live l
                  ON l.kind = d.target_kind
                 AND (l.id = stack_resource.attrs->>'physical_id'
                      OR l.name = stack_resource.attrs->>'physical_id'
                      OR stack_resource.attrs->>'physical_id' LIKE concat('%/', l.name))
                WHERE d.kind <> d.target_kind
                UNION ALL
                SELECT d.source, d.kind, d.id, l.source, l.kind, l.id, 'compose_published_port', {compose_port}
                FROM (SELECT source, kind, id, unnest(published_ports(attrs)) AS port
                      FROM link_declared WHERE kind = 'compose/service') d
                JOIN link_live l
                  ON l.kind = 'listen_socket'
                 AND concat(regexp_replace(l.attrs->>'protocol', '6$', ''), ':', l.attrs->>'port') = d.port),
              ranked AS (
                SELECT *, row_number() OVER (
                    PARTITION BY declared_source, declared_kind, declared_id
                    ORDER BY priority, live_source, live_id) AS strength
                FROM candidates)
         SELECT declared_source, declared_kind, declared_id, live_source, live_kind, live_id, rule
         FROM ranked WHERE strength = 1"
    )
}

/// One row per declared or live resource that drift can judge:
/// `missing` (declared; no live resource although a live source watches its kind),
/// `unmanaged` (live, of a kind something declares, linked to nothing and owned by no other
/// object), `changed` (linked, and attributes the declared side states differ), `in_sync`,
/// or `stale` when a source involved is stale or its last scrape failed: then nothing is
/// asserted and `stale_reason` says why.
pub fn drift(inputs: &DriftInputs, link_rules: &[LinkRule]) -> String {
    let child = created_by_parent("l");
    let declared = declared(&inputs.resources, link_rules);
    // Referenced three times below: read from a table when one holds it, since a CTE is
    // evaluated at every reference.
    let links = match &inputs.links {
        Some(links) => links.clone(),
        None => identity_links(inputs, link_rules),
    };
    let DriftInputs {
        resources,
        health,
        watched,
        ..
    } = inputs;
    format!(
        "WITH declared AS ({declared}),
              live AS (SELECT source, kind, id, name, attrs, observed_at FROM ({resources}) AS live_resources
                       WHERE layer = 'live'),
              links AS ({links}),
              health AS (SELECT source, last_success_at,
                                CASE WHEN last_status = 'failed' THEN concat(source, ': last scrape failed')
                                     WHEN stale THEN concat(source, ': stale, last success ',
                                                            coalesce(CAST(last_success_at AS VARCHAR), 'never'))
                                END AS problem
                         FROM ({health}) AS source_health),
              watched AS (SELECT w.kind, min(h.problem) AS problem
                          FROM ({watched}) AS w LEFT JOIN health h ON h.source = w.source
                          GROUP BY w.kind),
              declared_kinds AS (SELECT target_kind AS kind, min(h.problem) AS problem
                                 FROM declared d LEFT JOIN health h ON h.source = d.source
                                 GROUP BY target_kind),
              judged AS (
                SELECT CASE WHEN d.kind = l.kind
                            THEN attribute_drift(d.kind, d.attrs, l.attrs) ELSE '[]' END AS differences,
                       d.kind = l.kind AS attributes_compared,
                       k.rule, d.source AS declared_source, d.kind AS declared_kind, d.id AS declared_id,
                       l.source AS live_source, l.kind AS live_kind, l.id AS live_id,
                       d.observed_at AS declared_observed_at, l.observed_at AS live_observed_at,
                       nullif(concat_ws('; ', hd.problem, hl.problem), '') AS stale_reason
                FROM links k
                JOIN declared d ON d.source = k.declared_source AND d.kind = k.declared_kind AND d.id = k.declared_id
                JOIN live l ON l.source = k.live_source AND l.kind = k.live_kind AND l.id = k.live_id
                LEFT JOIN health hd ON hd.source = d.source
                LEFT JOIN health hl ON hl.source = l.source)
         SELECT CASE WHEN stale_reason IS NOT NULL THEN 'stale'
                     WHEN differences = '[]' THEN 'in_sync' ELSE 'changed' END AS status,
                live_kind AS kind, live_id AS id, declared_source, declared_kind, declared_id,
                live_source, live_kind, live_id, rule AS link_rule, attributes_compared,
                CAST(CASE WHEN differences = '[]' THEN NULL ELSE differences END AS JSON) AS differences,
                declared_observed_at, live_observed_at, stale_reason
         FROM judged
         UNION ALL
         SELECT CASE WHEN coalesce(hd.problem, w.problem) IS NOT NULL THEN 'stale' ELSE 'missing' END AS status,
                d.target_kind AS kind, coalesce(d.target_id, d.target_name, d.config_id, d.id) AS id,
                d.source AS declared_source, d.kind AS declared_kind, d.id AS declared_id,
                CAST(NULL AS VARCHAR) AS live_source, CAST(NULL AS VARCHAR) AS live_kind,
                CAST(NULL AS VARCHAR) AS live_id, CAST(NULL AS VARCHAR) AS link_rule,
                false AS attributes_compared, CAST(NULL AS JSON) AS differences,
                d.observed_at AS declared_observed_at, CAST(NULL AS TIMESTAMP) AS live_observed_at,
                nullif(concat_ws('; ', hd.problem, w.problem), '') AS stale_reason
         FROM declared d
         JOIN watched w ON w.kind = d.target_kind
         LEFT JOIN links k ON k.declared_source = d.source AND k.declared_kind = d.kind AND k.declared_id = d.id
         LEFT JOIN health hd ON hd.source = d.source
         WHERE k.declared_id IS NULL
         UNION ALL
         SELECT CASE WHEN coalesce(hl.problem, dk.problem) IS NOT NULL THEN 'stale' ELSE 'unmanaged' END AS status,
                l.kind AS kind, l.id AS id, CAST(NULL AS VARCHAR) AS declared_source,
                CAST(NULL AS VARCHAR) AS declared_kind, CAST(NULL AS VARCHAR) AS declared_id,
                l.source AS live_source, l.kind AS live_kind, l.id AS live_id,
                CAST(NULL AS VARCHAR) AS link_rule, false AS attributes_compared,
                CAST(NULL AS JSON) AS differences, CAST(NULL AS TIMESTAMP) AS declared_observed_at,
                l.observed_at AS live_observed_at, nullif(concat_ws('; ', dk.problem, hl.problem), '') AS stale_reason
         FROM live l
         JOIN declared_kinds dk ON dk.kind = l.kind
         LEFT JOIN links k ON k.live_source = l.source AND k.live_kind = l.kind AND k.live_id = l.id
         LEFT JOIN health hl ON hl.source = l.source
         WHERE k.live_id IS NULL AND NOT {child}"
    )
}

/// Whether the live resource under `alias` was created by another object, so nobody is
/// expected to declare it: Kubernetes objects with owner references (the Pods and ReplicaSets
/// of a Deployment, the Jobs of a CronJob), and resources whose source names a `parent` (an
/// instance's primary network interface, a requester-managed one), and the objects a
/// Kubernetes control plane creates by itself ([`k8s::CONTROL_PLANE_OBJECTS`]).
fn created_by_parent(alias: &str) -> String {
    let control_plane: Vec<String> = k8s::CONTROL_PLANE_OBJECTS
        .iter()
        .map(|(kind, id)| match id.strip_prefix("*/") {
            Some(name) => format!(
                "({alias}.kind = {} AND ends_with({alias}.id, {}))",
                sql_literal(kind),
                sql_literal(&format!("/{name}"))
            ),
            None => format!(
                "({alias}.kind = {} AND {alias}.id = {})",
                sql_literal(kind),
                sql_literal(id)
            ),
        })
        .collect();
    format!(
        "(coalesce(json_contains({alias}.attrs, 'metadata', 'ownerReferences'), false)
          OR coalesce(json_contains({alias}.attrs, 'parent'), false)
          OR {})",
        control_plane.join(" OR ")
    )
}

/// What `identity_links` holds.
pub const IDENTITY_LINKS_DESCRIPTION: &str = "Which live resource each declared resource is, now: declared (source, kind, id) to live (source, kind, id), with the rule that linked them (live_id label, config:<name> for a configured [[drift.link]] rule, same_identity, live_name label, cloudformation_physical_id, compose_published_port: a compose service and the host socket listening on the port it publishes). One link per declared resource, the strongest rule first.";
/// What `identity_links_at` returns.
pub const IDENTITY_LINKS_AT_DESCRIPTION: &str =
    "identity_links_at(T): the identity links as of instant T (links have history: they are derived from the resources as of T).";
/// What `drift` holds.
pub const DRIFT_DESCRIPTION: &str = "Where declared and running disagree, now: one row per judged resource with status missing (declared, not running though its kind is watched), unmanaged (running, of a declared kind, linked to nothing, and not created by a parent such as a Deployment's Pods or an instance's primary network interface), changed (attributes the declared side states differ; differences lists path, declared and live values), in_sync, or stale (a source involved is stale or failed its last scrape: nothing is asserted, stale_reason says why). Each side's observed_at says how fresh it is.";
/// What `drift_at` returns.
pub const DRIFT_AT_DESCRIPTION: &str =
    "drift_at(T): the drift view as of instant T, with staleness judged at T.";

/// `drift_history`: per resource, the intervals during which it drifted, from every recorded
/// version of both layers. A resource's drift status can only change when a version of its
/// declared or live side starts or ends, so the status is evaluated at each of those instants
/// and consecutive instants with the same status are merged. Resources pair up the way
/// `identity_links` pairs them by id: the declared side's `live.kind`/`live.id` labels, the
/// first configured link rule for its kind (when it has no `live.kind` label), or the same
/// kind and id. (Links by name or by CloudFormation physical id are not in the history.)
/// As in `drift`, a declared resource is only missing once a live source has reported its
/// kind, and a live one only unmanaged once something declares its kind.
pub fn drift_history(links: &[LinkRule]) -> String {
    let states = drift_states(links);
    format!("{states},
     marked AS (
         SELECT *, CASE WHEN lag(status) OVER (PARTITION BY key_kind, key_id ORDER BY at) = status
                        THEN 0 ELSE 1 END AS starts_island
         FROM states),
     islands AS (
         SELECT *, sum(starts_island) OVER (PARTITION BY key_kind, key_id ORDER BY at
                                            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS island
         FROM marked),
     spans AS (
         SELECT key_kind, key_id, island, min(status) AS status, min(at) AS onset,
                max(declared_source) AS declared_source, max(declared_id) AS declared_id,
                max(live_source) AS live_source,
                first_value(differences ORDER BY at) AS differences_at_onset
         FROM islands GROUP BY key_kind, key_id, island),
     bounded AS (
         SELECT *, lead(onset) OVER (PARTITION BY key_kind, key_id ORDER BY onset) AS resolved_at
         FROM spans)
     SELECT key_kind AS kind, key_id AS id, status, onset, resolved_at,
            date_part('epoch', coalesce(resolved_at, now())) - date_part('epoch', onset) AS duration_seconds,
            resolved_at IS NULL AS ongoing, declared_source, declared_id, live_source,
            CAST(differences_at_onset AS JSON) AS differences_at_onset
     FROM bounded WHERE status IN ('missing', 'unmanaged', 'changed')"
    )
}

/// The CTEs both history views share, ending in `states`: at every instant either layer's
/// version of an identity changes, the drift status there (with the differences).
fn drift_states(links: &[LinkRule]) -> String {
    let child = created_by_parent("l");
    let config_kind = first_config_rule("v", links, |rule| sql_literal(rule.live_kind()));
    let config_id = first_config_rule("v", links, |rule| rule.live_id().sql("v"));
    format!("WITH declared AS (
         SELECT source, kind, id, attrs, valid_from, valid_to,
                coalesce(labels->>'live.kind', {config_kind}, kind) AS key_kind,
                coalesce(labels->>'live.id', {config_id}, id) AS key_id
         FROM resource_versions AS v WHERE layer = 'declared'),
     live AS (
         SELECT source, kind, id, attrs, valid_from, valid_to, kind AS key_kind, id AS key_id
         FROM resource_versions WHERE layer = 'live'),
     watched_since AS (SELECT kind, min(valid_from) AS since FROM live GROUP BY kind),
     declared_since AS (SELECT key_kind AS kind, min(valid_from) AS since FROM declared GROUP BY key_kind),
     both_layers AS (
         SELECT w.kind, w.since AS watched_since, d.since AS declared_since
         FROM watched_since w JOIN declared_since d ON d.kind = w.kind),
     instants AS (
         SELECT key_kind, key_id, valid_from AS at FROM declared
         UNION SELECT key_kind, key_id, valid_to FROM declared WHERE valid_to IS NOT NULL
         UNION SELECT key_kind, key_id, valid_from FROM live
         UNION SELECT key_kind, key_id, valid_to FROM live WHERE valid_to IS NOT NULL
         UNION SELECT d.key_kind, d.key_id, b.watched_since FROM declared d
               JOIN both_layers b ON b.kind = d.key_kind
         UNION SELECT l.key_kind, l.key_id, b.declared_since FROM live l
               JOIN both_layers b ON b.kind = l.key_kind),
     states AS (
         SELECT i.key_kind, i.key_id, i.at,
                d.source AS declared_source, d.id AS declared_id, l.source AS live_source,
                CASE WHEN d.id IS NULL AND l.id IS NULL THEN 'absent'
                     -- Before a live source has reported the kind, absence proves nothing;
                     -- before anything declares the kind, nothing is unmanaged.
                     WHEN l.id IS NULL AND i.at < b.watched_since THEN 'unobserved'
                     WHEN l.id IS NULL THEN 'missing'
                     WHEN d.id IS NULL AND i.at < b.declared_since THEN 'undeclared'
                     WHEN d.id IS NULL AND {child} THEN 'child'
                     WHEN d.id IS NULL THEN 'unmanaged'
                     WHEN d.kind <> l.kind THEN 'in_sync'
                     ELSE CASE WHEN attribute_drift(d.kind, d.attrs, l.attrs) = '[]'
                               THEN 'in_sync' ELSE 'changed' END
                END AS status,
                CASE WHEN d.kind = l.kind THEN attribute_drift(d.kind, d.attrs, l.attrs) END AS differences
         FROM instants i
         JOIN both_layers b ON b.kind = i.key_kind
         LEFT JOIN declared d ON d.key_kind = i.key_kind AND d.key_id = i.key_id
              AND d.valid_from <= i.at AND (d.valid_to IS NULL OR i.at < d.valid_to)
         LEFT JOIN live l ON l.key_kind = i.key_kind AND l.key_id = i.key_id
              AND l.valid_from <= i.at AND (l.valid_to IS NULL OR i.at < l.valid_to))"
    )
}

/// `attribute_drift_history`: per attribute path of `changed` resources, the intervals during
/// which that path differed. A path's interval runs over consecutive instants of its
/// resource at which it differs, and ends at the first instant at which it does not.
pub fn attribute_drift_history(links: &[LinkRule]) -> String {
    let states = drift_states(links);
    format!("{states},
     numbered AS (
         SELECT *, row_number() OVER (PARTITION BY key_kind, key_id ORDER BY at) AS instant,
                lead(at) OVER (PARTITION BY key_kind, key_id ORDER BY at) AS next_at
         FROM states),
     differing AS (
         SELECT key_kind, key_id, at, instant, next_at, declared_source, declared_id, live_source,
                unnest(changed_paths(differences)) AS path
         FROM numbered WHERE status = 'changed'),
     path_islands AS (
         SELECT *, instant - row_number() OVER (PARTITION BY key_kind, key_id, path ORDER BY at) AS island
         FROM differing),
     path_spans AS (
         SELECT key_kind, key_id, path, island, min(at) AS onset,
                -- The last instant's successor ends the interval; none means it still holds.
                CASE WHEN count(*) = count(next_at) THEN max(next_at) END AS resolved_at,
                max(declared_source) AS declared_source, max(declared_id) AS declared_id,
                max(live_source) AS live_source
         FROM path_islands GROUP BY key_kind, key_id, path, island)
     SELECT key_kind AS kind, key_id AS id, path, onset, resolved_at,
            date_part('epoch', coalesce(resolved_at, now())) - date_part('epoch', onset) AS duration_seconds,
            resolved_at IS NULL AS ongoing, declared_source, declared_id, live_source
     FROM path_spans"
    )
}

/// What `attribute_drift_history` holds.
pub const ATTRIBUTE_DRIFT_HISTORY_DESCRIPTION: &str = "Per attribute of changed resources: every interval during which that attribute path differed between declared and live (kind, id, path, onset, resolved_at NULL while ongoing, duration_seconds, the sources involved), so \"memory_size has differed since 17 November\" is one query.";

/// What `drift_history` holds.
pub const DRIFT_HISTORY_DESCRIPTION: &str = "Every interval during which a resource drifted: kind, id, status (missing, unmanaged or changed), onset, resolved_at (NULL while ongoing), duration_seconds, the sources involved and the differing attributes at onset. Built from all recorded versions of both layers, so \"missing since 3 October\" is one query.";
