"""Counters stay consistent across restarts (CONTRACT 5): after a clean stop (SIGTERM) and a start on the
same store, every sample of the usage counters and of the pending gauge is what it was before.
"""

from __future__ import annotations

import math

import pytest

from conftest import Server, family, labels_dict, metrics_for, patch_usage, post_usage, query_db

COUNTER_FAMILIES = [
    "tokenmeter_requests_total",
    "tokenmeter_tokens_total",
    "tokenmeter_reasoning_tokens_total",
    "tokenmeter_cost_usd_total",
    "tokenmeter_credits_total",
    "tokenmeter_errors_total",
    "tokenmeter_unpriced_requests_total",
]
GAUGE_FAMILIES = ["tokenmeter_pending_requests"]
# Money is kept as integers in the store (nano-USD, micro-credits) while the live counters add floats per
# record, so the two may differ in the last bits (0.1 + 0.2 vs 0.3): compare those with a 1e-9 relative
# tolerance; every other family counts integers and must match exactly.
FLOAT_FAMILIES = {"tokenmeter_cost_usd_total", "tokenmeter_credits_total"}

RECORDS = [
    {"id": "c-01", "operation": "chat", "model": "gpt-4o-mini", "input_tokens": 1000, "cached_input_tokens": 200,
     "output_tokens": 300, "credits": 1.5, "user_id": "u1", "plan": "pro", "paying": True, "duration_ms": 250},
    {"id": "c-02", "operation": "chat", "model": "openai/gpt-4o-mini", "input_tokens": 10, "output_tokens": 3,
     "credits": 0.1, "user_id": 42},
    {"id": "c-03", "operation": "chat", "model": "gpt-4o-2024-08-06", "input_tokens": 12345, "cached_input_tokens": 1000,
     "output_tokens": 678, "credits": 0.2, "user_id": "u2"},
    {"id": "c-04", "service": "bot", "operation": "chat", "model": "claude-3-5-sonnet", "input_tokens": 100,
     "cached_input_tokens": 2000, "cache_write_tokens": 500, "output_tokens": 50, "duration_ms": 1234.5},
    {"id": "c-05", "operation": "analyze", "model": "o3-mini", "input_tokens": 100, "output_tokens": 500,
     "reasoning_tokens": 300, "credits": 0.7},
    {"id": "c-06", "operation": "chat", "model": "my-private-model", "input_tokens": 10, "output_tokens": 5},
    {"id": "c-07", "operation": "chat", "model": "my-private-model", "input_tokens": 7, "output_tokens": 1,
     "cost_usd": 0.0123},
    {"id": "c-08", "operation": "chat", "model": "gpt-4o-mini", "status": "error", "error_type": "RateLimitError",
     "input_tokens": 50},
    {"id": "c-09", "operation": "chat", "model": "my-private-model", "status": "failed", "error_type": "Timeout",
     "duration_ms": 30000},
    {"id": "c-10", "operation": "chat", "model": "gpt-4o-mini", "success": False},
    {"id": "c-11", "operation": "draw", "model": "dall-e-3", "units": {"images": 2}, "credits": 3},
    {"id": "c-12", "operation": "speak", "model": "tts-1", "units": {"characters": 1500}},
    {"id": "c-13", "operation": "transcribe", "model": "whisper-1", "units": {"minutes": 1.5}},
    {"id": "c-14", "operation": "video", "model": "sora-2", "units": {"seconds": 8}, "credits": 0.3},
    {"id": "c-15", "operation": "chat", "model": "gemini-2.5-flash",
     "usage": {"promptTokenCount": 900, "cachedContentTokenCount": 100, "candidatesTokenCount": 40,
               "thoughtsTokenCount": 60}},
    {"id": "c-16", "operation": "chat", "model": "gpt-4o",
     "usage": {"prompt_tokens": 500, "completion_tokens": 80, "prompt_tokens_details": {"cached_tokens": 128},
               "completion_tokens_details": {"reasoning_tokens": 0}}},
    {"id": "c-17", "operation": "chat", "model": "claude-haiku-4-5",
     "usage": {"input_tokens": 20, "cache_read_input_tokens": 300, "cache_creation_input_tokens": 40, "output_tokens": 9}},
    {"id": "c-18", "operation": "chat", "model": "my-private-model", "units": {"requests": 1}, "credits": 0.25},
    # pending ones: p-1, p-2 and p-4 get completed below, p-3 stays pending
    {"id": "p-1", "operation": "chat", "model": "gpt-4o-mini", "status": "pending", "input_tokens": 10},
    {"id": "p-2", "operation": "chat", "model": "my-private-model", "status": "pending"},
    {"id": "p-3", "operation": "chat", "model": "claude-3-5-haiku", "status": "pending", "input_tokens": 5},
    {"id": "p-4", "service": "bot", "operation": "chat", "model": "gpt-4o", "status": "pending"},
    {"id": "p-5", "service": "bot", "operation": "chat", "model": "gpt-4o", "status": "pending"},
]

