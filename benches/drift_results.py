#!/usr/bin/env python3
"""Write benches/results/<dataset>.json for a drift dataset: per question the rows, the
Groundtruth criterion median and the DuckDB median (both in ms, from the same run), plus the
dataset's shape and the machine.

Reads `<dataset>/report.json` (the drift bench) and `<dataset>/duckdb.json`
(benches/duckdb_drift.py, which also records Groundtruth's criterion medians).

Usage:
    python benches/drift_results.py DATASET_DIR --out benches/results/NAME.json
"""

import argparse
import json
import os

from results import machine


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(os.path.join(args.dataset, "report.json")) as handle:
        report = json.load(handle)
    with open(os.path.join(args.dataset, "duckdb.json")) as handle:
        duckdb = json.load(handle)
    dataset = report["dataset"]
    measures = {}
    for name, run in report["first_runs"].items():
        peer = duckdb["results"].get(name, {})
        measures[name] = {
            "rows": run["rows"],
            "sql": run["sql"],
            "groundtruth_ms": peer.get("groundtruth_median_ms"),
            "groundtruth_timing": "criterion median (10 samples)",
            "duckdb_ms": peer.get("median_ms"),
            "target_ms": 300 if name.startswith("drift_") and name != "drift_history" else None,
        }
    result = {
        "dataset": dataset["dataset"],
        "identities": dataset["params"]["identities"],
        "scrapes_per_source": dataset["params"]["scrapes"],
        "version_rows": dataset["rows"],
        "declared_now": dataset["declared_now"],
        "live_now": dataset["live_now"],
        "duckdb_version": duckdb.get("duckdb_version"),
        "machine": machine(),
        "measures": measures,
    }
    with open(args.out, "w") as handle:
        json.dump(result, handle, indent=2)
        handle.write("\n")
    print(f"{result['dataset']}: {result['version_rows']:,} version rows -> {args.out}")
    for name, measure in measures.items():
        ours, theirs = measure["groundtruth_ms"], measure["duckdb_ms"]
        print(f"{name:24} {measure['rows']:>8} {ours or 0:>10.1f} {theirs or 0:>10.1f}")


if __name__ == "__main__":
    main()
