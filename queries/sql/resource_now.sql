-- name: resource_now
-- description: Does this resource exist right now, and according to which sources? Every
--   source that currently knows the id (declared and live), with its kind, when it was first
--   seen, when it last changed and when its source last observed it. No rows: nobody knows it.
-- param: id | text | | The resource id (an ARN, namespace/name, schema.table, a Terraform address...).
-- example: SELECT * FROM named_query('resource_now', id => 'shop/web')
SELECT source, layer, kind, id, name, first_seen, last_changed, observed_at
FROM resources
WHERE id = :id
