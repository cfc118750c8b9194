#!/usr/bin/env bash
# Client compatibility suite: start `groundtruth demo` on a free loopback port and check that real
# PostgreSQL clients work against it, asserting results (tables listed, rows, columns, types,
# parameters), not just that they connect:
#   psql meta-commands, pgcli, psycopg 3, psycopg2, asyncpg, SQLAlchemy 2 (inspector), node-postgres,
#   pgJDBC (DatabaseMetaData, PreparedStatement), and the catalog queries Grafana, Metabase and
#   DBeaver send (tests/clients/replay/<tool>/*.sql).
# Every check runs, one after the other; a failure does not hide the others. Exits non-zero if any
# check failed and lists them.
#
# Environment: GROUNDTRUTH_BIN (default target/debug/groundtruth, not built here),
# GROUNDTRUTH_CLIENT_VENV (default /tmp/groundtruth-client-venv: psycopg, psycopg2, asyncpg,
# SQLAlchemy, pgcli), GROUNDTRUTH_CLIENT_NPM (default /tmp/groundtruth-client-npm: pg),
# GROUNDTRUTH_CLIENT_DAYS (days of demo history, default 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

BIN=${GROUNDTRUTH_BIN:-target/debug/groundtruth}
VENV=${GROUNDTRUTH_CLIENT_VENV:-/tmp/groundtruth-client-venv}
NPM_DIR=${GROUNDTRUTH_CLIENT_NPM:-/tmp/groundtruth-client-npm}
DAYS=${GROUNDTRUTH_CLIENT_DAYS:-3}
JDBC_JAR=/usr/share/java/postgresql.jar

[ -x "$BIN" ] || { echo "clients: $BIN not found; build it first (cargo build -p groundtruth-server)"; exit 1; }
command -v psql >/dev/null || { echo "clients: psql not found (apt-get install postgresql-client)"; exit 1; }

# --- Clients -----------------------------------------------------------------------------------
if [ ! -x "$VENV/bin/pgcli" ] || ! "$VENV/bin/python" -c 'import psycopg, psycopg2, asyncpg, sqlalchemy' 2>/dev/null; then
  echo "clients: installing Python clients into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --no-cache-dir 'psycopg[binary]' psycopg2-binary asyncpg 'sqlalchemy>=2' pgcli
