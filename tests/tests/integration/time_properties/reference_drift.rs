//! The reference for `identity_links`, `identity_links_at(T)`, `drift` and `drift_at(T)`: the
//! SQL definitions exactly as they were before the year-scale storage redesign (issue 12),
//! copied from `engine/src/session/drift_definitions.rs` at e40940e, so that the reference does
//! not depend on the code under test. Only the inputs differ: here they are the naive as-of
//! definitions over `storage.versions` and `storage.scrapes` (see `naive_inputs` in
//! `time_properties.rs`), never the published views.
//!
//! Do not "fix" or refactor this file along with the engine: it is the specification the fast
//! paths are compared with. The copy starts below the `DriftInputs` struct.

#![allow(dead_code)]

use groundtruth_engine::drift::settings::sql_literal;
use groundtruth_engine::drift::LinkRule;

/// The inputs of the drift queries, as SQL relations.
pub struct DriftInputs {
    /// Rows with the columns of `resources`.
    pub resources: String,
    /// `(source, last_success_at, last_status, stale)`.
    pub health: String,
    /// `(source, kind)`: live kinds each live source has reported.
    pub watched: String,
}

// ------------------------------------------------------------------------------------------
// Verbatim copy (e40940e, engine/src/session/drift_definitions.rs lines 54-278).
// ------------------------------------------------------------------------------------------

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
    let links = identity_links(inputs, link_rules);
    let DriftInputs {
        resources,
        health,
        watched,
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
                CASE WHEN differences = '[]' THEN NULL ELSE differences END AS differences,
                declared_observed_at, live_observed_at, stale_reason
         FROM judged
         UNION ALL
         SELECT CASE WHEN coalesce(hd.problem, w.problem) IS NOT NULL THEN 'stale' ELSE 'missing' END AS status,
                d.target_kind AS kind, coalesce(d.target_id, d.target_name, d.config_id, d.id) AS id,
                d.source AS declared_source, d.kind AS declared_kind, d.id AS declared_id,
                CAST(NULL AS VARCHAR) AS live_source, CAST(NULL AS VARCHAR) AS live_kind,
                CAST(NULL AS VARCHAR) AS live_id, CAST(NULL AS VARCHAR) AS link_rule,
                false AS attributes_compared, CAST(NULL AS VARCHAR) AS differences,
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
                CAST(NULL AS VARCHAR) AS differences, CAST(NULL AS TIMESTAMP) AS declared_observed_at,
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
/// instance's primary network interface, a requester-managed one).
fn created_by_parent(alias: &str) -> String {
    format!(
        "(coalesce(json_contains({alias}.attrs, 'metadata', 'ownerReferences'), false)
          OR coalesce(json_contains({alias}.attrs, 'parent'), false))"
    )
}
