//! The SQL of `relations`, `relations_at(T)` and `relation_changes(FROM, TO)`.
//!
//! `relations` is derived from every stored version: each version's references
//! (`relation_references`, see [`crate::relations`]) are resolved against the versions of
//! the same layer, each match holds while both versions hold (the intersection of their
//! intervals), and consecutive or overlapping pieces of the same relation are merged, so a
//! relation has one row per uninterrupted interval. Matching is within the referencing
//! source, except for ARNs, which name one resource in every source.

/// Far-future stand-in for "still holds", so interval arithmetic needs no NULL cases.
const OPEN_END: &str = "TIMESTAMP '2200-01-01 00:00:00'";

/// The columns identifying one relation.
const RELATION_KEY: &str = "source, layer, from_kind, from_id, relation, to_source, to_kind, to_id";

/// One resolution branch: edges matched to targets on `condition`.
fn resolved(match_on: &str, condition: &str) -> String {
    format!(
        "SELECT e.source, e.layer, e.from_kind, e.from_id, e.relation,
                t.source AS to_source, t.kind AS to_kind, t.id AS to_id,
                greatest(e.valid_from, t.valid_from) AS fragment_start,
                least(e.valid_until, t.valid_until) AS fragment_end
         FROM relation_edges e
         JOIN relation_targets t ON t.layer = e.layer AND {condition}
         WHERE e.match_on = '{match_on}'
           AND (t.source = e.source OR e.reference_key LIKE 'arn:%')
           AND NOT (t.kind = e.from_kind AND t.id = e.from_id AND t.source = e.source)"
    )
}

/// `relations`: every relation with its history.
pub fn relations() -> String {
    let branches = [
        resolved("id", "t.kind = e.target_kind AND t.id = e.reference_key"),
        resolved(
            "name",
            "t.kind = e.target_kind AND t.name = e.reference_key",
        ),
        resolved(
            "live_id",
            "t.kind = e.target_kind AND t.live_id = e.reference_key",
        ),
        resolved(
            "aws_id",
            "t.kind = e.target_kind AND t.aws_id = e.reference_key",
        ),
        resolved("address", "t.source = e.source AND t.id = e.reference_key"),
        resolved(
            "selector",
            "t.kind = e.target_kind AND t.namespace = e.reference_key
             AND selector_matches(e.selector, t.attrs)",
        ),
    ]
    .join("\nUNION ALL\n");
    format!(
        "WITH relation_versions AS (
            SELECT source, kind, id, layer, name, attrs, labels, change, valid_from,
                   coalesce(lead(valid_from) OVER (PARTITION BY source, kind, id ORDER BY valid_from),
                            {OPEN_END}) AS valid_until
            FROM storage.versions),
          relation_present AS (SELECT * FROM relation_versions WHERE change <> 'removed'),
          relation_referencing AS (
            SELECT source, layer, kind, id, valid_from, valid_until,
                   unnest(relation_references(kind, id, layer, attrs, labels)) AS reference
            FROM relation_present),
          relation_edges AS (
            SELECT source, layer,
                   coalesce(reference['origin_kind'], kind) AS from_kind,
                   coalesce(reference['origin_id'], id) AS from_id,
                   reference['relation'] AS relation, reference['target_kind'] AS target_kind,
                   reference['match_on'] AS match_on, reference['key'] AS reference_key,
                   reference['condition'] AS selector, valid_from, valid_until
            FROM relation_referencing),
          relation_targets AS (
            SELECT source, layer, kind, id, name, attrs, labels->>'live.id' AS live_id,
                   attrs->>'id' AS aws_id, split_part(id, '/', 1) AS namespace,
                   valid_from, valid_until
            FROM relation_present),
          relation_fragments AS (
            SELECT DISTINCT * FROM ({branches}) AS matched WHERE fragment_start < fragment_end),
          relation_reach AS (
            SELECT *, max(fragment_end) OVER (
                        PARTITION BY {RELATION_KEY} ORDER BY fragment_start, fragment_end
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reach
            FROM relation_fragments),
          relation_islands AS (
            SELECT *, sum(CASE WHEN reach >= fragment_start THEN 0 ELSE 1 END) OVER (
                        PARTITION BY {RELATION_KEY} ORDER BY fragment_start, fragment_end
                        ROWS UNBOUNDED PRECEDING) AS island
            FROM relation_reach)
         SELECT {RELATION_KEY}, min(fragment_start) AS valid_from,
                nullif(max(fragment_end), {OPEN_END}) AS valid_to
         FROM relation_islands
         GROUP BY {RELATION_KEY}, island"
    )
}

