#!/usr/bin/env python3
"""Run the foundation benchmark questions with DuckDB over the same Parquet files.

The live files of the `versions`, `scrapes` and (when present) `checkpoints` Delta tables are
found by replaying the JSON commits in `<table>/_delta_log/` (adds minus removes); DuckDB's
delta extension is not used (it cannot be downloaded offline). Each question runs `--runs`
times (default 5) after one warm-up run.

DuckDB is given its best SQL on the same layout Groundtruth has:

* as-of with state checkpoints: Python picks the newest checkpoint partition of the source with
  C <= T from the log's partition values (as a Delta reader prunes partitions), and DuckDB
  overlays the latest version per resource with valid_from in (C, T] on it;
* as-of without a checkpoint: two formulations, the engine's window (`row_number` over every
  version <= T) and "latest key first" (narrow GROUP BY, then join back for the wide columns);
  the faster one is reported;
* one resource's history: filter on (kind, id) first, then `lead()` for valid_to;
* changes over one hour: a range filter on valid_from (row-group statistics prune).

Usage:
    python benches/duckdb_compare.py DATASET_DIR [--runs N] [--json OUT]
"""

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
import urllib.parse

import duckdb


def log_actions(table_dir):
    """Yield (version, action) for every action of the table's JSON commits, in order."""
    log_dir = os.path.join(table_dir, "_delta_log")
    names = sorted(name for name in os.listdir(log_dir)
                   if name.endswith(".json") and not name.startswith("_"))
    # Delta log checkpoints (every 100 commits) are not read: replaying every JSON commit from
    # version 0 gives the same live set, as long as log cleanup has not removed the first ones.
    if not names or names[0] != "00000000000000000000.json":
        sys.exit(f"{log_dir} lacks its first commit; JSON replay is not enough")
    for name in names:
        with open(os.path.join(log_dir, name)) as handle:
            for line in handle:
                line = line.strip()
                if line:
                    yield int(name.split(".")[0]), json.loads(line)


def live_adds(table_dir):
    """The live `add` actions of a local Delta table, by path."""
    live = {}
    for _, action in log_actions(table_dir):
        if "add" in action:
            live[action["add"]["path"]] = action["add"]
        elif "remove" in action:
            live.pop(action["remove"]["path"], None)
    return live


def live_files(table_dir):
    """Live Parquet paths of a local Delta table, by replaying its JSON commit log."""
    return [os.path.join(table_dir, urllib.parse.unquote(path)) for path in sorted(live_adds(table_dir))]


def checkpoint_partitions(table_dir):
    """{(source, checkpoint_at_us): [files]} of the state checkpoints table, if it exists."""
    if not os.path.isdir(os.path.join(table_dir, "_delta_log")):
        return {}
    partitions = {}
    for path, add in live_adds(table_dir).items():
        values = add.get("partitionValues", {})
        key = (values.get("source"), int(values.get("checkpoint_at_us")))
        partitions.setdefault(key, []).append(os.path.join(table_dir, urllib.parse.unquote(path)))
    return partitions


def sql_list(paths):
    return "[" + ", ".join("'" + path.replace("'", "''") + "'" for path in paths) + "]"


def ts(value):
    return f"TIMESTAMPTZ '{value.strftime('%Y-%m-%d %H:%M:%S')}+00'"


def observed_join(at):
    """observed_at: the source's last successful scrape at or before T."""
    return f"""LEFT JOIN (SELECT source, max(started_at) AS observed_at FROM scrapes
                         WHERE status IN ('ok', 'partial') AND started_at <= {ts(at)} GROUP BY source) AS o
                 ON o.source = s.source"""


def as_of_window(at):
    """The engine's definition: a window over every version <= T."""
    return f"""
        SELECT s.*, o.observed_at FROM (
          SELECT source, kind, id, layer, name, attrs, attrs_hash, labels, first_seen,
                 valid_from AS last_changed
          FROM (SELECT source, kind, id, layer, name, attrs, attrs_hash, labels, change, valid_from,
                       row_number() OVER (PARTITION BY source, kind, id ORDER BY valid_from DESC) AS recency,
                       max(CASE WHEN change = 'added' THEN valid_from END)
                         OVER (PARTITION BY source, kind, id) AS first_seen
                FROM versions WHERE valid_from <= {ts(at)})
          WHERE recency = 1 AND change <> 'removed') AS s
        {observed_join(at)}"""


def as_of_latest_key(at):
    """Latest key first on narrow columns, then join back for attrs (late materialization)."""
    return f"""
        WITH latest AS (
          SELECT source, kind, id, max(valid_from) AS last_changed,
                 max(valid_from) FILTER (WHERE change = 'added') AS first_seen
          FROM versions WHERE valid_from <= {ts(at)} GROUP BY source, kind, id)
        SELECT s.*, o.observed_at FROM (
          SELECT v.source, v.kind, v.id, v.layer, v.name, v.attrs, v.attrs_hash, v.labels,
                 l.first_seen, l.last_changed
          FROM versions v JOIN latest l
            ON v.source = l.source AND v.kind = l.kind AND v.id = l.id AND v.valid_from = l.last_changed
          WHERE v.change <> 'removed' AND v.valid_from <= {ts(at)}) AS s
        {observed_join(at)}"""


