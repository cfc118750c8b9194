-- Grafana PostgreSQL data source, backend schema API: distinct values of a column for filters.
-- source: grafana/grafana pkg/tsdb/grafana-postgresql-datasource/schema.go (ColumnValues)
-- expect: kind, postgres_index, aws_lambda_function
SELECT 'kind' AS col_name, "kind"::text AS val
FROM (SELECT DISTINCT "kind" FROM "public"."resources" WHERE "kind" IS NOT NULL ORDER BY "kind" LIMIT 100) sub_0
UNION ALL
SELECT 'layer' AS col_name, "layer"::text AS val
FROM (SELECT DISTINCT "layer" FROM "public"."resources" WHERE "layer" IS NOT NULL ORDER BY "layer" LIMIT 100) sub_1
