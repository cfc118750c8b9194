-- name: resource_at
-- description: What did a resource look like at an instant? Its attributes and labels as of
--   that time in every source that knew it (declared and live side by side), and since when
--   that version held.
-- param: id | text | | The resource id (an ARN, namespace/name, schema.table, a Terraform address...).
-- param: at | timestamp | | The instant.
-- example: SELECT * FROM named_query('resource_at', id => 'public.orders', at => TIMESTAMP '2026-01-01 00:00:00')
SELECT source, layer, kind, id, name, attrs, labels, last_changed AS version_since
FROM resources_at(:at)
WHERE id = :id
ORDER BY source, kind
