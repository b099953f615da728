#!/usr/bin/env python3
"""Writes Fuzz/corpus-otlp/: OTLP trace exports encoded by the official opentelemetry-proto package
(protobuf, gzip protobuf and OTLP JSON) with GenAI spans of each instrumentation's attribute names.
Regenerate with: python3 scripts/otlp-fuzz-seeds.py (needs the pinned packages of .ci/run)."""

import base64
import gzip
import json
from pathlib import Path

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

OUT = Path(__file__).resolve().parents[1] / "Fuzz" / "corpus-otlp"

VARIANTS = [
    {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
     "gen_ai.response.model": "gpt-4o-mini-2024-07-18", "gen_ai.usage.input_tokens": 1000,
     "gen_ai.usage.cache_read.input_tokens": 400, "gen_ai.usage.output_tokens": 200, "user.id": "u1"},
    {"gen_ai.system": "Anthropic", "llm.request.type": "chat", "gen_ai.request.model": "claude-sonnet-4-20250514",
     "gen_ai.usage.prompt_tokens": 1350, "gen_ai.usage.cache_read_input_tokens": 1000,
     "gen_ai.usage.cache_creation_input_tokens": 300, "gen_ai.usage.completion_tokens": 80, "llm.usage.total_tokens": 1430},
    {"gen_ai.system": "openai", "gen_ai.operation.name": "chat", "gen_ai.request.model": "o4-mini",
     "gen_ai.usage.input_tokens": 500, "gen_ai.usage.output_tokens": 250, "gen_ai.usage.reasoning_tokens": 200,
     "gen_ai.usage.cost": 0.0012, "error.type": "RateLimitError"},
    {"gen_ai.operation.name": "invoke_agent", "gen_ai.usage.input_tokens": 9},
    {"http.request.method": "POST", "tokenmeter.operation": "summarize"},
]


def value(v) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    return AnyValue(string_value=v)


def request() -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name", value=value("bot"))
    spans = rs.scope_spans.add().spans
    for i, attributes in enumerate(VARIANTS):
        span = spans.add()
        span.trace_id = bytes(range(1, 17))
        span.span_id = bytes([0, 0, 0, 0, 0, 0, 1, i + 1])
        if i < 4:
            span.parent_span_id = bytes([0, 0, 0, 0, 0, 0, 1, 5])
        span.name = f"span {i}"
        span.start_time_unix_nano = 1_795_608_000_000_000_000
        span.end_time_unix_nano = 1_795_608_001_500_000_000
        span.status.code = 2 if "error.type" in attributes else 0
        for key, v in attributes.items():
            span.attributes.add(key=key, value=value(v))
        span.attributes.add(key="nested", value=AnyValue(kvlist_value={"values": [{"key": "a", "value": {"array_value": {"values": [{"int_value": 1}]}}}]}))
    return req


def otlp_json(req: ExportTraceServiceRequest) -> str:
    message = json_format.MessageToDict(req)
    for span in message["resourceSpans"][0]["scopeSpans"][0]["spans"]:
        for key in ("traceId", "spanId", "parentSpanId"):
            if key in span:
                span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(message)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    req = request()
    (OUT / "genai.pb").write_bytes(req.SerializeToString())
    (OUT / "genai.pb.gz").write_bytes(gzip.compress(req.SerializeToString(), mtime=0))
    (OUT / "genai.json").write_text(otlp_json(req))
    one = ExportTraceServiceRequest()
    one.resource_spans.add().scope_spans.add().spans.add().CopyFrom(req.resource_spans[0].scope_spans[0].spans[0])
    (OUT / "one-span.pb").write_bytes(one.SerializeToString())


if __name__ == "__main__":
    main()
