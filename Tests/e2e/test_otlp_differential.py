"""Differential test of tokenmeter's OTLP decoders against the official encoder.

Random ExportTraceServiceRequests are built and serialized with the official Python
`opentelemetry-proto` package (protobuf, and its proto3 JSON with OTLP's hex ids); `tokenmeter
otlp-decode` decodes them, and every field tokenmeter keeps must come back exactly as the Python
message holds it. The same requests, posted to a running server, must be accepted whole.
"""

from __future__ import annotations

import base64
import json
import math
import random
import subprocess

import pytest

from conftest import binary_path, http_request, wait_for_binary


from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

ALPHABET = "abcXYZ019 _-./:é✓😀\u0000\n\"\\"


def rand_text(rng: random.Random, n: int | None = None) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 12) if n is None else n))


def fill_value(rng: random.Random, value: AnyValue, depth: int) -> None:
    kind = rng.choice(["string", "bool", "int", "double", "bytes", "empty"] + (["array", "kvlist"] if depth < 4 else []))
    if kind == "string":
        value.string_value = rand_text(rng)
    elif kind == "bool":
        value.bool_value = rng.random() < 0.5
    elif kind == "int":
        value.int_value = rng.choice([0, 1, -1, 2**63 - 1, -(2**63), rng.randint(-(2**40), 2**40)])
    elif kind == "double":
        value.double_value = rng.choice([0.0, -0.0, 1.5, -2.25e-300, 1e300, float("inf"), float("-inf"), float("nan"), rng.uniform(-1e6, 1e6)])
    elif kind == "bytes":
        value.bytes_value = bytes(rng.randrange(256) for _ in range(rng.randint(0, 9)))
    elif kind == "array":
        value.array_value.SetInParent()
        for _ in range(rng.randint(0, 3)):
            fill_value(rng, value.array_value.values.add(), depth + 1)
    elif kind == "kvlist":
        value.kvlist_value.SetInParent()
        for _ in range(rng.randint(0, 3)):
            fill_kv(rng, value.kvlist_value.values.add(), depth + 1)


def fill_kv(rng: random.Random, kv: KeyValue, depth: int = 0) -> None:
    kv.key = rng.choice(["gen_ai.usage.input_tokens", "service.name", "k", ""]) if rng.random() < 0.3 else rand_text(rng)
    if rng.random() < 0.95:
        fill_value(rng, kv.value, depth)


def random_request(rng: random.Random) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    for _ in range(rng.randint(0, 3)):
        rs = request.resource_spans.add()
        rs.schema_url = rand_text(rng)
        for _ in range(rng.randint(0, 3)):
            fill_kv(rng, rs.resource.attributes.add())
        rs.resource.dropped_attributes_count = rng.randint(0, 3)
        for _ in range(rng.randint(0, 3)):
            ss = rs.scope_spans.add()
            ss.scope.name = rand_text(rng)
            ss.scope.version = "1.0"
            for _ in range(rng.randint(0, 4)):
                span = ss.spans.add()
                span.trace_id = bytes(rng.randrange(256) for _ in range(rng.choice([16, 16, 16, 0, 3])))
                span.span_id = bytes(rng.randrange(256) for _ in range(rng.choice([8, 8, 8, 0])))
                if rng.random() < 0.5:
                    span.parent_span_id = bytes(rng.randrange(256) for _ in range(8))
                span.trace_state = "k=v"
                span.flags = rng.randint(0, 2**32 - 1)
                span.name = rand_text(rng)
                span.kind = rng.randint(0, 5)
                span.start_time_unix_nano = rng.choice([0, 1, 2**64 - 1, rng.randint(0, 2**63)])
                span.end_time_unix_nano = rng.choice([0, rng.randint(0, 2**64 - 1)])
                for _ in range(rng.randint(0, 6)):
                    fill_kv(rng, span.attributes.add())
                span.dropped_attributes_count = rng.randint(0, 2)
                for _ in range(rng.randint(0, 2)):
                    event = span.events.add()
                    event.name = rand_text(rng)
                    event.time_unix_nano = rng.randint(0, 2**63)
                    fill_kv(rng, event.attributes.add())
                if rng.random() < 0.3:
                    link = span.links.add()
                    link.trace_id = bytes(16)
                    link.span_id = bytes(8)
                if rng.random() < 0.7:
                    span.status.code = rng.choice([Status.STATUS_CODE_UNSET, Status.STATUS_CODE_OK, Status.STATUS_CODE_ERROR])
                    span.status.message = rand_text(rng)
    return request


# What tokenmeter's decoder must hold for a message: the fields it keeps, in OTLP JSON (the shape
# `tokenmeter otlp-decode` prints).

def expected_value(value: AnyValue) -> dict:
    kind = value.WhichOneof("value")
    if kind is None:
        return {}
    if kind == "string_value":
        return {"stringValue": value.string_value}
    if kind == "bool_value":
        return {"boolValue": value.bool_value}
    if kind == "int_value":
        return {"intValue": str(value.int_value)}
    if kind == "double_value":
        d = value.double_value
        if math.isnan(d):
            return {"doubleValue": "NaN"}
        if math.isinf(d):
            return {"doubleValue": "Infinity" if d > 0 else "-Infinity"}
        return {"doubleValue": d}
    if kind == "bytes_value":
        return {"bytesValue": base64.b64encode(value.bytes_value).decode()}
    if kind == "array_value":
        return {"arrayValue": {"values": [expected_value(v) for v in value.array_value.values]}}
    if kind == "kvlist_value":
        return {"kvlistValue": {"values": expected_attributes(value.kvlist_value.values)}}
    raise AssertionError(kind)


