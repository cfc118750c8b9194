-- name: inventory
-- description: What does Groundtruth know about right now? Resources per source, layer and
--   kind, with when each source was last observed, so every count says how fresh it is.
-- example: SELECT * FROM named_query('inventory')
SELECT source, layer, kind, count(*) AS resources, max(observed_at) AS observed_at
FROM resources
GROUP BY source, layer, kind
ORDER BY source, layer, kind
