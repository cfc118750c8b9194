-- name: change_summary
-- description: How much changed, where, in a window (default: the last 24 hours)? Counts of
--   added, modified and removed resources per source and kind, for a quick read of what
--   moved before digging in with changes_in_source.
-- param: since | timestamp | now() - INTERVAL '24 hours' | Start of the window (exclusive).
-- param: until | timestamp | now() | End of the window (inclusive).
-- example: SELECT * FROM named_query('change_summary', since => now() - INTERVAL '7 days')
SELECT source, kind,
       sum(CASE WHEN change = 'added' THEN 1 ELSE 0 END) AS added,
       sum(CASE WHEN change = 'modified' THEN 1 ELSE 0 END) AS modified,
       sum(CASE WHEN change = 'removed' THEN 1 ELSE 0 END) AS removed,
       max(changed_at) AS last_change
FROM changes(:since, :until)
GROUP BY source, kind
