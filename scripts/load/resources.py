#!/usr/bin/env python3
"""Ingest rate of records carrying a unit of work (pipeline_run_id, tags) and the latency of the
resource reports over them (BENCHMARKS.md, issue 21).

    TOKENMETER_BIN=.build/debug/tokenmeter scripts/load/resources.py [RECORDS]   # default 100000

One server on a temp database (synchronous FULL), NDJSON bodies of 2000 records over 6 days,
5000 distinct runs; then each report three times, the best kept. Standard library only."""
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = os.environ.get("TOKENMETER_BIN", ".build/debug/tokenmeter")
N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
work = tempfile.mkdtemp(prefix="tokenmeter-resources-")
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENMETER_")}
server = subprocess.Popen([BIN, "serve", "--db", os.path.join(work, "b.sqlite"), "--port", str(port)],
                          stdout=open(os.path.join(work, "log"), "w"), stderr=subprocess.STDOUT, env=env)
try:
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz")
            break
        except OSError:
            time.sleep(0.2)
    rng = random.Random(1)
    now = time.time()
    started = time.time()
    for b in range(N // 2000):
        lines = [json.dumps({"id": f"{b}-{i}", "operation": "commission", "model": rng.choice(["gpt-4o-mini", "gpt-4o"]),
                             "pipeline_run_id": f"r{rng.randint(0, 5000)}", "tags": {"env": "prod"},
                             "input_tokens": rng.randint(10, 9000), "output_tokens": rng.randint(1, 900),
                             "timestamp": now - rng.uniform(60, 6 * 86400)}) for i in range(2000)]
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/usage", data=("\n".join(lines) + "\n").encode(),
                                         headers={"Content-Type": "application/x-ndjson"})
        assert json.loads(urllib.request.urlopen(request).read())["accepted"] == 2000
    elapsed = time.time() - started
    print(f"ingest {N} records with a resource and a tag: {elapsed:.1f} s, {N / elapsed:.0f} records/s")
    for path in ["/v1/reports/summary?range=7d&group_by=resource&resource_type=pipeline_run&limit=10",
                 "/v1/reports/summary?range=7d&group_by=resource_type", "/v1/reports/summary?range=7d&tag.env=prod",
                 "/v1/resources/pipeline_run/r42/usage", "/v1/reports/summary?range=7d&group_by=model"]:
        best = min(_timed for _timed in (
            (lambda t0: (urllib.request.urlopen(f"http://127.0.0.1:{port}{path}").read(), (time.time() - t0) * 1000)[1])(time.time())
            for _ in range(3)))
        print(f"{best:8.1f} ms  {path}")
finally:
    server.terminate()
    server.wait()
    shutil.rmtree(work, ignore_errors=True)
