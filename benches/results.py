#!/usr/bin/env python3
"""Collect one dataset's figures into `benches/results/<dataset>.json` and print a table.

Reads, from the dataset directory: `complete.json` (the marker), `report.json` (the criterion
bench's non-timing figures), `duckdb.json`, `postgres.json`, `ingest.json` (the fresh-process
ingest) and `serve.json` (server start-up), whichever exist, plus criterion's medians.

Usage:
    python benches/results.py DATASET_DIR --criterion TARGET/criterion --out benches/results/NAME.json
"""

import argparse
import datetime as dt
import json
import os
import subprocess

# Issue 12's targets at one year (ms unless said); the foundation issue's for 2,000 scrapes.
TARGETS = {
    "foundation-year": {"as_of_full": 300, "as_of_count": 50, "history": 20, "changes_1h": 50,
                        "ingest": 300, "ingest_peak_rss_mib": 300, "serve_first_answer": 5000,
                        "storage_ratio": 0.03},
    "foundation": {"as_of_full": 500, "as_of_count": 500, "history": 50, "changes_1h": 100,
                   "ingest": 1000, "storage_ratio": 0.02},
}


def load(directory, name):
    path = os.path.join(directory, name)
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def criterion_median_ms(criterion_dir, group, name):
    path = os.path.join(criterion_dir or "", group, name, "new", "estimates.json")
    try:
        with open(path) as handle:
            return json.load(handle)["median"]["point_estimate"] / 1e6
    except (OSError, KeyError, ValueError):
        return None


def machine():
    def run(command):
        try:
            return subprocess.run(command, capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            return ""
    model = next((line.split(":", 1)[1].strip() for line in run(["lscpu"]).splitlines()
                  if line.startswith("Model name")), None)
    memory = next((line.split()[1] for line in run(["free", "-g"]).splitlines()
                   if line.startswith("Mem:")), None)
    return {"nproc": int(run(["nproc"]).strip() or 0), "memory_gib": int(memory) if memory else None,
            "cpu_model": model, "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("--criterion")
    parser.add_argument("--out", required=True)
    parser.add_argument("--note", help="what this run is (e.g. partial, which engine)")
    args = parser.parse_args()

    marker = load(args.dataset, "complete.json")
    report = load(args.dataset, "report.json") or {}
    duck = (load(args.dataset, "duckdb.json") or {}).get("results", {})
    pg = load(args.dataset, "postgres.json") or {}
    ingest = load(args.dataset, "ingest.json")
    serve = load(args.dataset, "serve.json")
    name = marker.get("dataset", os.path.basename(os.path.normpath(args.dataset)))
    targets = TARGETS.get(name, {})
    group = report.get("criterion_group", name)

    measures = {}
    for measure in ("as_of_full", "as_of_count", "history", "changes_1h"):
        first = report.get("first_runs", {}).get(measure, {})
        ours = criterion_median_ms(args.criterion, group, measure)
        how = "criterion median (10 samples)"
        manual = report.get("manual_medians", {}).get(measure)
        if manual:
            ours, how = manual["median_ms"], f"median of {len(manual['runs_ms'])} runs (too slow for criterion)"
        entry = {"rows": first.get("rows"), "groundtruth_ms": ours, "groundtruth_timing": how,
                 "target_ms": targets.get(measure)}
        if measure in duck:
            entry["duckdb_ms"] = duck[measure]["median_ms"]
            entry["duckdb_variant"] = duck[measure]["variant"]
            entry["duckdb_rows"] = duck[measure]["rows"]
        if measure in pg.get("results", {}):
            entry["postgres_ms"] = pg["results"][measure]["median_ms"]
            entry["postgres_variant"] = pg["results"][measure]["variant"]
            entry["postgres_rows"] = pg["results"][measure]["rows"]
            entry["postgres_uses_interval_index"] = pg["results"][measure].get("uses_interval_index")
        measures[measure] = entry
    storage = report.get("storage")
    if storage:
        measures["storage"] = {"store_bytes": storage["store_bytes"],
                               "full_snapshots_bytes": storage["full_snapshots_bytes"],
                               "ratio": storage["ratio"], "target_ratio": targets.get("storage_ratio"),
                               "detail": storage}
    if ingest:
        measures["ingest_fresh_process"] = {
            "rows": ingest["rows_written"], "groundtruth_ms": ingest["ingest_ms"],
            "plan_ms": ingest["plan_ms"], "commit_ms": ingest["commit_ms"],
            "load_state_ms": ingest["load_state_ms"], "recover_ms": ingest["recover_ms"],
            "checkpoint_ms": ingest["checkpoint_ms"],
            "peak_rss_mib": ingest["peak_rss_mib"]["end"], "peak_rss_by_phase_mib": ingest["peak_rss_mib"],
            "target_ms": targets.get("ingest"), "target_peak_rss_mib": targets.get("ingest_peak_rss_mib")}
    if serve:
        measures["serve_first_answer"] = {
            "groundtruth_ms": serve["first_answer_ms"], "query": serve["query"], "answer": serve["answer"],
            "warm_query_ms": serve["warm_query_ms"], "server_peak_rss_mib": serve.get("server_peak_rss_mib"),
            "target_ms": targets.get("serve_first_answer")}

    result = {
        "dataset": name,
        "note": args.note,
        "scrapes": marker["params"]["scrapes"],
        "scrape_interval_seconds": marker["params"].get("interval_seconds", 60),
        "resources": marker["params"]["resources"],
        "version_rows": marker["rows"],
        "checkpoints_written": marker.get("checkpoints_written", 0),
        "checkpoint_rows": marker.get("checkpoint_rows", 0),
        "mid": marker["mid"],
        "build_seconds": {key: marker.get(f"{key}_seconds") for key in ("generate", "commit", "checkpoint", "compact")},
        "machine": machine(),
        "duckdb_version": (load(args.dataset, "duckdb.json") or {}).get("duckdb_version"),
        "postgres": pg.get("postgres"),
        "measures": measures,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump(result, handle, indent=2)
        handle.write("\n")

    def fmt(value):
        return "-" if value is None else f"{value:,.1f}"
    print(f"{name}: {result['scrapes']} scrapes, {result['version_rows']:,} version rows -> {args.out}")
    print(f"{'measure':<22} {'rows':>8} {'Groundtruth':>12} {'DuckDB':>10} {'PostgreSQL':>11} {'target':>8}")
    for measure, entry in measures.items():
        if "groundtruth_ms" not in entry:
            continue
        print(f"{measure:<22} {entry.get('rows') or '':>8} {fmt(entry['groundtruth_ms']):>12} "
              f"{fmt(entry.get('duckdb_ms')):>10} {fmt(entry.get('postgres_ms')):>11} {fmt(entry.get('target_ms')):>8}")
    if storage:
        print(f"storage: {storage['store_bytes']:,} B vs {storage['full_snapshots_bytes']:,} B of full snapshots "
              f"= {storage['ratio'] * 100:.2f} %")


if __name__ == "__main__":
    main()
