-- Grafana PostgreSQL data source: the same column query; Grafana maps data_type to a field type
-- (getFieldConfig), so the types must be PostgreSQL's names, not Arrow's.
-- source: grafana/grafana public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts (getSchema)
-- expect: text, timestamp with time zone
SELECT quote_ident(column_name) AS "column", data_type AS "type"
FROM information_schema.columns
WHERE quote_ident(table_name) = 'resources' AND quote_ident(table_schema) = 'public'
