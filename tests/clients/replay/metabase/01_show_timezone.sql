-- Metabase postgres driver: the database's default time zone (db-default-timezone, run on sync).
-- source: metabase/metabase src/metabase/driver/postgres.clj (driver/db-default-timezone)
-- expect_match: ^(UTC|Etc/UTC|GMT|[A-Z][A-Za-z_]+/[A-Za-z_]+)$
show timezone
