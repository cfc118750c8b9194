#!/usr/bin/env python3
"""Run the drift benchmark questions with DuckDB over the same Parquet files.

The closest plain-SQL equivalent of Groundtruth's `drift`: the latest version per identity
(the same window as the engine's `resources`), declared and live joined by (kind, id) with a
FULL OUTER JOIN, `missing` / `unmanaged` only for kinds the other layer knows, and `changed` when
the two attrs documents differ. DuckDB compares **whole canonical documents for text equality**:
no walk of the declared paths only, no per-kind normalization (quantities, name-matched lists,
scalar sets), no ignore rules, no differences list, no source staleness. It does less work,
and on this dataset (where the live side carries server defaults) it calls every linked pair
`changed`, so its status counts differ from Groundtruth's; only the shape of the work matches.
`drift_history` has no DuckDB counterpart here.

Usage:
    python benches/duckdb_drift.py DATASET_DIR [--criterion DIR] [--runs N] [--json OUT]
"""

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import duckdb  # noqa: E402

from duckdb_compare import fetch, live_files, sql_list, ts  # noqa: E402
import results  # noqa: E402


def drift_query(version_filter, live_filter):
    return f"""
        WITH current_versions AS (
               SELECT source, kind, id, layer, attrs FROM (
                 SELECT source, kind, id, layer, attrs, change,
                        row_number() OVER (PARTITION BY source, kind, id ORDER BY valid_from DESC) AS recency
                 FROM versions {version_filter})
               WHERE recency = 1 AND change <> 'removed'),
             declared AS (SELECT source, kind, id, attrs FROM current_versions WHERE layer = 'declared'),
             live AS (SELECT source, kind, id, attrs FROM current_versions WHERE layer = 'live'),
             watched AS (SELECT DISTINCT kind FROM versions WHERE layer = 'live' {live_filter}),
             declared_kinds AS (SELECT DISTINCT kind FROM declared)
        SELECT CASE WHEN l.id IS NULL THEN 'missing'
                    WHEN d.id IS NULL THEN 'unmanaged'
                    WHEN d.attrs = l.attrs THEN 'in_sync' ELSE 'changed' END AS status,
               coalesce(l.kind, d.kind) AS kind, coalesce(l.id, d.id) AS id,
               d.source AS declared_source, d.kind AS declared_kind, d.id AS declared_id,
               l.source AS live_source, l.kind AS live_kind, l.id AS live_id,
               d.attrs AS declared_attrs, l.attrs AS live_attrs
        FROM declared d FULL OUTER JOIN live l ON l.kind = d.kind AND l.id = d.id
        WHERE (l.id IS NOT NULL OR d.kind IN (SELECT kind FROM watched))
          AND (d.id IS NOT NULL OR l.kind IN (SELECT kind FROM declared_kinds))"""


def criterion_median_ms(criterion_dir, name):
    return results.criterion_median_ms(criterion_dir, "drift", name)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help="target/bench-data/drift-<params>")
    parser.add_argument("--criterion", help="criterion output directory (target/criterion)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    with open(os.path.join(args.dataset, "complete.json")) as handle:
        manifest = json.load(handle)
    mid = dt.datetime.fromisoformat(manifest["mid"]).astimezone(dt.timezone.utc)

    versions = live_files(os.path.join(args.dataset, "versions"))
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(f"CREATE VIEW versions AS SELECT * FROM read_parquet({sql_list(versions)})")
    threads = connection.execute("SELECT current_setting('threads')").fetchall()[0][0]

    now_sql = drift_query("", "")
    at_sql = drift_query(f"WHERE valid_from <= {ts(mid)}", f"AND valid_from <= {ts(mid)}")
    questions = [
        ("drift_counts", f"SELECT status, count(*) FROM ({now_sql}) GROUP BY status"),
        ("drift_not_in_sync", f"SELECT * FROM ({now_sql}) WHERE status <> 'in_sync'"),
        ("drift_at_counts", f"SELECT status, count(*) FROM ({at_sql}) GROUP BY status"),
        ("drift_at_not_in_sync", f"SELECT * FROM ({at_sql}) WHERE status <> 'in_sync'"),
    ]

    results = {}
    for name, sql in questions:
        table = fetch(connection, sql)  # warm-up, and the answer
        answer = table.num_rows
        if name.endswith("_counts"):
            answer = dict(sorted(zip(table.column(0).to_pylist(), table.column(1).to_pylist())))
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            fetch(connection, sql)
            times.append((time.perf_counter() - start) * 1e3)
        results[name] = {"median_ms": statistics.median(times), "runs_ms": times, "answer": answer}

    print(f"DuckDB {duckdb.__version__}, {threads} threads, {len(versions)} versions file(s), "
          f"{args.runs} runs per question (after one warm-up); whole-document comparison")
    print(f"{'question':<22} {'Groundtruth ms':>15} {'DuckDB ms':>10}  DuckDB answer")
    for name, _ in questions:
        ours = criterion_median_ms(args.criterion, name)
        result = results[name]
        result["groundtruth_median_ms"] = ours
        ours_text = f"{ours:.1f}" if ours is not None else "-"
        print(f"{name:<22} {ours_text:>15} {result['median_ms']:>10.1f}  {result['answer']}")
    history = criterion_median_ms(args.criterion, "drift_history")
    if history is not None:
        print(f"{'drift_history':<22} {history:>15.1f} {'-':>10}  (no DuckDB counterpart)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"duckdb_version": duckdb.__version__, "threads": threads, "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
