-- Grafana PostgreSQL data source: table list once a schema is chosen.
-- source: grafana/grafana public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts (showTables(schema))
-- expect: resources, drift, sources
SELECT quote_ident(table_name) AS "table"
FROM information_schema.tables
WHERE quote_ident(table_schema) = 'public'
ORDER BY 1
