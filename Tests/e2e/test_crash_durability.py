"""A 2xx from POST /v1/usage means the accepted records are committed (CONTRACT 3), so they survive a
`kill -9` of the server mid-load; retrying with the same ids afterwards stores every record exactly once
(CONTRACT 1, `id`), and the counters resume from the store after the crash (CONTRACT 5).
"""

from __future__ import annotations

import http.client
import math
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import family, family_sum, metrics_for, post_usage, query_db

THREADS = 16
BATCHES_PER_THREAD = 8   # 20-record JSON-array bodies (every other one sent as NDJSON)
BATCH_SIZE = 20
SINGLES_PER_THREAD = 30  # one-object bodies
RECORDS_PER_THREAD = BATCHES_PER_THREAD * BATCH_SIZE + SINGLES_PER_THREAD
TOTAL_RECORDS = THREADS * RECORDS_PER_THREAD                      # 3040
TOTAL_REQUESTS = THREADS * (BATCHES_PER_THREAD + SINGLES_PER_THREAD)  # 608

MODELS = ["gpt-4o-mini", "claude-3-5-haiku", "gemini-2.0-flash", "my-private-model"]


def make_record(thread: int, k: int) -> dict:
    """Deterministic content per id, so stored rows can be checked field by field."""
    return {
        "id": f"crash-t{thread:02d}-r{k:04d}",
        "operation": "chat" if k % 3 else "summarize",
        "model": MODELS[(thread + k) % len(MODELS)],
        "input_tokens": 100 + (thread * 7 + k) % 50,
        "output_tokens": (thread + k) % 17,
        "user_id": f"u{(thread + k) % 23}",
        "duration_ms": 10 + k % 100,
    }


def make_requests(thread: int) -> list[dict]:
    """This thread's request bodies, in a deterministic shuffled order."""
    records = [make_record(thread, k) for k in range(RECORDS_PER_THREAD)]
    requests = []
    pos = 0
    for b in range(BATCHES_PER_THREAD):
        requests.append({"records": records[pos:pos + BATCH_SIZE], "single": False, "ndjson": b % 2 == 1})
        pos += BATCH_SIZE
    for _ in range(SINGLES_PER_THREAD):
        requests.append({"records": [records[pos]], "single": True, "ndjson": False})
        pos += 1
    random.Random(thread).shuffle(requests)
    return requests


def send(port: int, req: dict):
    """Returns ("2xx"|"5xx"|"4xx", result) or ("none", exception)."""
    body = req["records"][0] if req["single"] else req["records"]
    try:
        r = post_usage(port, body, ndjson=req["ndjson"], timeout=60.0)
    except (OSError, http.client.HTTPException) as e:
        return "none", e
    if 200 <= r.status < 300:
        return "2xx", r
    if r.status >= 500:
        return "5xx", r
    return "4xx", r


def send_until_answered(port: int, req: dict, attempts: int = 30):
    """Retry loop of a well-behaved client: honours 503 + Retry-After (capped), retries no-answer."""
    last = None
    for _ in range(attempts):
        kind, r = send(port, req)
        if kind in ("2xx", "4xx"):
            return kind, r
        last = (kind, r)
        delay = 0.2
        if kind == "5xx":
            try:
                delay = min(float(r.headers.get("retry-after", "1")), 1.0)
            except ValueError:
                delay = 1.0
        time.sleep(delay)
    return last


