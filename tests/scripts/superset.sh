#!/usr/bin/env bash
# Apache Superset against `groundtruth demo`: `superset test-db` connects with SQLAlchemy's
# PostgreSQL dialect (psycopg2), runs Superset's connection checks and inspects the database;
# its write test must be refused as read-only.
# Not part of tests/run.sh: installing Superset takes about five minutes and 0.8 GB. Run it by
# hand (after `cargo build -p groundtruth-server`):
#   bash tests/scripts/superset.sh
# Environment: GROUNDTRUTH_BIN (default target/debug/groundtruth), GROUNDTRUTH_SUPERSET_VENV
# (default /tmp/groundtruth-superset-venv).
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${GROUNDTRUTH_BIN:-target/debug/groundtruth}
VENV=${GROUNDTRUTH_SUPERSET_VENV:-/tmp/groundtruth-superset-venv}
if [ ! -x "$VENV/bin/superset" ]; then
  python3 -m venv "$VENV"
  # The unpinned install is broken on PyPI today: these three pins make it import.
  "$VENV/bin/pip" install -q apache-superset psycopg2-binary rich cachetools 'flask-caching<2.4'
fi

WORK=$(mktemp -d /tmp/groundtruth-superset.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" demo --days 3 --store "$WORK/store" --listen "127.0.0.1:$PORT" > "$WORK/demo.out" 2> "$WORK/demo.err" &
DEMO_PID=$!
cleanup() { kill "$DEMO_PID" 2>/dev/null || true; wait "$DEMO_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 240); do
  psql -X -h 127.0.0.1 -p "$PORT" -U demo groundtruth -c 'select 1' >/dev/null 2>&1 && break
  kill -0 "$DEMO_PID" 2>/dev/null || { echo "superset: demo exited early"; tail -20 "$WORK/demo.err"; exit 1; }
  sleep 0.5
done

export SUPERSET_CONFIG_PATH="$WORK/superset_config.py"
cat > "$SUPERSET_CONFIG_PATH" <<PY
SECRET_KEY = "groundtruth-superset-test-only"
SQLALCHEMY_DATABASE_URI = "sqlite:///$WORK/superset.db"
PY
"$VENV/bin/superset" db upgrade >/dev/null 2>&1
# test-db asks whether to configure connection arguments: no. Its last check creates a table,
# which a read-only server must refuse, so its exit status is not the verdict: the lines are.
output=$(printf "n\n" | "$VENV/bin/superset" test-db "postgresql+psycopg2://demo@127.0.0.1:$PORT/groundtruth" 2>&1) || true
echo "$output" | tail -45
failed=0
expect() { grep -qE -- "$1" <<<"$output" || { echo "superset: missing: $1"; failed=1; }; }
expect "Connected successfully"
expect "sql> SELECT 1;"
for check in get_schema_names get_table_names get_view_names get_indexes get_table_comment \
             get_columns get_pk_constraint get_foreign_keys; do
  expect "- $check: True"
done
if grep -qE "^  - get_[a-z_]+: False" <<<"$output"; then echo "superset: an inspector check is False"; failed=1; fi
# The one failure allowed: the write test, refused as read-only (SQLSTATE 25006).
if grep -q "Test failed" <<<"$output" && ! grep -q "ReadOnlySqlTransaction" <<<"$output"; then
  echo "superset: a test failed for another reason than the read-only refusal"
  failed=1
fi
[ "$failed" -eq 0 ] || exit 1
echo "superset: test-db passed (connection, queries, inspector; writes refused as read-only)"
