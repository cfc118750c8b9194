#!/usr/bin/env bash
# Build and run one benchmark suite, then the peers on the same data, then write
# benches/results/<dataset>.json.
#
#   bash benches/run.sh                 # foundation: 100k resources x 2,000 one-minute scrapes x 0.5 % churn
#   bash benches/run.sh year            # one year of hourly scrapes (8,760) of the same estate
#   GT_BENCH_RESOURCES=10000 GT_BENCH_SCRAPES=200 bash benches/run.sh   # smaller
#   bash benches/run.sh drift           # drift: 20k identities x 400 scrapes of 2 sources
#
# foundation and year run, in one go: the criterion bench (as-of count and listing, one
# resource's history, changes over 1 h, in-process ingest, storage), one ingest of a
# 100k-resource scrape in a fresh process (benches/src/bin/ingest_once.rs) on a hard-linked
# copy of the store, `groundtruth serve` start-up to the first answer (benches/serve_startup.py),
# DuckDB on the same Parquet files (benches/duckdb_compare.py) and PostgreSQL holding the same
# rows (benches/postgres_compare.py, its own server), then benches/results.py.
#
# Environment: GT_BENCH_RESOURCES / GT_BENCH_SCRAPES / GT_BENCH_CHURN / GT_BENCH_INTERVAL /
# GT_BENCH_SEED (dataset shape), GT_DRIFT_IDENTITIES / GT_DRIFT_SCRAPES / GT_DRIFT_EVENTS /
# GT_DRIFT_SEED (drift dataset shape), GT_BENCH_DATA (dataset root, default target/bench-data),
# CARGO_TARGET_DIR (build directory; criterion writes to $CARGO_TARGET_DIR/criterion),
# DUCKDB_VENV (default /tmp/duckdb-venv; created with `pip install duckdb pyarrow psycopg` if
# missing), GT_BENCH_SKIP (space-separated steps to skip: criterion ingest serve duckdb postgres).
set -euo pipefail

suite="${1:-foundation}"
case "$suite" in
    foundation) export GT_BENCH_PRESET=foundation bench=foundation ;;
    year) export GT_BENCH_PRESET=year bench=foundation ;;
    drift) bench=drift ;;
    *)
        echo "usage: bash benches/run.sh [foundation|year|drift]" >&2
        exit 2
        ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="${DUCKDB_VENV:-/tmp/duckdb-venv}"
skip=" ${GT_BENCH_SKIP:-} "
log="$(mktemp /tmp/groundtruth-bench.XXXXXX.log)"

if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import duckdb, pyarrow, psycopg" 2>/dev/null; then
    "$venv/bin/pip" install --quiet duckdb pyarrow 'psycopg[binary]'
fi

if [[ "$skip" == *" criterion "* ]]; then
    # Only build (or reuse) the dataset.
    cargo build --release -p groundtruth-benches --bin build_dataset
    "$target/release/build_dataset" >"$log"
    dataset="$(head -n1 "$log")"
else
    echo "== criterion bench (log: $log)"
    cargo bench -p groundtruth-benches --bench "$bench" 2>&1 | tee "$log"
    dataset="$(sed -n "s/^\[$bench\] dataset \(.*\) ([A-Za-z]*Params.*/\1/p" "$log" | head -n1)"
fi
if [[ -z "$dataset" || ! -f "$dataset/complete.json" ]]; then
    echo "could not find the dataset directory in the bench output" >&2
    exit 1
fi

if [[ "$suite" == drift ]]; then
    echo "== DuckDB over the same Parquet files ($dataset)"
    "$venv/bin/python" "$root/benches/duckdb_drift.py" "$dataset" \
        --criterion "$target/criterion" --json "$dataset/duckdb.json"
    name="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dataset"])' "$dataset/complete.json")"
    (cd "$root/benches" && python3 drift_results.py "$dataset" --out "$root/benches/results/$name.json")
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

name="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dataset"])' "$dataset/complete.json")"

if [[ "$skip" != *" ingest "* ]]; then
    echo "== ingest of one 100k-resource scrape in a fresh process"
    cargo build --release -p groundtruth-benches --bin ingest_once
    scratch="$(mktemp -d "$(dirname "$dataset")/ingest.XXXXXX")"
    # Hard links: Delta never rewrites a file in place, so the dataset is left untouched.
    cp -al "$dataset" "$scratch/store"
    "$target/release/ingest_once" "$scratch/store" | tee "$dataset/ingest.json"
    rm -rf "$scratch"
fi

if [[ "$skip" != *" serve "* ]]; then
    echo "== groundtruth serve start-up to the first answer"
    cargo build --release -p groundtruth-server
    "$venv/bin/python" "$root/benches/serve_startup.py" "$dataset" \
        --server "$target/release/groundtruth" --json "$dataset/serve.json"
fi

if [[ "$skip" != *" duckdb "* ]]; then
    echo "== DuckDB over the same Parquet files ($dataset)"
    "$venv/bin/python" "$root/benches/duckdb_compare.py" "$dataset" --json "$dataset/duckdb.json"
fi

if [[ "$skip" != *" postgres "* ]]; then
    echo "== PostgreSQL holding the same rows"
    "$venv/bin/python" "$root/benches/postgres_compare.py" "$dataset" --json "$dataset/postgres.json"
fi

echo "== summary"
"$venv/bin/python" "$root/benches/results.py" "$dataset" --criterion "$target/criterion" \
    --out "$root/benches/results/$name.json"
