"""Delivery guarantees against the real binary: nothing queued is lost across kill -9 restarts, nothing
is stored twice, a full queue drops (counted and reported) instead of blocking, and a process that
exits without flush() still delivers everything it queued."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from conftest import SRC, Server, free_port, query_db, url_of

from tokenmeter import TokenMeter

TOTAL = 10_000
THREADS = 8


def test_10000_records_from_8_threads_survive_two_kill_9_restarts_stored_exactly_once(tmp_path, errors):
    port = free_port()
    server = Server(tmp_path / "tokenmeter.sqlite", tmp_path, fixed_port=port)
    server.start()
    meter = TokenMeter(f"http://127.0.0.1:{port}", service="chaos", batch_size=200, flush_interval=0.05,
                       max_backoff=0.5, timeout=5, on_error=errors, register_atexit=False)
    ids_by_thread = [[] for _ in range(THREADS)]
    recorded = [0]
    count_lock = threading.Lock()
    slowest = [0.0]
    try:
        def produce(k: int):
            per_thread = TOTAL // THREADS
            for i in range(per_thread):
                t0 = time.perf_counter()
                rid = meter.record(operation="chaos", model="gpt-4o-mini", user_id=f"u{k}",
                                   input_tokens=i, output_tokens=k, metadata={"thread": k, "n": i})
                elapsed = time.perf_counter() - t0
                ids_by_thread[k].append(rid)
                with count_lock:
                    recorded[0] += 1
                    slowest[0] = max(slowest[0], elapsed)
                if i % 5 == 0:
                    time.sleep(0.02)  # paced (~5 s in all): both restarts land inside the traffic

        threads = [threading.Thread(target=produce, args=(k,)) for k in range(THREADS)]
        for t in threads:
            t.start()
        kills = []
        threshold = TOTAL * 20 // 100
        for _ in range(2):
            while recorded[0] < threshold and any(t.is_alive() for t in threads):
                time.sleep(0.005)
            server.kill()  # SIGKILL: no graceful shutdown
            kills.append(recorded[0])
            time.sleep(0.5)  # down for a while: records queue up, the sender retries
            server.start()
            threshold = min(max(TOTAL * 55 // 100, recorded[0] + TOTAL // 10), TOTAL - 500)
        for t in threads:
            t.join(120)
        assert meter.flush(120), f"not delivered: {meter.stats()}"
        meter.close(10)
    finally:
        server.stop()

    all_ids = [rid for ids in ids_by_thread for rid in ids]
    assert len(all_ids) == TOTAL and len(set(all_ids)) == TOTAL
    rows = query_db(server.db_path, "SELECT id, COUNT(*) FROM usage_records WHERE operation = 'chaos' GROUP BY id")
    assert len(rows) == TOTAL, f"stored {len(rows)} of {TOTAL}; stats {meter.stats()}; errors {errors.items[:3]}"
    assert all(n == 1 for _, n in rows)
    assert {r[0] for r in rows} == set(all_ids)
    (total_rows,) = query_db(server.db_path, "SELECT COUNT(*) FROM usage_records")[0]
    assert total_rows == TOTAL
    # The rollups count each record once too (a retried batch whose first answer was lost is a duplicate).
    (summed,) = query_db(server.db_path, "SELECT SUM(input_tokens) FROM usage_records")[0]
    assert summed == THREADS * sum(range(TOTAL // THREADS))
    s = meter.stats()
    assert s["accepted"] + s["duplicates"] == TOTAL, s
    assert s["dropped"] == 0 and s["failed"] == 0 and s["rejected"] == 0, s
    assert s["retries"] > 0, f"the restarts were not felt: {s}, kills at {kills}"
    assert kills[-1] < TOTAL, f"the second kill came after the traffic: kills at {kills}"
    assert errors.items == []
    print("chaos:", s, "kills at", kills, "slowest record() ms", slowest[0] * 1000)
    assert slowest[0] < 0.25, f"record() took {slowest[0] * 1000:.1f} ms at worst"


def test_queue_full_while_the_server_is_down_drops_counts_and_reports_without_blocking(tmp_path, errors):
    port = free_port()  # nothing listens here yet
    meter = TokenMeter(f"http://127.0.0.1:{port}", max_queue_size=100, batch_size=50, flush_interval=0.05,
                       max_backoff=0.2, timeout=2, on_error=errors, register_atexit=False)
    ids = []
    worst = 0.0
    t_all = time.perf_counter()
    for i in range(1000):
        t0 = time.perf_counter()
        ids.append(meter.record(operation="outage", model="gpt-4o-mini", input_tokens=i))
        worst = max(worst, time.perf_counter() - t0)
        if i == 10:
            time.sleep(0.2)  # let the sender take a first batch and start retrying it
    total = time.perf_counter() - t_all
    assert worst < 0.25 and total < 3.0, f"record() blocked: worst {worst * 1000:.1f} ms, total {total:.2f} s"

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and sum(e.count for e in errors.of_kind("dropped")) < meter.stats()["dropped"]:
        time.sleep(0.05)
    s = meter.stats()
    assert s["dropped"] == s["dropped_queue_full"] >= 1000 - 100 - 50, s
    reports = errors.of_kind("dropped")
    assert reports and all(e.reason == "queue_full" for e in reports)
    assert sum(e.count for e in reports) == s["dropped"], "every drop is reported, while the server is still down"
    dropped_ids = {rid for e in reports for rid in e.record_ids}
    assert len(dropped_ids) == s["dropped"]
    assert s["queued"] == 1000 - s["dropped"]
    assert not meter.flush(0.5)  # the server is still down: flush says so instead of hanging

    server = Server(tmp_path / "tokenmeter.sqlite", tmp_path, fixed_port=port)
    server.start()
    try:
        assert meter.flush(30), meter.stats()
        meter.close()
        stored_ids = {r[0] for r in query_db(server.db_path, "SELECT id FROM usage_records")}
    finally:
        server.stop()
    assert stored_ids == set(ids) - dropped_ids, "what was queued arrives; what was dropped was reported"
    assert errors.of_kind("rejected") == [] and errors.of_kind("failed") == []


CHILD = textwrap.dedent("""
    import sys
    from tokenmeter import TokenMeter
    meter = TokenMeter(sys.argv[1], flush_interval=60, batch_size=10_000, exit_timeout=float(sys.argv[3]))
    for i in range(int(sys.argv[2])):
        meter.record(operation="atexit", model="gpt-4o-mini", input_tokens=i)
    print("recorded", flush=True)
    if len(sys.argv) > 4:
        raise RuntimeError("the app dies with an exception")
