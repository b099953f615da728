"""LiteLLM end to end (issue 13): its StandardLoggingPayload, from a CustomLogger and from the
built-in GenericAPILogger in its json_array, ndjson and single formats, into a real tokenmeter.

Every record must be accepted, priced exactly from list prices written here, idempotent on
re-send, with LiteLLM's own cost kept beside; a marker in the prompt must be nowhere in the db.
"""
from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

# No network here: LiteLLM reads the cost map it ships instead of fetching one.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

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
def fake_anthropic():
    """A local Anthropic Messages endpoint answering with cache reads and 5-minute and 1-hour writes."""
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            data = json.dumps({
                "id": "msg_" + uuid.uuid4().hex, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [{"type": "text", "text": MARKER}], "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": 20, "output_tokens": 10, "cache_read_input_tokens": 1000,
                          "cache_creation_input_tokens": 2500,
                          "cache_creation": {"ephemeral_5m_input_tokens": 500, "ephemeral_1h_input_tokens": 2000}}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


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


def test_litellm_anthropic_call_with_cache_writes_is_exact(meter, fake_anthropic, no_callbacks):
    """LiteLLM's own Anthropic transformation (its `Usage` puts cache reads and writes inside
    prompt_tokens) through a real provider response: nothing double-counted, 1-hour writes priced."""
    entry = {"model": "claude-sonnet-4-5", "provider": "anthropic", "input": 3.0, "cached_input": 0.3, "cache_write": 3.75, "output": 15.0}
    r = http_request(meter.port, "PUT", "/v1/prices/claude-sonnet-4-5", json.dumps(entry).encode(), {"Content-Type": "application/json"})
    assert r.status in (200, 201), r.body
    payloads = []

    class Poster(CustomLogger):
        def log_success_event(self, kwargs, response_obj, start_time, end_time):
            payloads.append(kwargs["standard_logging_object"])

    litellm.callbacks = [Poster()]
    litellm.completion(model="anthropic/claude-sonnet-4-5", api_base=fake_anthropic, api_key="sk-ant-test",
                       messages=[{"role": "user", "content": MARKER}], metadata={"tags": ["operation:summary"]})
    for _ in range(100):
        if payloads:
            break
        time.sleep(0.05)
    payload = payloads[0]
    assert payload["prompt_tokens"] == 3520  # LiteLLM's flat count includes the 3500 cached and written tokens
    body = json.dumps(payload, default=str).encode()
    r = http_request(meter.port, "POST", "/v1/usage", body, {"Content-Type": "application/json"})
    assert r.status == 200 and r.json()["accepted"] == 1, r.body[:600]
    assert "warnings" not in r.json()
    (row,) = meter.query("SELECT operation, provider, input_tokens, cached_input_tokens, cache_write_tokens, cache_write_1h_tokens, "
                         "output_tokens, cost_nano, router_cost_nano FROM usage_records")
    # 20 x 3 + 1000 x 0.30 + 500 x 3.75 + 2000 x 6 (2 x input) + 10 x 15 = 14 385 USD per 1M tokens.
    assert row == ("summary", "anthropic", 20, 1000, 2500, 2000, 10, 14_385_000, int(Decimal(str(payload["response_cost"])) * 10**9))
    again = http_request(meter.port, "POST", "/v1/usage", body, {"Content-Type": "application/json"})
    assert again.json()["duplicates"] == 1
    assert_marker_absent(meter)
