-- name: index_exists
-- description: Does this PostgreSQL index exist right now? One row per source that knows it
--   (declared migrations, live catalog), with its definition where the live side reports
--   one, since when it has existed, and when its source was last observed. No rows: no source
--   knows it.
-- param: index | text | | Qualified index name, schema.index (public.orders_customer_id_idx).
-- example: SELECT * FROM named_query('index_exists', index => 'public.orders_customer_id_idx')
SELECT source, layer, id, attrs->>'table' AS table_name, attrs->>'unique' AS is_unique,
       attrs->>'definition' AS definition, first_seen, observed_at
FROM resources
WHERE kind IN ('postgres/index', 'postgres_index') AND id = :index
ORDER BY layer, source
