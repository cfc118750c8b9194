#!/usr/bin/env bash
# The whole test suite. README.md documents this command and .ci/run calls it.
#   1. build the `groundtruth` binary (integration tests run the real binary), and clippy with
#      warnings as errors (the workspace's lints are in Cargo.toml);
#   2. cargo test: unit tests, source conformance, sqllogictest files under tests/sql,
#      and integration tests that drive `groundtruth serve` over the Postgres protocol;
#   3. psql against `groundtruth demo`, running every SQL example in README.md;
#   4. the store on S3, through a moto server started on loopback (PyPI moto[server]), with
#      several writers and query replicas sharing it (multi_writer.sh), a Ballista scheduler
#      and two executors answering history queries as the embedded engine does (cluster.sh,
#      about a minute), and the store read directly by delta-rs, Polars, DuckDB and PySpark
#      (README's snippets);
#   5. real clients against `groundtruth demo`: psql meta-commands, pgcli, psycopg 3 and 2,
#      asyncpg, SQLAlchemy, node-postgres, pgJDBC, and replayed Grafana/Metabase/DBeaver queries;
#   6. the reliability campaign's bounded runs: crash rounds and pgbench load (tests/campaign).
# Live-source tests start their own PostgreSQL, moto and Kubernetes fixture servers on loopback;
# the Python tools they need live in one virtualenv, created first.
set -euo pipefail
cd "$(dirname "$0")/.."

GROUNDTRUTH_TEST_VENV=$(bash tests/scripts/test_venv.sh)
export GROUNDTRUTH_TEST_VENV

cargo build --workspace --bins
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --no-fail-fast
bash tests/scripts/demo_psql.sh
bash tests/scripts/s3_store.sh
bash tests/scripts/multi_writer.sh
bash tests/scripts/cluster.sh
bash tests/scripts/open_tables.sh
bash tests/scripts/clients.sh
bash tests/campaign/ci.sh
