#!/usr/bin/env python3
"""Run the foundation benchmark questions on PostgreSQL holding the same version rows.

Starts a private PostgreSQL server (initdb in a temporary directory, 127.0.0.1, a free port,
run as user `postgres`), loads the dataset's live `versions` rows with the interval end
(`valid_to`, the next version's valid_from) and the incarnation start (`first_seen`)
materialized at load, exactly what Groundtruth computes at query time, plus the scrapes. The
rows are exported by DuckDB from the same Parquet files to CSV and loaded with a server-side
COPY. Then, for each index layout PostgreSQL could use for "valid at T":

* `btree`: btree on (valid_to, valid_from), open intervals stored as valid_to = 'infinity' (so
  the predicate is two plain range conditions, no OR IS NULL);
* `gist`: GiST on tstzrange(valid_from, valid_to, '[)'), queried with `@>`;

it times every question (median of `--runs` after one warm-up, rows fetched by psycopg) and
saves `EXPLAIN (ANALYZE, BUFFERS)` beside the dataset (`postgres_explain_<measure>_<layout>.txt`)
so the index use can be checked. Both layouts also have btree (kind, id, valid_from) for
history and btree (valid_from) for change windows. The best layout per question is reported.
The server is stopped by its postmaster PID.

Usage:
    python benches/postgres_compare.py DATASET_DIR [--runs N] [--json OUT]
"""

import argparse
import datetime as dt
import glob
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import psycopg  # noqa: E402

from duckdb_compare import connect  # noqa: E402

SETTINGS = {
    # Its best on this machine: the whole table fits in memory, planner told so.
    "shared_buffers": "6GB",
    "work_mem": "256MB",
    "maintenance_work_mem": "2GB",
    "effective_cache_size": "16GB",
    "random_page_cost": "1.1",
    "max_parallel_workers_per_gather": "2",
    "max_wal_size": "8GB",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "jit": "off",
}


def pg_bin():
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                        key=lambda path: int(path.split("/")[-2]))
    if not candidates:
        sys.exit("no PostgreSQL server binaries (apt-get install postgresql)")
    return candidates[-1]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def as_postgres(*command, **kwargs):
    return subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, **kwargs)


