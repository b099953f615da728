"""A well-behaved client loses nothing and double-counts nothing while the server is restarted under it
(CONTRACT 1 `id`, 3 "a 2xx means every accepted record is durably committed", 5 "counters stay consistent
across restarts").

Clients send 1500 records in requests of 1-30 records (JSON arrays and NDJSON), retrying each request with
the same ids on any non-2xx answer or connection error until it is acknowledged (bounded: 60 s in all).
Meanwhile a chaos thread restarts the server 5 times at random moments, alternating SIGTERM and kill -9,
on the same database and the same port. At the end every record is stored exactly once, and the
counters, resumed from the store after each restart, equal the store.
"""

from __future__ import annotations

import http.client
import os
import random
import threading
import time

from conftest import Server, family_sum, free_port, metrics_for, post_usage, query_db

TOTAL_RECORDS = 1500
CLIENTS = 3
RESTARTS = 5
DEADLINE_SECONDS = 60.0
MODELS = ["gpt-4o-mini", "claude-3-5-haiku", "gemini-2.0-flash", "house-model-unpriced"]
OPERATIONS = ["chat", "summarize", "classify"]


def make_records(rng: random.Random) -> list[dict]:
    return [{
        "id": f"retry-{i:05d}",
        "operation": OPERATIONS[i % len(OPERATIONS)],
        "model": MODELS[i % len(MODELS)],
        "input_tokens": rng.randint(0, 5000),
        "cached_input_tokens": rng.choice([0, 0, 64, 512]),
        "output_tokens": rng.randint(0, 800),
        "user_id": f"u{i % 37}",
        "duration_ms": rng.randint(5, 5000),
    } for i in range(TOTAL_RECORDS)]


def make_batches(records: list[dict], rng: random.Random) -> list[list[dict]]:
    batches, pos = [], 0
    while pos < len(records):
        n = rng.randint(1, 30)
        batches.append(records[pos:pos + n])
        pos += n
    return batches


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.statuses: dict[str, int] = {}
        self.bad_answers: list[str] = []
        self.unfinished: list[str] = []
        self.in_flight = 0

    def count(self, kind: str) -> None:
        with self.lock:
            self.statuses[kind] = self.statuses.get(kind, 0) + 1


def send_until_acknowledged(port: int, batch: list[dict], ndjson: bool, deadline: float, stats: Stats,
                            rng: random.Random) -> bool:
    body = batch[0] if len(batch) == 1 and not ndjson else batch
    while time.monotonic() < deadline:
        with stats.lock:
            stats.in_flight += 1
        try:
            r = post_usage(port, body, ndjson=ndjson, timeout=10.0)
        except (OSError, http.client.HTTPException) as e:
            stats.count(type(e).__name__)
            time.sleep(rng.uniform(0.02, 0.15))
            continue
        finally:
            with stats.lock:
                stats.in_flight -= 1
        stats.count(str(r.status))
        if 200 <= r.status < 300:
            answer = r.json()
            if answer.get("rejected") or answer.get("accepted", 0) + answer.get("duplicates", 0) != len(batch):
                with stats.lock:
                    stats.bad_answers.append(f"{batch[0]['id']}..+{len(batch)}: {answer}")
            return True
        if 400 <= r.status < 500:  # valid records: a 4xx is a server bug; retry as the brief's client does
            with stats.lock:
                stats.bad_answers.append(f"{batch[0]['id']}..+{len(batch)}: {r.status} {r.body[:200]!r}")
        delay = 0.1
        if r.status == 503:
            try:
                delay = min(float(r.headers.get("retry-after", "0.1")), 0.5)
            except ValueError:
                pass
        time.sleep(delay)
    with stats.lock:
        stats.unfinished.append(f"{batch[0]['id']}..+{len(batch)}")
    return False


