-- name: frequently_changed
-- description: Which resources changed more than N times in a window? Churn hints at
--   hand-edits fighting automation, flapping configuration or a noisy attribute to ignore.
-- param: at_least | integer | 5 | Report resources with more modifications than this.
-- param: since | timestamp | now() - INTERVAL '30 days' | Start of the window (exclusive).
-- param: until | timestamp | now() | End of the window (inclusive).
-- example: SELECT * FROM named_query('frequently_changed', at_least => 3)
SELECT source, kind, id, count(*) AS modifications, min(changed_at) AS first_change,
       max(changed_at) AS last_change
FROM changes(:since, :until)
WHERE change = 'modified'
GROUP BY source, kind, id
HAVING count(*) > :at_least
ORDER BY modifications DESC, source, kind, id
