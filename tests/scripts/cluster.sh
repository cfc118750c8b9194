#!/usr/bin/env bash
# History-wide queries on Apache Ballista: build a store with real history (`groundtruth demo`'s
# 30 simulated days), start a scheduler and two executors over it (`groundtruth cluster ...`, on
# loopback), and check that resources_at(T), changes(T1, T2), a resource_versions scan, a drift
# query (drift_at, through the attribute_drift UDF) and plain SQL over storage.versions answer
# exactly what the embedded engine answers (`groundtruth sql`), that both executors ran tasks,
# and that `serve` with `[server] cluster` hands history queries to the cluster (same answers
# over psql as a plain `serve`; with the cluster gone they fail while current-state queries
# still run in the server); and that a client whose [drift] settings differ from the cluster's
# is refused by name. Stops what it started by PID, also on failure. About a minute on 2 cores
# with a debug build, the 30-day store included.
#
# Regression: drift_at on the cluster once aborted the scheduler (a stack overflow turning its
# deep plan into protobuf, on 2 MiB worker stacks; fixed in server/src/main.rs) and then hung
# (Ballista's adaptive planner lost the job; the scheduler plans statically now). Each cluster
# query is bounded, so a lost job fails the test instead of stalling it.
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${GROUNDTRUTH_BIN:-target/debug/groundtruth}
[ -x "$BIN" ] || { echo "cluster: $BIN not found; build it first (cargo build -p groundtruth-server)"; exit 1; }

