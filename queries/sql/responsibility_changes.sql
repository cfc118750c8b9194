-- name: responsibility_changes
-- description: Which resources gained or lost relations in a window (default: the last 7
--   days)? Responsibility drift seen from both ends: a queue that gained a consumer, a
--   function that gained triggers, an instance moved to another security group. Resources
--   created or deleted together with their relations are not listed from their own side.
-- param: since | timestamp | now() - INTERVAL '7 days' | Changes after this instant (until now).
-- example: SELECT * FROM named_query('responsibility_changes', since => now() - INTERVAL '30 days')
SELECT changed_at, subject_kind, subject_id, change, direction, relation, other_kind, other_id,
       subject_source, layer
FROM relation_changes(:since, now())
