-- name: drift_started
-- description: Which drift started in a window (default: the last 7 days)? Each interval of
--   missing, unmanaged or changed that began after the given instant, whether it is still
--   ongoing, and the differing attributes when it began.
-- param: since | timestamp | now() - INTERVAL '7 days' | Only drift that began after this instant.
-- example: SELECT * FROM named_query('drift_started', since => now() - INTERVAL '1 day')
SELECT onset, status, kind, id, resolved_at, ongoing, declared_source, live_source,
       differences_at_onset
FROM drift_history
WHERE onset > :since
