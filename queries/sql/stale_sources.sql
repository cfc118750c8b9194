-- name: stale_sources
-- description: Which sources can I not trust right now? Sources whose last success is older
--   than twice their interval, or whose last scrape failed or was partial, with the error and
--   how long ago each last succeeded.
-- example: SELECT * FROM named_query('stale_sources')
SELECT source, source_type, last_status, last_success_at, last_scrape_at,
       CAST(staleness_seconds AS BIGINT) AS staleness_seconds, stale, last_error
FROM sources
WHERE stale OR last_status <> 'ok'
ORDER BY source
