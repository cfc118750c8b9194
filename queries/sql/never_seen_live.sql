-- name: never_seen_live
-- description: Which declared resources have never been seen running? Declared resources of a
--   kind some live source watches, declared for more than N days, with no live resource ever
--   recorded under their identity (same kind and id, or the live id or name their labels
--   give). Zombie declarations, or live sources that miss something.
-- param: days | integer | 1 | Declared for more than this many days.
-- example: SELECT * FROM named_query('never_seen_live', days => 7)
WITH declared AS (
  SELECT source, kind, id, name, first_seen, coalesce(labels->>'live.kind', kind) AS target_kind,
         labels->>'live.id' AS target_id, labels->>'live.name' AS target_name
  FROM resources WHERE layer = 'declared'),
live AS (SELECT DISTINCT kind, id, name FROM storage.versions WHERE layer = 'live'),
seen AS (
  SELECT d.source, d.kind, d.id FROM declared d JOIN live l ON l.kind = d.target_kind AND l.id = d.id
  UNION
  SELECT d.source, d.kind, d.id FROM declared d JOIN live l ON l.kind = d.target_kind AND l.id = d.target_id
  UNION
  SELECT d.source, d.kind, d.id FROM declared d JOIN live l ON l.kind = d.target_kind AND l.name = d.target_name),
watched AS (SELECT DISTINCT kind FROM live)
SELECT d.source, d.kind, d.id, d.name, d.target_kind AS live_kind, d.first_seen AS declared_since
FROM declared d JOIN watched w ON w.kind = d.target_kind
WHERE date_part('epoch', now()) - date_part('epoch', d.first_seen) > :days * 86400
  AND NOT EXISTS (
    SELECT 1 FROM seen s WHERE s.source = d.source AND s.kind = d.kind AND s.id = d.id)