""")


def run_child(url: str, count: int, exit_timeout: float = 10.0, crash: bool = False, timeout: float = 60):
    env = dict(os.environ, PYTHONPATH=str(SRC))
    args = [sys.executable, "-c", CHILD, url, str(count), str(exit_timeout)] + (["crash"] if crash else [])
    t0 = time.monotonic()
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - t0


def test_a_process_that_exits_without_flush_delivers_everything_it_queued(server):
    proc, _ = run_child(url_of(server), 3000)
    assert proc.returncode == 0, proc.stderr
    proc, _ = run_child(url_of(server), 500, crash=True)
    assert proc.returncode == 1 and "the app dies" in proc.stderr
    (n,) = query_db(server.db_path, "SELECT COUNT(*) FROM usage_records WHERE operation = 'atexit'")[0]
    assert n == 3500


def test_exit_with_the_server_down_is_bounded_and_says_what_was_lost():
    port = free_port()
    proc, took = run_child(f"http://127.0.0.1:{port}", 50, exit_timeout=1.0)
    assert proc.returncode == 0
    assert took < 8, f"exit took {took:.1f} s with exit_timeout=1"
    assert "dropped 50 record(s) (shutdown)" in proc.stderr, proc.stderr


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")  # forking one is the point
def test_a_forked_child_delivers_its_own_records_and_never_the_parents(server, errors):
    meter = TokenMeter(url_of(server), flush_interval=30, on_error=errors, register_atexit=False)
    parent_ids = [meter.record(operation="parent", model="gpt-4o-mini") for _ in range(5)]  # queued, not sent
    pid = os.fork()
    if pid == 0:  # the child: its queue starts empty; it records, flushes and leaves without atexit
        code = 1
        try:
            for _ in range(7):
                meter.record(operation="child", model="gpt-4o-mini")
            code = 0 if meter.flush(20) and meter.stats()["accepted"] == 7 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert meter.flush(20)
    meter.close()
    rows = query_db(server.db_path, "SELECT operation, COUNT(*), COUNT(DISTINCT id) FROM usage_records GROUP BY operation")
    assert sorted(rows) == [("child", 7, 7), ("parent", 5, 5)]
    assert {r[0] for r in query_db(server.db_path, "SELECT id FROM usage_records WHERE operation = 'parent'")} == set(parent_ids)
    assert meter.stats()["duplicates"] == 0
