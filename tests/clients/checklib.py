"""Shared helpers for the client compatibility checks (tests/scripts/clients.sh).

Each check script runs its sub-checks one by one (a failure does not stop the others), prints
one line per sub-check ("ok   <name>" or "FAIL <name>: <error>") and exits non-zero if any
sub-check failed. The server address comes from GT_HOST, GT_PORT, GT_USER and GT_DB.
"""
import datetime
import json
import os
import sys
import traceback

HOST = os.environ.get("GT_HOST", "127.0.0.1")
PORT = int(os.environ.get("GT_PORT", "5433"))
USER = os.environ.get("GT_USER", "demo")
DB = os.environ.get("GT_DB", "groundtruth")
DSN = f"host={HOST} port={PORT} user={USER} dbname={DB}"
URL = f"postgresql://{USER}@{HOST}:{PORT}/{DB}"

# Tables and columns every client must see (see README.md, "The SQL surface").
EXPECTED_TABLES = {"resources", "resource_versions", "drift", "drift_history", "sources", "scrapes",
                   "identity_links", "relations", "query_catalog", "attribute_drift_history"}
RESOURCE_COLUMNS = ["source", "kind", "id", "layer", "name", "attrs", "attrs_hash", "labels",
                    "first_seen", "last_changed", "observed_at", "provenance"]
# A resource every demo has from day 1: the index that is dropped by hand later on.
KNOWN_SOURCE, KNOWN_KIND, KNOWN_ID = "synthetic_iac", "postgres_index", "public.orders_customer_id_idx"


class CheckFailed(AssertionError):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def is_aware(value):
    return isinstance(value, datetime.datetime) and value.tzinfo is not None and value.utcoffset() is not None


def json_object(value):
    """A JSON column: native (dict) when the server types it json/jsonb, else JSON text."""
    if isinstance(value, (dict, list)):
        return value
    expect(isinstance(value, str), f"JSON column decoded as {type(value).__name__}: {value!r}")
    return json.loads(value)


# A JSON-typed column, the same value cast to text, a text column named like a JSON column, and
# a cast to json: a column is json (OID 114) by its type, not by its name.
JSON_BY_TYPE_SQL = ("SELECT attrs, CAST(attrs AS VARCHAR) AS attrs_text, name AS labels, "
                    "CAST('{\"a\": [1, 2]}' AS JSON) AS doc FROM resources WHERE source = %s LIMIT 1")


def expect_json_by_type(description, row):
    codes = [column.type_code for column in description]
    expect(codes == [114, 25, 25, 114], f"type OIDs {codes}")
    expect(isinstance(row[0], dict) and isinstance(row[1], str), f"attrs {row[:2]!r}")
    expect(isinstance(row[2], str) and row[3] == {"a": [1, 2]}, f"labels/doc {row[2:]!r}")


def short(exc):
    text = f"{type(exc).__name__}: {exc}".strip()
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())[:600]


class Runner:
    def __init__(self, client):
        self.client = client
        self.passed = 0
        self.failed = []

    def check(self, name, fn, *args):
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the run
            self.failed.append(name)
            print(f"FAIL {self.client}: {name}: {short(exc)}", flush=True)
            if os.environ.get("GT_CLIENT_TRACEBACK"):
                traceback.print_exc()
            return False
        self.passed += 1
        print(f"ok   {self.client}: {name}", flush=True)
        return True

    def finish(self):
        print(f"{self.client}: {self.passed} passed, {len(self.failed)} failed", flush=True)
        sys.exit(1 if self.failed else 0)
