-- name: drifted
-- description: Where do declared and running disagree at an instant (default: now)? Missing,
--   unmanaged and changed resources with the attributes that differ, plus stale rows whose
--   sources cannot be trusted at that instant, each with how fresh both sides are.
-- param: at | timestamp | now() | The instant.
-- param: id_prefix | text | '' | Only ids starting with this: a namespace (shop/), an account's ARN prefix, a schema (public.).
-- example: SELECT * FROM named_query('drifted', id_prefix => 'shop/')
SELECT status, kind, id, declared_source, live_source, differences, stale_reason,
       declared_observed_at, live_observed_at
FROM drift_at(:at)
WHERE status <> 'in_sync' AND starts_with(id, :id_prefix)
