#!/usr/bin/env bash
# A history-wide scan, embedded engine against a Ballista cluster on this machine: the same
# query over psql to `serve --no-ingest` and to `serve` with `[server] cluster` (a scheduler and
# EXECUTORS executors started here, on loopback), on `groundtruth demo`'s DAYS of history.
#   GROUNDTRUTH_BIN  the binary (default target/release/groundtruth, else target/debug)
#   DAYS             days of demo history (default 30)
#   EXECUTORS        executors (default 2), each running TASKS tasks at once (default 1)
#   RUNS             timed runs per query and engine, after one warm-up (default 5)
# Prints, per query and engine, the median and minimum server-side time (psql \timing).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${GROUNDTRUTH_BIN:-target/release/groundtruth}
[ -x "$BIN" ] || BIN=target/debug/groundtruth
DAYS=${DAYS:-30}; EXECUTORS=${EXECUTORS:-2}; TASKS=${TASKS:-1}; RUNS=${RUNS:-5}
WORK=$(mktemp -d /tmp/gt-cluster-scan.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

DEMO_PORT=$(free_port)
"$BIN" demo --store "$WORK/store" --listen "127.0.0.1:$DEMO_PORT" --days "$DAYS" > /dev/null 2> "$WORK/demo.err" &
DEMO_PID=$!
for _ in $(seq 600); do
  [ "$(psql -X -A -t -h 127.0.0.1 -p "$DEMO_PORT" -U bench -d groundtruth \
        -c "SELECT count(*) > 0 FROM scrapes WHERE source = 'this_host'" 2>/dev/null)" = t ] && break
  sleep 0.5
done
kill -TERM "$DEMO_PID"; wait "$DEMO_PID" || true

SCHEDULER="127.0.0.1:$(free_port)"
printf 'store = "%s"\n' "$WORK/store" > "$WORK/store.toml"
"$BIN" --config "$WORK/store.toml" cluster scheduler --bind "$SCHEDULER" > /dev/null 2> "$WORK/scheduler.err" &
PIDS+=($!)
for _ in $(seq "$EXECUTORS"); do
  "$BIN" --config "$WORK/store.toml" cluster executor --scheduler "$SCHEDULER" --port "$(free_port)" \
    --grpc-port "$(free_port)" --concurrent-tasks "$TASKS" > /dev/null 2>> "$WORK/executors.err" &
  PIDS+=($!)
done
PLAIN=$(free_port); ROUTED=$(free_port)
printf 'store = "%s"\n[server]\nlisten = "127.0.0.1:%s"\n' "$WORK/store" "$PLAIN" > "$WORK/plain.toml"
printf 'store = "%s"\n[server]\nlisten = "127.0.0.1:%s"\ncluster = "%s"\n' "$WORK/store" "$ROUTED" "$SCHEDULER" > "$WORK/routed.toml"
sleep 3   # executors register with the scheduler
"$BIN" --config "$WORK/plain.toml" serve --no-ingest > /dev/null 2> "$WORK/plain.err" &
PIDS+=($!)
"$BIN" --config "$WORK/routed.toml" serve --no-ingest > /dev/null 2> "$WORK/routed.err" &
PIDS+=($!)
for port in "$PLAIN" "$ROUTED"; do
  for _ in $(seq 120); do psql -X -h 127.0.0.1 -p "$port" -U bench -d groundtruth -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.5; done
done

ROWS=$(psql -X -A -t -h 127.0.0.1 -p "$PLAIN" -U bench -d groundtruth -c 'SELECT count(*) FROM storage.versions')
echo "store: $DAYS days, $ROWS version rows; cluster: $EXECUTORS executors x $TASKS tasks; $(nproc) cores"
QUERIES=(
  "SELECT source, kind, count(*), count(DISTINCT id), max(valid_to) FROM resource_versions GROUP BY source, kind"
  "SELECT kind, id, count(*) AS changes FROM storage.versions GROUP BY kind, id ORDER BY changes DESC LIMIT 10"
)
timed() { # port query -> one time in ms per run
  for _ in $(seq $((RUNS + 1))); do
    psql -X -q -h 127.0.0.1 -p "$1" -U bench -d groundtruth -c '\timing on' -c "$2" -o /dev/null \
      | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
  done | tail -n "$RUNS" | sort -n
}
for query in "${QUERIES[@]}"; do
  for engine in embedded:"$PLAIN" cluster:"$ROUTED"; do
    times=$(timed "${engine#*:}" "$query")
    printf '%-8s median %8.1f ms  min %8.1f ms  %s\n' "${engine%%:*}" \
      "$(sed -n "$(( (RUNS + 1) / 2 ))p" <<<"$times")" "$(head -1 <<<"$times")" "${query:0:60}"
  done
done
