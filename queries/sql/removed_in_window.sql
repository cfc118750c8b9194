-- name: removed_in_window
-- description: What disappeared in a window (default: the last 7 days)? Resources a complete
--   scrape no longer saw, with when the removal was seen and the window in which it happened
--   (a failed scrape never removes anything).
-- param: since | timestamp | now() - INTERVAL '7 days' | Start of the window (exclusive).
-- param: until | timestamp | now() | End of the window (inclusive).
-- example: SELECT * FROM named_query('removed_in_window', since => now() - INTERVAL '1 day')
SELECT changed_at AS removed_at, changed_after AS present_until_at_least, source, layer, kind, id, name
FROM changes(:since, :until)
WHERE change = 'removed'
