#!/usr/bin/env bash
# Start `groundtruth demo` on a free loopback port, run every ```sql example of README.md and
# a few psql meta-commands through the real psql client, then stop the demo by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${GROUNDTRUTH_BIN:-target/debug/groundtruth}
WORK=$(mktemp -d /tmp/groundtruth-demo-test.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" demo --store "$WORK/store" --listen "127.0.0.1:$PORT" > "$WORK/demo.out" 2> "$WORK/demo.err" &
DEMO_PID=$!
cleanup() { kill "$DEMO_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

for _ in $(seq 300); do
  grep -q "Press Ctrl-C" "$WORK/demo.out" 2>/dev/null && break
  kill -0 "$DEMO_PID" 2>/dev/null || { echo "demo exited early:"; cat "$WORK/demo.err"; exit 1; }
  sleep 0.5
done
grep -q "Press Ctrl-C" "$WORK/demo.out" || { echo "demo did not start in time"; tail -20 "$WORK/demo.err"; exit 1; }

PSQL=(psql -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U demo -d groundtruth)
passed=0
failed=0
check() { # name, command...; the command's output must be non-empty
  local name=$1; shift
  local output
  if output=$("$@" 2>&1) && [ -n "$output" ]; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"; echo "$output" | head -20
  fi
}
check_succeeds() { # name, command...
  local name=$1; shift
  local output
  if output=$("$@" 2>&1); then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"; echo "$output" | head -20
  fi
}
check_contains() { # name, expected text, command...
  local name=$1 expected=$2; shift 2
  local output
  if output=$("$@" 2>&1) && grep -q -- "$expected" <<<"$output"; then
    passed=$((passed + 1)); echo "ok   $name"
  else
    failed=$((failed + 1)); echo "FAIL $name (expected '$expected')"; echo "$output" | head -20
  fi
}

# Every statement inside ```sql blocks of the README must run and return rows.
index=0
while IFS= read -r -d $'\0' statement; do
  index=$((index + 1))
  check_succeeds "README example $index" "${PSQL[@]}" -A -t -c "$statement"
done < <(python3 - <<'PY'
import re, sys
text = open("README.md").read()
for block in re.findall(r"```sql\n(.*?)```", text, re.S):
    for statement in block.split(";"):
        lines = [line for line in statement.splitlines() if not line.strip().startswith("--")]
        statement = "\n".join(lines).strip()
        if statement:
            sys.stdout.write(statement + "\0")
PY
)
[ "$index" -ge 5 ] || { echo "expected at least 5 SQL examples in README.md, found $index"; failed=$((failed + 1)); }

check_contains "psql \\dt lists resources" "resources" "${PSQL[@]}" -c '\dt'
check_contains "psql \\d resources shows columns" "observed_at" "${PSQL[@]}" -c '\d resources'
check_contains "psql \\d+ drift describes each column" "stale_reason .*Why nothing is asserted" "${PSQL[@]}" -c '\d+ drift'
check_contains "psql \\dt+ describes each table" "drift .*Where declared and running disagree" "${PSQL[@]}" -c '\dt+'
check_contains "psql \\df lists the table functions" "drift_at .*as_of timestamp with time zone" "${PSQL[@]}" -c '\df'
check_contains "obj_description names what a table holds" "current state" "${PSQL[@]}" -A -t -c \
  "SELECT lower(obj_description(c.oid, 'pg_class')) FROM pg_catalog.pg_class c WHERE c.relname = 'resources'"
check_contains "col_description explains a column" "how fresh this row is" "${PSQL[@]}" -A -t -c \
  "SELECT col_description(a.attrelid, a.attnum) FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid WHERE c.relname = 'resources' AND a.attname = 'observed_at'"
check_contains "pg_description holds every table and column description" "^t$" "${PSQL[@]}" -A -t -c \
  "SELECT (SELECT count(*) FROM pg_catalog.pg_description d JOIN pg_catalog.pg_class c ON c.oid = d.objoid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('public', 'storage')) = (SELECT count(*) FROM descriptions WHERE object_type = 'table' AND description IS NOT NULL)"
check_contains "synthetic history is 30 days deep" "t" "${PSQL[@]}" -A -t -c \
  "SELECT min(valid_from) < now() - INTERVAL '29 days' FROM resource_versions WHERE source = 'synthetic_iac'"
check_contains "the hand-dropped index is gone live but still declared" "public.orders_customer_id_idx" "${PSQL[@]}" -A -t -c \
  "SELECT id FROM resources WHERE source = 'synthetic_iac' AND kind = 'postgres_index'
   EXCEPT SELECT id FROM resources WHERE source = 'synthetic_cloud' AND kind = 'postgres_index'"
check_contains "drift: the hand-dropped index is missing" "missing|postgres_index|public.orders_customer_id_idx" "${PSQL[@]}" -A -t -c \
  "SELECT status, kind, id FROM drift WHERE id = 'public.orders_customer_id_idx'"
check_contains "drift: the new consumer is unmanaged" "unmanaged|reports-worker<-orders-jobs" "${PSQL[@]}" -A -t -c \
  "SELECT status, id FROM drift WHERE kind = 'aws_lambda_event_source_mapping' AND status = 'unmanaged' ORDER BY id"
check_contains "drift: billing-worker's doubled memory is changed" '"path":"memory_size","declared":1024,"live":2048' "${PSQL[@]}" -A -t -c \
  "SELECT differences FROM drift WHERE id LIKE '%:function:billing-worker'"
check_contains "the new consumer is live only" "reports-worker<-orders-jobs" "${PSQL[@]}" -A -t -c \
  "SELECT id FROM resources WHERE source = 'synthetic_cloud' AND kind = 'aws_lambda_event_source_mapping'
   EXCEPT SELECT id FROM resources WHERE source = 'synthetic_iac' AND kind = 'aws_lambda_event_source_mapping'"
# Relations: the day-20 consumer reads orders-jobs and invokes reports-worker (by name), and
# the queue's gain shows as responsibility drift.
check_contains "consumers_of finds the new consumer" "reports-worker<-orders-jobs|arn:aws:lambda:us-east-1:123456789012:function:reports-worker" "${PSQL[@]}" -A -t -c \
  "SELECT mapping, function FROM named_query('consumers_of', queue => 'orders-jobs') WHERE source = 'synthetic_cloud'"
check_contains "the queue gained a consumer" "orders-jobs|gained|incoming|reads_from" "${PSQL[@]}" -A -t -c \
  "SELECT subject_id, change, direction, relation FROM relation_changes(now() - INTERVAL '30 days', now()) WHERE subject_kind = 'aws_sqs_queue'"
check_contains "host collection is live" "this_host" "${PSQL[@]}" -A -t -c "SELECT source FROM sources WHERE source = 'this_host'"
check_contains "errors keep the session usable" "^42$" psql -X -h 127.0.0.1 -p "$PORT" -U demo -d groundtruth -A -t -c "SELECT * FROM nope" -c "SELECT 42"

# An agent asks the README's "For agents" questions through the official MCP Python SDK, with
# `groundtruth mcp` reading the demo's store over stdio.
VENV=${GROUNDTRUTH_TEST_VENV:-$(bash tests/scripts/test_venv.sh)}
printf 'store = "%s"\n' "$WORK/store" > "$WORK/mcp.toml"
check_contains "an MCP agent answers the demo questions with freshness" "ok   mcp stdio demo" \
  "$VENV/bin/python" tests/clients/mcp_check.py stdio "$BIN" "$WORK/mcp.toml" demo
check_contains "freshness names every demo source" "synthetic_cloud|f" "${PSQL[@]}" -A -t -c \
  "SELECT source, warning IS NOT NULL FROM freshness ORDER BY source"
# The same agent question in psql, answered with its envelope: live changes of the last hour
# without a declared counterpart, beside how fresh the live source is.
check_contains "psql: live changes not in IaC in the last hour, with freshness" "^[0-9][0-9]*|synthetic_cloud|f|t$" "${PSQL[@]}" -A -t -c \
  "SELECT (SELECT count(*) FROM changes(now() - INTERVAL '1 hour', now()) l WHERE l.layer = 'live'
     AND NOT EXISTS (SELECT 1 FROM changes(now() - INTERVAL '1 hour', now()) d
                     WHERE d.layer = 'declared' AND d.kind = l.kind AND d.id = l.id)),
          f.source, f.stale, f.last_success_at IS NOT NULL
   FROM freshness f WHERE f.source = 'synthetic_cloud'"

kill -TERM "$DEMO_PID"
if wait "$DEMO_PID"; then passed=$((passed + 1)); echo "ok   demo stops cleanly on SIGTERM"; else failed=$((failed + 1)); echo "FAIL demo exit status"; fi
echo "demo-psql: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
