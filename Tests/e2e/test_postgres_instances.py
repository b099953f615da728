"""Three `tokenmeter serve` processes on one PostgreSQL database (issue 19, CONTRACT section 7).

Concurrent clients spread over the instances send the same ids to different instances; one instance
is `kill -9`'d mid-load, its clients retry on another, then it restarts under its own name. Every
acknowledged record is stored once, reports on every instance equal brute-force sums over the stored
rows, and the sum over instances of the request and token counters equals the store.

Needs TOKENMETER_TEST_PG (a server URL; `eval "$(scripts/pg start)"` runs a throwaway one): skipped
without it, failed without it under CI=true.
"""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time
import uuid

import pytest

from conftest import PG_URL, Server, family_sum, http_request, metrics_for, post_usage, postgres_marks

pytestmark = postgres_marks()


def psql(url: str, sql: str) -> list[list[str]]:
    out = subprocess.run(["psql", url, "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


@pytest.fixture
def database():
    name = "tm_e2e_" + uuid.uuid4().hex[:12]
    psql(PG_URL, f"CREATE DATABASE {name}")
    yield PG_URL.rsplit("/", 1)[0] + "/" + name
    psql(PG_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def instance(tmp_path, url: str, name: str, port: int | None = None) -> Server:
    log_dir = tmp_path / name
    log_dir.mkdir(exist_ok=True)
    # The last --db wins over the one Server passes (its SQLite path is never opened).
    return Server(tmp_path / "unused.sqlite", log_dir, extra_args=["--db", url, "--instance", name], fixed_port=port)


def record(n: int) -> dict:
    rng = random.Random(n)
    return {
        "id": f"rec-{n}", "model": rng.choice(["gpt-4o-mini", "claude-sonnet-4", "gemini-2.5-flash"]),
        "operation": rng.choice(["chat", "summarize"]), "service": "e2e", "user_id": f"user-{rng.randrange(50)}",
        "timestamp": "2026-12-01T10:%02d:%02dZ" % (rng.randrange(60), rng.randrange(60)),
        "input_tokens": rng.randrange(1, 5000), "output_tokens": rng.randrange(1, 2000),
        "status": "error" if n % 7 == 0 else "success",
    }


def test_three_instances_store_each_id_once_and_their_counters_add_up(tmp_path, database):
    servers = [instance(tmp_path, database, f"i{k}").start() for k in range(3)]
    try:
        # A second live process under a taken name is refused with a clear message.
        twin = instance(tmp_path, database, "i1")
        with pytest.raises(BaseException):
            twin.start(ready_timeout=20)
        assert "already runs as instance 'i1'" in twin.log()

        acked: set[str] = set()
        lock = threading.Lock()
        stop = threading.Event()

        def client(seed: int) -> None:
            rng = random.Random(seed)
            while not stop.is_set():
                batch = [record(rng.randrange(3000)) for _ in range(40)]
                for attempt in range(20):
                    target = servers[(seed + attempt) % 3]
                    try:
                        if not target.running:
                            continue
                        result = post_usage(target.port, batch, timeout=15)
                    except OSError:
                        continue
                    if result.status == 200:
                        with lock:
                            acked.update(r["id"] for r in batch)
                        break
                    time.sleep(0.05)

        threads = [threading.Thread(target=client, args=(seed,)) for seed in range(6)]
        for t in threads:
            t.start()
        time.sleep(3)
        servers[1].kill()  # kill -9 mid-load; its clients move on to the other instances
        time.sleep(3)
        servers[1].start()  # the same name again: the advisory lock died with the killed process
        time.sleep(3)
        stop.set()
        for t in threads:
            t.join(timeout=60)

        rows = psql(database, "SELECT count(*), count(DISTINCT id) FROM usage_records")
        total, distinct = int(rows[0][0]), int(rows[0][1])
        assert total == distinct, "an id was stored twice"
        stored = {r[0] for r in psql(database, "SELECT id FROM usage_records")}
        assert acked <= stored, f"{len(acked - stored)} acknowledged records are missing"
        assert len(acked) > 500

        # Reports on every instance equal the brute-force sums over the stored rows.
        truth = {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in psql(database, """
            SELECT model, count(*), sum(input_tokens + output_tokens), sum(cost_nano) FROM usage_records GROUP BY model""")}
        users = int(psql(database, "SELECT count(DISTINCT user_id) FROM usage_records")[0][0])
        for server in servers:
            answer = http_request(server.port, "GET", "/v1/reports/summary?from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z"
                                  "&group_by=model").json()
            got = {g["key"]["model"]: (g["requests"], g["total_tokens"], round(g["cost_usd"] * 1e9)) for g in answer["groups"]}
            assert got == truth
            assert answer["totals"]["active_users"] == users

        # The counters of the three instances add up to the store (i1 resumed its own totals after kill -9).
        scraped = [metrics_for(server.port) for server in servers]
        requests = sum(family_sum(m, "tokenmeter_requests_total") for m in scraped)
        tokens = sum(family_sum(m, "tokenmeter_tokens_total") for m in scraped)
        assert requests == total
        assert tokens == sum(v[1] for v in truth.values())
        per_instance = {r[0]: int(r[1]) for r in psql(database, "SELECT instance, sum(requests) FROM lifetime_totals GROUP BY instance")}
        assert set(per_instance) <= {"i0", "i1", "i2"} and sum(per_instance.values()) == total
    finally:
        for server in servers:
            server.stop()
