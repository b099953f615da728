#!/usr/bin/env python3
"""Writes the body template for scripts/load/otlp.lua: one ExportTraceServiceRequest (official
opentelemetry-proto encoder) with SPANS GenAI spans (semconv attributes of
opentelemetry-instrumentation-openai-v2) that all carry the trace id 0xA5 x 16, which the Lua script
replaces per request so every span is a new record. Usage: otlp_body.py OUT [SPANS]"""

import sys
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

PLACEHOLDER = bytes([0xA5]) * 16


def main() -> None:
    out, spans = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.add(key="service.name", value=AnyValue(string_value="bot"))
    scope = rs.scope_spans.add()
    scope.scope.name = "opentelemetry.instrumentation.openai_v2"
    start = time.time_ns()
    for i in range(spans):
        span = scope.spans.add()
        span.trace_id = PLACEHOLDER
        span.span_id = (i + 1).to_bytes(8, "big")
        span.name = "chat gpt-4o-mini"
        span.kind = 3
        span.start_time_unix_nano = start
        span.end_time_unix_nano = start + 850_000_000
        for key, value in [("gen_ai.operation.name", AnyValue(string_value="chat")),
                           ("gen_ai.provider.name", AnyValue(string_value="openai")),
                           ("gen_ai.request.model", AnyValue(string_value="gpt-4o-mini")),
                           ("gen_ai.response.model", AnyValue(string_value="gpt-4o-mini-2024-07-18")),
                           ("gen_ai.response.id", AnyValue(string_value=f"chatcmpl-{i}")),
                           ("gen_ai.usage.input_tokens", AnyValue(int_value=1200)),
                           ("gen_ai.usage.output_tokens", AnyValue(int_value=300)),
                           ("user.id", AnyValue(string_value=f"u{i % 1000}"))]:
            span.attributes.add(key=key, value=value)
    body = request.SerializeToString()
    assert body.count(PLACEHOLDER) == spans
    with open(out, "wb") as f:
        f.write(body)


if __name__ == "__main__":
    main()
