#!/usr/bin/env bash
# Build and run one benchmark suite, then the DuckDB comparison on the same data.
#
#   bash benches/run.sh                 # foundation: 100k resources x 2,000 scrapes x 0.5 % churn
#   GT_BENCH_RESOURCES=10000 GT_BENCH_SCRAPES=200 bash benches/run.sh   # smaller
#   bash benches/run.sh drift           # drift: 20k identities x 400 scrapes of 2 sources
#
# Environment: GT_BENCH_RESOURCES / GT_BENCH_SCRAPES / GT_BENCH_CHURN / GT_BENCH_SEED (foundation
# dataset shape), GT_DRIFT_IDENTITIES / GT_DRIFT_SCRAPES / GT_DRIFT_EVENTS / GT_DRIFT_SEED (drift
# dataset shape), GT_BENCH_DATA (dataset root, default target/bench-data), CARGO_TARGET_DIR
# (build directory; criterion writes to $CARGO_TARGET_DIR/criterion), DUCKDB_VENV (default
# /tmp/duckdb-venv; created with `pip install duckdb` if missing).
set -euo pipefail

suite="${1:-foundation}"
case "$suite" in
    foundation | drift) ;;
    *)
        echo "usage: bash benches/run.sh [foundation|drift]" >&2
        exit 2
        ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="${DUCKDB_VENV:-/tmp/duckdb-venv}"
log="$(mktemp /tmp/groundtruth-bench.XXXXXX.log)"

echo "== criterion bench (log: $log)"
cargo bench -p groundtruth-benches --bench "$suite" 2>&1 | tee "$log"

dataset="$(sed -n "s/^\[$suite\] dataset \(.*\) ([A-Za-z]*Params.*/\1/p" "$log" | head -n1)"
if [[ -z "$dataset" || ! -f "$dataset/complete.json" ]]; then
    echo "could not find the dataset directory in the bench output" >&2
    exit 1
fi

echo "== DuckDB over the same Parquet files ($dataset)"
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import duckdb, pyarrow" 2>/dev/null; then
    "$venv/bin/pip" install --quiet duckdb pyarrow
fi
if [[ "$suite" == drift ]]; then
    "$venv/bin/python" "$root/benches/duckdb_drift.py" "$dataset" \
        --criterion "$target/criterion" --json "$dataset/duckdb.json"
    echo "== summary"
    python3 - "$dataset/report.json" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
dataset = report["dataset"]
print(f"dataset: {dataset['rows']} version rows, {dataset['declared_now']} declared + "
      f"{dataset['live_now']} live resources now, built in "
      f"{dataset['generate_seconds'] + dataset['commit_seconds'] + dataset['compact_seconds']:.0f}s")
print(f"planted now: {dataset['counts_now']}; at mid: {dataset['counts_mid']}")
for name, run in report["first_runs"].items():
    print(f"{name}: {run['rows']} rows, first run {run['first_run_ms']:.0f} ms")
EOF
    exit 0
fi
"$venv/bin/python" "$root/benches/duckdb_compare.py" "$dataset" \
    --criterion "$target/criterion" --json "$dataset/duckdb.json"

echo "== summary"
python3 - "$dataset/report.json" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
ingest, storage = report["ingest"], report["storage"]
print(f"dataset: {report['dataset']['rows']} version rows, "
      f"built in {report['dataset']['generate_seconds'] + report['dataset']['commit_seconds'] + report['dataset']['compact_seconds']:.0f}s")
print(f"ingest of one {ingest['resources_observed']}-resource scrape: plan {ingest['mean_plan_ms']:.0f} ms + "
      f"commit {ingest['mean_commit_ms']:.0f} ms (target < 1000 ms), {ingest['rows_written_per_ingest']} rows written")
print(f"peak RSS: {ingest['peak_rss_kib'] / 1024:.0f} MiB during ingest"
      f"{'' if ingest['peak_rss_reset_before_ingest'] else ' (peak counter could not be reset: whole-process peak)'}, "
      f"{report['process_peak_rss_kib'] / 1024:.0f} MiB whole process")
print(f"storage: {storage['store_bytes'] / 1e6:.1f} MB store vs {storage['full_snapshots_bytes'] / 1e9:.1f} GB as "
      f"{report['params']['scrapes']} full snapshots ({storage['snapshot_bytes'] / 1e6:.1f} MB each): "
      f"{storage['ratio'] * 100:.2f} % (target < 2 %)")
EOF