fi
if [ ! -d "$NPM_DIR/node_modules/pg" ]; then
  echo "clients: installing node-postgres into $NPM_DIR"
  mkdir -p "$NPM_DIR"
  (cd "$NPM_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } && npm install --silent --no-audit --no-fund pg >/dev/null)
fi
if [ ! -f "$JDBC_JAR" ] || ! command -v java >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { echo "clients: need root to apt-get install pgJDBC/Java"; exit 1; }
  echo "clients: installing pgJDBC (and a JRE if java is missing)"
  packages=(libpostgresql-jdbc-java)
  command -v java >/dev/null || packages+=(default-jre-headless)
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi

# --- Server ------------------------------------------------------------------------------------
WORK=$(mktemp -d /tmp/groundtruth-clients.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" demo --days "$DAYS" --store "$WORK/store" --listen "127.0.0.1:$PORT" > "$WORK/demo.out" 2> "$WORK/demo.err" &
DEMO_PID=$!
cleanup() {
  kill "$DEMO_PID" 2>/dev/null || true
  wait "$DEMO_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ready=0
for _ in $(seq 240); do
  if psql -X -h 127.0.0.1 -p "$PORT" -U demo groundtruth -c 'select 1' >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$DEMO_PID" 2>/dev/null || { echo "clients: demo exited early:"; tail -20 "$WORK/demo.err"; exit 1; }
  sleep 0.5
done
[ "$ready" -eq 1 ] || { echo "clients: demo did not answer within 120 s"; tail -20 "$WORK/demo.err"; exit 1; }
echo "clients: demo serving on 127.0.0.1:$PORT ($DAYS days of history)"

export GT_HOST=127.0.0.1 GT_PORT=$PORT GT_USER=demo GT_DB=groundtruth
export PGCONNECT_TIMEOUT=10
# pgcli writes its config and history under XDG_CONFIG_HOME: keep them out of the user's home.
export XDG_CONFIG_HOME=$WORK/config

passed=0
failed_names=()
record_ok() { passed=$((passed + 1)); echo "ok   $1"; }
record_fail() { failed_names+=("$1"); echo "FAIL $1${2:+: $2}"; }

# One check: run a command, the output must contain every expected pattern (grep -E, one per
# argument after --), and the command must succeed.
#   check NAME [-- PATTERN...] ::: COMMAND...
check() {
  local name=$1; shift
  local patterns=()
  if [ "${1:-}" = "--" ]; then
    shift
    while [ "$1" != ":::" ]; do patterns+=("$1"); shift; done
  fi
  [ "$1" = ":::" ] && shift
  local output status=0
  output=$(timeout 60 "$@" 2>&1) || status=$?
  if [ "$status" -ne 0 ]; then
    record_fail "$name" "exit $status: $(grep -m3 -E 'ERROR|error|Error' <<<"$output" | tr '\n' ' ' | cut -c1-400)"
    [ -n "${CLIENTS_VERBOSE:-}" ] && sed 's/^/    /' <<<"$output" | head -20
    return 0
  fi
  local p
  for p in "${patterns[@]}"; do
    if ! grep -qE -- "$p" <<<"$output"; then
      record_fail "$name" "output lacks /$p/"
      sed 's/^/    /' <<<"$output" | head -10
      return 0
    fi
  done
  record_ok "$name"
}

# A client program that prints "ok   ..." / "FAIL ..." per sub-check: each line counts as a check.
run_suite() {
  local name=$1; shift
  local output status=0
  output=$(timeout 240 "$@" 2>&1) || status=$?
  local line any=0
  while IFS= read -r line; do
    case "$line" in
      "ok   "*) passed=$((passed + 1)); any=1; echo "$line" ;;
      "FAIL "*) failed_names+=("${line#FAIL }"); any=1; echo "$line" ;;
    esac
  done <<<"$output"
  if [ "$status" -ne 0 ] && ! grep -q '^FAIL ' <<<"$output"; then
    record_fail "$name" "exit $status: $(tail -5 <<<"$output" | tr '\n' ' ' | cut -c1-600)"
  elif [ "$any" -eq 0 ]; then
    record_fail "$name" "printed no result"
  fi
}

PSQL=(psql -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U demo -d groundtruth)

# 1. psql meta-commands (each is psql's own catalog query).
check 'psql: \l lists groundtruth' -- 'groundtruth' ::: "${PSQL[@]}" -c '\l'
check 'psql: \dn lists public and storage' -- '^ *public ' '^ *storage ' ::: "${PSQL[@]}" -c '\dn'
check 'psql: \dt lists the tables' -- ' resources ' ' drift ' ' sources ' ' resource_versions ' ::: "${PSQL[@]}" -c '\dt'
check 'psql: \d resources shows columns and types' -- 'first_seen +\| timestamp with time zone' 'id +\| text' ::: "${PSQL[@]}" -c '\d resources'
check 'psql: \d+ drift shows column descriptions' -- 'Description' '^ status +(\|[^|]*){7}\| +[A-Za-z]' ::: "${PSQL[@]}" -c '\d+ drift'
check 'psql: \dt+ lists tables with size/description' -- ' resources ' ::: "${PSQL[@]}" -c '\dt+'
check 'psql: \df lists functions' -- 'List of functions' ::: "${PSQL[@]}" -c '\df'
check 'psql: \x then a query' -- '^-\[ RECORD 1 \]' '^source +\| synthetic_iac' '^stale +\| f' ::: \
  "${PSQL[@]}" -c '\x' -c "SELECT source, stale FROM sources WHERE source = 'synthetic_iac'"
check 'psql: \copy (select ...) to stdout' -- $'^synthetic_iac\tpostgres_index\tpublic.orders_customer_id_idx$' ::: \
  "${PSQL[@]}" -c "\\copy (SELECT source, kind, id FROM resources WHERE source = 'synthetic_iac' AND kind = 'postgres_index' ORDER BY id) to stdout"
check 'psql: \copy ... csv header' -- '^source,stale$' '^synthetic_iac,f$' ::: \
  "${PSQL[@]}" -c "\\copy (SELECT source, stale FROM sources ORDER BY source) to stdout with (format csv, header)"
check 'psql: \conninfo' -- 'connected to database "groundtruth"' ::: "${PSQL[@]}" -c '\conninfo'

# 2. pgcli, non-interactive.
PGCLI=("$VENV/bin/pgcli" -h 127.0.0.1 -p "$PORT" -U demo -d groundtruth -w --less-chatty)
check 'pgcli: \dt lists the tables' -- '\| resources +\|' '\| drift +\|' '\| sources +\|' ::: "${PGCLI[@]}" -c '\dt'
check 'pgcli: \d resources' -- 'first_seen' ::: "${PGCLI[@]}" -c '\d resources'
check 'pgcli: a query' -- '\| synthetic_iac +\| False' ::: "${PGCLI[@]}" -c "SELECT source, stale FROM sources WHERE source = 'synthetic_iac'"

# 3-6. Python clients.
cd "$ROOT/tests/clients"
run_suite psycopg3 "$VENV/bin/python" psycopg3_check.py
run_suite psycopg2 "$VENV/bin/python" psycopg2_check.py
run_suite asyncpg "$VENV/bin/python" asyncpg_check.py
run_suite sqlalchemy "$VENV/bin/python" sqlalchemy_check.py
# 7. node-postgres.
run_suite node-pg env NODE_PATH="$NPM_DIR/node_modules" node node_pg_check.js
# 8. pgJDBC (single-file program, no javac).
run_suite jdbc java -cp "$JDBC_JAR" JdbcProbe.java "jdbc:postgresql://127.0.0.1:$PORT/groundtruth?user=demo"
# 9. Catalog queries of Grafana, Metabase and DBeaver.
run_suite replay "$VENV/bin/python" replay.py
cd "$ROOT"

kill -0 "$DEMO_PID" 2>/dev/null && record_ok "server still running after every client" || record_fail "server still running after every client"

echo
if [ "${#failed_names[@]}" -gt 0 ]; then
  echo "Failed checks:"
  printf '  - %s\n' "${failed_names[@]}" | cut -c1-300
fi
echo "clients: $passed passed, ${#failed_names[@]} failed"
[ "${#failed_names[@]}" -eq 0 ]
