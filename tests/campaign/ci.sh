#!/usr/bin/env bash
# The reliability campaign's bounded runs, for CI (tests/run.sh calls this after the build).
# Parts 2 and 3 are cargo tests and already ran in `cargo test`: the object-store fault
# campaigns on a local store and on moto's S3 (ingest/tests/integration/store_faults.rs, seconds each),
# panic containment (tests/tests/integration/panic_containment.rs, store_faults.rs) and parser fuzzing
# for 2 s per parser (ingest/tests/parser_fuzz.rs).
# Here: part 1, 10 crash rounds (about 2 min), and part 4, pgbench at 16 clients for 10 s.
# The long runs and their figures: RELIABILITY.md, "The reliability campaign".
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tests/campaign/crash.sh 10
bash tests/campaign/load.sh
