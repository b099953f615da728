"""SIGTERM under ingest load: the server stops accepting, commits what it acknowledged, and exits 0
within 15 s (CONTRACT 3: a 2xx means every accepted record is durably committed; 503 means nothing of the
request was stored, so the client retries).
"""

from __future__ import annotations

import collections
import http.client
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import family_sum, metrics_for, post_usage, query_db

THREADS = 8
MIN_ACKED_BEFORE_SIGTERM = 80
EXIT_TIMEOUT = 15.0


def test_sigterm_under_load_exits_0_and_keeps_every_acknowledged_record(server_factory):
    server = server_factory().start()
    port = server.port
    stop = threading.Event()
    lock = threading.Condition()
    results: list[tuple[str, list[str], object]] = []  # (kind, ids, response or exception)
    acked = 0

    def client(thread: int):
        nonlocal acked
        seq = 0
        while not stop.is_set():
            size = 1 + seq % 7  # 1..7 records per body
            records = [{"id": f"gs-t{thread}-{seq}-{j}", "operation": "chat", "model": "gpt-4o-mini",
                        "input_tokens": 10 + j, "output_tokens": 2, "user_id": f"u{thread}"} for j in range(size)]
            seq += 1
            ids = [r["id"] for r in records]
            try:
                r = post_usage(port, records, timeout=30.0)
                kind = "2xx" if 200 <= r.status < 300 else ("5xx" if r.status >= 500 else "4xx")
            except (OSError, http.client.HTTPException) as e:
                kind, r = "none", e
            with lock:
                results.append((kind, ids, r))
                if kind == "2xx":
                    acked += 1
                lock.notify_all()
            if kind == "none" and not server.running:
                time.sleep(0.01)  # the server is gone; keep trying until the test says stop (cheap: refused)

    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(client, t) for t in range(THREADS)]
        with lock:
            assert lock.wait_for(lambda: acked >= MIN_ACKED_BEFORE_SIGTERM, timeout=60), \
                f"only {acked} requests acknowledged in 60 s before SIGTERM"
        code, took = server.terminate(timeout=EXIT_TIMEOUT)
        stop.set()
        for f in futures:
            f.result(timeout=60)

    log = server.log()
    if code is None:
        server.kill()
    assert code == 0, f"after SIGTERM: exit code {code} after {took:.1f} s (None = still running after " \
                      f"{EXIT_TIMEOUT:.0f} s)\n{log}"

    kinds = [k for k, _, _ in results]
    print(f"exited in {took:.2f} s; 2xx={kinds.count('2xx')} 5xx={kinds.count('5xx')} "
          f"none={kinds.count('none')} 4xx={kinds.count('4xx')}")
    errs = collections.Counter(type(r).__name__ for k, _, r in results if k == "none")
    print("no-answer kinds:", dict(errs))
    assert "4xx" not in kinds, [r for k, _, r in results if k == "4xx"][:3]

    stored = {row[0] for row in query_db(server.db_path, "SELECT id FROM usage_records")}
    acked_ids = [i for k, ids, _ in results if k == "2xx" for i in ids]
    missing = [i for i in acked_ids if i not in stored]
    assert not missing, f"{len(missing)} of {len(acked_ids)} acknowledged records missing after SIGTERM: {missing[:5]}"
    # Not a contract violation, but worth seeing: requests cut off by the shutdown (reset, not refused)
    # and whether the server had committed them anyway (then the client's retry is answered as duplicates).
    reset = [(ids, sum(i in stored for i in ids)) for k, ids, r in results
             if k == "none" and not isinstance(r, ConnectionRefusedError)]
    print("no answer but not refused (ids, how many stored):", [(ids[0], len(ids), n) for ids, n in reset])
    for k, ids, r in results:
        if k == "2xx":
            assert r.json()["accepted"] == len(ids), (ids[0], r)
        if k == "5xx":
            # 503 (+ Retry-After) promises that nothing of the request was stored.
            assert r.status == 503 and "retry-after" in r.headers, (ids[0], r)
            stored_anyway = [i for i in ids if i in stored]
            assert not stored_anyway, f"503 answered for {ids[0]}… but {stored_anyway} were stored: {r.body!r}"
    assert query_db(server.db_path, "SELECT COUNT(*), COUNT(DISTINCT id) FROM usage_records")[0] == (len(stored),) * 2

    # The store is consistent: after a restart the counters equal the stored rows.
    server.start()
    samples = metrics_for(server.port)
    assert family_sum(samples, "tokenmeter_requests_total") == len(stored)
