#!/usr/bin/env bash
# Reliability campaign, part 1: crash safety.
#   bash tests/campaign/crash.sh [ROUNDS]      (default 10; the long run is 100)
# Env: CRASH_OBJECTS (items the command source prints, default 5000; the long run uses 30000),
#      CRASH_SEED (the schedule; random when unset, printed so a failure can be replayed),
#      GROUNDTRUTH_BIN (default target/debug/groundtruth).
#
# Each round bumps the source's round number to an even R and runs one writer that dies:
# `ingest --once` aborted just before or just after its K-th object-store write
# (GROUNDTRUTH_STORE_FAULTS=crash_before_write=K / crash_after_write=K, so the crash lands
# inside the commit protocol: between Parquet files and log entry, between the versions and
# scrapes commits, inside a checkpoint), or SIGKILLed at a random moment; `compact` killed the
# same ways; or `serve` (scheduler at 1 s) SIGKILLed after a random time. Readers query the
# store in a loop meanwhile. Then a clean `ingest --once` of round R+1 (acknowledged: exit 0),
# and the checks: the store opens; no version is duplicated; no version repeats the one
# before it (a scrape diffed against the wrong state); no version lacks its scrape record and
# no scrape is recorded twice; every acknowledged round's marker is present exactly once and
# no round's twice; the current state is exactly round R+1's; no reader ever failed (a reader
# that saw a half-written file would).
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${1:-10}
OBJECTS=${CRASH_OBJECTS:-5000}
SEED=${CRASH_SEED:-$((RANDOM * 32768 + RANDOM))}
BIN=$(realpath "${GROUNDTRUTH_BIN:-target/debug/groundtruth}")
GENERATE=$(realpath tests/campaign/generate.py)
RANDOM=$SEED
echo "crash harness: $ROUNDS rounds, $OBJECTS objects, seed $SEED"