COMPLETIONS = {
    "p-1": {"status": "success", "output_tokens": 5, "duration_ms": 80},
    "p-2": {"status": "error", "error_type": "Timeout", "error_message": "gave up"},
    "p-4": {"status": "success", "cost_usd": 0.5, "credits": 2, "input_tokens": 40, "output_tokens": 4},
}


def snapshot(samples: dict) -> dict[str, dict[frozenset, float]]:
    return {name: family(samples, name) for name in COUNTER_FAMILIES + GAUGE_FAMILIES}


def describe(labels: frozenset) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels_dict(labels).items())) + "}"


def diff(before: dict, after: dict, names: list[str]) -> list[str]:
    problems = []
    for name in names:
        b, a = before[name], after[name]
        for labels in sorted(set(b) | set(a), key=describe):
            if labels not in a:
                problems.append(f"{name}{describe(labels)}: {b[labels]} before, missing after restart")
            elif labels not in b:
                problems.append(f"{name}{describe(labels)}: missing before, {a[labels]} after restart")
            elif name in FLOAT_FAMILIES:
                if not math.isclose(b[labels], a[labels], rel_tol=1e-9, abs_tol=1e-12):
                    problems.append(f"{name}{describe(labels)}: {b[labels]!r} before, {a[labels]!r} after restart")
            elif b[labels] != a[labels]:
                problems.append(f"{name}{describe(labels)}: {b[labels]!r} before, {a[labels]!r} after restart")
    return problems


@pytest.fixture(scope="module")
def restart_scenario(tmp_path_factory):
    """Posts the records, scrapes, stops with SIGTERM, restarts on the same db, scrapes again."""
    tmp = tmp_path_factory.mktemp("restart")
    server = Server(tmp / "tokenmeter.sqlite", tmp)
    try:
        yield run_scenario(server)
    finally:
        server.stop()


def run_scenario(server: Server):
    server.start()
    port = server.port

    # Mixed body shapes: a JSON array, NDJSON and single objects.
    r = post_usage(port, RECORDS[:8])
    assert r.status == 200 and r.json()["accepted"] == 8, r
    r = post_usage(port, RECORDS[8:14], ndjson=True)
    assert r.status == 200 and r.json()["accepted"] == 6, r
    for rec in RECORDS[14:]:
        r = post_usage(port, rec)
        assert r.status == 200 and r.json()["accepted"] == 1, (rec["id"], r)
    # A resent record is a duplicate and changes nothing.
    r = post_usage(port, [RECORDS[0], RECORDS[7]])
    assert r.status == 200 and r.json() == {"accepted": 0, "duplicates": 2, "rejected": 0, "errors": []}, r

    for rid, fields in COMPLETIONS.items():
        r = patch_usage(port, rid, fields)
        assert r.status == 200, (rid, r)
    assert patch_usage(port, "p-1", {"status": "success"}).status == 409
    assert patch_usage(port, "no-such-id", {"status": "success"}).status == 404

    before = snapshot(metrics_for(port))

    # Sanity: the live counters reflect what was sent, so the comparison is not vacuous.
    completed = len(RECORDS) - 2  # p-3 and p-5 stay pending
    assert sum(before["tokenmeter_requests_total"].values()) == completed
    assert sum(v for l, v in before["tokenmeter_requests_total"].items() if ("status", "error") in l) == 4
    assert sum(before["tokenmeter_pending_requests"].values()) == 2
    assert sum(before["tokenmeter_errors_total"].values()) == 4
    assert {labels_dict(l)["model"] for l in before["tokenmeter_unpriced_requests_total"]} == {"my-private-model"}
    # no cost_usd and no price: c-06, c-09, c-18, p-2 (c-07 brought its own cost_usd)
    assert sum(before["tokenmeter_unpriced_requests_total"].values()) == 4
    for name in COUNTER_FAMILIES:
        assert before[name], f"{name} has no samples"

    code, took = server.terminate(timeout=10.0)
    assert code == 0, f"SIGTERM: exit code {code} after {took:.1f} s (None = still running after 10 s)\n{server.log()}"

    db_requests = query_db(server.db_path, "SELECT COUNT(*) FROM usage_records WHERE status != 'pending'")[0][0]
    assert db_requests == completed

    server.start()
    after = snapshot(metrics_for(server.port))
    return before, after


def test_usage_counters_equal_across_sigterm_restart(restart_scenario):
    before, after = restart_scenario
    problems = diff(before, after, COUNTER_FAMILIES)
    assert not problems, "counter samples differ across the restart:\n" + "\n".join(problems)


def test_pending_gauge_equal_across_sigterm_restart(restart_scenario):
    # Every sample, including series at 0: a pending gauge that was exported as 0 before the restart and is
    # absent after it is a different exposition (Prometheus sees the series go stale).
    before, after = restart_scenario
    problems = diff(before, after, GAUGE_FAMILIES)
    assert not problems, "pending gauge samples differ across the restart:\n" + "\n".join(problems)