/// `relations_at($1)`: the relations holding at an instant.
pub fn relations_at() -> String {
    format!(
        "SELECT {RELATION_KEY}, valid_from, valid_to FROM relations
         WHERE valid_from <= $1 AND (valid_to IS NULL OR valid_to > $1)"
    )
}

/// `relation_changes($1, $2)`: relations gained or lost in ($1, $2], seen from both ends,
/// for resources that existed before and still exist at the change (a resource created or
/// deleted with its relations is a change of the resource, not of its responsibilities).
/// Relations first seen in their source's first scrape are not gains: they were found, not
/// made.
pub fn relation_changes() -> String {
    "WITH relation_change_origins AS (
        SELECT source, min(valid_from) AS first_scrape FROM storage.versions GROUP BY source),
      relation_change_events AS (
        SELECT r.source, r.layer, r.from_kind, r.from_id, r.relation, r.to_source, r.to_kind,
               r.to_id, r.valid_from AS changed_at, 'gained' AS change
        FROM relations r JOIN relation_change_origins o ON o.source = r.source
        WHERE r.valid_from > $1 AND r.valid_from <= $2 AND r.valid_from > o.first_scrape
        UNION ALL
        SELECT source, layer, from_kind, from_id, relation, to_source, to_kind, to_id,
               valid_to AS changed_at, 'lost' AS change
        FROM relations WHERE valid_to > $1 AND valid_to <= $2),
      relation_change_ends AS (
        SELECT layer, source AS subject_source, from_kind AS subject_kind, from_id AS subject_id,
               change, 'outgoing' AS direction, relation,
               to_source AS other_source, to_kind AS other_kind, to_id AS other_id, changed_at
        FROM relation_change_events
        UNION ALL
        SELECT layer, to_source AS subject_source, to_kind AS subject_kind, to_id AS subject_id,
               change, 'incoming' AS direction, relation,
               source AS other_source, from_kind AS other_kind, from_id AS other_id, changed_at
        FROM relation_change_events),
      relation_change_subjects AS (
        SELECT source, kind, id, valid_from,
               lead(valid_from) OVER (PARTITION BY source, kind, id ORDER BY valid_from) AS valid_until,
               change, min(valid_from) OVER (PARTITION BY source, kind, id) AS first_seen
        FROM storage.versions)
     SELECT DISTINCT e.layer, e.subject_source, e.subject_kind, e.subject_id, e.change, e.direction,
            e.relation, e.other_source, e.other_kind, e.other_id, e.changed_at
     FROM relation_change_ends e
     JOIN relation_change_subjects s
       ON s.source = e.subject_source AND s.kind = e.subject_kind AND s.id = e.subject_id
     WHERE s.change <> 'removed' AND s.first_seen < e.changed_at
       AND s.valid_from <= e.changed_at AND (s.valid_until IS NULL OR s.valid_until > e.changed_at)"
        .into()
}

/// Description of `relations`.
pub const RELATIONS_DESCRIPTION: &str = "Which resource points at which, with history: one row per uninterrupted interval (valid_from, valid_to NULL while it holds) of a relation from_kind/from_id -[relation]-> to_kind/to_id within a layer. Derived from attributes: event source mappings reads_from queues/tables and invokes functions, functions assumes_role, queues dead_letters_to queues, instances uses_security_group, stack resources provisions and part_of_stack, Services selects workloads, Ingresses routes_to Services, workloads mounts ConfigMaps/Secrets, foreign keys references tables, indexes indexes tables, Terraform and CloudFormation depends_on/references.";
/// Description of `relations_at`.
pub const RELATIONS_AT_DESCRIPTION: &str =
    "relations_at(T): the relations holding at instant T, with the columns of relations.";
/// Description of `relation_changes`.
pub const RELATION_CHANGES_DESCRIPTION: &str = "relation_changes(FROM, TO): responsibility drift. Relations gained or lost in (FROM, TO], seen from both ends (direction outgoing or incoming), for resources that existed before and still exist at the change: a queue that gained a consumer, a function that gained triggers.";
