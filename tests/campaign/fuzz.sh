#!/usr/bin/env bash
# Reliability campaign, part 3: fuzz every parser for a bounded time.
#   bash tests/campaign/fuzz.sh [SECONDS_PER_TARGET]     (default 60)
# Runs the stable-Rust mutation fuzzer (tests/tests/parser_fuzz.rs: tfstate, plan JSON, HCL,
# CloudFormation YAML and JSON, Kubernetes multi-document YAML, compose, flagd, SQL
# migrations, the command source's JSON, and the statement rewrites), printing execs, refused
# inputs and findings per target; a finding (a panic or a hang) is saved under
# target/parser-fuzz-findings/ and fails the run. With FUZZ_NIGHTLY=1 it also runs the
# cargo-fuzz (libFuzzer) target for the wire's frame decoder and startup (fuzz/run.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
FUZZ_SECONDS=$seconds FUZZ_SEED=${FUZZ_SEED:-$RANDOM} \
  cargo test -p groundtruth-tests --test parser_fuzz -- --nocapture --test-threads=1
if [ "${FUZZ_NIGHTLY:-0}" = 1 ]; then
  bash fuzz/run.sh "$seconds"
fi
