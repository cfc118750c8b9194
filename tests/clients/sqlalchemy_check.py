"""SQLAlchemy 2: the inspector, reflection, Core queries with bound parameters.

Runs with the psycopg2 dialect, and checks that the psycopg 3 dialect (the default from 2.1 on)
connects too. When the server's version() does not parse, the version is pinned so that the
inspector checks still run and report their own results."""
import sqlalchemy as sa

from checklib import (EXPECTED_TABLES, HOST, KNOWN_ID, KNOWN_KIND, KNOWN_SOURCE, PORT, RESOURCE_COLUMNS, DB, USER,
                      Runner, expect, is_aware)

r = Runner("sqlalchemy")
URL = f"postgresql+psycopg2://{USER}@{HOST}:{PORT}/{DB}"
engine = sa.create_engine(URL)
inspector = None


def connect():
    global inspector
    with engine.connect() as conn:
        expect(conn.execute(sa.text("SELECT 1")).scalar() == 1, "SELECT 1")
    inspector = sa.inspect(engine)


def schema_names():
    names = inspector.get_schema_names()
    expect("public" in names and "storage" in names, f"schemas {names}")


def table_names():
    names = set(inspector.get_table_names())  # default schema
    expect(EXPECTED_TABLES <= names, f"missing tables {EXPECTED_TABLES - names} (got {sorted(names)})")
    storage = set(inspector.get_table_names(schema="storage"))
    expect({"versions", "scrapes"} <= storage, f"storage tables {storage}")


def columns():
    cols = inspector.get_columns("resources")
    names = [c["name"] for c in cols]
    expect(names == RESOURCE_COLUMNS, f"columns {names}")
    types = {c["name"]: c["type"] for c in cols}
    expect(isinstance(types["id"], sa.String), f"id type {types['id']!r}")
    expect(isinstance(types["first_seen"], sa.DateTime) and types["first_seen"].timezone,
           f"first_seen type {types['first_seen']!r}")
    nullable = {c["name"]: c["nullable"] for c in cols}
    expect(nullable["id"] is False and nullable["name"] is True, f"nullable {nullable}")
    sources = {c["name"]: c["type"] for c in inspector.get_columns("sources")}
    expect(isinstance(sources["stale"], sa.Boolean), f"stale type {sources['stale']!r}")
    expect(isinstance(sources["scrapes"], sa.BigInteger), f"scrapes type {sources['scrapes']!r}")
    expect(isinstance(sources["staleness_seconds"], sa.Float), f"staleness_seconds type {sources['staleness_seconds']!r}")


def pk_constraint():
    pk = inspector.get_pk_constraint("resources")
    expect(isinstance(pk, dict) and "constrained_columns" in pk, f"pk {pk!r}")
    # resources has no declared key today; when one is added it must be (source, kind, id).
    expect(pk["constrained_columns"] in ([], ["source", "kind", "id"]), f"pk {pk!r}")


def foreign_keys_and_indexes():
    expect(inspector.get_foreign_keys("resources") == [], "foreign keys")
    expect(isinstance(inspector.get_indexes("resources"), list), "indexes")
    expect(isinstance(inspector.get_unique_constraints("resources"), list), "unique constraints")


def table_comment():
    comment = inspector.get_table_comment("drift")
    expect(isinstance(comment, dict) and "text" in comment, f"comment {comment!r}")
    expect(comment["text"], f"drift has no table comment: {comment!r}")


def column_comments():
    cols = inspector.get_columns("drift")
    described = [c["name"] for c in cols if c.get("comment")]
    expect(described, "no column of drift has a comment")


def views():
    expect(isinstance(inspector.get_view_names(), list), "view names")


def reflect_and_select():
    meta = sa.MetaData()
    resources = sa.Table("resources", meta, autoload_with=engine)
    query = (sa.select(resources.c.kind, resources.c.id, resources.c.layer, resources.c.first_seen)
             .where(resources.c.source == KNOWN_SOURCE, resources.c.id == KNOWN_ID))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    expect(len(rows) == 1 and tuple(rows[0])[:3] == (KNOWN_KIND, KNOWN_ID, "declared"), f"rows {rows}")
    expect(is_aware(rows[0].first_seen), f"first_seen {rows[0].first_seen!r}")


def text_with_params():
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT source, stale, scrapes FROM sources WHERE source = :s"),
                            {"s": KNOWN_SOURCE}).all()
    expect(len(rows) == 1 and rows[0].stale is False and rows[0].scrapes > 0, f"rows {rows}")


if not r.check("connect (version() must parse as PostgreSQL)", connect):
    # Go on with the version pinned so that the inspector's own checks still run and report.
    from sqlalchemy.dialects.postgresql.base import PGDialect
    PGDialect._get_server_version_info = lambda self, connection: (16, 0)
    engine = sa.create_engine(URL)
    r.check("connect with the server version pinned to 16", connect)
if inspector is not None:
    r.check("get_schema_names", schema_names)
    r.check("get_table_names", table_names)
    r.check("get_columns (names, types, nullable)", columns)
    r.check("get_pk_constraint", pk_constraint)
    r.check("get_foreign_keys / get_indexes / get_unique_constraints", foreign_keys_and_indexes)
    r.check("get_table_comment(drift)", table_comment)
    r.check("column comments of drift", column_comments)
    r.check("get_view_names", views)
    r.check("reflected Table + select with bound parameters", reflect_and_select)
    r.check("text() with parameters", text_with_params)


def psycopg3_dialect():
    other = sa.create_engine(f"postgresql+psycopg://{USER}@{HOST}:{PORT}/{DB}")
    with other.connect() as conn:
        expect(conn.execute(sa.text("SELECT count(*) FROM sources")).scalar() > 0, "sources")
    other.dispose()


r.check("psycopg 3 dialect connects and queries", psycopg3_dialect)
r.finish()
