-- Grafana PostgreSQL data source: column list (and types) of the chosen table.
-- source: grafana/grafana public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts (getSchema)
-- expect: first_seen, observed_at, attrs
SELECT quote_ident(column_name) AS "column", data_type AS "type"
FROM information_schema.columns
WHERE
  CASE WHEN array_length(parse_ident('resources'), 1) = 2
    THEN quote_ident(table_schema) = (parse_ident('resources'))[1]
     AND quote_ident(table_name) = (parse_ident('resources'))[2]
    ELSE quote_ident(table_name) = 'resources'
     AND quote_ident(table_schema) IN (
    SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
    FROM generate_series(
           array_lower(string_to_array(current_setting('search_path'), ','), 1),
           array_upper(string_to_array(current_setting('search_path'), ','), 1)
         ) AS i,
         string_to_array(current_setting('search_path'), ',') s
  )
  END
