#!/usr/bin/env bash
# Fuzz the Postgres frame decoder the server runs on untrusted bytes, for a bounded time.
#   bash fuzz/run.sh [SECONDS]      (default 60)
#   FRAMES_RUNS=10000000 bash fuzz/run.sh    (a number of inputs instead, the long run)
# Decoder panics known in pgwire 0.41.1 are contained per connection by the server and end an
# input quietly here; FRAMES_STRICT=1 makes them crashes (see fuzz_targets/frontend_frames.rs).
# Any input over 1 s or 512 MB is a finding.
# Needs rustup's nightly toolchain; installs cargo-fuzz if missing. Findings (a crashing input)
# land in fuzz/artifacts/frontend_frames/ and make this script exit non-zero.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
mkdir -p corpus/frontend_frames
# Seeds: an SSL request, a startup packet, a simple query, a parse/bind/execute.
printf '\x00\x00\x00\x08\x04\xd2\x16\x2f' > corpus/frontend_frames/ssl_request
printf '\x00\x00\x00\x25\x00\x03\x00\x00user\x00demo\x00database\x00groundtruth\x00\x00' > corpus/frontend_frames/startup
printf 'Q\x00\x00\x00\x0dSELECT 1\x00' > corpus/frontend_frames/query
printf 'P\x00\x00\x00\x10\x00SELECT $1\x00\x00\x00B\x00\x00\x00\x0c\x00\x00\x00\x00\x00\x00\x00\x00E\x00\x00\x00\x09\x00\x00\x00\x00\x00S\x00\x00\x00\x04' > corpus/frontend_frames/extended
if [ -n "${FRAMES_RUNS:-}" ]; then
  budget=(-runs="$FRAMES_RUNS")
else
  budget=(-max_total_time="$seconds")
fi
cargo +nightly fuzz run frontend_frames corpus/frontend_frames -- "${budget[@]}" -max_len=4096 \
  -timeout=1 -rss_limit_mb=512 -print_final_stats=1
