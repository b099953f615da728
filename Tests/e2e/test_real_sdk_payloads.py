"""Real SDK payloads, priced exactly (issue 13).

The pinned official SDKs (`openai`, `anthropic`, `google-genai`) call a local fake provider that
answers like the real APIs (cache hits, 5-minute and 1-hour cache writes, reasoning and thinking,
tool use, streams with usage in the last chunk). Every serialization a user would post (pydantic
`model_dump()` with its nulls, `exclude_none`, `to_dict()`, `to_json()`, camelCase aliases, whole
response objects, the final stream chunk) goes to a real tokenmeter, and the stored tokens and
cost are checked against list prices written here by hand. LiteLLM end to end: a `CustomLogger`
posting `standard_logging_object`, and the built-in `GenericAPILogger` in its three formats.
A marker placed in every prompt and response must be nowhere in the database afterwards.
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import http_request, post_usage

openai = pytest.importorskip("openai", reason="pip install openai==3.51.0 (see .ci/run)")
anthropic = pytest.importorskip("anthropic", reason="pip install anthropic==2.10.0 (see .ci/run)")
genai = pytest.importorskip("google.genai", reason="pip install google-genai==3.3.0 (see .ci/run)")

MARKER = "MARKER-" + uuid.uuid4().hex

# List prices, USD per 1M tokens, written by hand (provider pricing pages); put into tokenmeter
# through its API so the test does not depend on the shipped catalog. The 1-hour cache write of an
# Anthropic model is not given: tokenmeter's default for Anthropic is 2 x input (6.00 here).
PRICES = {
    "gpt-4.1": {"provider": "openai", "input": 2.0, "cached_input": 0.5, "output": 8.0},
    "o4-mini": {"provider": "openai", "input": 1.1, "cached_input": 0.275, "output": 4.4},
    "gpt-4o-mini": {"provider": "openai", "input": 0.15, "cached_input": 0.075, "output": 0.6},
    "claude-sonnet-4-5": {"provider": "anthropic", "input": 3.0, "cached_input": 0.3, "cache_write": 3.75, "output": 15.0},
    "gemini-2.5-flash": {"provider": "google", "input": 0.3, "cached_input": 0.03, "output": 2.5},
}


def expected_nano(model: str, t: dict) -> int:
    """Cost in nano-USD from the hand-written prices: every count times its price per 1M."""
    p = {k: Decimal(str(v)) for k, v in PRICES[model].items() if k != "provider"}
    one_hour = t.get("cache_write_1h", 0)
    write_5m = p.get("cache_write", p["input"])
    write_1h = p["input"] * 2 if PRICES[model]["provider"] == "anthropic" else write_5m
    usd_per_million = (t.get("input", 0) * p["input"] + t.get("cached_input", 0) * p["cached_input"]
                       + (t.get("cache_write", 0) - one_hour) * write_5m + one_hour * write_1h
                       + t.get("output", 0) * p["output"])
    return int(usd_per_million * 1000)  # USD per 1M tokens x 1e9 nano / 1e6 tokens


# ---------------------------------------------------------------------------------------------------
# The fake provider: answers the next queued scenario, as JSON or as a server-sent event stream.


class FakeProvider:
    def __init__(self):
        self.next: dict | None = None
        self.requests: list[dict] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                provider.requests.append({"path": self.path, "body": body})
                answer = provider.next
                assert answer is not None, f"no scenario queued for {self.path}"
                if "events" in answer:
                    data = b"".join(
                        (f"event: {name}\n" if name else "").encode() + b"data: " + json.dumps(payload).encode() + b"\n\n"
                        for name, payload in answer["events"]) + (b"data: [DONE]\n\n" if answer.get("done") else b"")
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                else:
                    data = json.dumps(answer["json"]).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake():
    f = FakeProvider()
    yield f
    f.close()


@pytest.fixture
def meter(server_factory):
    s = server_factory().start()
    for model, entry in PRICES.items():
        r = http_request(s.port, "PUT", f"/v1/prices/{model}", json.dumps({"model": model, **entry}).encode(),
                         {"Content-Type": "application/json"})
        assert r.status in (200, 201), r.body
    return s


def stored(meter, record_id: str) -> dict:
    rows = meter.query(
        "SELECT input_tokens, cached_input_tokens, cache_write_tokens, cache_write_1h_tokens, output_tokens, "
        "reasoning_tokens, cost_nano, router_cost_nano, unrecognized_usage, model, status FROM usage_records WHERE id = ?",
        (record_id,))
    assert rows, f"record {record_id} not stored"
    keys = ["input", "cached_input", "cache_write", "cache_write_1h", "output", "reasoning", "cost_nano",
            "router_cost_nano", "unrecognized_usage", "model", "status"]
    return dict(zip(keys, rows[0]))


def post_and_check(meter, record_id: str, record: dict, model: str, tokens: dict):
    r = post_usage(meter.port, json.loads(json.dumps(record, default=str)))
    assert r.status == 200 and r.json()["accepted"] == 1, (record_id, r.body[:600])
    row = stored(meter, record_id)
    got = {k: row[k] for k in ["input", "cached_input", "cache_write", "cache_write_1h", "output", "reasoning"]}
    want = {k: tokens.get(k, 0) for k in got}
    assert got == want, (record_id, record)
    assert row["cost_nano"] == expected_nano(model, tokens), (record_id, row)
    assert row["model"] == model
    # Idempotent on re-send.
    again = post_usage(meter.port, json.loads(json.dumps(record, default=str)))
    assert again.status == 200 and again.json()["duplicates"] == 1, again.body


def serializations(obj) -> dict:
    """What a user of a pydantic-based SDK posts: every dump the SDK offers."""
    forms = {
        "model_dump": obj.model_dump(),
        "model_dump_json_mode": obj.model_dump(mode="json"),
        "exclude_none": obj.model_dump(exclude_none=True),
        "by_alias": obj.model_dump(mode="json", by_alias=True),
    }
    if hasattr(obj, "to_dict"):
        forms["to_dict"] = obj.to_dict()
    if hasattr(obj, "to_json"):
        forms["to_json"] = json.loads(obj.to_json())
    if hasattr(obj, "to_json_dict"):
        forms["to_json_dict"] = obj.to_json_dict()
    return forms


def post_every_form(meter, case: str, response, usage, model: str, tokens: dict, usage_key: str = "usage"):
    n = 0
    for form, whole in serializations(response).items():
        n += 1
        record = {**whole, "id": f"{case}-whole-{form}", "operation": "e2e"}
        record.setdefault("model", model)  # a stream event (Anthropic's message_delta) names no model
        post_and_check(meter, record["id"], record, model, tokens)
    for form, dumped in serializations(usage).items():
        n += 1
        post_and_check(meter, f"{case}-usage-{form}", {"id": f"{case}-usage-{form}", "operation": "e2e", "model": model, usage_key: dumped},
                       model, tokens)
    return n


def assert_marker_absent(meter):
    meter.stop()
    for suffix in ["", "-wal", "-shm"]:
        path = meter.db_path.parent / (meter.db_path.name + suffix)
        if path.exists():
            assert MARKER.encode() not in path.read_bytes(), f"prompt or response text stored in {path.name}"


# ---------------------------------------------------------------------------------------------------
# OpenAI


def chat_completion(model, prompt, completion, cached=0, reasoning=0, cache_write=None):
    details = {"cached_tokens": cached, "audio_tokens": 0}
    if cache_write is not None:
        details["cache_write_tokens"] = cache_write
    return {"json": {
        "id": "chatcmpl-" + uuid.uuid4().hex, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": MARKER + " answer", "refusal": None}}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                  "prompt_tokens_details": details,
                  "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
        "service_tier": "default", "system_fingerprint": "fp_1"}}


def test_openai_chat_every_serialization(fake, meter):
    client = openai.OpenAI(api_key="sk-test", base_url=f"http://127.0.0.1:{fake.port}/v1")
    cases = [
        ("oa-cache", "gpt-4.1", chat_completion("gpt-4.1", 2000, 300, cached=1024),
         {"input": 976, "cached_input": 1024, "output": 300}),
        ("oa-reasoning", "o4-mini", chat_completion("o4-mini", 500, 800, reasoning=640),
         {"input": 500, "output": 800, "reasoning": 640}),
        ("oa-cachewrite", "gpt-4.1", chat_completion("gpt-4.1", 3000, 10, cached=1000, cache_write=1500),
         {"input": 500, "cached_input": 1000, "cache_write": 1500, "output": 10}),
    ]
    for case, model, answer, tokens in cases:
        fake.next = answer
        response = client.chat.completions.create(model=model, messages=[{"role": "user", "content": MARKER}])
        assert post_every_form(meter, case, response, response.usage, model, tokens) >= 10
    assert_marker_absent(meter)


def test_openai_chat_stream_usage_in_last_chunk(fake, meter):
    client = openai.OpenAI(api_key="sk-test", base_url=f"http://127.0.0.1:{fake.port}/v1")
    base = {"id": "chatcmpl-s1", "object": "chat.completion.chunk", "created": int(time.time()), "model": "gpt-4.1"}
    fake.next = {"done": True, "events": [
        (None, {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": MARKER}, "finish_reason": None}], "usage": None}),
        (None, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": None}),
        (None, {**base, "choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                                                 "prompt_tokens_details": {"cached_tokens": 64}, "completion_tokens_details": {"reasoning_tokens": 0}}}),
    ]}
    chunks = list(client.chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": MARKER}],
                                                 stream=True, stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last.usage is not None
    post_every_form(meter, "oa-stream", last, last.usage, "gpt-4.1", {"input": 36, "cached_input": 64, "output": 20})
    assert_marker_absent(meter)


def responses_object(model, input_tokens, output_tokens, cached=0, reasoning=0, status="completed"):
    return {
        "id": "resp_" + uuid.uuid4().hex, "object": "response", "created_at": time.time(), "status": status, "model": model,
        "output": [{"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": MARKER + " answer", "annotations": []}]}],
        "parallel_tool_calls": True, "tool_choice": "auto", "tools": [], "instructions": None, "metadata": {},
        "error": None, "incomplete_details": None, "temperature": 1.0, "top_p": 1.0,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens, "total_tokens": input_tokens + output_tokens,
                  "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
                  "output_tokens_details": {"reasoning_tokens": reasoning}},
    }


def test_openai_responses_and_stream(fake, meter):
    client = openai.OpenAI(api_key="sk-test", base_url=f"http://127.0.0.1:{fake.port}/v1")
    tokens = {"input": 952, "cached_input": 2048, "output": 700, "reasoning": 512}
    fake.next = {"json": responses_object("o4-mini", 3000, 700, cached=2048, reasoning=512)}
    response = client.responses.create(model="o4-mini", input=MARKER)
    post_every_form(meter, "resp", response, response.usage, "o4-mini", tokens)

    final = responses_object("o4-mini", 3000, 700, cached=2048, reasoning=512)
    in_progress = {**final, "status": "in_progress", "usage": None, "output": []}
    fake.next = {"events": [
        ("response.created", {"type": "response.created", "sequence_number": 0, "response": in_progress}),
        ("response.output_text.delta", {"type": "response.output_text.delta", "sequence_number": 1, "item_id": "msg_1",
                                        "output_index": 0, "content_index": 0, "delta": MARKER, "logprobs": []}),
        ("response.completed", {"type": "response.completed", "sequence_number": 2, "response": final}),
    ]}
    events = list(client.responses.create(model="o4-mini", input=MARKER, stream=True))
    completed = [e for e in events if e.type == "response.completed"][-1].response
    post_every_form(meter, "resp-stream", completed, completed.usage, "o4-mini", tokens)
    assert_marker_absent(meter)


# ---------------------------------------------------------------------------------------------------
# Anthropic


def anthropic_message(usage, content=None, stop_reason="end_turn"):
    return {"id": "msg_" + uuid.uuid4().hex, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": content or [{"type": "text", "text": MARKER + " answer"}], "stop_reason": stop_reason,
            "stop_sequence": None, "usage": usage}


ANTHROPIC_CASES = [
    ("an-cache-5m", {"input_tokens": 50, "output_tokens": 80, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 300,
                     "cache_creation": {"ephemeral_5m_input_tokens": 300, "ephemeral_1h_input_tokens": 0}, "service_tier": "standard"},
     None, {"input": 50, "cached_input": 1000, "cache_write": 300, "output": 80}),
    ("an-cache-1h", {"input_tokens": 20, "output_tokens": 10, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 2500,
                     "cache_creation": {"ephemeral_5m_input_tokens": 500, "ephemeral_1h_input_tokens": 2000}},
     None, {"input": 20, "cache_write": 2500, "cache_write_1h": 2000, "output": 10}),
    ("an-thinking", {"input_tokens": 400, "output_tokens": 900, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0,
                     "output_tokens_details": {"thinking_tokens": 600}},
     [{"type": "thinking", "thinking": MARKER, "signature": "sig"}, {"type": "text", "text": MARKER}],
     {"input": 400, "output": 900, "reasoning": 600}),
    ("an-tool-use", {"input_tokens": 600, "output_tokens": 120, "cache_read_input_tokens": 200, "cache_creation_input_tokens": 0},
     [{"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": MARKER}}],
     {"input": 600, "cached_input": 200, "output": 120}),
]


@pytest.mark.parametrize("case,usage,content,tokens", ANTHROPIC_CASES, ids=[c[0] for c in ANTHROPIC_CASES])
def test_anthropic_every_serialization(fake, meter, case, usage, content, tokens):
    client = anthropic.Anthropic(api_key="sk-ant-test", base_url=f"http://127.0.0.1:{fake.port}")
    fake.next = {"json": anthropic_message(usage, content, "tool_use" if case == "an-tool-use" else "end_turn")}
    message = client.messages.create(model="claude-sonnet-4-5", max_tokens=1024, messages=[{"role": "user", "content": MARKER}])
    assert message.usage.output_tokens_details is None or case == "an-thinking"
    post_every_form(meter, case, message, message.usage, "claude-sonnet-4-5", tokens)
    assert_marker_absent(meter)


def test_anthropic_stream_final_message_and_delta(fake, meter):
    client = anthropic.Anthropic(api_key="sk-ant-test", base_url=f"http://127.0.0.1:{fake.port}")
    start_usage = {"input_tokens": 30, "output_tokens": 1, "cache_read_input_tokens": 500, "cache_creation_input_tokens": 100,
                   "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 100}}
    message = anthropic_message(start_usage, [])
    fake.next = {"events": [
        ("message_start", {"type": "message_start", "message": message}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": MARKER}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"input_tokens": 30, "output_tokens": 75, "cache_read_input_tokens": 500, "cache_creation_input_tokens": 100}}),
        ("message_stop", {"type": "message_stop"}),
    ]}
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": MARKER}]) as stream:
        events = list(stream)
        final = stream.get_final_message()
    tokens = {"input": 30, "cached_input": 500, "cache_write": 100, "cache_write_1h": 100, "output": 75}
    post_every_form(meter, "an-stream", final, final.usage, "claude-sonnet-4-5", tokens)
    delta = [e for e in events if e.type == "message_delta"][-1]
    # The delta's usage has no cache_creation split: its writes count at the 5-minute rate.
    post_every_form(meter, "an-delta", delta, delta.usage, "claude-sonnet-4-5",
                    {"input": 30, "cached_input": 500, "cache_write": 100, "output": 75})
    assert_marker_absent(meter)


# ---------------------------------------------------------------------------------------------------
# Gemini


def test_gemini_snake_and_camel(fake, meter):
    from google.genai import types

    client = genai.Client(api_key="test", http_options=types.HttpOptions(base_url=f"http://127.0.0.1:{fake.port}"))
    fake.next = {"json": {
        "candidates": [{"content": {"parts": [{"text": MARKER}], "role": "model"}, "finishReason": "STOP", "index": 0}],
        "modelVersion": "gemini-2.5-flash", "responseId": "gem-" + uuid.uuid4().hex,
        "usageMetadata": {"promptTokenCount": 1000, "cachedContentTokenCount": 400, "candidatesTokenCount": 50,
                          "thoughtsTokenCount": 70, "toolUsePromptTokenCount": 30, "totalTokenCount": 1150,
                          "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1000}]},
    }}
    response = client.models.generate_content(model="gemini-2.5-flash", contents=MARKER)
    tokens = {"input": 630, "cached_input": 400, "output": 120, "reasoning": 70}
    n = 0
    for form, whole in serializations(response).items():
        n += 1
        post_and_check(meter, f"gem-whole-{form}", {**whole, "id": f"gem-whole-{form}", "operation": "e2e"}, "gemini-2.5-flash", tokens)
    for form, dumped in serializations(response.usage_metadata).items():
        key = "usageMetadata" if form in ("by_alias", "to_json_dict") else "usage_metadata"
        post_and_check(meter, f"gem-usage-{form}", {"id": f"gem-usage-{form}", "operation": "e2e", "model": "gemini-2.5-flash", key: dumped},
                       "gemini-2.5-flash", tokens)
    assert n >= 4
    assert_marker_absent(meter)


def test_unrecognized_usage_is_visible_in_answer_metric_and_report(fake, meter):
    """Anthropic's web searches (server_tool_use) are billable but not priced by tokenmeter: the
    record is accepted and priced on its tokens, and the field is named in the answer, counted in
    tokenmeter_unrecognized_usage_total and listed by the economics report."""
    from conftest import family_sum, metrics_for

    client = anthropic.Anthropic(api_key="sk-ant-test", base_url=f"http://127.0.0.1:{fake.port}")
    fake.next = {"json": anthropic_message({"input_tokens": 100, "output_tokens": 10, "cache_read_input_tokens": 0,
                                            "cache_creation_input_tokens": 0,
                                            "server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 0}})}
    message = client.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": MARKER}])
    record = {**message.model_dump(), "id": "an-search", "operation": "e2e"}
    r = post_usage(meter.port, record)
    assert r.status == 200, r.body
    assert r.json()["accepted"] == 1
    assert r.json()["warnings"] == [{"index": 0, "unrecognized_usage": ["server_tool_use.web_search_requests"]}]
    row = stored(meter, "an-search")
    assert json.loads(row["unrecognized_usage"]) == {"server_tool_use.web_search_requests": 2}
    assert row["cost_nano"] == expected_nano("claude-sonnet-4-5", {"input": 100, "output": 10})
    samples = metrics_for(meter.port)
    assert family_sum(samples, "tokenmeter_unrecognized_usage_total", provider="anthropic",
                      field="server_tool_use.web_search_requests") == 1
    report = http_request(meter.port, "GET", "/v1/reports/economics?range=24h").json()
    assert report["unrecognized_usage"] == {"requests": 1, "fields": [
        {"provider": "anthropic", "model": "claude-sonnet-4-5", "field": "server_tool_use.web_search_requests", "requests": 1, "count": 2}]}
    # A record without such fields gets no warnings key.
    plain = post_usage(meter.port, {"id": "plain", "operation": "e2e", "model": "gpt-4.1", "usage": {"prompt_tokens": 1, "completion_tokens": 1}})
    assert "warnings" not in plain.json()
    assert_marker_absent(meter)
