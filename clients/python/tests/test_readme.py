"""Every Python example in clients/python/README.md runs as written against a real server (the address
http://127.0.0.1:9477 in the text is replaced by the test server's), and stores what it says. Blocks that
start with "# needs a provider API key" are the only ones skipped."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from conftest import CLIENT_ROOT, url_of

from tokenmeter import TokenMeter

SKIP_MARK = "# needs a provider API key"


def python_blocks():
    text = (CLIENT_ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_examples_run_and_store_what_they_say(server):
    pytest.importorskip("litellm", reason="the README's LiteLLM example needs litellm==1.110.2 (see .ci/run)")
    import litellm
    litellm.logging_callback_manager._reset_all_callbacks()  # see test_sdk_objects.litellm_module
    namespace: dict = {"__name__": "readme"}
    blocks = python_blocks()
    assert len(blocks) >= 8
    ran = 0
    out = io.StringIO()
    try:
        for block in blocks:
            if block.startswith(SKIP_MARK):
                continue
            code = block.replace("http://127.0.0.1:9477", url_of(server))
            with contextlib.redirect_stdout(out):
                exec(compile(code, "README.md", "exec"), namespace)
            ran += 1
        for value in list(namespace.values()):
            if isinstance(value, TokenMeter):
                assert value.flush(20) or value._sync
        # LiteLLM's callback runs on its worker thread: give it a moment, then flush again.
        import time
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not server.query(
                "SELECT 1 FROM usage_records WHERE operation = 'horoscope' AND provider = 'openai' AND model_raw = 'gpt-4o-mini' AND metadata LIKE '%litellm%'"):
            namespace["meter"].flush(1)
            time.sleep(0.1)
        for value in list(namespace.values()):
            if isinstance(value, TokenMeter):
                value.close(10)
    finally:
        litellm.logging_callback_manager._reset_all_callbacks()
    assert ran == len(blocks) - 1
    ops = {}
    for (op,) in server.query("SELECT operation FROM usage_records"):
        ops[op] = ops.get(op, 0) + 1
    assert ops == {"horoscope": 3, "summarize": 1, "video": 2, "music": 1, "analyze": 1,
                   "nightly_report": 1, "chat": 1}, ops
    assert server.query("SELECT status FROM usage_records WHERE operation = 'video'") == [("success",), ("success",)]
    (music,) = server.query("SELECT model_raw, category, credits_micro FROM usage_records WHERE operation = 'music'")
    assert music == ("suno", "audio_gen", 17600 * 1_000_000)
    (analyze,) = server.query("SELECT input_tokens, output_tokens, duration_us FROM usage_records WHERE operation = 'analyze'")
    assert analyze == (900, 120, 1_840_000)
    printed = out.getvalue()
    assert "rejected None 400 1 usage.prompt_tokens_details.cached_tokens: 9 exceeds usage.prompt_tokens (5)" in printed, printed