def as_of_checkpoint(at, source, checkpoint_at, files):
    """Newest checkpoint C <= T of the source plus its versions in (C, T]."""
    return f"""
        WITH base AS (
          SELECT '{source}' AS source, kind, id, layer, name, attrs, attrs_hash, labels, first_seen,
                 last_changed
          FROM read_parquet({sql_list(files)})),
        tail AS (
          SELECT source, kind, id, layer, name, attrs, attrs_hash, labels, change, valid_from,
                 max(CASE WHEN change = 'added' THEN valid_from END)
                   OVER (PARTITION BY source, kind, id) AS added_at
          FROM versions
          WHERE source = '{source}' AND valid_from > {ts(checkpoint_at)} AND valid_from <= {ts(at)}
          QUALIFY row_number() OVER (PARTITION BY source, kind, id ORDER BY valid_from DESC) = 1)
        SELECT s.*, o.observed_at FROM (
          SELECT b.* FROM base b ANTI JOIN tail t ON t.kind = b.kind AND t.id = b.id
          UNION ALL
          SELECT t.source, t.kind, t.id, t.layer, t.name, t.attrs, t.attrs_hash, t.labels,
                 coalesce(t.added_at, b.first_seen) AS first_seen, t.valid_from AS last_changed
          FROM tail t LEFT JOIN base b ON b.kind = t.kind AND b.id = t.id
          WHERE t.change <> 'removed') AS s
        {observed_join(at)}"""


def fetch(connection, sql):
    """Run and materialise the whole result as Arrow (the API name differs across versions)."""
    # The relational API hands Arrow over without the DB-API result's extra copy of the rows.
    result = connection.sql(sql)
    for method in ("to_arrow_table", "fetch_arrow_table", "arrow"):
        if hasattr(result, method):
            return getattr(result, method)()
    raise RuntimeError("no Arrow fetch method on this DuckDB version")


def connect(dataset):
    """A DuckDB connection with `versions` and `scrapes` views over the live files."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    for table in ("versions", "scrapes"):
        files = live_files(os.path.join(dataset, table))
        connection.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet({sql_list(files)})")
    return connection


def questions(dataset, manifest):
    """[(measure, variant, sql)] for the dataset; variants of one measure compete."""
    mid = dt.datetime.fromisoformat(manifest["mid"]).astimezone(dt.timezone.utc)
    hour_later = mid + dt.timedelta(hours=1)
    history_id = manifest["history_id"]
    history_kind = history_id.split("-")[0]
    mid_us = int(mid.timestamp() * 1_000_000)
    partitions = checkpoint_partitions(os.path.join(dataset, "checkpoints"))
    candidates = [key for key in partitions if key[0] == "bench" and key[1] <= mid_us]
    as_of = [("window", as_of_window(mid)), ("latest_key", as_of_latest_key(mid))]
    if candidates:
        key = max(candidates, key=lambda item: item[1])
        checkpoint_at = dt.datetime.fromtimestamp(key[1] / 1e6, tz=dt.timezone.utc)
        as_of.append(("checkpoint", as_of_checkpoint(mid, key[0], checkpoint_at, partitions[key])))
    result = []
    for variant, sql in as_of:
        result.append(("as_of_count", variant, f"SELECT count(*) FROM ({sql})"))
        result.append(("as_of_full", variant, sql))
    result.append(("history", "filter_then_lead", f"""
        SELECT * FROM (
          SELECT source, kind, id, layer, name, attrs, attrs_hash, labels, change, diff, scrape_id,
                 valid_from, lead(valid_from) OVER (PARTITION BY source, kind, id ORDER BY valid_from) AS valid_to,
                 change_window_start, provenance
          FROM versions WHERE source = 'bench' AND kind = '{history_kind}' AND id = '{history_id}')
        WHERE change <> 'removed'
        ORDER BY valid_from"""))
    # Groundtruth also computes changed_paths(diff), a UDF DuckDB does not have.
    result.append(("changes_1h", "range", f"""
        SELECT source, kind, id, layer, name, change, valid_from AS changed_at,
               change_window_start AS changed_after, diff, attrs, scrape_id
        FROM versions WHERE valid_from > {ts(mid)} AND valid_from <= {ts(hour_later)}
        ORDER BY changed_at, source, kind, id"""))
    return result, partitions


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help="target/bench-data/foundation-<params>")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--criterion", help="ignored (kept for older callers)")
    args = parser.parse_args()

    with open(os.path.join(args.dataset, "complete.json")) as handle:
        manifest = json.load(handle)
    connection = connect(args.dataset)
    threads = connection.execute("SELECT current_setting('threads')").fetchall()[0][0]
    listed, partitions = questions(args.dataset, manifest)

    variants = {}
    for name, variant, sql in listed:
        table = fetch(connection, sql)  # warm-up, and the row count
        rows = table.num_rows
        if name == "as_of_count":
            rows = table.column(0)[0].as_py()
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            fetch(connection, sql)
            times.append((time.perf_counter() - start) * 1e3)
        variants.setdefault(name, {})[variant] = {
            "median_ms": statistics.median(times), "runs_ms": times, "rows": rows, "sql": sql}
        print(f"{name:<12} {variant:<16} {rows:>8} rows {statistics.median(times):>10.1f} ms", flush=True)
        if name in ("as_of_full", "changes_1h", "history"):
            plan = connection.execute(f"EXPLAIN ANALYZE {sql}").fetchall()
            with open(os.path.join(args.dataset, f"duckdb_explain_{name}_{variant}.txt"), "w") as handle:
                handle.write("\n".join(str(part) for row in plan for part in row))

    results = {}
    for name, by_variant in variants.items():
        best = min(by_variant, key=lambda variant: by_variant[variant]["median_ms"])
        results[name] = dict(by_variant[best], variant=best, variants={
            variant: {"median_ms": value["median_ms"], "rows": value["rows"]}
            for variant, value in by_variant.items()})
    print(f"DuckDB {duckdb.__version__}, {threads} threads, {len(partitions)} checkpoint partition(s)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"duckdb_version": duckdb.__version__, "threads": threads,
                       "checkpoint_partitions": len(partitions), "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
