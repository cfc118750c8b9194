-- name: missing_at
-- description: What is declared but not running, at an instant (default: now)? Declared
--   resources whose kind a live source watches but that nothing live matches, with when the
--   declared side was observed. Rows whose sources cannot be trusted are left out (see
--   drifted for those).
-- param: at | timestamp | now() | The instant.
-- example: SELECT * FROM named_query('missing_at', at => now() - INTERVAL '1 day')
SELECT kind, id, declared_source, declared_kind, declared_id, declared_observed_at
FROM drift_at(:at)
WHERE status = 'missing'
