#!/usr/bin/env bash
# The store on S3: start a moto S3 server on loopback, keep history in s3://bucket/prefix,
# ingest two Terraform states, and read the changes back. Stops moto by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${GROUNDTRUTH_BIN:-target/debug/groundtruth}
VENV=$(bash tests/scripts/test_venv.sh)

WORK=$(mktemp -d /tmp/groundtruth-s3-test.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" > "$WORK/moto.log" 2>&1 &
MOTO_PID=$!
cleanup() { kill "$MOTO_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/moto-api/" >/dev/null && break; sleep 0.2; done

export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
"$VENV/bin/python" - "$PORT" <<'PY'
import sys, boto3
boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}").create_bucket(Bucket="groundtruth-test")
PY

STATE="$WORK/terraform.tfstate"
cat > "$WORK/groundtruth.toml" <<TOML
store = "s3://groundtruth-test/team/history"

[store_options]
endpoint = "http://127.0.0.1:$PORT"
region = "us-east-1"
allow_http = true

[[sources]]
type = "terraform_state"
name = "tf"
path = "$STATE"
TOML

passed=0
failed=0
expect() { # name, expected text, actual text
  if grep -q -- "$2" <<<"$3"; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; echo "$3" | head -30; fi
}

cp tests/fixtures/terraform/v1.tfstate "$STATE"
expect "first ingest to S3" "tf: ok" "$("$BIN" --config "$WORK/groundtruth.toml" ingest --once 2>&1)"
cp tests/fixtures/terraform/v2.tfstate "$STATE"
expect "second ingest to S3" "tf: ok" "$("$BIN" --config "$WORK/groundtruth.toml" ingest --once 2>&1)"
changes=$("$BIN" --config "$WORK/groundtruth.toml" sql \
  "SELECT id, array_to_string(changed_paths, ',') AS paths FROM changes(TIMESTAMP '2000-01-01', now()) WHERE change = 'modified' ORDER BY id" 2>&1)
expect "changes read back from S3" "aws_sqs_queue.orders .*visibility_timeout_seconds" "$changes"
expect "only the modified attributes" "aws_lambda_function.order_processor .*memory_size" "$changes"
objects=$("$VENV/bin/python" - "$PORT" <<'PY'
import sys, boto3
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}")
for item in s3.list_objects_v2(Bucket="groundtruth-test", Prefix="team/history/").get("Contents", []):
    print(item["Key"])
PY
)
expect "Delta log in the bucket" "team/history/versions/_delta_log/00000000000000000001.json" "$objects"
expect "Parquet files in the bucket" "team/history/versions/.*\.parquet" "$objects"
leaks=$("$VENV/bin/python" - "$PORT" <<'PY'
import sys, boto3
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}")
for item in s3.list_objects_v2(Bucket="groundtruth-test").get("Contents", []):
    body = s3.get_object(Bucket="groundtruth-test", Key=item["Key"])["Body"].read()
    if b"s3cr3t-fixture-password" in body:
        print("secret in", item["Key"])
print("scanned")
PY
)
expect "no secret in any object of the bucket" "^scanned$" "$leaks"
if grep -q "secret in" <<<"$leaks"; then failed=$((failed + 1)); echo "FAIL $leaks"; fi

# Declared sources read straight from a bucket (teams keep Terraform state in S3): one
# object, and a prefix read like a directory.
"$VENV/bin/python" - "$PORT" <<'PY'
import sys, boto3
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}")
s3.create_bucket(Bucket="team-tfstate")
s3.upload_file("tests/fixtures/terraform/v1.tfstate", "team-tfstate", "env/prod/terraform.tfstate")
import os
for root, _, files in os.walk("tests/fixtures/kubernetes/shop"):
    for name in files:
        path = os.path.join(root, name)
        s3.upload_file(path, "team-tfstate", "manifests/" + os.path.relpath(path, "tests/fixtures/kubernetes/shop"))
PY
cat > "$WORK/remote-sources.toml" <<TOML
store = "$WORK/local-store"

[[sources]]
type = "terraform_state"
name = "remote_state"
path = "s3://team-tfstate/env/prod/terraform.tfstate"

[[sources]]
type = "kubernetes_manifests"
name = "remote_manifests"
path = "s3://team-tfstate/manifests/"

[[sources]]
type = "terraform_state"
name = "missing_state"
path = "s3://team-tfstate/env/staging/terraform.tfstate"
TOML
remote=$(AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_ALLOW_HTTP=true \
  "$BIN" --config "$WORK/remote-sources.toml" ingest --once 2>&1 || true)
expect "tfstate read from an s3:// URL" "remote_state: ok ([1-9][0-9]* resources seen" "$remote"
expect "a missing object is a failed scrape naming the URL" "missing_state: failed.*s3://team-tfstate/env/staging/terraform.tfstate" "$remote"
remote_ids=$("$BIN" --config "$WORK/remote-sources.toml" sql \
  "SELECT id FROM resources WHERE source = 'remote_state' AND kind = 'aws_sqs_queue'" 2>&1)
expect "remote state resources are queryable" "aws_sqs_queue.orders" "$remote_ids"
expect "manifests read from an s3:// prefix" "remote_manifests: ok ([1-9][0-9]* resources seen" "$remote"
remote_manifests=$("$BIN" --config "$WORK/remote-sources.toml" sql \
  "SELECT id, labels->>'k8s.file' AS file FROM resources WHERE source = 'remote_manifests' AND kind = 'k8s/apps/Deployment' ORDER BY id" 2>&1)
expect "prefix-relative file labels" "shop/web .*web.yaml" "$remote_manifests"

echo "s3-store: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
