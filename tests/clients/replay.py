"""Replay the catalog queries BI tools and IDEs send (tests/clients/replay/<tool>/*.sql).

Each file holds one statement and header comments:
  -- source: <repository> <path>   where the tool builds this query (required)
  -- params: ["public", 2200]      values for $1, $2, ... (optional). "@namespace_oid:NAME" is
                                   replaced by that schema's oid as our server reports it.
  -- param_types: [1043, 20]       parameter type OIDs as the tool's driver declares them (optional;
                                   0, the default, lets the server infer them)
  -- expect: resources, drift      values that must appear in some cell of the result (optional)
  -- expect_match: <regex>         some cell must match this regular expression (optional)
  -- min_rows: 1                   (optional)
Statements go through the extended protocol (Parse/Bind/Describe/Execute), like pgx and pgJDBC.
"""
import json
import pathlib
import re
import sys

import psycopg
from psycopg import pq

from checklib import DSN, Runner, expect

ROOT = pathlib.Path(__file__).resolve().parent / "replay"
HEADER = re.compile(r"^--\s*(source|params|param_types|expect|expect_match|min_rows):\s*(.*)$")

conn = psycopg.connect(DSN, autocommit=True)


def parse(path):
    meta, body = {}, []
    for line in path.read_text().splitlines():
        m = HEADER.match(line.strip())
        if m:
            meta[m.group(1)] = m.group(2).strip()
        elif not line.strip().startswith("--"):
            body.append(line)
    sql = "\n".join(body).strip().rstrip(";").strip()
    return meta, sql


def resolve(value):
    if isinstance(value, str) and value.startswith("@namespace_oid:"):
        name = value.split(":", 1)[1]
        row = conn.execute("SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = %s", (name,)).fetchone()
        expect(row is not None, f"no namespace {name}")
        return str(row[0])
    return None if value is None else str(value)


def replay(path):
    meta, sql = parse(path)
    expect("source" in meta, f"{path.name} has no '-- source:' header")
    params = [resolve(v) for v in json.loads(meta.get("params", "[]"))]
    types = json.loads(meta.get("param_types", "[]")) or [0] * len(params)
    result = conn.pgconn.exec_params(sql.encode(), [None if p is None else p.encode() for p in params], types)
    status = pq.ExecStatus(result.status)
    if status == pq.ExecStatus.FATAL_ERROR:
        message = (result.error_field(pq.DiagnosticField.MESSAGE_PRIMARY) or b"").decode()
        state = (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
        raise AssertionError(f"SQLSTATE {state}: {message}")
    expect(status in (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK), f"status {status.name}")
    cells = set()
    for row in range(result.ntuples):
        for col in range(result.nfields):
            value = result.get_value(row, col)
            if value is not None:
                cells.add(value.decode(errors="replace"))
    wanted = [w.strip() for w in meta.get("expect", "").split(",") if w.strip()]
    missing = [w for w in wanted if w not in cells]
    expect(not missing, f"result ({result.ntuples} rows) lacks {missing}")
    pattern = meta.get("expect_match")
    if pattern:
        expect(any(re.search(pattern, cell) for cell in cells),
               f"no cell matches /{pattern}/ in {sorted(cells)[:10]}")
    min_rows = int(meta.get("min_rows", "0"))
    expect(result.ntuples >= min_rows, f"{result.ntuples} rows, want at least {min_rows}")


tools = sys.argv[1:] or sorted(p.name for p in ROOT.iterdir() if p.is_dir())
r = Runner("replay")
for tool in tools:
    for path in sorted((ROOT / tool).glob("*.sql")):
        r.check(f"{tool}/{path.name}", replay, path)
r.finish()
