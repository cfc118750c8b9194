#!/usr/bin/env bash
# Round-trip latency of trivial statements over the wire: what the statement pipeline (parse,
# rules, plan) costs per query, for dashboards that refresh every few seconds. One pgbench
# client, simple and extended protocol, against `groundtruth demo` (3 days of history) and, as
# the peer in the same run, a local PostgreSQL with a table of the same shape (its best: the
# statements are trivial, no index is involved).
#   GROUNDTRUTH_BIN  the binary (default target/release/groundtruth, else target/debug)
#   BASELINE_BIN     optional second binary (for example a build of an earlier commit),
#                    served and measured in the same run as `baseline`
#   SECONDS_PER_RUN  pgbench duration per statement and protocol (default 10)
# Prints one line per (server, protocol, statement): tps and average latency.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${GROUNDTRUTH_BIN:-target/release/groundtruth}
[ -x "$BIN" ] || BIN=target/debug/groundtruth
DURATION=${SECONDS_PER_RUN:-10}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
PGBENCH=$(command -v pgbench || echo "$PGBIN/pgbench")
WORK=$(mktemp -d /tmp/gt-wire-latency.XXXXXX)
chown postgres:postgres "$WORK" 2>/dev/null || true
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
GT_PORT=$(free_port)
PG_PORT=$(free_port)
BASE_PORT=$(free_port)
DEMO_PID=
BASE_PID=
cleanup() {
  [ -n "$DEMO_PID" ] && kill "$DEMO_PID" 2>/dev/null || true
  [ -n "$BASE_PID" ] && kill "$BASE_PID" 2>/dev/null || true
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" -m fast -w -s stop 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" demo --store "$WORK/store" --listen "127.0.0.1:$GT_PORT" --days 3 > "$WORK/demo.out" 2>&1 &
DEMO_PID=$!
if [ -n "${BASELINE_BIN:-}" ]; then
  "$BASELINE_BIN" demo --store "$WORK/base-store" --listen "127.0.0.1:$BASE_PORT" --days 3 > "$WORK/base.out" 2>&1 &
  BASE_PID=$!
fi
runuser -u postgres -- "$PGBIN/initdb" -D "$WORK/pg" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w -s \
  -o "-p $PG_PORT -k $WORK -c listen_addresses=127.0.0.1 -c fsync=off" start
psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c \
  "CREATE TABLE sources (source text, stale boolean); INSERT INTO sources VALUES ('a', false), ('b', true)"
for _ in $(seq 300); do grep -q "Press Ctrl-C" "$WORK/demo.out" && break; sleep 0.5; done
if [ -n "$BASE_PID" ]; then
  for _ in $(seq 300); do grep -q "Press Ctrl-C" "$WORK/base.out" && break; sleep 0.5; done
fi

echo "SELECT 1;" > "$WORK/select1.sql"
echo "SELECT count(*) FROM sources WHERE NOT stale;" > "$WORK/sources.sql"
echo "# $(date -u +%FT%TZ) $(nproc) cores, $BIN${BASELINE_BIN:+ (baseline $BASELINE_BIN)}, ${DURATION}s per line, 1 client"
servers="groundtruth postgresql"
[ -n "$BASE_PID" ] && servers="groundtruth baseline postgresql"
for server in $servers; do
  case $server in
    groundtruth) port=$GT_PORT user=demo db=groundtruth ;;
    baseline) port=$BASE_PORT user=demo db=groundtruth ;;
    postgresql) port=$PG_PORT user=postgres db=postgres ;;
  esac
  for protocol in simple extended; do
    for script in select1 sources; do
      out=$("$PGBENCH" -n -h 127.0.0.1 -p "$port" -U "$user" -M "$protocol" -c 1 -T "$DURATION" \
        -f "$WORK/$script.sql" "$db" 2>&1)
      tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out")
      latency=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")
      failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$out")
      printf '%-12s %-9s %-8s tps %-10s avg %s ms  failed %s\n' "$server" "$protocol" "$script" "$tps" "$latency" "${failed:-?}"
    done
  done
done
