"""LiteLLM end to end (issue 13): its StandardLoggingPayload, from a CustomLogger and from the
built-in GenericAPILogger in its json_array, ndjson and single formats, into a real tokenmeter.

Every record must be accepted, priced exactly from list prices written here, idempotent on
re-send, with LiteLLM's own cost kept beside; a marker in the prompt must be nowhere in the db.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from decimal import Decimal

import pytest

from conftest import family_sum, http_request, metrics_for

litellm = pytest.importorskip("litellm", reason="pip install litellm==1.110.2 (see .ci/run)")
from litellm.integrations.custom_logger import CustomLogger  # noqa: E402

MARKER = "MARKER-" + uuid.uuid4().hex
# gpt-4o-mini list price, USD per 1M tokens.
INPUT, OUTPUT = Decimal("0.15"), Decimal("0.6")


@pytest.fixture
def meter(server_factory):
    s = server_factory().start()
    entry = {"model": "gpt-4o-mini", "provider": "openai", "input": 0.15, "cached_input": 0.075, "output": 0.6}
    r = http_request(s.port, "PUT", "/v1/prices/gpt-4o-mini", json.dumps(entry).encode(), {"Content-Type": "application/json"})
    assert r.status in (200, 201), r.body
    return s


@pytest.fixture
def no_callbacks():
    saved = (list(litellm.callbacks), list(litellm.success_callback), list(litellm._async_success_callback))
    yield
    litellm.callbacks[:] = saved[0]
    litellm.success_callback[:] = saved[1]
    litellm._async_success_callback[:] = saved[2]


def rows(meter):
    return meter.query("SELECT id, operation, service, provider, model, user_id, input_tokens, cached_input_tokens, output_tokens, "
                       "cost_nano, router_cost_nano, duration_us, status FROM usage_records ORDER BY id")


def check_exact(meter, expected_count):
    stored = rows(meter)
    assert len(stored) == expected_count, stored
    for (rid, operation, service, provider, model, user, inp, cached, out, cost, router, duration, status) in stored:
        assert model == "gpt-4o-mini" and provider == "openai" and status == "success"
        assert operation == "horoscope" and service == "bot" and user == "end-user-1"
        # litellm's mock response: 10 prompt tokens, 20 completion tokens.
        assert (inp, cached, out) == (10, 0, 20)
        assert cost == int((10 * INPUT + 20 * OUTPUT) * 1000)  # 13 500 nano-USD
        assert router == 13_500, "response_cost kept as the router's figure"
        assert duration is not None and duration >= 0


def assert_marker_absent(meter):
    meter.stop()
    for suffix in ["", "-wal", "-shm"]:
        path = meter.db_path.parent / (meter.db_path.name + suffix)
        if path.exists():
            assert MARKER.encode() not in path.read_bytes(), f"prompt text stored in {path.name}"


def completion_kwargs(i):
    return dict(model="gpt-4o-mini", messages=[{"role": "user", "content": f"{MARKER} {'x' * 20000} question {i}"}],
                mock_response=f"{MARKER} answer", user="end-user-1",
                metadata={"tags": ["operation:horoscope", "service:bot"]})


def test_custom_logger_posts_standard_logging_object(meter, no_callbacks):
    payloads = []

    class Poster(CustomLogger):
        def log_success_event(self, kwargs, response_obj, start_time, end_time):
            payloads.append(kwargs["standard_logging_object"])

    litellm.callbacks = [Poster()]
    for i in range(3):
        litellm.completion(**completion_kwargs(i))
    for _ in range(100):  # the success callback may run on a worker thread
        if len(payloads) >= 3:
            break
        time.sleep(0.05)
    assert len(payloads) == 3
    for payload in payloads:
        body = json.dumps(payload, default=str)
        assert len(body) > 20000  # the prompt is in it: it must not count toward the metadata limit
        r = http_request(meter.port, "POST", "/v1/usage", body.encode(), {"Content-Type": "application/json"})
        assert r.status == 200 and r.json()["accepted"] == 1, r.body[:600]
        again = http_request(meter.port, "POST", "/v1/usage", body.encode(), {"Content-Type": "application/json"})
        assert again.json()["duplicates"] == 1
    check_exact(meter, 3)
    samples = metrics_for(meter.port)
    assert family_sum(samples, "tokenmeter_tokens_total", model="gpt-4o-mini", type="input") == 30
    assert_marker_absent(meter)


@pytest.mark.parametrize("log_format", ["json_array", "ndjson", "single"])
def test_generic_api_logger_every_format(meter, no_callbacks, log_format):
    from litellm.integrations.generic_api.generic_api_callback import GenericAPILogger

    async def run():
        # The logger starts its periodic flush task on the running loop.
        logger = GenericAPILogger(endpoint=f"http://127.0.0.1:{meter.port}/v1/usage", log_format=log_format)
        litellm.callbacks = [logger]
        for i in range(3):
            await litellm.acompletion(**completion_kwargs(i))
        for _ in range(100):
            if len(logger.log_queue) >= 3:
                break
            await asyncio.sleep(0.05)
        sent = list(logger.log_queue)
        await logger.flush_queue()
        return sent

    sent = asyncio.run(run())
    assert len(sent) == 3
    check_exact(meter, 3)
    # Re-sending the same payloads (the logger's retry) changes nothing.
    body = "\n".join(json.dumps(p, default=str) for p in sent)
    r = http_request(meter.port, "POST", "/v1/usage", body.encode(), {"Content-Type": "application/json"})
    assert r.status == 200 and r.json()["duplicates"] == 3, r.body[:600]
    check_exact(meter, 3)
    assert_marker_absent(meter)
