-- Grafana PostgreSQL data source: server version probe (config page, macros).
-- source: grafana/grafana public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts (getVersion)
-- expect_match: ^[0-9]{3,}$
SELECT current_setting('server_version_num')::int / 100 AS version