WORK=$(mktemp -d /tmp/groundtruth-cluster.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PIDS=()
stop() { # stop one process by PID and wait for it
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  for pid in "${PIDS[@]}"; do stop "$pid"; done
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "cluster: $1"; for log in "$WORK"/*.err "$WORK"/*.diff "$WORK"/*.notices; do [ -f "$log" ] || continue; echo "== $log"; tail -15 "$log"; done; exit 1; }

# 1. History: the demo's synthetic estate, one commit per simulated day.
DEMO_PORT=$(free_port)
"$BIN" demo --store "$WORK/store" --listen "127.0.0.1:$DEMO_PORT" > "$WORK/demo.out" 2> "$WORK/demo.err" &
DEMO_PID=$!
PIDS+=($DEMO_PID)
scraped=0
for _ in $(seq 240); do
  if [ "$(psql -X -A -t -h 127.0.0.1 -p "$DEMO_PORT" -U cluster -d groundtruth \
          -c "SELECT count(*) > 0 FROM scrapes WHERE source = 'this_host'" 2>/dev/null)" = t ]; then scraped=1; break; fi
  kill -0 "$DEMO_PID" 2>/dev/null || fail "demo exited early"
  sleep 0.5
done
[ "$scraped" -eq 1 ] || fail "demo did not write its history within 120 s"
kill -TERM "$DEMO_PID"
wait "$DEMO_PID" || fail "demo did not stop cleanly"
PIDS=()

printf 'store = "%s"\n' "$WORK/store" > "$WORK/store.toml"
gt() { "$BIN" --config "$WORK/store.toml" "$@"; }

# 2. The cluster: one scheduler, two executors, each reading the store itself.
SCHEDULER="127.0.0.1:$(free_port)"
# Started as "$BIN" itself, not through gt(): $! must be the process, or stopping it by PID
# would stop only a subshell and leave the cluster answering.
RUST_LOG=info "$BIN" --config "$WORK/store.toml" cluster scheduler --bind "$SCHEDULER" \
  > "$WORK/scheduler.out" 2> "$WORK/scheduler.err" &
PIDS+=($!)
for n in 1 2; do
  RUST_LOG=info "$BIN" --config "$WORK/store.toml" cluster executor --scheduler "$SCHEDULER" \
    --port "$(free_port)" --grpc-port "$(free_port)" --concurrent-tasks 2 \
    > "$WORK/executor$n.out" 2> "$WORK/executor$n.err" &
  PIDS+=($!)
done
registered=0
for _ in $(seq 240); do
  ready_executors=$(cat "$WORK"/executor1.* 2>/dev/null | grep -cE 'registration succeed|Starting poll work loop' || true)
  ready_executors=$((ready_executors + $(cat "$WORK"/executor2.* 2>/dev/null | grep -cE 'registration succeed|Starting poll work loop' || true)))
  [ "$ready_executors" -ge 2 ] && { registered=1; break; }
  for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || fail "a cluster process exited early"; done
  sleep 0.5
done
[ "$registered" -eq 1 ] || fail "two executors did not register with the scheduler within 120 s"

# 3. Instants inside the history, read from the store (constants, so both engines see the same).
instant() { gt sql "$1" | sed -n '4p' | tr -d '| '; }
T=$(instant "SELECT to_char(max(valid_from) - INTERVAL '10 days', '%Y-%m-%dT%H:%M:%S%.6f') FROM storage.versions")
T0=$(instant "SELECT to_char(max(valid_from) - INTERVAL '20 days', '%Y-%m-%dT%H:%M:%S%.6f') FROM storage.versions")
[[ "$T" =~ ^20[0-9][0-9]- ]] || fail "could not read an instant from the store: '$T'"

QUERIES=(
  "SELECT source, count(*) AS versions, count(DISTINCT id) AS identities, min(valid_from) AS first, max(valid_from) AS last FROM storage.versions GROUP BY source ORDER BY source"
  "SELECT source, kind, id, name, attrs_hash, first_seen, last_changed FROM resources_at(TIMESTAMP '$T') ORDER BY source, kind, id"
  "SELECT source, kind, id, change, changed_at, changed_paths FROM changes(TIMESTAMP '$T0', TIMESTAMP '$T') ORDER BY source, kind, id, changed_at, change"
  "SELECT source, kind, count(*) AS versions, count(DISTINCT id) AS identities, count(valid_to) AS closed, max(valid_to) AS last_closed FROM resource_versions GROUP BY source, kind ORDER BY source, kind"
  "SELECT status, kind, id, declared_source, declared_id, live_source, live_id, link_rule, differences FROM drift_at(TIMESTAMP '$T') ORDER BY status, kind, id, declared_source, declared_id, live_source, live_id"
)
for query in "${QUERIES[@]}"; do
  gt sql "$query" > "$WORK/embedded.txt" 2> "$WORK/embedded.err" || fail "embedded: $query"
  # Bounded: a job Ballista loses (as its adaptive planner did with drift_at) never answers.
  timeout 120 "$BIN" --config "$WORK/store.toml" cluster sql --scheduler "$SCHEDULER" "$query" \
    > "$WORK/cluster.txt" 2> "$WORK/client.err" || fail "cluster: $query"
  [ "$(wc -l < "$WORK/embedded.txt")" -gt 4 ] || fail "no rows from: $query"
  diff "$WORK/embedded.txt" "$WORK/cluster.txt" > "$WORK/diff.txt" \
    || { head -20 "$WORK/diff.txt"; fail "cluster and embedded answers differ for: $query"; }
  echo "cluster: identical ($(( $(wc -l < "$WORK/embedded.txt") - 4 )) rows): ${query:0:70}..."
done
for n in 1 2; do
  cat "$WORK/executor$n.out" "$WORK/executor$n.err" | grep -qE 'Received task|Execute task' \
    || fail "executor $n ran no task"
done

# A client with one more [drift] ignore rule: the scheduler refuses its tables by name.
printf 'store = "%s"\n[[drift.ignore]]\nkind = "*"\npath = "tags"\n' "$WORK/store" > "$WORK/other_drift.toml"
if timeout 120 "$BIN" --config "$WORK/other_drift.toml" cluster sql --scheduler "$SCHEDULER" "${QUERIES[4]}" \
     > "$WORK/other_drift.txt" 2> "$WORK/other_drift.err"; then
  fail "a client with other [drift] settings was answered"
fi
grep -q '\[drift\] settings of this process' "$WORK/other_drift.err" \
  || { cat "$WORK/other_drift.err"; fail "a client with other [drift] settings was refused for another reason"; }
echo "cluster: a client with other [drift] settings is refused"

# 4. `serve` handing history queries to the cluster, against a plain `serve`, over psql.
PLAIN_PORT=$(free_port); ROUTED_PORT=$(free_port)
printf 'store = "%s"\n[server]\nlisten = "127.0.0.1:%s"\n' "$WORK/store" "$PLAIN_PORT" > "$WORK/plain.toml"
printf 'store = "%s"\n[server]\nlisten = "127.0.0.1:%s"\ncluster = "%s"\n' "$WORK/store" "$ROUTED_PORT" "$SCHEDULER" > "$WORK/routed.toml"
"$BIN" --config "$WORK/plain.toml" serve --no-ingest > "$WORK/plain.out" 2> "$WORK/plain.err" &
PIDS+=($!)
"$BIN" --config "$WORK/routed.toml" serve --no-ingest > "$WORK/routed.out" 2> "$WORK/routed.err" &
ROUTED_PID=$!
PIDS+=($ROUTED_PID)
pg() { psql -X -A -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U cluster -d groundtruth -c "$2"; }
for port in "$PLAIN_PORT" "$ROUTED_PORT"; do
  ready=0
  for _ in $(seq 120); do pg "$port" 'SELECT 1' >/dev/null 2>&1 && { ready=1; break; }; sleep 0.5; done
  [ "$ready" -eq 1 ] || fail "serve on $port did not answer within 60 s"
done
# Rows only: the freshness notice on standard error says how many seconds ago each source last
# succeeded, which differs between two calls a second apart.
for query in "${QUERIES[@]}"; do
  pg "$PLAIN_PORT" "$query" > "$WORK/plain.txt" 2> "$WORK/plain.notices" || fail "plain serve: $query"
  pg "$ROUTED_PORT" "$query" > "$WORK/routed.txt" 2> "$WORK/routed.notices" || fail "serve with cluster: $query"
  diff "$WORK/plain.txt" "$WORK/routed.txt" > "$WORK/routed.diff" || fail "serve with cluster differs for: $query"
done
echo "cluster: serve with [server] cluster answers as the embedded engine"

# 5. Without the cluster, history queries on the routed server fail (they really went there);
# the current state and the catalog still answer in the server itself.
for pid in "${PIDS[@]}"; do
  [ "$pid" = "$ROUTED_PID" ] || stop "$pid"
done
PIDS=("$ROUTED_PID")
if timeout 60 psql -X -A -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$ROUTED_PORT" -U cluster -d groundtruth \
     -c "${QUERIES[3]}" > "$WORK/gone.txt" 2>&1; then
  fail "a history query answered with the cluster stopped: it did not go to the cluster"
fi
pg "$ROUTED_PORT" "SELECT count(*) > 0 FROM resources" | grep -qx t || fail "current state failed without the cluster"
pg "$ROUTED_PORT" "SELECT count(*) > 0 FROM pg_catalog.pg_class" | grep -qx t || fail "catalog failed without the cluster"
echo "cluster: ok"
