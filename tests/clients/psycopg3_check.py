"""psycopg 3: text and binary result formats, server-side (extended protocol) parameters, types."""
import datetime

import psycopg

from checklib import (DSN, EXPECTED_TABLES, JSON_BY_TYPE_SQL, KNOWN_ID, KNOWN_KIND, KNOWN_SOURCE,
                      RESOURCE_COLUMNS, Runner, expect, expect_json_by_type, is_aware, json_object)

r = Runner("psycopg3")
conn = psycopg.connect(DSN, autocommit=True)

RESOURCES_SQL = ("SELECT source, kind, id, layer, name, attrs, attrs_hash, labels, first_seen, last_changed, "
                 "observed_at, provenance FROM resources WHERE source = 'synthetic_cloud' "
                 "ORDER BY kind, id LIMIT 20")


def connect_reports_server():
    expect(conn.info.server_version > 0, f"server_version {conn.info.server_version}")
    expect(conn.info.parameter_status("server_encoding") in ("UTF8", "UTF-8"),
           f"server_encoding {conn.info.parameter_status('server_encoding')}")


def table_names():
    cur = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
    names = {row[0] for row in cur}
    expect(EXPECTED_TABLES <= names, f"missing tables {EXPECTED_TABLES - names}")


def check_resource_rows(rows, description):
    expect([d.name for d in description] == RESOURCE_COLUMNS, f"columns {[d.name for d in description]}")
    expect(len(rows) == 20, f"{len(rows)} rows")
    for row in rows:
        source, kind, rid, layer = row[:4]
        expect(source == "synthetic_cloud" and layer == "live", f"row {row[:4]}")
        expect(isinstance(kind, str) and isinstance(rid, str), f"kind/id types {type(kind)} {type(rid)}")
        # attrs is described as json: psycopg decodes it itself, in text and binary formats.
        expect(isinstance(row[5], dict), f"attrs not decoded as JSON: {row[5]!r}")
        expect(is_aware(row[8]) and is_aware(row[9]), f"first_seen/last_changed not tz-aware: {row[8]!r}")
        expect(row[10] is None or is_aware(row[10]), f"observed_at {row[10]!r}")


text_rows = []


def text_format():
    cur = conn.cursor()
    cur.execute(RESOURCES_SQL)
    rows = cur.fetchall()
    check_resource_rows(rows, cur.description)
    text_rows.extend(rows)


def binary_format():
    cur = conn.cursor(binary=True)
    cur.execute(RESOURCES_SQL)
    rows = cur.fetchall()
    check_resource_rows(rows, cur.description)
    formats = {cur.pgresult.fformat(i) for i in range(cur.pgresult.nfields)}
    expect(formats == {psycopg.pq.Format.BINARY}, f"result column formats {formats}")
    if text_rows:
        # observed_at moves with every scrape: compare the stable columns only.
        expect([row[:10] for row in rows] == [row[:10] for row in text_rows], "binary rows differ from text rows")


def params_text():
    cur = conn.execute("SELECT kind, id, layer FROM resources WHERE source = %s AND id = %s",
                       (KNOWN_SOURCE, KNOWN_ID))
    rows = cur.fetchall()
    expect(rows == [(KNOWN_KIND, KNOWN_ID, "declared")], f"rows {rows}")


def params_binary():
    cur = conn.cursor(binary=True)
    cur.execute("SELECT kind, id, layer FROM resources WHERE source = %s AND id = %s", (KNOWN_SOURCE, KNOWN_ID))
    rows = cur.fetchall()
    expect(rows == [(KNOWN_KIND, KNOWN_ID, "declared")], f"rows {rows}")


def params_typed():
    now = datetime.datetime.now(datetime.timezone.utc)
    cur = conn.execute("SELECT count(*) FROM resource_versions WHERE valid_from <= %s AND source = %s",
                       (now, KNOWN_SOURCE))
    (count,) = cur.fetchone()
    expect(isinstance(count, int) and count > 0, f"count {count!r}")
    cur = conn.execute("SELECT source FROM sources WHERE stale = %s ORDER BY source", (False,))
    expect(KNOWN_SOURCE in [row[0] for row in cur], "sources with stale = false lack synthetic_iac")
    cur = conn.execute("SELECT scrape_id FROM scrapes WHERE resources_seen >= %s AND source = %s LIMIT 1",
                       (1, KNOWN_SOURCE))
    expect(cur.fetchone() is not None, "no scrape with resources_seen >= 1")


