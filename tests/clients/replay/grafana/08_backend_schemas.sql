-- Grafana PostgreSQL data source, backend schema API (pgx).
-- source: grafana/grafana pkg/tsdb/grafana-postgresql-datasource/schema.go (querySchemas)
-- expect: public, storage
SELECT schema_name FROM information_schema.schemata
WHERE schema_name NOT LIKE 'pg_%' AND schema_name != 'information_schema'
ORDER BY schema_name
