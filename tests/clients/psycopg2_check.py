"""psycopg2: client-side parameter interpolation (simple query protocol), types."""
import datetime

import psycopg2
import psycopg2.extras

from checklib import (DSN, EXPECTED_TABLES, JSON_BY_TYPE_SQL, KNOWN_ID, KNOWN_KIND, KNOWN_SOURCE,
                      RESOURCE_COLUMNS, Runner, expect, expect_json_by_type, is_aware, json_object)

r = Runner("psycopg2")
conn = psycopg2.connect(DSN)
conn.autocommit = True


def tables():
    with conn.cursor() as cur:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", ("public",))
        names = {row[0] for row in cur.fetchall()}
    expect(EXPECTED_TABLES <= names, f"missing tables {EXPECTED_TABLES - names}")


def resources():
    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute("SELECT * FROM resources WHERE source = %s AND kind = %s ORDER BY id",
                    ("synthetic_cloud", "aws_lambda_function"))
        rows = cur.fetchall()
        expect([d.name for d in cur.description] == RESOURCE_COLUMNS, f"columns {[d.name for d in cur.description]}")
    expect(len(rows) >= 3, f"{len(rows)} lambda functions")
    for row in rows:
        expect(row["layer"] == "live" and row["id"].startswith("arn:aws:lambda:"), f"row {row['id']}")
        expect(is_aware(row["first_seen"]) and is_aware(row["last_changed"]), f"first_seen {row['first_seen']!r}")
        attrs = json_object(row["attrs"])
        expect(isinstance(attrs.get("memory_size"), int), f"attrs {attrs}")


def params():
    with conn.cursor() as cur:
        cur.execute("SELECT kind, id, layer FROM resources WHERE source = %(source)s AND id = %(id)s",
                    {"source": KNOWN_SOURCE, "id": KNOWN_ID})
        rows = cur.fetchall()
    expect(rows == [(KNOWN_KIND, KNOWN_ID, "declared")], f"rows {rows}")


def params_typed():
    now = datetime.datetime.now(datetime.timezone.utc)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM resource_versions WHERE valid_from <= %s AND source = %s", (now, KNOWN_SOURCE))
        (count,) = cur.fetchone()
        expect(isinstance(count, int) and count > 0, f"count {count!r}")
        cur.execute("SELECT source FROM sources WHERE stale = %s", (False,))
        expect(KNOWN_SOURCE in [row[0] for row in cur.fetchall()], "stale = false")
        cur.execute("SELECT id FROM resources WHERE source = %s AND kind IN %s ORDER BY id",
                    (KNOWN_SOURCE, (KNOWN_KIND, "nope")))
        expect(KNOWN_ID in [row[0] for row in cur.fetchall()], "IN tuple parameter")


def types():
    with conn.cursor() as cur:
        cur.execute("SELECT source, stale, scrapes, staleness_seconds, last_success_at, last_error FROM sources "
                    "WHERE source = %s", (KNOWN_SOURCE,))
        source, stale, scrapes, staleness, last_success, last_error = cur.fetchone()
    expect(stale is False and isinstance(scrapes, int) and isinstance(staleness, float), (stale, scrapes, staleness))
    expect(is_aware(last_success), f"last_success_at {last_success!r}")
    expect(last_error is None, f"last_error {last_error!r}")


def arrays():
    with conn.cursor() as cur:
        cur.execute("SELECT changed_paths FROM changes(now() - INTERVAL '30 days', now()) "
                    "WHERE change = 'modified' LIMIT 1")
        (paths,) = cur.fetchone()
    expect(isinstance(paths, list) and paths and isinstance(paths[0], str), f"changed_paths {paths!r}")


def literal_types():
    with conn.cursor() as cur:
        cur.execute("SELECT 1::int2, 2::int4, 3::int8, 1.5::float4, 2.5::float8, true, NULL::text, "
                    "'2024-01-02 03:04:05+00'::timestamptz")
        row = cur.fetchone()
    expect(row[:7] == (1, 2, 3, 1.5, 2.5, True, None), f"row {row!r}")
    expect(is_aware(row[7]), f"timestamptz literal decoded without a time zone: {row[7]!r}")


def json_by_type():
    # Simple protocol (libpq's PQexec).
    with conn.cursor() as cur:
        cur.execute(JSON_BY_TYPE_SQL, (KNOWN_SOURCE,))
        expect_json_by_type(cur.description, cur.fetchone())


def error_keeps_session():
    with conn.cursor() as cur:
        try:
            cur.execute("SELECT * FROM no_such_table")
            raise AssertionError("no error for a missing table")
        except psycopg2.Error as exc:
            expect(exc.pgcode is not None, f"error without SQLSTATE: {exc}")
        cur.execute("SELECT 42")
        expect(cur.fetchone() == (42,), "session unusable after an error")


def transaction_block():
    # psycopg2 without autocommit wraps statements in BEGIN ... COMMIT/ROLLBACK.
    tx = psycopg2.connect(DSN)
    try:
        with tx.cursor() as cur:
            cur.execute("SELECT count(*) FROM resources WHERE source = %s", (KNOWN_SOURCE,))
            expect(cur.fetchone()[0] > 0, "no resources in a transaction")
        tx.rollback()
    finally:
        tx.close()


r.check("information_schema lists the tables", tables)
r.check("resources rows and columns", resources)
r.check("named parameters", params)
r.check("timestamp/bool/tuple parameters", params_typed)
r.check("types of sources", types)
r.check("text[] column", arrays)
r.check("literal types", literal_types)
r.check("json by type, not by name", json_by_type)
r.check("error has SQLSTATE and keeps the session", error_keeps_session)
r.check("BEGIN/ROLLBACK around a query", transaction_block)
r.finish()