WORK=$(mktemp -d /tmp/groundtruth-crash.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cat > "$WORK/groundtruth.toml" <<TOML
store = "$WORK/store"

[server]
listen = "127.0.0.1:$PORT"

# Checkpoint after nearly every commit, so crashes land inside checkpoint writes too.
[checkpoints]
min_versions = 100
state_ratio = 0.05

[[sources]]
type = "command"
name = "big"
command = ["python3", "$GENERATE", "print", "$WORK/round", "$OBJECTS"]
kind_pointer = "/kind"
id_pointer = "/id"
interval = "1s"
timeout = "60s"
TOML
gt() { "$BIN" --config "$WORK/groundtruth.toml" "$@"; }
# For a writer run in the background: exec, so that `$!` is the binary itself (SIGKILL must
# hit the writer, not a subshell that would leave it running as a second writer).
gt_exec() { exec "$BIN" --config "$WORK/groundtruth.toml" "$@"; }

# One query answers every check, as `name | value` rows.
CHECKS="
SELECT 'duplicated' AS name, count(*) AS value FROM
  (SELECT 1 FROM storage.versions GROUP BY source, kind, id, valid_from HAVING count(*) > 1) d
UNION ALL SELECT 'redundant', count(*) FROM
  (SELECT change, attrs_hash,
     lag(attrs_hash) OVER (PARTITION BY source, kind, id ORDER BY valid_from) AS before,
     lag(change) OVER (PARTITION BY source, kind, id ORDER BY valid_from) AS change_before
   FROM storage.versions) r
  WHERE (change <> 'removed' AND change_before IS NOT NULL AND change_before <> 'removed' AND attrs_hash = before)
     OR (change = 'removed' AND change_before = 'removed')
UNION ALL SELECT 'orphans', count(*) FROM
  (SELECT DISTINCT v.scrape_id FROM storage.versions v LEFT ANTI JOIN storage.scrapes s ON v.scrape_id = s.scrape_id) o
UNION ALL SELECT 'scrape_recorded_twice', count(*) FROM
  (SELECT scrape_id FROM storage.scrapes GROUP BY scrape_id HAVING count(*) > 1) t
UNION ALL SELECT 'marker_twice', count(*) FROM
  (SELECT attrs->>'round' FROM storage.versions WHERE id = 'marker' AND change <> 'removed' GROUP BY 1 HAVING count(*) > 1) m
UNION ALL SELECT 'acknowledged_present', count(DISTINCT attrs->>'round') FROM storage.versions
  WHERE id = 'marker' AND change <> 'removed' AND CAST(attrs->>'round' AS BIGINT) % 2 = 1
UNION ALL SELECT 'items', count(*) FROM resources WHERE source = 'big' AND kind = 'item'
UNION ALL SELECT 'checksum', sum(CAST(attrs->>'v' AS BIGINT) * (CAST(attrs->>'n' AS BIGINT) + 1))
  FROM resources WHERE source = 'big' AND kind = 'item'
UNION ALL SELECT 'marker_now', max(CAST(attrs->>'round' AS BIGINT)) FROM resources WHERE id = 'marker'
"
value() { awk -F'|' -v name="$1" '{gsub(/ /, "", $2); gsub(/ /, "", $3)} $2 == name {print $3}' <<<"$2"; }

reader_loop() { # query the store until the stop file appears; log every failure
  while [ ! -e "$WORK/stop-readers" ]; do
    if ! out=$(gt sql "SELECT count(*) AS n, sum(length(attrs)) AS bytes FROM storage.versions" 2>&1); then
      echo "$out" >> "$WORK/reader-failures"
    fi
  done
}

# Sets PICK (not printed: a $(...) subshell would draw from a reseeded RANDOM, and a seed
# would no longer replay its schedule).
random_between() { PICK=$(( $1 + RANDOM % ($2 - $1 + 1) )); }
kill_after() { # pid, milliseconds
  sleep "$(awk -v ms="$2" 'BEGIN { printf "%.3f", ms / 1000 }')"
  kill -9 "$1" 2>/dev/null || true
}

failed=0
fail() { echo "FAIL round $round ($action): $*"; failed=$((failed + 1)); }
started=$(date +%s)
# Round 1: the store's first scrape, acknowledged, before anything dies.
echo 1 > "$WORK/round"
gt ingest --once > "$WORK/ack.log" 2>&1 || { echo "the first ingest failed"; cat "$WORK/ack.log"; exit 1; }
acknowledged=1
declare -A actions_run=()
for round in $(seq 1 "$ROUNDS"); do
  echo $((2 * round)) > "$WORK/round"
  rm -f "$WORK/stop-readers"
  reader_loop &
  READER=$!; PIDS+=("$READER")
  case $((RANDOM % 7)) in
    0) random_between 1 14; action="ingest crash_before_write=$PICK"
       GROUNDTRUTH_STORE_FAULTS=${action#ingest } gt ingest --once > "$WORK/writer.log" 2>&1 || true ;;
    1) random_between 1 14; action="ingest crash_after_write=$PICK"
       GROUNDTRUTH_STORE_FAULTS=${action#ingest } gt ingest --once > "$WORK/writer.log" 2>&1 || true ;;
    2|3) random_between 50 4000; delay=$PICK; action="ingest SIGKILL after ${delay}ms"
       gt_exec ingest --once > "$WORK/writer.log" 2>&1 &
       WRITER=$!; PIDS+=("$WRITER"); kill_after "$WRITER" "$delay"; wait "$WRITER" 2>/dev/null || true ;;
    4) random_between 1 4; action="compact crash_before_write=$PICK"
       GROUNDTRUTH_STORE_FAULTS=${action#compact } gt compact > "$WORK/writer.log" 2>&1 || true ;;
    5) random_between 50 3000; delay=$PICK; action="compact SIGKILL after ${delay}ms"
       gt_exec compact > "$WORK/writer.log" 2>&1 &
       WRITER=$!; PIDS+=("$WRITER"); kill_after "$WRITER" "$delay"; wait "$WRITER" 2>/dev/null || true ;;
    6) random_between 500 6000; delay=$PICK; action="serve SIGKILL after ${delay}ms"
       gt_exec serve > "$WORK/writer.log" 2>&1 &
       WRITER=$!; PIDS+=("$WRITER"); kill_after "$WRITER" "$delay"; wait "$WRITER" 2>/dev/null || true ;;
  esac
  actions_run[${action%% *}]=$(( ${actions_run[${action%% *}]:-0} + 1 ))
  touch "$WORK/stop-readers"
  wait "$READER" 2>/dev/null || true
  if [ -s "$WORK/reader-failures" ]; then
    fail "a reader failed while the writer died: $(head -5 "$WORK/reader-failures")"
    rm -f "$WORK/reader-failures"
  fi
  # The store opens after the crash, before any writer repairs it.
  gt sql "SELECT count(*) FROM storage.versions" > /dev/null 2>"$WORK/open.log" \
    || fail "the store does not open after the crash: $(tail -3 "$WORK/open.log")"
  # The acknowledged scrape of round R+1.
  echo $((2 * round + 1)) > "$WORK/round"
  if gt ingest --once > "$WORK/ack.log" 2>&1; then
    acknowledged=$((acknowledged + 1))
  else
    fail "the clean ingest after the crash failed: $(tail -5 "$WORK/ack.log")"
    continue
  fi
  checks=$(gt sql "$CHECKS" 2>&1) || { fail "checks did not run: $checks"; continue; }
  read -r items checksum < <(python3 "$GENERATE" expect "$WORK/round" "$OBJECTS")
  for zero in duplicated redundant orphans scrape_recorded_twice marker_twice; do
    [ "$(value "$zero" "$checks")" = 0 ] || fail "$zero = $(value "$zero" "$checks")"
  done
  [ "$(value acknowledged_present "$checks")" = "$acknowledged" ] \
    || fail "acknowledged rounds present: $(value acknowledged_present "$checks"), expected $acknowledged"
  [ "$(value items "$checks")" = "$items" ] || fail "items now: $(value items "$checks"), expected $items"
  [ "$(value checksum "$checks")" = "$checksum" ] || fail "state checksum: $(value checksum "$checks"), expected $checksum"
  [ "$(value marker_now "$checks")" = $((2 * round + 1)) ] || fail "marker now: $(value marker_now "$checks")"
  echo "round $round: $action: checked (failures so far: $failed)"
done
elapsed=$(( $(date +%s) - started ))
summary=""
for name in "${!actions_run[@]}"; do summary="$summary $name=${actions_run[$name]}"; done
versions=$(gt sql "SELECT count(*) AS versions FROM storage.versions" | awk -F'|' 'NR==4 {gsub(/ /,"",$2); print $2}')
echo "crash harness: $ROUNDS rounds in ${elapsed}s, seed $SEED, $OBJECTS objects, actions:$summary, versions stored: $versions, failures: $failed"
[ "$failed" = 0 ]
