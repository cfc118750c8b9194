#!/usr/bin/env bash
# Reliability campaign, part 3: fuzz every parser for a bounded time.
#   bash tests/campaign/fuzz.sh [SECONDS_PER_TARGET]     (default 60)
# Runs the stable-Rust mutation fuzzer (ingest/tests/parser_fuzz.rs: tfstate, plan JSON, HCL,
# CloudFormation YAML and JSON, Kubernetes multi-document YAML, kubectl JSON, compose, flagd,
# SQL migrations, the command source's JSON, and the statement rewrites) on every core,
# printing execs, refused inputs, scrape-path checks, execs/s and the slowest input per target
# and the peak memory; a finding (a panic, a hang, an input over 1 s, a disagreement with the
# scrape path, memory over FUZZ_RSS_LIMIT_MB) is saved under target/parser-fuzz-findings/ and
# fails the run.
#
# The long run is a release build, by execs instead of time:
#   FUZZ_EXECS=10000000 FUZZ_PROFILE=release bash tests/campaign/fuzz.sh
# (FUZZ_TARGETS=tfstate,hcl picks targets; FUZZ_THREADS sets the workers.) With FUZZ_NIGHTLY=1 it also runs the
# cargo-fuzz (libFuzzer) target for the wire's frame decoder and startup (fuzz/run.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
profile=()
[ "${FUZZ_PROFILE:-dev}" = release ] && profile=(--release)
if [ -n "${FUZZ_EXECS:-}" ] && [ -z "${1:-}" ]; then
  unset FUZZ_SECONDS
else
  export FUZZ_SECONDS=$seconds
fi
FUZZ_SEED=${FUZZ_SEED:-$RANDOM} \
  cargo test "${profile[@]}" -p groundtruth-ingest --test parser_fuzz -- --nocapture
if [ "${FUZZ_NIGHTLY:-0}" = 1 ]; then
  bash fuzz/run.sh "$seconds"
fi
