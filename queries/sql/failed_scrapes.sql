-- name: failed_scrapes
-- description: Which scrapes failed or were partial in a window, and why? A failed scrape
--   changes nothing in the store; a partial one only covered part of its source.
-- param: since | timestamp | now() - INTERVAL '24 hours' | Start of the window (exclusive).
-- example: SELECT * FROM named_query('failed_scrapes', since => now() - INTERVAL '7 days')
SELECT started_at, source, source_type, status, error
FROM scrapes
WHERE status <> 'ok' AND started_at > :since
ORDER BY started_at DESC, source
