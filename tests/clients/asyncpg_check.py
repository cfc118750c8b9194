"""asyncpg: prepared statements, $n parameters, binary type decoding."""
import asyncio
import datetime

import asyncpg

from checklib import (DB, EXPECTED_TABLES, HOST, KNOWN_ID, KNOWN_KIND, KNOWN_SOURCE, PORT, RESOURCE_COLUMNS, USER,
                      Runner, expect, is_aware, json_object)

r = Runner("asyncpg")


async def main():
    conn = await asyncpg.connect(host=HOST, port=PORT, user=USER, database=DB)
    checks = []

    async def tables():
        rows = await conn.fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = $1", "public")
        names = {row["table_name"] for row in rows}
        expect(EXPECTED_TABLES <= names, f"missing tables {EXPECTED_TABLES - names}")

    async def prepare_resources():
        stmt = await conn.prepare("SELECT * FROM resources WHERE source = $1 AND kind = $2 ORDER BY id")
        names = [a.name for a in stmt.get_attributes()]
        expect(names == RESOURCE_COLUMNS, f"columns {names}")
        types = {a.name: a.type.name for a in stmt.get_attributes()}
        expect(types["first_seen"] == "timestamptz", f"first_seen type {types['first_seen']}")
        params = [p.name for p in stmt.get_parameters()]
        expect(len(params) == 2, f"parameters {params}")
        rows = await stmt.fetch(KNOWN_SOURCE, KNOWN_KIND)
        expect(KNOWN_ID in [row["id"] for row in rows], f"ids {[row['id'] for row in rows]}")
        for row in rows:
            expect(is_aware(row["first_seen"]) and is_aware(row["last_changed"]), f"first_seen {row['first_seen']!r}")
            expect(isinstance(json_object(row["attrs"]), dict), f"attrs {row['attrs']!r}")
        # The same prepared statement again, with other arguments.
        rows = await stmt.fetch("synthetic_cloud", "aws_lambda_function")
        expect(rows and all(row["layer"] == "live" for row in rows), f"{len(rows)} live lambda functions")

    async def fetchrow_param():
        row = await conn.fetchrow("SELECT kind, id, layer FROM resources WHERE source = $1 AND id = $2",
                                  KNOWN_SOURCE, KNOWN_ID)
        expect(row is not None and tuple(row) == (KNOWN_KIND, KNOWN_ID, "declared"), f"row {row}")

    async def typed_params():
        now = datetime.datetime.now(datetime.timezone.utc)
        count = await conn.fetchval("SELECT count(*) FROM resource_versions WHERE valid_from <= $1 AND source = $2",
                                    now, KNOWN_SOURCE)
        expect(isinstance(count, int) and count > 0, f"count {count!r}")
        sources = await conn.fetch("SELECT source FROM sources WHERE stale = $1", False)
        expect(KNOWN_SOURCE in [row[0] for row in sources], "stale = $1 (false)")
        scrape = await conn.fetchval("SELECT scrape_id FROM scrapes WHERE resources_seen >= $1 LIMIT 1", 1)
        expect(scrape is not None, "resources_seen >= $1")

    async def types():
        row = await conn.fetchrow("SELECT source, stale, scrapes, staleness_seconds, last_success_at, last_error "
                                  "FROM sources WHERE source = $1", KNOWN_SOURCE)
        expect(row["stale"] is False and isinstance(row["scrapes"], int), dict(row))
        expect(isinstance(row["staleness_seconds"], float), f"staleness_seconds {row['staleness_seconds']!r}")
        expect(is_aware(row["last_success_at"]), f"last_success_at {row['last_success_at']!r}")
        expect(row["last_error"] is None, f"last_error {row['last_error']!r}")

    async def arrays():
        paths = await conn.fetchval("SELECT changed_paths FROM changes(now() - INTERVAL '30 days', now()) "
                                    "WHERE change = 'modified' LIMIT 1")
        expect(isinstance(paths, list) and paths and isinstance(paths[0], str), f"changed_paths {paths!r}")

    async def literal_types():
        row = await conn.fetchrow("SELECT 1::int2 AS a, 2::int4 AS b, 3::int8 AS c, 1.5::float4 AS d, "
                                  "2.5::float8 AS e, true AS f, NULL::text AS g, "
                                  "'2024-01-02 03:04:05+00'::timestamptz AS h")
        expect(tuple(row)[:7] == (1, 2, 3, 1.5, 2.5, True, None), f"row {tuple(row)!r}")
        expect(is_aware(row["h"]), f"timestamptz literal decoded without a time zone: {row['h']!r}")

    async def error_keeps_session():
        try:
            await conn.fetch("SELECT * FROM no_such_table")
            raise AssertionError("no error for a missing table")
        except asyncpg.PostgresError as exc:
            expect(exc.sqlstate is not None, f"error without SQLSTATE: {exc}")
        expect(await conn.fetchval("SELECT 42") == 42, "session unusable after an error")

    async def transaction():
        async with conn.transaction():
            count = await conn.fetchval("SELECT count(*) FROM resources WHERE source = $1", KNOWN_SOURCE)
            expect(count > 0, f"count {count}")

    checks = [
        ("information_schema lists the tables", tables),
        ("prepare: attributes, parameters, rows", prepare_resources),
        ("fetchrow with $1 $2", fetchrow_param),
        ("timestamp/bool/int parameters", typed_params),
        ("types of sources", types),
        ("text[] column", arrays),
        ("literal types", literal_types),
        ("error has SQLSTATE and keeps the session", error_keeps_session),
        ("transaction block", transaction),
    ]
    for name, fn in checks:
        try:
            await asyncio.wait_for(fn(), 30)
        except Exception as exc:  # noqa: BLE001
            r.check(name, _raise, exc)
        else:
            r.check(name, lambda: None)
    await conn.close()


def _raise(exc):
    raise exc


try:
    asyncio.run(main())
except Exception as exc:  # noqa: BLE001 - a failed connect is one failed check
    r.check("connect", _raise, exc)
r.finish()
