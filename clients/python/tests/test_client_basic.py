"""The client against a real tokenmeter: what record() sends is what the store keeps; rejected records
are reported with the server's own message while the rest of their batch is stored; pending records,
timed calls, sync mode, tokens and gzip."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from conftest import stored, url_of

from tokenmeter import TokenMeter
from tokenmeter._ids import id_time_ms, new_id


def test_record_is_stored_with_every_field_it_was_given(server, errors):
    meter = TokenMeter(url_of(server), service="bot", on_error=errors, register_atexit=False)
    before = time.time()
    rid = meter.record(operation="horoscope", model="gpt-4o-mini", user_id=42, plan="pro", paying=True,
                       credits=2, duration_ms=850, error_type=None, metadata={"chat": 7},
                       usage={"prompt_tokens": 1200, "completion_tokens": 300,
                              "prompt_tokens_details": {"cached_tokens": 200, "audio_tokens": None}})
    after = time.time()
    time.sleep(0.3)  # sent later than recorded
    assert meter.flush(10)
    meter.close()
    row = stored(server, rid)
    assert row, f"record {rid} not stored; errors: {errors.items}"
    assert (row["service"], row["operation"], row["model"], row["user_id"], row["plan"], row["paying"]) == \
        ("bot", "horoscope", "gpt-4o-mini", "42", "pro", 1)
    assert (row["input_tokens"], row["cached_input_tokens"], row["output_tokens"]) == (1000, 200, 300)
    assert row["credits_micro"] == 2_000_000 and row["duration_us"] == 850_000
    assert json.loads(row["metadata"])["chat"] == 7
    # The timestamp (ms in the store) is when record() ran, not when it was sent.
    assert int(before * 1000) - 1 <= row["ts"] <= int(after * 1000) + 1
    assert errors.items == []
    assert meter.stats()["accepted"] == 1


def test_rejected_record_is_reported_with_the_servers_message_and_the_rest_of_its_batch_is_stored(server, errors):
    meter = TokenMeter(url_of(server), on_error=errors, batch_size=100, flush_interval=30, register_atexit=False)
    good = [meter.record(operation="chat", model="gpt-4o-mini", input_tokens=i) for i in range(5)]
    bad = meter.record(operation="chat", model="gpt-4o-mini", input_tokens=10,
                       usage={"prompt_tokens": 5, "prompt_tokens_details": {"cached_tokens": 9}})
    good += [meter.record(operation="chat", model="gpt-4o-mini", input_tokens=i) for i in range(5, 9)]
    assert meter.flush(10)
    meter.close()
    rejected = errors.of_kind("rejected")
    assert len(rejected) == 1, errors.items
    assert rejected[0].record_ids == [bad]
    assert rejected[0].status == 200
    assert "cached_tokens" in rejected[0].message and "exceeds" in rejected[0].message, rejected[0].message
    assert rejected[0].records[0]["input_tokens"] == 10
    assert all(stored(server, rid) for rid in good)
    assert not stored(server, bad)
    s = meter.stats()
    assert (s["accepted"], s["rejected"], s["requests"]) == (9, 1, 1)


def test_a_batch_of_only_bad_records_is_reported_record_by_record(server, errors):
    meter = TokenMeter(url_of(server), on_error=errors, flush_interval=30, register_atexit=False)
    a = meter.record(operation="chat")  # no model
    b = meter.record(model="gpt-4o", operation="chat", status="maybe")
    assert meter.flush(10)
    meter.close()
    by_id = {e.record_ids[0]: e for e in errors.of_kind("rejected")}
    assert set(by_id) == {a, b}
    assert by_id[a].status == 400 and by_id[a].message.startswith("model: required")
    assert "status" in by_id[b].message


def test_ids_are_uuid7_in_creation_order_and_unique():
    ids = [new_id() for _ in range(20000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    for rid in ids[:100]:
        u = uuid.UUID(rid)
        assert u.version == 7 and u.variant == uuid.RFC_4122
    assert abs(id_time_ms(ids[-1]) - time.time() * 1000) < 5000


def test_record_never_raises_and_reports_what_it_could_not_encode(server, errors):
    meter = TokenMeter(url_of(server), on_error=errors, flush_interval=30, register_atexit=False)
    nan = meter.record(operation="chat", model="gpt-4o-mini", cost_usd=float("nan"))
    ok = meter.record(operation="chat", model="gpt-4o-mini", metadata={"when": object()})
    assert meter.flush(10)
    meter.close()
    dropped = errors.of_kind("dropped")
    assert [e.reason for e in dropped] == ["invalid"] and dropped[0].record_ids == [nan]
    assert stored(server, ok)  # an object in metadata is sent as its str()
    assert meter.record(operation="late", model="m") and meter.stats()["dropped_closed"] == 1


def test_call_context_manager_records_success_and_exception_class(server, errors):
    meter = TokenMeter(url_of(server), service="bot", on_error=errors, flush_interval=30, register_atexit=False)

    class RateLimitError(Exception):
        pass

    with meter.call(operation="horoscope", model="gpt-4o-mini", user_id=7) as ok_call:
        time.sleep(0.02)
        ok_call.usage({"prompt_tokens": 10, "completion_tokens": 5})
        ok_call.set(credits=3)
    with pytest.raises(RateLimitError):
        with meter.call(operation="horoscope", model="gpt-4o-mini", user_id=7) as failed_call:
            raise RateLimitError("slow down")

    @meter.call(operation="decorated", model="claude-3-5-haiku")
    def work(x):
        return {"model": "claude-3-5-haiku", "usage": {"input_tokens": x, "output_tokens": 2}}

    assert work(11)["usage"]["input_tokens"] == 11

    async def main():
        async with meter.call(operation="async", model="gpt-4o-mini") as c:
            await asyncio.sleep(0.01)
            c.usage({"prompt_tokens": 4, "completion_tokens": 1})
        assert await meter.aflush(10)

    asyncio.run(main())
    assert meter.flush(10)
    meter.close()
    row = stored(server, ok_call.id)
    assert (row["status"], row["input_tokens"], row["output_tokens"], row["credits_micro"]) == ("success", 10, 5, 3_000_000)
    assert row["duration_us"] >= 20_000
    row = stored(server, failed_call.id)
    assert (row["status"], row["error_type"], row["error_message"]) == ("error", "RateLimitError", "slow down")
    rows = e2e_rows(server, "decorated")
    assert [(r[0], r[1]) for r in rows] == [(11, 2)]
    assert [(r[0], r[1]) for r in e2e_rows(server, "async")] == [(4, 1)]
    assert errors.items == []


def e2e_rows(server, operation):
    return server.query("SELECT input_tokens, output_tokens FROM usage_records WHERE operation = ?", (operation,))


def test_pending_record_is_completed_by_one_patch(server, errors):
    meter = TokenMeter(url_of(server), on_error=errors, flush_interval=30, register_atexit=False)
    job = meter.start(operation="video", model="veo-3", user_id="u1")
    assert meter.flush(10)
    assert stored(server, job.id)["status"] == "pending"
    job.complete(units={"seconds": 8})
    with pytest.raises(ValueError):
        with meter.start(operation="video", model="veo-3") as failing:
            raise ValueError("render failed")
    assert meter.flush(10)
    meter.close()
    row = stored(server, job.id)
    assert row["status"] == "success" and row["units_seconds"] == 8 and row["cost_nano"] > 0
    row = stored(server, failing.id)
    assert (row["status"], row["error_type"]) == ("error", "ValueError")
    assert errors.items == []
    assert meter.stats()["completed"] == 2


def test_completing_an_unknown_record_reports_the_404(server, errors):
    meter = TokenMeter(url_of(server), on_error=errors, flush_interval=30, register_atexit=False)
    job = meter.start(operation="video")  # no model: the pending record itself is rejected
    job.complete()
    assert meter.flush(10)
    meter.close()
    rejected = errors.of_kind("rejected")
    assert [e.status for e in rejected] == [400, 404]
    assert "no record with id" in rejected[1].message


def test_sync_mode_sends_before_record_returns(server, errors):
    meter = TokenMeter(url_of(server), sync_mode=True, on_error=errors, register_atexit=False)
    rid = meter.record(operation="cron", model="gpt-4o-mini", input_tokens=3)
    assert stored(server, rid)["input_tokens"] == 3
    meter.record(operation="cron")  # rejected: reported on the caller's thread, not raised
    assert errors.of_kind("rejected")[0].message.startswith("model: required")
    meter.close()


def test_tokens_are_sent_and_a_wrong_token_is_reported_not_retried(server_factory, errors):
    server = server_factory(env={"TOKENMETER_TOKENS": "ingest:in-secret,read:rd-secret"}).start()
    good = TokenMeter(url_of(server), token="in-secret", register_atexit=False)
    rid = good.record(operation="chat", model="gpt-4o-mini")
    assert good.flush(10)
    good.close()
    assert stored(server, rid)
    bad = TokenMeter(url_of(server), token="rd-secret", on_error=errors, register_atexit=False)
    lost = bad.record(operation="chat", model="gpt-4o-mini")
    assert bad.flush(10)
    bad.close()
    rejected = errors.of_kind("rejected")
    assert len(rejected) == 1 and rejected[0].status == 403 and rejected[0].record_ids == [lost]
    assert "ingest" in rejected[0].message
    assert bad.stats()["requests"] == 1  # not retried


def test_gzip_is_used_only_if_the_server_takes_it(server, errors):
    meter = TokenMeter(url_of(server), gzip=True, on_error=errors, flush_interval=30, register_atexit=False)
    ids = [meter.record(operation="chat", model="gpt-4o-mini", input_tokens=i, metadata={"pad": "x" * 100})
           for i in range(50)]
    assert meter.flush(10)
    meter.close()
    assert all(stored(server, rid) for rid in ids)
    assert errors.items == []


def test_record_copies_the_callers_dicts_and_survives_wrong_types(server, errors):
    meter = TokenMeter(url_of(server), on_error=errors, flush_interval=30, register_atexit=False)
    meta = {"step": 1}
    rid = meter.record(operation="chat", model="gpt-4o-mini", metadata=meta, error_message="x" * 100_000)
    meta["step"] = 2  # reused by the caller after record() returned
    listed = meter.record(operation="chat", model="gpt-4o-mini", metadata=["not", "an", "object"])
    wrong = meter.record(operation="chat", model="gpt-4o-mini", units="lots")
    assert meter.flush(10)
    meter.close()
    row = stored(server, rid)
    assert json.loads(row["metadata"])["step"] == 1 and len(row["error_message"]) <= 1024
    assert json.loads(stored(server, listed)["metadata"]) == {"metadata": ["not", "an", "object"]}  # the server wraps it
    (err,) = errors.of_kind("rejected")
    assert err.record_ids == [wrong] and err.message.startswith("units: must be an object"), err.message