def prepared_statement():
    for _ in range(3):  # prepare=True makes psycopg use a named prepared statement
        cur = conn.execute("SELECT id FROM resources WHERE source = %s AND kind = %s ORDER BY id",
                           (KNOWN_SOURCE, KNOWN_KIND), prepare=True)
        ids = [row[0] for row in cur]
        expect(KNOWN_ID in ids, f"ids {ids}")


def types_sources(binary):
    cur = conn.cursor(binary=binary)
    cur.execute("SELECT source, stale, scrapes, failures, staleness_seconds, last_success_at, last_error "
                "FROM sources WHERE source = %s", (KNOWN_SOURCE,))
    source, stale, scrapes, failures, staleness, last_success, last_error = cur.fetchone()
    expect(source == KNOWN_SOURCE, source)
    expect(stale is False, f"stale {stale!r}")
    expect(isinstance(scrapes, int) and scrapes > 0 and isinstance(failures, int), f"scrapes {scrapes!r}")
    expect(isinstance(staleness, float), f"staleness_seconds {staleness!r}")
    expect(is_aware(last_success), f"last_success_at {last_success!r}")
    expect(last_error is None, f"last_error {last_error!r}")


def types_arrays_and_json():
    cur = conn.execute("SELECT changed_paths, diff FROM changes(now() - INTERVAL '30 days', now()) "
                       "WHERE change = 'modified' AND source = %s LIMIT 1", ("synthetic_cloud",))
    row = cur.fetchone()
    expect(row is not None, "no modified change")
    paths, diff = row
    expect(isinstance(paths, list) and paths and all(isinstance(p, str) for p in paths), f"changed_paths {paths!r}")
    expect(isinstance(diff, list), f"diff not decoded as JSON: {diff!r}")
    expect(isinstance(diff, list) and diff and {"path", "old", "new"} <= set(diff[0]), f"diff {diff!r}")
    cur = conn.execute("SELECT differences FROM drift WHERE status = 'changed' LIMIT 1")
    row = cur.fetchone()
    if row is not None:
        differences = json_object(row[0])
        expect(isinstance(differences, list) and {"path", "declared", "live"} <= set(differences[0]),
               f"differences {differences!r}")


def json_by_type(binary):
    # Extended protocol, text or binary results.
    cur = conn.cursor(binary=binary)
    cur.execute(JSON_BY_TYPE_SQL, (KNOWN_SOURCE,))
    expect_json_by_type(cur.description, cur.fetchone())


def literal_types(binary):
    cur = conn.cursor(binary=binary)
    cur.execute("SELECT 1::int2, 2::int4, 3::int8, 1.5::float4, 2.5::float8, true, false, NULL::text, 'x'::text, "
                "'2024-01-02 03:04:05+00'::timestamptz")
    row = cur.fetchone()
    expected = (1, 2, 3, 1.5, 2.5, True, False, None, "x",
                datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc))
    expect(row[:9] == expected[:9], f"row {row!r}")
    expect(is_aware(row[9]), f"timestamptz literal decoded without a time zone (type OID {cur.description[9].type_code})")
    expect(row[9] == expected[9], f"timestamptz {row[9]!r}")


def error_keeps_session():
    try:
        conn.execute("SELECT * FROM no_such_table")
        raise AssertionError("no error for a missing table")
    except psycopg.Error as exc:
        expect(exc.sqlstate is not None, f"error without SQLSTATE: {exc}")
    (value,) = conn.execute("SELECT 42").fetchone()
    expect(value == 42, value)


r.check("server parameters", connect_reports_server)
r.check("information_schema lists the tables", table_names)
r.check("resources, text format", text_format)
r.check("resources, binary format", binary_format)
r.check("parameterized query, text", params_text)
r.check("parameterized query, binary", params_binary)
r.check("timestamp/bool/int parameters", params_typed)
r.check("prepared statement reused", prepared_statement)
r.check("types of sources, text", types_sources, False)
r.check("types of sources, binary", types_sources, True)
r.check("text[] and JSON columns", types_arrays_and_json)
r.check("json by type, text", json_by_type, False)
r.check("json by type, binary", json_by_type, True)
r.check("literal types, text", literal_types, False)
r.check("literal types, binary", literal_types, True)
r.check("now() is timestamptz", lambda: expect(is_aware(conn.execute("SELECT now()").fetchone()[0]),
                                              "now() decoded without a time zone"))
r.check("error has SQLSTATE and keeps the session", error_keeps_session)
r.finish()
