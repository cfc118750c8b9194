-- Metabase postgres driver: enum types, read before describing fields (no row is a valid answer).
-- source: metabase/metabase src/metabase/driver/postgres.clj (enum-types)
SELECT nspname, typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid IN (SELECT DISTINCT enumtypid FROM pg_enum e)
