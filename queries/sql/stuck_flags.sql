-- name: stuck_flags
-- description: Which feature flags have served the same variant for N days? Flags whose state
--   and default variant have not changed for more than N days: candidates for removal, the
--   flags that outlive their purpose.
-- param: days | integer | 30 | Unchanged for more than this many days.
-- example: SELECT * FROM named_query('stuck_flags', days => 90)
WITH flags AS (
  SELECT source, kind, id, attrs->>'state' AS state, attrs->>'defaultVariant' AS variant,
         observed_at
  FROM resources WHERE kind = 'flagd/flag'),
steady AS (
  SELECT v.source, v.id, min(v.valid_from) AS steady_since
  FROM resource_versions v
  JOIN flags f ON f.source = v.source AND f.kind = v.kind AND f.id = v.id
  WHERE v.attrs->>'state' = f.state AND v.attrs->>'defaultVariant' = f.variant
  GROUP BY v.source, v.id)
SELECT f.source, f.id AS flag, f.state, f.variant, s.steady_since,
       CAST(floor((date_part('epoch', now()) - date_part('epoch', s.steady_since)) / 86400) AS BIGINT) AS steady_days,
       f.observed_at
FROM flags f JOIN steady s ON s.source = f.source AND s.id = f.id
WHERE date_part('epoch', now()) - date_part('epoch', s.steady_since) > :days * 86400
