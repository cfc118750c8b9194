-- Grafana PostgreSQL data source, backend schema API (pgx, $1 = schema).
-- source: grafana/grafana pkg/tsdb/grafana-postgresql-datasource/schema.go (queryTables)
-- params: ["public"]
-- expect: resources, drift, sources
SELECT table_name FROM information_schema.tables
WHERE table_schema = $1 AND table_type IN ('BASE TABLE', 'VIEW')
ORDER BY table_name
