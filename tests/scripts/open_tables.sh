#!/usr/bin/env bash
# The store read by other engines: build a store with real history (`groundtruth demo`'s 30
# days, then a Terraform state ingested three times, the last without a resource, so the history
# has modifications and a deletion marker), compact it (the replaced files stay on disk), serve
# it with no sources (so nothing changes while it is read), and run tests/clients/open_tables.py:
# every Python snippet of README.md's "Reading the store from other engines" (delta-rs, Polars,
# DuckDB, PySpark), each answer compared with Groundtruth's over psql. Stops what it started by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${GROUNDTRUTH_BIN:-target/debug/groundtruth}
VENV=${GROUNDTRUTH_TEST_VENV:-$(bash tests/scripts/test_venv.sh)}
[ -x "$BIN" ] || { echo "open-tables: $BIN not found; build it first (cargo build -p groundtruth-server)"; exit 1; }
command -v java >/dev/null || { echo "open-tables: java not found (PySpark needs Java 17)"; exit 1; }

WORK=$(mktemp -d /tmp/groundtruth-open-tables.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SERVER_PID=
cleanup() {
  [ -z "$SERVER_PID" ] || kill "$SERVER_PID" 2>/dev/null || true
  [ -z "$SERVER_PID" ] || wait "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "open-tables: $1"; for log in "$WORK"/*.err; do tail -20 "$log"; done; exit 1; }

# 1. History: the demo's synthetic estate (one commit per simulated day), and this host's
# processes once (the demo prints its banner before it handles SIGTERM, so wait for the scrape
# over psql instead).
DEMO_PORT=$(free_port)
"$BIN" demo --store "$WORK/store" --listen "127.0.0.1:$DEMO_PORT" > "$WORK/demo.out" 2> "$WORK/demo.err" &
SERVER_PID=$!
scraped=0
for _ in $(seq 240); do
  if [ "$(psql -X -A -t -h 127.0.0.1 -p "$DEMO_PORT" -U open_tables -d groundtruth \
          -c "SELECT count(*) > 0 FROM scrapes WHERE source = 'this_host'" 2>/dev/null)" = t ]; then scraped=1; break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || fail "demo exited early"
  sleep 0.5
done
[ "$scraped" -eq 1 ] || fail "demo did not write its history and scrape this host within 120 s"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || fail "demo did not stop cleanly"
SERVER_PID=

# 2. More history on the same store: a Terraform state changed, then one resource destroyed.
cat > "$WORK/ingest.toml" <<TOML
store = "$WORK/store"

[[sources]]
type = "terraform_state"
name = "tf"
path = "$WORK/terraform.tfstate"
TOML
cp tests/fixtures/terraform/v1.tfstate "$WORK/terraform.tfstate"
"$BIN" --config "$WORK/ingest.toml" ingest --once > "$WORK/ingest.out" 2> "$WORK/ingest1.err" || fail "first ingest failed"
cp tests/fixtures/terraform/v2.tfstate "$WORK/terraform.tfstate"
"$BIN" --config "$WORK/ingest.toml" ingest --once >> "$WORK/ingest.out" 2> "$WORK/ingest2.err" || fail "second ingest failed"
python3 - "$WORK/terraform.tfstate" <<'PY'
import json, sys
state = json.load(open(sys.argv[1]))
state["resources"] = [r for r in state["resources"] if (r["type"], r["name"]) != ("aws_sqs_queue", "orders")]
state["serial"] += 1
json.dump(state, open(sys.argv[1], "w"))
PY
"$BIN" --config "$WORK/ingest.toml" ingest --once >> "$WORK/ingest.out" 2> "$WORK/ingest3.err" || fail "third ingest failed"
[ "$(grep -c 'tf: ok' "$WORK/ingest.out")" -eq 3 ] || fail "expected three ok scrapes of tf: $(cat "$WORK/ingest.out")"

# 3. Compaction: one commit replaces the small files; they stay on disk until a vacuum.
compacted=$("$BIN" --config "$WORK/ingest.toml" compact 2> "$WORK/compact.err") || fail "compact failed"
grep -Eq "compacted: ([2-9]|[1-9][0-9]+) files rewritten" <<<"$compacted" || fail "compaction rewrote too little: $compacted"

# 4. Serve the store with no sources, then let the other engines read it.
PORT=$(free_port)
printf 'store = "%s"\n\n[server]\nlisten = "127.0.0.1:%s"\n' "$WORK/store" "$PORT" > "$WORK/serve.toml"
"$BIN" --config "$WORK/serve.toml" serve > "$WORK/serve.out" 2> "$WORK/serve.err" &
SERVER_PID=$!
ready=0
for _ in $(seq 120); do
  if psql -X -h 127.0.0.1 -p "$PORT" -U open_tables -d groundtruth -c 'SELECT 1' >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || fail "serve exited early"
  sleep 0.5
done
[ "$ready" -eq 1 ] || fail "serve did not answer within 60 s"

# Spark writes scratch files under the working directory and its local dirs (kept in WORK), and
# logs warnings and progress bars unless told otherwise (errors still show).
mkdir -p "$WORK/spark-conf"
echo "spark.ui.showConsoleProgress false" > "$WORK/spark-conf/spark-defaults.conf"
printf 'rootLogger.level = error\nrootLogger.appenderRef.stderr.ref = console\nappender.console.type = Console\nappender.console.name = console\nappender.console.target = SYSTEM_ERR\nappender.console.layout.type = PatternLayout\nappender.console.layout.pattern = %%d{HH:mm:ss} %%p %%c: %%m%%n\n' \
  > "$WORK/spark-conf/log4j2.properties"
(cd "$WORK" && PYTHONPATH="$OLDPWD/tests/clients" SPARK_CONF_DIR="$WORK/spark-conf" SPARK_LOCAL_DIRS="$WORK/spark" \
  timeout 300 "$VENV/bin/python" "$OLDPWD/tests/clients/open_tables.py" "$OLDPWD/README.md" "$WORK/store" "$PORT")
