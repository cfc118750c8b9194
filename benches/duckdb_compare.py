#!/usr/bin/env python3
"""Run the foundation benchmark questions with DuckDB over the same Parquet files.

The live files of the `versions` and `scrapes` Delta tables are found by replaying the JSON
commits in `<table>/_delta_log/` (adds minus removes); DuckDB's delta extension is not used
(it cannot be downloaded offline). Each question runs `--runs` times (default 5) after one
warm-up run; the median is printed next to Groundtruth's criterion median when available.

Usage:
    python benches/duckdb_compare.py DATASET_DIR [--criterion DIR] [--runs N] [--json OUT]
"""

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time

import duckdb

TARGETS_MS = {
    "as_of_count": 500,
    "as_of_full": 500,
    "history": 50,
    "changes_1h": 100,
}


def live_files(table_dir):
    """Live Parquet paths of a local Delta table, by replaying its JSON commit log."""
    log_dir = os.path.join(table_dir, "_delta_log")
    names = sorted(os.listdir(log_dir))
    if any("checkpoint" in name for name in names):
        sys.exit(f"{log_dir} has a checkpoint; JSON replay is not enough")
    live = {}
    for name in names:
        if not name.endswith(".json"):
            continue
        with open(os.path.join(log_dir, name)) as handle:
            for line in handle:
                line = line.strip()
                if not line:
                    continue
                action = json.loads(line)
                if "add" in action:
                    live[action["add"]["path"]] = True
                elif "remove" in action:
                    live.pop(action["remove"]["path"], None)
    return [os.path.join(table_dir, path) for path in sorted(live)]


def sql_list(paths):
    return "[" + ", ".join("'" + path.replace("'", "''") + "'" for path in paths) + "]"


def state_query(version_filter, scrape_filter):
    """Same shape as Groundtruth's `resources` / `resources_at` definition."""
    return f"""
        SELECT v.source, v.kind, v.id, v.layer, v.name, v.attrs, v.attrs_hash, v.labels,
               v.first_seen, v.valid_from AS last_changed, o.last_success_at AS observed_at
        FROM (SELECT source, kind, id, layer, name, attrs, attrs_hash, labels, change, valid_from,
                     row_number() OVER (PARTITION BY source, kind, id ORDER BY valid_from DESC) AS recency,
                     min(valid_from) OVER (PARTITION BY source, kind, id) AS first_seen
              FROM versions {version_filter}) AS v
        LEFT JOIN (SELECT source, max(started_at) AS last_success_at FROM scrapes
                   WHERE status IN ('ok', 'partial') {scrape_filter} GROUP BY source) AS o
          ON o.source = v.source
        WHERE v.recency = 1 AND v.change <> 'removed'"""


def ts(value):
    return f"TIMESTAMPTZ '{value.strftime('%Y-%m-%d %H:%M:%S')}+00'"


def fetch(connection, sql):
    """Run and materialise the whole result as Arrow (the API name differs across versions)."""
    result = connection.execute(sql)
    for method in ("to_arrow_table", "fetch_arrow_table", "arrow"):
        if hasattr(result, method):
            return getattr(result, method)()
    raise RuntimeError("no Arrow fetch method on this DuckDB version")


def criterion_median_ms(criterion_dir, name):
    if not criterion_dir:
        return None
    path = os.path.join(criterion_dir, "foundation", name, "new", "estimates.json")
    try:
        with open(path) as handle:
            return json.load(handle)["median"]["point_estimate"] / 1e6
    except (OSError, KeyError, ValueError):
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help="target/bench-data/foundation-<params>")
    parser.add_argument("--criterion", help="criterion output directory (target/criterion)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    with open(os.path.join(args.dataset, "complete.json")) as handle:
        manifest = json.load(handle)
    # Params::mid_time: 30 s after scrape scrapes/2, one scrape a minute from 2026-01-01 UTC.
    epoch = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    mid = epoch + dt.timedelta(minutes=manifest["params"]["scrapes"] // 2, seconds=30)
    hour_later = mid + dt.timedelta(hours=1)
    history_id = manifest["history_id"]
    history_kind = history_id.split("-")[0]

    versions = live_files(os.path.join(args.dataset, "versions"))
    scrapes = live_files(os.path.join(args.dataset, "scrapes"))
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(f"CREATE VIEW versions AS SELECT * FROM read_parquet({sql_list(versions)})")
    connection.execute(f"CREATE VIEW scrapes AS SELECT * FROM read_parquet({sql_list(scrapes)})")
    threads = connection.execute("SELECT current_setting('threads')").fetchone()[0]

    questions = [
        ("as_of_count", f"SELECT count(*) FROM ({state_query(f'WHERE valid_from <= {ts(mid)}', f'AND started_at <= {ts(mid)}')})"),
        ("as_of_full", state_query(f"WHERE valid_from <= {ts(mid)}", f"AND started_at <= {ts(mid)}")),
        ("history", f"""
            SELECT * FROM (
              SELECT source, kind, id, layer, name, attrs, attrs_hash, labels, change, diff, scrape_id,
                     valid_from, lead(valid_from) OVER (PARTITION BY source, kind, id ORDER BY valid_from) AS valid_to,
                     change_window_start, provenance
              FROM versions)
            WHERE change <> 'removed' AND source = 'bench' AND kind = '{history_kind}' AND id = '{history_id}'
            ORDER BY valid_from"""),
        # Groundtruth also computes changed_paths(diff), a UDF DuckDB does not have.
        ("changes_1h", f"""
            SELECT source, kind, id, layer, name, change, valid_from AS changed_at,
                   change_window_start AS changed_after, diff, attrs, scrape_id
            FROM versions WHERE valid_from > {ts(mid)} AND valid_from <= {ts(hour_later)}
            ORDER BY changed_at, source, kind, id"""),
    ]

    results = {}
    for name, sql in questions:
        table = fetch(connection, sql)  # warm-up, and the row count
        rows = table.num_rows
        if name == "as_of_count":
            rows = table.column(0)[0].as_py()
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            fetch(connection, sql)
            times.append((time.perf_counter() - start) * 1e3)
        results[name] = {"median_ms": statistics.median(times), "runs_ms": times, "rows": rows}

    print(f"DuckDB {duckdb.__version__}, {threads} threads, {len(versions)} versions file(s), "
          f"{args.runs} runs per question (after one warm-up)")
    print(f"{'question':<12} {'rows':>8} {'Groundtruth ms':>15} {'DuckDB ms':>10} {'target ms':>10}")
    for name, _ in questions:
        ours = criterion_median_ms(args.criterion, name)
        ours_text = f"{ours:.1f}" if ours is not None else "-"
        result = results[name]
        result["groundtruth_median_ms"] = ours
        print(f"{name:<12} {result['rows']:>8} {ours_text:>15} {result['median_ms']:>10.1f} {TARGETS_MS[name]:>10}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"duckdb_version": duckdb.__version__, "threads": threads, "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
