-- name: unchanged_for
-- description: Which resources of a kind have not changed for N days? Zombie signals: feature
--   flags stuck on one variant (flagd/flag), index usage counters that stopped moving
--   (postgres/index_usage: idx_scan has not grown), queues nobody reconfigures.
-- param: kind | text | | The kind, e.g. flagd/flag or postgres/index_usage.
-- param: days | integer | 30 | Unchanged for more than this many days.
-- example: SELECT * FROM named_query('unchanged_for', kind => 'postgres/index_usage', days => 30)
SELECT source, kind, id, name, last_changed,
       CAST(floor((date_part('epoch', now()) - date_part('epoch', last_changed)) / 86400) AS BIGINT) AS unchanged_days,
       observed_at
FROM resources
WHERE kind = :kind
  AND date_part('epoch', now()) - date_part('epoch', last_changed) > :days * 86400
