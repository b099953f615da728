"""OTLP ingest end to end with the real OpenTelemetry SDK and GenAI instrumentation.

The real `openai` SDK, instrumented by `opentelemetry-instrumentation-openai-v2`, calls a local fake
OpenAI-compatible provider (stdlib http.server); the real `opentelemetry-sdk` exports the spans with
the real `opentelemetry-exporter-otlp-proto-http` to a running tokenmeter. The calls must be counted
with exact tokens and cost; exporting the same spans again (gzip, then OTLP JSON built from the
official encoder) must change nothing.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import family_sum, http_request, metrics_for


import openai
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

TOKEN = "otel-ingest-token"

# What the fake provider answers: OpenAI's chat and embeddings shapes with fixed usage.
CHAT_USAGE = {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200,
              "prompt_tokens_details": {"cached_tokens": 400}, "completion_tokens_details": {"reasoning_tokens": 0}}
EMBEDDING_TOKENS = 64


class FakeOpenAI(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length", 0))
        request = json.loads(self.rfile.read(length) or b"{}")
        if self.path.endswith("/chat/completions"):
            if request["messages"][0]["content"] == "fail":
                return self.answer(429, {"error": {"message": "Rate limit reached", "type": "rate_limit_error", "code": "rate_limit_exceeded"}})
            return self.answer(200, {
                "id": "chatcmpl-e2e", "object": "chat.completion", "created": 1_764_590_400, "model": "gpt-4o-mini-2024-07-18",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
                "usage": CHAT_USAGE,
            })
        if self.path.endswith("/embeddings"):
            return self.answer(200, {"object": "list", "model": "text-embedding-3-small",
                                     "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
                                     "usage": {"prompt_tokens": EMBEDDING_TOKENS, "total_tokens": EMBEDDING_TOKENS}})
        self.answer(404, {"error": {"message": "no such route"}})

    def answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def provider():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def instrumented():
    """One instrumentation for the module: spans go to memory; each test exports them itself."""
    memory = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": "e2e-bot"}))
    tracer_provider.add_span_processor(SimpleSpanProcessor(memory))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    yield tracer_provider, memory
    instrumentor.uninstrument()


AUTH_ENV = {"TOKENMETER_TOKENS": f"ingest:{TOKEN},read:read-token"}


def exporter(port: int, **kwargs) -> OTLPSpanExporter:
    return OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", headers={"Authorization": f"Bearer {TOKEN}"}, **kwargs)


def calls(provider_url: str, instrumented):
    """Three chat calls (one inside an app span naming the operation), one failing call, one embedding."""
    tracer_provider, memory = instrumented
    memory.clear()
    client = openai.OpenAI(base_url=provider_url, api_key="test-key", max_retries=0)
    tracer = tracer_provider.get_tracer("e2e-app")
    for _ in range(2):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    with tracer.start_as_current_span("horoscope") as span:
        span.set_attribute("tokenmeter.operation", "horoscope")
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], user="u-42")
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "fail"}])
    client.embeddings.create(model="text-embedding-3-small", input="hello")
    spans = memory.get_finished_spans()
    assert len(spans) == 6, [s.name for s in spans]  # 5 calls + the app span
    return spans


def stored(server) -> list[tuple]:
    return server.query("SELECT operation, model, provider, service, status, error_type, input_tokens, cached_input_tokens,"
                        " output_tokens, cost_nano, duration_us IS NOT NULL FROM usage_records ORDER BY ts, id")


def assert_counted_exactly(server) -> None:
    rows = stored(server)
    chat = [r for r in rows if r[1] == "gpt-4o-mini" and r[4] == "success"]
    # openai-v2 reports prompt tokens (cached ones included) and no cached count for chat completions,
    # so all 1000 are priced as input: 1000 x 0.15 + 200 x 0.60 USD per 1M = 0.00027 USD = 270000 nano-USD.
    assert [r[0] for r in chat].count("chat") == 2 and [r[0] for r in chat].count("horoscope") == 1
    for r in chat:
        assert r[1:4] == ("gpt-4o-mini", "openai", "e2e-bot")
        assert (r[6], r[7], r[8], r[9], r[10]) == (1000, 0, 200, 270_000, 1)
    failed = [r for r in rows if r[4] == "error"]
    assert len(failed) == 1 and failed[0][0] == "chat" and failed[0][5] == "openai.RateLimitError"  # sent as "<class 'openai.RateLimitError'>"
    assert (failed[0][6], failed[0][8], failed[0][9]) == (0, 0, 0)
    embedding = [r for r in rows if r[1] == "text-embedding-3-small"]
    # text-embedding-3-small: 0.02 USD per 1M tokens: 64 tokens = 1280 nano-USD.
    assert len(embedding) == 1 and embedding[0][0] == "embeddings" and (embedding[0][6], embedding[0][9]) == (EMBEDDING_TOKENS, 1280)
    assert len(rows) == 5  # the app span carries no GenAI usage: ignored

    m = metrics_for(server.port)
    assert family_sum(m, "tokenmeter_requests_total", service="e2e-bot") == 5
    assert family_sum(m, "tokenmeter_tokens_total", service="e2e-bot", type="input") == 3 * 1000 + EMBEDDING_TOKENS
    assert family_sum(m, "tokenmeter_tokens_total", service="e2e-bot", type="output") == 3 * 200
    # Exact in the store (integer nano-USD); the float counters agree to the last digit they carry.
    assert sum(r[9] for r in rows) == 811_280  # 3 x 270000 + 1280
    assert family_sum(m, "tokenmeter_cost_usd_total", service="e2e-bot") == pytest.approx(0.00081128, rel=1e-12)


def test_instrumented_openai_calls_are_counted_once_with_exact_tokens_and_cost(server_factory, tmp_path, provider, instrumented):
    server = server_factory(env=AUTH_ENV).start()
    spans = calls(provider, instrumented)

    assert exporter(server.port).export(spans) == SpanExportResult.SUCCESS
    assert_counted_exactly(server)

    # The same spans again, gzip-compressed: every record is a duplicate, nothing changes.
    assert exporter(server.port, compression=Compression.Gzip).export(spans) == SpanExportResult.SUCCESS
    assert_counted_exactly(server)
    m = metrics_for(server.port)
    assert family_sum(m, "tokenmeter_ingest_records_total", result="accepted") == 5
    assert family_sum(m, "tokenmeter_ingest_records_total", result="duplicate") == 5

    # And once more as OTLP JSON, built from the official encoder's message (hex ids, as OTLP/HTTP JSON requires).
    message = json_format.MessageToDict(encode_spans(spans))
    for rs in message["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    r = http_request(server.port, "POST", "/v1/traces", json.dumps(message).encode(),
                     {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    assert r.status == 200 and r.json() == {}, r
    assert_counted_exactly(server)
    assert family_sum(metrics_for(server.port), "tokenmeter_ingest_records_total", result="duplicate") == 10


def test_spans_exported_one_request_each_keep_ids_but_lose_the_parent_operation(server_factory, tmp_path, provider, instrumented):
    """With the parent span in another request, the operation falls back to gen_ai.operation.name."""
    server = server_factory(env=AUTH_ENV).start()
    spans = calls(provider, instrumented)
    for span in spans:
        assert exporter(server.port).export([span]) == SpanExportResult.SUCCESS
    operations = sorted(r[0] for r in stored(server))
    assert operations == ["chat", "chat", "chat", "chat", "embeddings"]


def test_an_exporter_without_the_ingest_token_is_refused(server_factory, tmp_path, provider, instrumented):
    server = server_factory(env=AUTH_ENV).start()
    spans = calls(provider, instrumented)
    anonymous = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{server.port}/v1/traces")
    assert anonymous.export(spans) == SpanExportResult.FAILURE
    assert stored(server) == []
    r = http_request(server.port, "POST", "/v1/metrics", b"", {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {TOKEN}"})
    assert r.status == 404