class Server:
    """A private PostgreSQL server, stopped by its postmaster PID."""

    def __init__(self):
        self.bin = pg_bin()
        self.dir = tempfile.mkdtemp(prefix="gt-pg-")
        shutil.chown(self.dir, "postgres", "postgres")
        self.port = free_port()
        self.pid = None

    def start(self):
        data = os.path.join(self.dir, "data")
        as_postgres(f"{self.bin}/initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                    "--locale=C.UTF-8", "--no-sync", stdout=subprocess.DEVNULL)
        options = " ".join(f"-c {key}={value}" for key, value in SETTINGS.items())
        as_postgres(f"{self.bin}/pg_ctl", "-D", data, "-l", os.path.join(self.dir, "log"), "-w", "-s",
                    "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 {options}", "start")
        with open(os.path.join(data, "postmaster.pid")) as handle:
            self.pid = int(handle.readline())
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self):
        if self.pid:
            os.kill(self.pid, signal.SIGINT)  # fast shutdown
            for _ in range(600):
                try:
                    os.kill(self.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            self.pid = None
        shutil.rmtree(self.dir, ignore_errors=True)


def export_csv(dataset, directory):
    """Versions with valid_to and first_seen materialized, and scrapes, as CSV files."""
    connection = connect(dataset)
    versions = os.path.join(directory, "versions.csv")
    scrapes = os.path.join(directory, "scrapes.csv")
    connection.execute(f"""
        COPY (SELECT source, kind, id, layer, name, attrs, attrs_hash, labels, change, diff, scrape_id,
                     valid_from,
                     coalesce(lead(valid_from) OVER w, TIMESTAMPTZ 'infinity') AS valid_to,
                     max(CASE WHEN change = 'added' THEN valid_from END)
                       OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS first_seen,
                     change_window_start, provenance
              FROM versions
              WINDOW w AS (PARTITION BY source, kind, id ORDER BY valid_from)
              ORDER BY valid_from)
        TO '{versions}' (FORMAT csv, HEADER false)""")
    connection.execute(f"""
        COPY (SELECT scrape_id, source, status, started_at FROM scrapes) TO '{scrapes}' (FORMAT csv, HEADER false)""")
    for path in (versions, scrapes):
        shutil.chown(path, "postgres", "postgres")
    return versions, scrapes


SCHEMA = """
CREATE UNLOGGED TABLE versions (
  source text NOT NULL, kind text NOT NULL, id text NOT NULL, layer text NOT NULL, name text,
  attrs text, attrs_hash text, labels text, change text NOT NULL, diff text, scrape_id text NOT NULL,
  valid_from timestamptz NOT NULL, valid_to timestamptz NOT NULL, first_seen timestamptz,
  change_window_start timestamptz, provenance text);
CREATE UNLOGGED TABLE scrapes (scrape_id text, source text, status text, started_at timestamptz);
"""

LAYOUTS = {
    "btree": ("CREATE INDEX versions_interval ON versions (valid_to, valid_from)",
              "v.valid_from <= {t} AND v.valid_to > {t}"),
    "gist": ("CREATE INDEX versions_interval ON versions USING gist (tstzrange(valid_from, valid_to, '[)'))",
             "tstzrange(v.valid_from, v.valid_to, '[)') @> {t}"),
}


def pg_ts(value):
    return f"TIMESTAMPTZ '{value.strftime('%Y-%m-%d %H:%M:%S')}+00'"


def questions(manifest, layout):
    mid = dt.datetime.fromisoformat(manifest["mid"]).astimezone(dt.timezone.utc)
    hour_later = mid + dt.timedelta(hours=1)
    history_id = manifest["history_id"]
    history_kind = history_id.split("-")[0]
    valid_at = LAYOUTS[layout][1].format(t=pg_ts(mid))
    as_of = f"""
        SELECT v.source, v.kind, v.id, v.layer, v.name, v.attrs, v.attrs_hash, v.labels, v.first_seen,
               v.valid_from AS last_changed, o.observed_at
        FROM versions v
        LEFT JOIN (SELECT source, max(started_at) AS observed_at FROM scrapes
                   WHERE status IN ('ok', 'partial') AND started_at <= {pg_ts(mid)} GROUP BY source) o
          ON o.source = v.source
        WHERE {valid_at} AND v.change <> 'removed'"""
    listed = [
        ("as_of_count", f"SELECT count(*) FROM versions v WHERE {valid_at} AND v.change <> 'removed'"),
        ("as_of_full", as_of),
    ]
    if layout == "btree":
        # These use the btree indexes every layout has; timed once.
        listed += [
            ("history", f"""
                SELECT source, kind, id, layer, name, attrs, attrs_hash, labels, change, diff, scrape_id,
                       valid_from, nullif(valid_to, 'infinity') AS valid_to, change_window_start, provenance
                FROM versions WHERE source = 'bench' AND kind = '{history_kind}' AND id = '{history_id}'
                  AND change <> 'removed'
                ORDER BY valid_from"""),
            ("changes_1h", f"""
                SELECT source, kind, id, layer, name, change, valid_from AS changed_at,
                       change_window_start AS changed_after, diff, attrs, scrape_id
                FROM versions WHERE valid_from > {pg_ts(mid)} AND valid_from <= {pg_ts(hour_later)}
                ORDER BY changed_at, source, kind, id"""),
        ]
    return listed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args()
    with open(os.path.join(args.dataset, "complete.json")) as handle:
        manifest = json.load(handle)

    server = Server()
    facts = {}
    variants = {}
    try:
        url = server.start()
        clock = time.perf_counter()
        versions_csv, scrapes_csv = export_csv(args.dataset, server.dir)
        facts["export_seconds"] = time.perf_counter() - clock
        with psycopg.connect(url, autocommit=True) as connection:
            facts["version"] = connection.execute("SHOW server_version").fetchone()[0]
            connection.execute(SCHEMA)
            clock = time.perf_counter()
            connection.execute(f"COPY versions FROM '{versions_csv}' WITH (FORMAT csv)")
            connection.execute(f"COPY scrapes FROM '{scrapes_csv}' WITH (FORMAT csv)")
            facts["copy_seconds"] = time.perf_counter() - clock
            clock = time.perf_counter()
            connection.execute("CREATE INDEX versions_history ON versions (kind, id, valid_from)")
            connection.execute("CREATE INDEX versions_from ON versions (valid_from)")
            facts["base_index_seconds"] = time.perf_counter() - clock
            facts["rows"] = connection.execute("SELECT count(*) FROM versions").fetchone()[0]
            print(f"PostgreSQL {facts['version']}: {facts['rows']} rows loaded in "
                  f"{facts['copy_seconds']:.0f} s (export {facts['export_seconds']:.0f} s)", flush=True)
            for layout, (index, _) in LAYOUTS.items():
                connection.execute("DROP INDEX IF EXISTS versions_interval")
                clock = time.perf_counter()
                connection.execute(index)
                connection.execute("VACUUM ANALYZE versions")
                connection.execute("VACUUM ANALYZE scrapes")
                facts[f"{layout}_index_seconds"] = time.perf_counter() - clock
                facts[f"{layout}_index_bytes"] = connection.execute(
                    "SELECT pg_relation_size('versions_interval')").fetchone()[0]
                for name, sql in questions(manifest, layout):
                    rows = connection.execute(sql).fetchall()  # warm-up, and the row count
                    count = rows[0][0] if name == "as_of_count" else len(rows)
                    times = []
                    for _ in range(args.runs):
                        start = time.perf_counter()
                        connection.execute(sql).fetchall()
                        times.append((time.perf_counter() - start) * 1e3)
                    plan = connection.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}").fetchall()
                    plan_text = "\n".join(row[0] for row in plan)
                    with open(os.path.join(args.dataset, f"postgres_explain_{name}_{layout}.txt"), "w") as handle:
                        handle.write(sql.strip() + "\n\n" + plan_text + "\n")
                    execution = [line for line in plan_text.splitlines() if "Execution Time" in line]
                    variants.setdefault(name, {})[layout] = {
                        "median_ms": statistics.median(times), "runs_ms": times, "rows": count,
                        "uses_interval_index": "versions_interval" in plan_text,
                        "explain_execution": execution[0].strip() if execution else None}
                    print(f"{name:<12} {layout:<6} {count:>8} rows {statistics.median(times):>10.1f} ms"
                          f"  interval index used: {'versions_interval' in plan_text}", flush=True)
            facts["table_bytes"] = connection.execute(
                "SELECT pg_total_relation_size('versions')").fetchone()[0]
    finally:
        server.stop()

    results = {}
    for name, by_layout in variants.items():
        best = min(by_layout, key=lambda layout: by_layout[layout]["median_ms"])
        results[name] = dict(by_layout[best], variant=best, variants={
            layout: {key: value[key] for key in ("median_ms", "rows", "uses_interval_index")}
            for layout, value in by_layout.items()})
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"postgres": facts, "settings": SETTINGS, "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
