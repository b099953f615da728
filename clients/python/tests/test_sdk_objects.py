"""Real SDK response objects (openai, anthropic, google-genai, LiteLLM; pinned in .ci/run) recorded through
`usage=` and stored by the real server with the right disjoint token counts; the LiteLLM logger end to end
with `litellm.completion(..., mock_response=...)`.

Each object is built the way its SDK builds it from the wire: the SDK's own pydantic type validating the
JSON the provider's API returns (`ChatCompletion.model_validate({...})`). The client sends the usage part
as plain JSON without nulls, so `model_dump()` output with every optional field set to null works too.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from conftest import stored, url_of

from tokenmeter import TokenMeter, extract_usage

openai = pytest.importorskip("openai", reason="openai SDK not installed: pip install openai==3.57.0 (see .ci/run)")
from openai.types.chat import ChatCompletion, ChatCompletionChunk  # noqa: E402
from openai.types.completion_usage import CompletionUsage  # noqa: E402
from openai.types.responses import Response, ResponseCompletedEvent  # noqa: E402

CHAT = {
    "id": "chatcmpl-AbC123", "object": "chat.completion", "created": 1764600000, "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                 "message": {"role": "assistant", "content": "Your horoscope: a quiet day.", "refusal": None}}],
    "usage": {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
              "prompt_tokens_details": {"cached_tokens": 200, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
    "service_tier": "default", "system_fingerprint": "fp_0aa8d3e20b",
}
REASONING_CHAT = dict(CHAT, id="chatcmpl-o3", model="o3-mini-2025-01-31",
                      usage={"prompt_tokens": 900, "completion_tokens": 2100, "total_tokens": 3000,
                             "prompt_tokens_details": {"cached_tokens": 0},
                             "completion_tokens_details": {"reasoning_tokens": 1800}})
RESPONSES = {
    "id": "resp_67ccd2bed1ec8190", "object": "response", "created_at": 1764600000, "status": "completed",
    "model": "o4-mini-2025-04-16", "output": [], "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
    "usage": {"input_tokens": 500, "input_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 0},
              "output_tokens": 400, "output_tokens_details": {"reasoning_tokens": 300}, "total_tokens": 900},
}
CHUNKS = [
    {"id": "chatcmpl-s1", "object": "chat.completion.chunk", "created": 1764600000, "model": "gpt-4o-mini-2024-07-18",
     "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": None}], "usage": None},
    {"id": "chatcmpl-s1", "object": "chat.completion.chunk", "created": 1764600000, "model": "gpt-4o-mini-2024-07-18",
     "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": None},
    {"id": "chatcmpl-s1", "object": "chat.completion.chunk", "created": 1764600000, "model": "gpt-4o-mini-2024-07-18",
     "choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 7, "total_tokens": 57,
                             "prompt_tokens_details": {"cached_tokens": 0}}},
]
OPENROUTER = {
    "id": "gen-1764600000-xyz", "object": "chat.completion", "created": 1764600000, "model": "openai/gpt-4o-mini",
    "provider": "OpenAI",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
    "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120, "cost": 0.00123,
              "is_byok": False, "prompt_tokens_details": {"cached_tokens": 0},
              "cost_details": {"upstream_inference_cost": None}},
}
ANTHROPIC = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
    "content": [{"type": "text", "text": "Hello!"}], "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 40, "output_tokens": 250, "cache_creation_input_tokens": 500,
              "cache_read_input_tokens": 2000, "service_tier": "standard",
              "cache_creation": {"ephemeral_5m_input_tokens": 500, "ephemeral_1h_input_tokens": 0}},
}
GEMINI = {
    "candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}, "finish_reason": "STOP", "index": 0}],
    "model_version": "gemini-2.5-flash", "response_id": "gem-abc",
    "usage_metadata": {"prompt_token_count": 100, "candidates_token_count": 20, "cached_content_token_count": 40,
                       "thoughts_token_count": 5, "total_token_count": 125,
                       "prompt_tokens_details": [{"modality": "TEXT", "token_count": 100}]},
}


def tokens(row):
    return (row["input_tokens"], row["cached_input_tokens"], row["cache_write_tokens"], row["output_tokens"],
            row["reasoning_tokens"])


def anthropic_message():
    anthropic = pytest.importorskip("anthropic", reason="anthropic SDK not installed: pip install anthropic==2.10.0")
    return anthropic.types.Message.model_validate(ANTHROPIC)


def gemini_response():
    pytest.importorskip("google.genai", reason="google-genai SDK not installed: pip install google-genai==3.3.0")
    from google.genai import types
    return types.GenerateContentResponse.model_validate(GEMINI)


# (name, build the object, expected model_raw, (input, cached, cache_write, output, reasoning))
CASES = [
    ("openai chat completion", lambda: ChatCompletion.model_validate(CHAT), "gpt-4o-mini-2024-07-18", (1000, 200, 0, 300, 0)),
    ("openai chat with reasoning", lambda: ChatCompletion.model_validate(REASONING_CHAT), "o3-mini-2025-01-31", (900, 0, 0, 2100, 1800)),
    ("openai responses", lambda: Response.model_validate(RESPONSES), "o4-mini-2025-04-16", (400, 100, 0, 400, 300)),
    ("openai responses stream completed event",
     lambda: ResponseCompletedEvent.model_validate({"type": "response.completed", "sequence_number": 12, "response": RESPONSES}),
     "o4-mini-2025-04-16", (400, 100, 0, 400, 300)),
    ("openai stream last chunk", lambda: ChatCompletionChunk.model_validate(CHUNKS[-1]), "gpt-4o-mini-2024-07-18", (50, 0, 0, 7, 0)),
    ("openrouter chat with usage.cost", lambda: ChatCompletion.model_validate(OPENROUTER), "openai/gpt-4o-mini", (100, 0, 0, 20, 0)),
    ("anthropic message", anthropic_message, "claude-sonnet-4-20250514", (40, 2000, 500, 250, 0)),
    ("anthropic model_dump() with nulls", lambda: anthropic_message().model_dump(), "claude-sonnet-4-20250514", (40, 2000, 500, 250, 0)),
    ("openai model_dump() with nulls", lambda: ChatCompletion.model_validate(CHAT).model_dump(), "gpt-4o-mini-2024-07-18", (1000, 200, 0, 300, 0)),
    ("gemini generate content response", gemini_response, "gemini-2.5-flash", (60, 40, 0, 25, 5)),
]


@pytest.mark.parametrize("name,build,model,expected", CASES, ids=[c[0] for c in CASES])
def test_sdk_response_recorded_through_usage_is_stored_with_its_tokens(server, errors, name, build, model, expected):
    obj = build()
    meter = TokenMeter(url_of(server), service="sdk", on_error=errors, flush_interval=30, register_atexit=False)
    rid = meter.record(operation="chat", usage=obj, user_id="u1")
    assert meter.flush(10)
    meter.close()
    assert errors.items == [], errors.items
    row = stored(server, rid)
    assert row["model_raw"] == model
    assert tokens(row) == expected


def test_openrouter_usage_cost_is_kept_as_the_providers_cost(server, errors):
    meter = TokenMeter(url_of(server), on_error=errors, flush_interval=30, register_atexit=False)
    rid = meter.record(operation="chat", usage=ChatCompletion.model_validate(OPENROUTER))
    own = meter.record(operation="chat", usage=ChatCompletion.model_validate(OPENROUTER), cost_usd=0.5)
    assert meter.flush(10)
    meter.close()
    assert stored(server, rid)["cost_nano"] == 1_230_000
    assert stored(server, own)["cost_nano"] == 500_000_000  # an explicit cost_usd wins


def test_a_usage_object_alone_and_a_stream_through_call(server, errors):
    meter = TokenMeter(url_of(server), on_error=errors, flush_interval=30, register_atexit=False)
    usage = CompletionUsage.model_validate({"prompt_tokens": 30, "completion_tokens": 4, "total_tokens": 34})
    alone = meter.record(operation="chat", model="gpt-4o-mini", usage=usage)
    with meter.call(operation="stream", model="gpt-4o-mini") as c:
        text = "".join(ch.choices[0].delta.content or "" for ch in c.stream(ChatCompletionChunk.model_validate(x) for x in CHUNKS)
                       if ch.choices)
    assert text == "Hi"
    assert meter.flush(10)
    meter.close()
    assert tokens(stored(server, alone)) == (30, 0, 0, 4, 0)
    row = stored(server, c.id)
    assert tokens(row) == (50, 0, 0, 7, 0) and row["status"] == "success"
    assert errors.items == []


def test_extract_reads_model_and_response_id_without_dumping_content():
    found = extract_usage(ChatCompletion.model_validate(CHAT))
    assert found.model == "gpt-4o-mini-2024-07-18" and found.response_id == "chatcmpl-AbC123"
    assert "choices" not in found.usage and None not in found.usage.values()
    assert found.usage["prompt_tokens_details"] == {"cached_tokens": 200, "audio_tokens": 0}


# ---------------------------------------------------------------------------------------------------
# LiteLLM


@pytest.fixture
def litellm_module():
    litellm = pytest.importorskip("litellm", reason="litellm not installed: pip install litellm==1.110.2 (see .ci/run)")
    # LiteLLM copies `litellm.callbacks` into its success/failure lists once and ignores a second logger
    # of the same class: start and end every test with no callbacks at all.
    litellm.logging_callback_manager._reset_all_callbacks()
    yield litellm
    litellm.logging_callback_manager._reset_all_callbacks()


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_litellm_logger_records_success_and_failure_through_the_queue(server, errors, litellm_module):
    litellm = litellm_module
    from tokenmeter.integrations.litellm import TokenMeterLogger

    meter = TokenMeter(url_of(server), service="bot", on_error=errors, flush_interval=0.1, register_atexit=False)
    litellm.callbacks = [TokenMeterLogger(meter, operation="chat")]
    resp = litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "my horoscope?"}],
                              mock_response="A quiet day.", metadata={"operation": "horoscope"}, user="u-9")
    assert resp.choices[0].message.content == "A quiet day."
    with pytest.raises(litellm.RateLimitError):
        litellm.completion(model="anthropic/claude-3-5-haiku-20241022", messages=[{"role": "user", "content": "hi"}],
                           mock_response=litellm.RateLimitError("slow down", llm_provider="anthropic",
                                                                model="claude-3-5-haiku-20241022"),
                           user="u-10")

    async def async_call():
        before = meter.stats()["queued"]
        await litellm.acompletion(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                                  mock_response="async hello", metadata={"operation": "async_chat"})
        # LiteLLM logs async calls from a task on this loop: keep the loop running until it has.
        for _ in range(400):
            if meter.stats()["queued"] > before:
                return
            await asyncio.sleep(0.05)

    asyncio.run(async_call())
    # LiteLLM runs its callbacks on its own worker threads: wait until all three reached the queue.
    assert wait_for(lambda: meter.stats()["queued"] >= 3), meter.stats()
    assert meter.flush(10)
    meter.close()
    assert errors.items == [], errors.items

    rows = {r[0]: r for r in server.query(
        "SELECT operation, model_raw, provider, status, user_id, input_tokens, output_tokens, error_type, "
        "error_message, duration_us, metadata, service FROM usage_records")}
    assert set(rows) == {"horoscope", "chat", "async_chat"}
    ok = rows["horoscope"]
    assert ok[1:7] == ("gpt-4o-mini", "openai", "success", "u-9", resp.usage.prompt_tokens, resp.usage.completion_tokens)
    assert ok[9] > 0 and ok[11] == "bot"
    assert '"litellm_response_cost"' in ok[10] and "quiet day" not in ok[10]  # no response text stored
    failed = rows["chat"]  # the failure has no operation in its metadata: the logger's default
    assert failed[3] == "error" and failed[7] == "RateLimitError" and "slow down" in failed[8]
    assert failed[1] == "claude-3-5-haiku-20241022" and failed[4] == "u-10"
    assert rows["async_chat"][3] == "success" and rows["async_chat"][5] > 0


def test_litellm_model_response_recorded_through_usage(server, errors, litellm_module):
    litellm = litellm_module
    litellm.callbacks = []
    resp = litellm.completion(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], mock_response="yo")
    meter = TokenMeter(url_of(server), on_error=errors, flush_interval=30, register_atexit=False)
    rid = meter.record(operation="chat", usage=resp)
    assert meter.flush(10)
    meter.close()
    row = stored(server, rid)
    assert row["model_raw"] == "gpt-4o-mini"
    assert (row["input_tokens"], row["output_tokens"]) == (resp.usage.prompt_tokens, resp.usage.completion_tokens)


def test_anthropic_message_with_thinking_tokens_keeps_its_cache_tokens(server, errors):
    anthropic = pytest.importorskip("anthropic", reason="anthropic SDK not installed: pip install anthropic==2.10.0")
    thinking = dict(ANTHROPIC, usage=dict(ANTHROPIC["usage"], output_tokens_details={"thinking_tokens": 100}))
    msg = anthropic.types.Message.model_validate(thinking)
    meter = TokenMeter(url_of(server), on_error=errors, flush_interval=30, register_atexit=False)
    rid = meter.record(operation="chat", usage=msg)
    assert meter.flush(10)
    meter.close()
    assert tokens(stored(server, rid))[:4] == (40, 2000, 500, 250)
