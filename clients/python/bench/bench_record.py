#!/usr/bin/env python3
"""Cost of TokenMeter.record() on the caller's thread, and records/s delivered, next to a plain
synchronous urllib POST per record, against the same real tokenmeter server in the same run.

    TOKENMETER_BIN=.build/debug/tokenmeter python3 clients/python/bench/bench_record.py [--records N] [--urllib N]

Starts `tokenmeter serve` on a free loopback port with a temp database, prints a Markdown table
(and the machine), and stops the server. Bounded: a fixed number of records, loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "src"))

from tokenmeter import TokenMeter  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(binary: str, workdir: Path) -> tuple:
    port = free_port()
    db = workdir / "bench.sqlite"
    log = open(workdir / "server.log", "wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENMETER_")}
    proc = subprocess.Popen([binary, "serve", "--db", str(db), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=str(workdir))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return proc, port, db
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("server did not start; see " + str(workdir / "server.log"))


def record_fields(i: int) -> dict:
    return dict(operation="bench", model="gpt-4o-mini", user_id=f"u{i % 1000}", plan="pro", credits=1,
                duration_ms=420, usage={"prompt_tokens": 1200 + i % 100, "completion_tokens": 300,
                                        "prompt_tokens_details": {"cached_tokens": 200}})


def bench_client(port: int, n: int) -> dict:
    meter = TokenMeter(f"http://127.0.0.1:{port}", service="bench", register_atexit=False,
                       max_queue_size=max(n, 100_000))
    samples = []
    perf = time.perf_counter_ns
    t_start = time.perf_counter()
    for i in range(n):
        fields = record_fields(i)
        t0 = perf()
        meter.record(**fields)
        samples.append(perf() - t0)
    t_recorded = time.perf_counter()
    ok = meter.flush(600)
    t_delivered = time.perf_counter()
    stats = meter.stats()
    meter.close()
    assert ok and stats["accepted"] == n, stats
    samples.sort()
    return {
        "mean_us": sum(samples) / n / 1000, "p50_us": samples[n // 2] / 1000, "p99_us": samples[int(n * 0.99)] / 1000,
        "max_us": samples[-1] / 1000, "record_s": t_recorded - t_start,
        "delivered_per_s": n / (t_delivered - t_start), "requests": stats["requests"],
    }


def bench_urllib(port: int, n: int) -> dict:
    url = f"http://127.0.0.1:{port}/v1/usage"
    samples = []
    t_start = time.perf_counter()
    for i in range(n):
        record = record_fields(i)
        record["service"] = "bench-urllib"
        record["timestamp"] = time.time()
        t0 = time.perf_counter_ns()
        req = urllib.request.Request(url, data=json.dumps(record).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
            assert r.status == 200
        samples.append(time.perf_counter_ns() - t0)
    elapsed = time.perf_counter() - t_start
    samples.sort()
    return {"mean_us": sum(samples) / n / 1000, "p50_us": samples[n // 2] / 1000,
            "p99_us": samples[int(n * 0.99)] / 1000, "delivered_per_s": n / elapsed}


def bench_raw_batches(port: int, n: int, batch: int = 500) -> dict:
    """The server's own ceiling: pre-encoded NDJSON bodies of `batch` records, one keep-alive connection."""
    import http.client
    import uuid
    bodies = []
    for start in range(0, n, batch):
        lines = []
        for i in range(start, min(n, start + batch)):
            record = record_fields(i)
            record.update(id=str(uuid.uuid4()), service="bench-raw", timestamp=time.time())
            lines.append(json.dumps(record))
        bodies.append(("\n".join(lines) + "\n").encode())
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    t0 = time.perf_counter()
    for body in bodies:
        conn.request("POST", "/v1/usage", body=body, headers={"Content-Type": "application/x-ndjson"})
        r = conn.getresponse()
        r.read()
        assert r.status == 200
    elapsed = time.perf_counter() - t0
    conn.close()
    return {"delivered_per_s": n / elapsed}


def machine() -> str:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"`nproc` = {os.cpu_count()}, {cpu}, Linux {platform.release()}, Python {platform.python_version()}; "
            f"load average at start {load}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=50_000, help="records through TokenMeter.record()")
    ap.add_argument("--urllib", type=int, default=2_000, help="records through one urllib POST each")
    ap.add_argument("--bin", default=os.environ.get("TOKENMETER_BIN", ".build/debug/tokenmeter"))
    args = ap.parse_args()
    binary = shutil.which(args.bin) or args.bin
    workdir = Path(tempfile.mkdtemp(prefix="tokenmeter-client-bench-"))
    print(f"- Machine: {machine()}")
    print(f"- Server: `{binary}` (`tokenmeter serve`, SQLite in a temp dir, loopback)")
    proc, port, db = start_server(binary, workdir)
    try:
        u = bench_urllib(port, args.urllib)
        c = bench_client(port, args.records)
        raw = bench_raw_batches(port, args.records // 5)
        u2 = bench_urllib(port, args.urllib // 2)  # again after: the reference did not drift
    finally:
        proc.terminate()
        proc.wait(30)
    conn = sqlite3.connect(str(db))
    (stored,) = conn.execute("SELECT COUNT(*) FROM usage_records WHERE service = 'bench'").fetchone()
    conn.close()
    assert stored == args.records, f"stored {stored} of {args.records}"
    shutil.rmtree(workdir, ignore_errors=True)
    print()
    print("| measure | TokenMeter.record() (queue + background NDJSON batches) | urllib POST per record (synchronous) | ratio |")
    print("|---|---|---|---|")
    print(f"| caller's thread, µs per call (mean) | {c['mean_us']:.1f} | {u['mean_us']:.0f} | {u['mean_us'] / c['mean_us']:.0f}x less |")
    print(f"| caller's thread, µs per call (p50 / p99 / max) | {c['p50_us']:.1f} / {c['p99_us']:.1f} / {c['max_us']:.0f} | "
          f"{u['p50_us']:.0f} / {u['p99_us']:.0f} / — | — |")
    print(f"| records/s delivered (first record() to flush() done; urllib: acknowledged) | {c['delivered_per_s']:,.0f} | "
          f"{u['delivered_per_s']:,.0f} | {c['delivered_per_s'] / u['delivered_per_s']:.1f}x |")
    print(f"| the server's ceiling: pre-encoded 500-record NDJSON bodies, one connection | — | — | "
          f"{raw['delivered_per_s']:,.0f} records/s; the client delivers {c['delivered_per_s'] / raw['delivered_per_s']:.2f} of it |")
    print(f"| records/s through record() on one thread (the loop alone) | {args.records / c['record_s']:,.0f} | "
          f"{u['delivered_per_s']:,.0f} | {args.records / c['record_s'] / u['delivered_per_s']:.0f}x |")
    print(f"| requests | {c['requests']} for {args.records:,} records | {args.urllib:,} for {args.urllib:,} records | — |")
    print(f"| urllib again after the client run (drift check) | — | {u2['mean_us']:.0f} µs, {u2['delivered_per_s']:,.0f} records/s | — |")
    print()
    print(f"All {args.records:,} client records were found in the SQLite file after the run.")


if __name__ == "__main__":
    main()