def test_acknowledged_records_survive_kill_9_and_retries_store_each_once(server_factory):
    server = server_factory().start()
    db = server.db_path
    port = server.port
    plans = {t: make_requests(t) for t in range(THREADS)}
    all_ids = {rec["id"] for reqs in plans.values() for req in reqs for rec in req["records"]}
    assert len(all_ids) == TOTAL_RECORDS

    outcomes: dict[tuple[int, int], tuple[str, object]] = {}
    answered = 0
    answered_lock = threading.Condition()

    def client(thread: int):
        nonlocal answered
        for i, req in enumerate(plans[thread]):
            kind, r = send(port, req)
            with answered_lock:
                outcomes[(thread, i)] = (kind, r)
                answered += 1
                answered_lock.notify_all()

    started = time.monotonic()
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(client, t) for t in range(THREADS)]
        # Crash mid-load: once about half of the requests have an answer (bounded wait).
        with answered_lock:
            answered_lock.wait_for(lambda: answered >= TOTAL_REQUESTS // 2, timeout=90)
            answered_at_kill = answered
        server.kill()
        killed_at = time.monotonic() - started
        for f in futures:
            f.result(timeout=120)

    kinds = [kind for kind, _ in outcomes.values()]
    assert len(outcomes) == TOTAL_REQUESTS
    assert "4xx" not in kinds, [r for k, r in outcomes.values() if k == "4xx"][:3]
    acked = [(key, r) for key, (kind, r) in outcomes.items() if kind == "2xx"]
    not_acked = [key for key, (kind, _) in outcomes.items() if kind != "2xx"]
    print(f"killed after {killed_at:.2f} s with {answered_at_kill} answered; "
          f"2xx={len(acked)} 5xx={kinds.count('5xx')} none={kinds.count('none')}")
    assert acked, "no request was acknowledged before the kill: the test did not exercise a crash under load"
    assert not_acked, "every request was answered before the kill: the crash did not happen mid-load"

    # Every 2xx on a first send of fresh ids accepted all its records.
    for (t, i), r in acked:
        n = len(plans[t][i]["records"])
        assert r.status == 200 and r.json() == {"accepted": n, "duplicates": 0, "rejected": 0, "errors": []}, \
            (plans[t][i]["records"][0]["id"], r)

    # --- After the crash: what was acknowledged is stored, exactly once, unchanged.
    acked_ids = {rec["id"] for (t, i), _ in acked for rec in plans[t][i]["records"]}
    rows = query_db(db, "SELECT id, COUNT(*) FROM usage_records GROUP BY id")
    assert all(c == 1 for _, c in rows), [row for row in rows if row[1] != 1][:5]
    stored_before_retry = {row[0] for row in rows}
    missing = sorted(acked_ids - stored_before_retry)
    assert not missing, f"{len(missing)} acknowledged records are not in the store after kill -9, e.g. {missing[:5]}"
    assert stored_before_retry <= all_ids, sorted(stored_before_retry - all_ids)[:5]
    print(f"stored after the crash: {len(stored_before_retry)} records, {len(acked_ids)} of them acknowledged")
    by_id = {rec["id"]: rec for reqs in plans.values() for req in reqs for rec in req["records"]}
    for rid, inp, out, status in query_db(db, "SELECT id, input_tokens, output_tokens, status FROM usage_records"):
        assert (inp, out, status) == (by_id[rid]["input_tokens"], by_id[rid]["output_tokens"], "success"), rid

    server.start()  # same db, new port
    port = server.port

    # Counters resume from the store: requests and tokens equal the stored rows.
    samples = metrics_for(port)
    count, sum_in, sum_out, sum_cost = query_db(
        db, "SELECT COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cost_nano) FROM usage_records")[0]
    assert count == len(stored_before_retry)
    assert family_sum(samples, "tokenmeter_requests_total") == count
    assert family_sum(samples, "tokenmeter_requests_total", status="success") == count
    assert family_sum(samples, "tokenmeter_tokens_total", type="input") == sum_in
    assert family_sum(samples, "tokenmeter_tokens_total", type="output") == sum_out
    assert math.isclose(family_sum(samples, "tokenmeter_cost_usd_total"), sum_cost / 1e9, rel_tol=1e-9, abs_tol=1e-12)
    assert family(samples, "tokenmeter_requests_total"), "no tokenmeter_requests_total series after restart"

    # --- Clients retry everything (the failed requests and, to prove idempotency, the acknowledged ones).
    retry_outcomes: dict[tuple[int, int], tuple[str, object]] = {}

    def retry_client(thread: int):
        for i, req in enumerate(plans[thread]):
            retry_outcomes[(thread, i)] = send_until_answered(port, req)

    with ThreadPoolExecutor(THREADS) as pool:
        for f in [pool.submit(retry_client, t) for t in range(THREADS)]:
            f.result(timeout=150)

    for (t, i), (kind, r) in sorted(retry_outcomes.items()):
        ids = [rec["id"] for rec in plans[t][i]["records"]]
        assert kind == "2xx", (ids[0], kind, r)
        already = sum(1 for rid in ids if rid in stored_before_retry)
        body = r.json()
        if outcomes[(t, i)][0] == "2xx":
            assert body == {"accepted": 0, "duplicates": len(ids), "rejected": 0, "errors": []}, \
                f"retry of acknowledged request {ids[0]}…: {body}"
        else:
            assert body == {"accepted": len(ids) - already, "duplicates": already, "rejected": 0, "errors": []}, \
                f"retry of unacknowledged request {ids[0]}… ({already} of {len(ids)} stored before): {body}"

    rows = query_db(db, "SELECT COUNT(*), COUNT(DISTINCT id) FROM usage_records")[0]
    assert rows == (TOTAL_RECORDS, TOTAL_RECORDS)
    assert set(r[0] for r in query_db(db, "SELECT id FROM usage_records")) == all_ids
    samples = metrics_for(port)
    assert family_sum(samples, "tokenmeter_requests_total") == TOTAL_RECORDS
    total_in = query_db(db, "SELECT SUM(input_tokens) FROM usage_records")[0][0]
    assert family_sum(samples, "tokenmeter_tokens_total", type="input") == total_in


def test_acknowledged_completions_survive_kill_9_and_count_once(server_factory):
    """PATCH goes through the write queue and the group commit like new records: kill -9 during a
    storm of completions, then retries. Every acknowledged completion is stored, each record is
    completed once (a retry of a completed one answers 409), and the counters equal the store."""
    from conftest import patch_usage

    server = server_factory().start()
    db = server.db_path
    jobs = [f"job-{t:02d}-{k:03d}" for t in range(8) for k in range(60)]
    for i in range(0, len(jobs), 60):
        body = [{"id": j, "operation": "video", "model": "gpt-4o-mini", "status": "pending", "input_tokens": 100}
                for j in jobs[i:i + 60]]
        assert post_usage(server.port, body).status == 200
    outcomes: dict[str, str] = {}
    answered = 0
    lock = threading.Condition()
    port = server.port

    def completer(thread: int):
        nonlocal answered
        for job in jobs[thread * 60:(thread + 1) * 60]:
            try:
                r = patch_usage(port, job, {"status": "success", "output_tokens": 50}, timeout=30)
                kind = "2xx" if r.status == 200 else f"{r.status}"
            except (OSError, http.client.HTTPException):
                kind = "none"
            with lock:
                outcomes[job] = kind
                answered += 1
                lock.notify_all()

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(completer, t) for t in range(8)]
        with lock:
            lock.wait_for(lambda: answered >= len(jobs) // 2, timeout=90)
        server.kill()
        for f in futures:
            f.result(timeout=120)
    acked = {j for j, k in outcomes.items() if k == "2xx"}
    assert acked and len(acked) < len(jobs), f"{len(acked)} of {len(jobs)} acknowledged: the kill did not land mid-storm"
    assert not [k for k in outcomes.values() if k.startswith("4")], outcomes
    done = {row[0] for row in query_db(db, "SELECT id FROM usage_records WHERE status = 'success'")}
    assert acked <= done, f"{len(acked - done)} acknowledged completions lost"

    server.start()
    port = server.port
    for job in jobs:  # the clients retry every completion
        r = patch_usage(port, job, {"status": "success", "output_tokens": 50})
        assert r.status == (409 if job in done else 200), (job, r)
    count, out = query_db(db, "SELECT COUNT(*), SUM(output_tokens) FROM usage_records WHERE status = 'success'")[0]
    assert count == len(jobs) and out == 50 * len(jobs)
    samples = metrics_for(port)
    assert family_sum(samples, "tokenmeter_requests_total") == len(jobs)
    assert family_sum(samples, "tokenmeter_tokens_total", type="output") == out
    assert family_sum(samples, "tokenmeter_pending_requests") == 0
