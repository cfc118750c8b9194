-- Grafana PostgreSQL data source, backend schema API (pgx, $1 = schema, $2 = table); udt_name
-- drives the type mapping (timestamptz, bool, int8, float8, json...).
-- source: grafana/grafana pkg/tsdb/grafana-postgresql-datasource/schema.go (queryColumns, postgresTypeToSchemaType)
-- params: ["public", "sources"]
-- expect: stale, bool, int8, float8, timestamptz
SELECT column_name, data_type, udt_name, numeric_precision, numeric_scale
FROM information_schema.columns
WHERE table_schema = $1 AND table_name = $2
ORDER BY ordinal_position
