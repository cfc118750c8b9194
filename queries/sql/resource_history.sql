-- name: resource_history
-- description: Every version of one resource, oldest first: when each version held, what
--   changed into it, and (for declared files in git) which commit made it.
-- param: id | text | | The resource id.
-- example: SELECT * FROM named_query('resource_history', id => 'aws_sqs_queue.orders')
SELECT source, kind, change, valid_from, valid_to,
       array_to_string(changed_paths(diff), ', ') AS changed_paths, attrs,
       provenance->'git'->>'commit' AS commit
FROM resource_versions
WHERE id = :id
ORDER BY source, kind, valid_from
