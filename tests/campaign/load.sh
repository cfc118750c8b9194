#!/usr/bin/env bash
# Reliability campaign, part 4: load. A demo store (30 days of synthetic history) served by
# `groundtruth serve` while its scheduler ingests (two simulated sources and this host, every
# few seconds), under pgbench running five scripts (tests/campaign/load/: as-of, changes,
# drift, a named query, a catalog query) at each client count for a fixed time.
#   bash tests/campaign/load.sh                 (CI: 16 clients for 10 s)
#   LOAD_CLIENTS="16 64 128" LOAD_SECONDS=60 bash tests/campaign/load.sh    (the long run)
# Env: LOAD_DAYS (history, default 30), LOAD_RSS_LIMIT_MB (the bound asserted on the server's
# resident memory, sampled every 0.5 s; default 2048), GROUNDTRUTH_BIN.
# Fails on any pgbench error or failed transaction, on RSS above the bound, and unless a client
# beyond max_connections (set to the largest client count) is refused with SQLSTATE 53300
# while the slots are held, and served once pgbench has left.
set -euo pipefail
cd "$(dirname "$0")/../.."

CLIENTS=${LOAD_CLIENTS:-16}
SECONDS_EACH=${LOAD_SECONDS:-10}
DAYS=${LOAD_DAYS:-30}
RSS_LIMIT_MB=${LOAD_RSS_LIMIT_MB:-2048}
BIN=$(realpath "${GROUNDTRUTH_BIN:-target/debug/groundtruth}")
PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -1)
[ -x "$PGBENCH" ] || { echo "pgbench not found (Debian package postgresql-client)"; exit 1; }
MAX=0; for c in $CLIENTS; do [ "$c" -gt "$MAX" ] && MAX=$c; done

WORK=$(mktemp -d /tmp/groundtruth-load.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { # port, pid
  for _ in $(seq 1200); do
    kill -0 "$2" 2>/dev/null || { echo "server exited"; return 1; }
    python3 tests/campaign/probe_connection.py 127.0.0.1 "$1" 2>/dev/null | grep -q ready && return 0
    sleep 0.5
  done
  return 1
}

# 1. Build the demo store (the demo simulates history, then serves; stop it once it serves).
PORT=$(free_port)
"$BIN" demo --store "$WORK/demo" --listen "127.0.0.1:$PORT" --days "$DAYS" > "$WORK/demo.log" 2>&1 &
DEMO=$!; PIDS+=("$DEMO")
wait_ready "$PORT" "$DEMO" || { tail -20 "$WORK/demo.log"; exit 1; }
kill "$DEMO"; wait "$DEMO" 2>/dev/null || true

# 2. Serve it with ingest running.
PORT=$(free_port)
cat > "$WORK/groundtruth.toml" <<TOML
store = "$WORK/demo"

[server]
listen = "127.0.0.1:$PORT"
max_connections = $MAX

[[sources]]
type = "simulated"
name = "synthetic_cloud"
layer = "live"
seed = 42
interval = "3s"

[[sources]]
type = "simulated"
name = "synthetic_iac"
layer = "declared"
seed = 42
interval = "5s"

[[sources]]
type = "host"
name = "this_host"
interval = "3s"
TOML
"$BIN" --config "$WORK/groundtruth.toml" serve > "$WORK/serve.log" 2>&1 &
SERVER=$!; PIDS+=("$SERVER")
wait_ready "$PORT" "$SERVER" || { tail -20 "$WORK/serve.log"; exit 1; }
scrapes_before=$(psql -h 127.0.0.1 -p "$PORT" -U load -d groundtruth -tAc "SELECT count(*) FROM scrapes" 2>/dev/null)

( while kill -0 "$SERVER" 2>/dev/null; do
    awk '/VmRSS/ {print $2}' "/proc/$SERVER/status" 2>/dev/null >> "$WORK/rss"; sleep 0.5
  done ) &
PIDS+=("$!")

failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
scripts=()
for script in tests/campaign/load/*.sql; do scripts+=(-f "$(realpath "$script")"); done
for clients in $CLIENTS; do
  mkdir -p "$WORK/log-$clients"
  ( cd "$WORK/log-$clients" && "$PGBENCH" -h 127.0.0.1 -p "$PORT" -U load -n -c "$clients" -j 2 \
      -T "$SECONDS_EACH" -l --log-prefix=tx "${scripts[@]}" groundtruth ) > "$WORK/pgbench-$clients.out" 2>&1 &
  BENCH=$!; PIDS+=("$BENCH")
  if [ "$clients" = "$MAX" ]; then
    # While pgbench holds every slot, one more client is refused in the protocol.
    sleep "$(( SECONDS_EACH / 2 ))"
    refused=$(python3 tests/campaign/probe_connection.py 127.0.0.1 "$PORT")
    [[ $refused == "error 53300 "* ]] || fail "client beyond max_connections=$MAX got: $refused"
  fi
  wait "$BENCH" || fail "pgbench at $clients clients exited non-zero: $(tail -5 "$WORK/pgbench-$clients.out")"
  out=$(cat "$WORK/pgbench-$clients.out")
  grep -q "number of failed transactions: 0 " <<<"$out" || fail "failed transactions at $clients clients: $(grep -i 'fail\|error' <<<"$out" | head -5)"
  tps=$(awk -F'= ' '/^tps/ {split($2, a, " "); print a[1]}' <<<"$out")
  done_tx=$(awk -F': ' '/number of transactions actually processed/ {split($2, a, "/"); print a[1]}' <<<"$out")
  [ "${done_tx:-0}" -gt 0 ] || fail "no transaction completed at $clients clients"
  percentiles=$(cat "$WORK/log-$clients"/tx* | awk '{print $3}' | sort -n | awk '
    { v[NR] = $1 } END { if (NR == 0) { print "n/a"; exit }
      printf "p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms", v[int(NR*0.5)+0]/1000, v[int(NR*0.95)]/1000, v[int(NR*0.99)]/1000, v[NR]/1000 }')
  echo "load: $clients clients, ${SECONDS_EACH}s: $done_tx transactions, $tps tps, $percentiles"
done
# Once pgbench has left, a new client is served again.
served=$(python3 tests/campaign/probe_connection.py 127.0.0.1 "$PORT")
[ "$served" = ready ] || fail "a client after the load was not served: $served"
scrapes_after=$(psql -h 127.0.0.1 -p "$PORT" -U load -d groundtruth -tAc "SELECT count(*) FROM scrapes" 2>/dev/null)
[ "$scrapes_after" -gt "$scrapes_before" ] || fail "ingest did not run during the load ($scrapes_before -> $scrapes_after scrapes)"
rss_max_kb=$(sort -n "$WORK/rss" | tail -1)
rss_max_mb=$(( ${rss_max_kb:-0} / 1024 ))
echo "load: server RSS max ${rss_max_mb} MiB (bound ${RSS_LIMIT_MB} MiB); scrapes during the run: $((scrapes_after - scrapes_before))"
[ "$rss_max_mb" -le "$RSS_LIMIT_MB" ] || fail "RSS ${rss_max_mb} MiB above the bound ${RSS_LIMIT_MB} MiB"
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
[ "$failed" = 0 ]
