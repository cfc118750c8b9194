-- name: unused_indexes
-- description: Which indexes have not been used for N days? Indexes whose scan counter
--   (idx_scan of postgres/index_usage) has not moved for more than N days, with the time it
--   last moved (or was first seen), from the PostgreSQL catalog sources. A zombie signal: an
--   index that costs writes and space and serves no reads.
-- param: days | integer | 30 | Idle for more than this many days.
-- example: SELECT * FROM named_query('unused_indexes', days => 14)
WITH usage AS (
  SELECT source, id, attrs->>'idx_scan' AS idx_scan, observed_at
  FROM resources WHERE kind = 'postgres/index_usage'),
idle AS (
  SELECT v.source, v.id, min(v.valid_from) AS idle_since
  FROM resource_versions v
  JOIN usage u ON u.source = v.source AND u.id = v.id
  WHERE v.kind = 'postgres/index_usage' AND v.attrs->>'idx_scan' = u.idx_scan
  GROUP BY v.source, v.id)
SELECT u.source, u.id AS index_id, CAST(u.idx_scan AS BIGINT) AS idx_scan, i.idle_since,
       CAST(floor((date_part('epoch', now()) - date_part('epoch', i.idle_since)) / 86400) AS BIGINT) AS idle_days,
       u.observed_at
FROM usage u JOIN idle i ON i.source = u.source AND i.id = u.id
WHERE date_part('epoch', now()) - date_part('epoch', i.idle_since) > :days * 86400