def expected_attributes(attributes) -> list:
    return [{"key": kv.key, "value": expected_value(kv.value)} for kv in attributes]


def expected_span(span: Span) -> dict:
    return {
        "traceId": span.trace_id.hex(), "spanId": span.span_id.hex(), "parentSpanId": span.parent_span_id.hex(),
        "name": span.name, "startTimeUnixNano": str(span.start_time_unix_nano),
        "endTimeUnixNano": str(span.end_time_unix_nano), "attributes": expected_attributes(span.attributes),
        "status": {"code": span.status.code, "message": span.status.message},
    }


def expected(request: ExportTraceServiceRequest) -> dict:
    return {"resourceSpans": [
        {"resource": {"attributes": expected_attributes(rs.resource.attributes)},
         "scopeSpans": [{"spans": [expected_span(s) for ss in rs.scope_spans for s in ss.spans]}]}
        for rs in request.resource_spans
    ]}


def otlp_json(request: ExportTraceServiceRequest) -> str:
    """The official proto3 JSON, with trace and span ids as hex as OTLP/HTTP JSON requires."""
    message = json_format.MessageToDict(request)
    for rs in message.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
                for link in span.get("links", []):
                    for key in ("traceId", "spanId"):
                        if key in link:
                            link[key] = base64.b64decode(link[key]).hex()
    return json.dumps(message)


def same(a, b) -> bool:
    """Equal, with NaN equal to NaN and -0.0 equal to 0.0 (JSON cannot tell them apart reliably)."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b or (isinstance(a, (int, float)) and isinstance(b, (int, float)) and a == b)


def decode_with_tokenmeter(tmp_path, body: bytes, as_json: bool) -> dict:
    path = tmp_path / ("body.json" if as_json else "body.pb")
    path.write_bytes(body)
    args = [binary_path(), "otlp-decode", str(path)] + (["--json"] if as_json else [])
    out = subprocess.run(args, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    return json.loads(out.stdout)


@pytest.mark.parametrize("seed", range(40))
def test_decoders_read_exactly_what_the_official_encoder_wrote(tmp_path, seed):
    wait_for_binary(binary_path())
    rng = random.Random(seed)
    request = random_request(rng)
    want = expected(request)
    got = decode_with_tokenmeter(tmp_path, request.SerializeToString(), as_json=False)
    assert same(got, want), f"protobuf decode differs for seed {seed}:\n got {got}\nwant {want}"
    got_json = decode_with_tokenmeter(tmp_path, otlp_json(request).encode(), as_json=True)
    assert same(got_json, want), f"JSON decode differs for seed {seed}:\n got {got_json}\nwant {want}"


def test_genai_spans_encoded_by_the_official_package_map_to_exact_records(tmp_path):
    wait_for_binary(binary_path())
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.add(key="service.name", value=AnyValue(string_value="diff-bot"))
    span = rs.scope_spans.add().spans.add()
    span.trace_id = bytes(range(1, 17))
    span.span_id = bytes(range(1, 9))
    span.name = "chat gpt-4o-mini"
    span.start_time_unix_nano = 1_764_590_400_123_456_789
    span.end_time_unix_nano = 1_764_590_401_623_456_789
    for key, value in [("gen_ai.operation.name", AnyValue(string_value="chat")),
                       ("gen_ai.provider.name", AnyValue(string_value="openai")),
                       ("gen_ai.request.model", AnyValue(string_value="gpt-4o-mini")),
                       ("gen_ai.usage.input_tokens", AnyValue(int_value=1000)),
                       ("gen_ai.usage.cache_read.input_tokens", AnyValue(int_value=400)),
                       ("gen_ai.usage.output_tokens", AnyValue(int_value=200)),
                       ("user.id", AnyValue(string_value="u-1"))]:
        span.attributes.add(key=key, value=value)
    span.status.code = Status.STATUS_CODE_ERROR
    span.status.message = "upstream 500"
    path = tmp_path / "genai.pb"
    path.write_bytes(request.SerializeToString())
    out = subprocess.run([binary_path(), "otlp-decode", "--records", str(path)], capture_output=True, timeout=60, check=True)
    records = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert len(records) == 1
    r = records[0]
    assert r["id"] == "0102030405060708090a0b0c0d0e0f10-0102030405060708"
    assert r["timestamp"] == pytest.approx(1_764_590_400.123456789)
    assert r["duration_ms"] == 1500.0
    assert (r["model"], r["provider"], r["service"], r["operation"], r["user_id"]) == ("gpt-4o-mini", "openai", "diff-bot", "chat", "u-1")
    assert (r["input_tokens"], r["cached_input_tokens"], r["cache_write_tokens"], r["output_tokens"]) == (600, 400, 0, 200)
    assert (r["status"], r["error_type"], r["error_message"]) == ("error", "span_status_error", "upstream 500")


def test_a_running_server_takes_the_official_encodings(server_factory):
    server = server_factory().start()
    rng = random.Random(99)
    for _ in range(20):
        request = random_request(rng)
        for body, ctype in [(request.SerializeToString(), "application/x-protobuf"), (otlp_json(request).encode(), "application/json")]:
            r = http_request(server.port, "POST", "/v1/traces", body, {"Content-Type": ctype})
            assert r.status == 200, (ctype, r)
