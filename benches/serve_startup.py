#!/usr/bin/env python3
"""Time `groundtruth serve` on a dataset's store from process start to the first answered query.

The store is copied with hard links (`cp -al`: Delta never rewrites a file in place, and serve
may commit a recovery or a compaction), a config with no sources is written, the server is
started on a free loopback port, and `SELECT count(*) FROM resources` is sent with psycopg
every 50 ms until it is answered. Reported: time to the first answer, that answer, the same
query once more (warm), and the server's peak RSS (VmHWM). The server is stopped by its PID.

Usage:
    python benches/serve_startup.py DATASET_DIR --server target/release/groundtruth [--json OUT]
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import psycopg

QUERY = "SELECT count(*) FROM resources"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("--server", required=True, help="the groundtruth binary (release)")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--json")
    args = parser.parse_args()

    scratch = tempfile.mkdtemp(prefix="gt-serve-", dir=os.path.dirname(os.path.abspath(args.dataset)))
    store = os.path.join(scratch, "store")
    subprocess.run(["cp", "-al", os.path.abspath(args.dataset), store], check=True)
    port = free_port()
    config = os.path.join(scratch, "groundtruth.toml")
    with open(config, "w") as handle:
        handle.write(f'store = "{store}"\n\n[server]\nlisten = "127.0.0.1:{port}"\nauth = "trust"\n')
    log = open(os.path.join(scratch, "serve.log"), "w")
    url = f"postgresql://bench@127.0.0.1:{port}/groundtruth"
    started = time.perf_counter()
    process = subprocess.Popen([args.server, "--config", config, "serve"], stdout=log, stderr=subprocess.STDOUT)
    result = {"dataset": os.path.basename(os.path.normpath(args.dataset)), "query": QUERY}
    try:
        answer = None
        attempts = 0
        while answer is None:
            if process.poll() is not None:
                raise RuntimeError(f"groundtruth serve exited with {process.returncode}; see {log.name}")
            if time.perf_counter() - started > args.timeout:
                raise RuntimeError(f"no answer within {args.timeout} s")
            attempts += 1
            try:
                with psycopg.connect(url, connect_timeout=args.timeout, autocommit=True) as connection:
                    answer = connection.execute(QUERY).fetchone()[0]
            except psycopg.OperationalError:
                time.sleep(0.05)
        result["first_answer_ms"] = (time.perf_counter() - started) * 1e3
        result["answer"] = answer
        result["attempts"] = attempts
        with psycopg.connect(url, autocommit=True) as connection:
            clock = time.perf_counter()
            connection.execute(QUERY).fetchone()
            result["warm_query_ms"] = (time.perf_counter() - clock) * 1e3
        result["server_peak_rss_mib"] = peak_rss_mib(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