def test_every_record_stored_once_across_restarts(tmp_path):
    rng = random.Random(20261125)  # the records and batches are the same every run; the restart moments are not
    chaos_seed = int(os.environ.get("CHAOS_SEED", time.time_ns() % 2**32))  # CHAOS_SEED=N replays a run
    records = make_records(rng)
    batches = make_batches(records, rng)
    port = free_port()
    server = Server(tmp_path / "tokenmeter.sqlite", tmp_path, fixed_port=port)
    stats = Stats()
    chaos_log: list[str] = []
    chaos_errors: list[str] = []
    clients_done = threading.Event()
    server.start()
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        queue = list(enumerate(batches))
        queue_lock = threading.Lock()

        def client(k: int):
            crng = random.Random(k)
            while True:
                with queue_lock:
                    if not queue:
                        return
                    index, batch = queue.pop(0)
                send_until_acknowledged(port, batch, ndjson=index % 2 == 1, deadline=deadline, stats=stats, rng=crng)
                time.sleep(crng.uniform(0.05, 0.15))  # paced, so the restarts land in the middle of the traffic

        # Restart when random shares of the requests have been dispatched (5 %..90 %), plus a random delay:
        # random moments that are sure to fall inside the traffic, however fast this machine is.
        crng = random.Random(chaos_seed)
        thresholds = sorted(crng.sample(range(len(batches) // 20, len(batches) * 9 // 10), RESTARTS))

        def dispatched() -> int:
            with queue_lock:
                return len(batches) - len(queue)

        def chaos():
            try:
                for n in range(RESTARTS):
                    while dispatched() < thresholds[n] and not clients_done.is_set():
                        time.sleep(0.01)
                    time.sleep(crng.uniform(0.0, 0.1))
                    # Prefer a moment with a request in flight (bounded wait): kills mid-request are the hard case.
                    until = time.monotonic() + 0.5
                    while stats.in_flight == 0 and time.monotonic() < until and not clients_done.is_set():
                        time.sleep(0.001)
                    if clients_done.is_set():
                        chaos_log.append(f"restart {n + 1}: skipped, clients done")
                        continue
                    start = time.monotonic()
                    if n % 2 == 0:
                        code, took = server.terminate(timeout=20)
                        if code is None:
                            server.kill()
                        how = f"SIGTERM (exit {code} after {took:.2f} s)"
                        if code != 0:
                            chaos_errors.append(f"restart {n + 1}: SIGTERM exit code {code}; log:\n{server.log()}")
                    else:
                        server.kill()
                        how = "kill -9"
                    server.start(ready_timeout=30)  # same db, same port (retried inside if the port is busy)
                    chaos_log.append(f"restart {n + 1} at request {dispatched()}/{len(batches)}: {how}, "
                                     f"serving again on {server.port} after {time.monotonic() - start:.2f} s")
            except BaseException as e:  # noqa: BLE001 - pytest.fail inside start() must reach the main thread
                chaos_errors.append(f"{type(e).__name__}: {e}")

        threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
        chaos_thread = threading.Thread(target=chaos)
        started = time.monotonic()
        for t in threads:
            t.start()
        chaos_thread.start()
        for t in threads:
            t.join(timeout=DEADLINE_SECONDS + 30)
        clients_done.set()
        chaos_thread.join(timeout=120)
        took = time.monotonic() - started
        print(f"\nCHAOS_SEED={chaos_seed}: {len(batches)} requests, {TOTAL_RECORDS} records in {took:.1f} s; answers/errors seen: "
              f"{dict(sorted(stats.statuses.items()))}\n" + "\n".join(chaos_log))
        assert not chaos_errors, (f"CHAOS_SEED={chaos_seed}", chaos_errors)
        assert server.port == port
        assert sum(1 for line in chaos_log if "skipped" not in line) == RESTARTS, \
            f"restarts did not all land during the traffic: {chaos_log}"
        assert not stats.unfinished, f"{len(stats.unfinished)} requests never acknowledged within " \
                                     f"{DEADLINE_SECONDS:.0f} s: {stats.unfinished[:5]}"
        assert not stats.bad_answers, stats.bad_answers[:10]
        if not server.running:
            server.start()

        # Exactly once in the store.
        rows, distinct = query_db(server.db_path, "SELECT COUNT(*), COUNT(DISTINCT id) FROM usage_records")[0]
        assert distinct == rows, f"{rows - distinct} duplicate rows"
        stored = {r[0] for r in query_db(server.db_path, "SELECT id FROM usage_records")}
        sent = {r["id"] for r in records}
        assert stored == sent, f"missing {sorted(sent - stored)[:10]}, unexpected {sorted(stored - sent)[:10]}"
        assert rows == TOTAL_RECORDS
        (input_sum,) = query_db(server.db_path, "SELECT SUM(input_tokens) FROM usage_records")[0]
        assert input_sum == sum(r["input_tokens"] for r in records)

        # The counters resumed from the store after every restart, so they equal it.
        samples = metrics_for(port)
        assert family_sum(samples, "tokenmeter_requests_total") == rows
        assert family_sum(samples, "tokenmeter_requests_total", status="success") == rows
        assert family_sum(samples, "tokenmeter_tokens_total", type="input") == sum(r["input_tokens"] for r in records)
        assert family_sum(samples, "tokenmeter_tokens_total", type="cached_input") == \
            sum(r["cached_input_tokens"] for r in records)
        assert family_sum(samples, "tokenmeter_tokens_total", type="output") == sum(r["output_tokens"] for r in records)
    finally:
        server.stop()
