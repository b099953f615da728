"""The shipped catalog against genai-prices (pinned, PyPI), computed in the same test.

A real `tokenmeter serve` prices a table of realistic records (plain, cache read, cache write,
reasoning, above a context tier) for a wide sample of catalog models; each stored cost must equal
`genai_prices.calc_price` for the same usage, to the nano-USD, except for the deliberate
differences listed below. Also: the committed catalog equals what scripts/gen-catalog.py produces.
"""
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from conftest import REPO_ROOT, post_usage, query_db

genai_prices = pytest.importorskip("genai_prices", reason="pip install genai-prices==0.2.3 (see .ci/run)")

CATALOG = REPO_ROOT / "Sources/TokenMeterCore/Pricing/Resources/default-catalog.json"

# Deliberate differences: (catalog model, why). Each is checked to really differ, so the list stays true.
DELIBERATE = {
    # Hand-kept first-party entries whose curated price is not genai-prices' price.
    "claude-sonnet-4": "hand-kept long-context tier above 200k prompt tokens ($6/$22.50, Anthropic's 1M-context pricing); genai-prices has no tier",
    "gemini-1.5-pro": "hand-kept context-caching price $0.3125 (and $0.625 above 128k) that Google published; genai-prices bills cached tokens as input",
    "gemini-2.5-flash-image": "hand-kept output at the image-token price $30 (its output is images); genai-prices bills output tokens at the text price unless image tokens are split out, which records cannot",
    "gpt-4o-mini-transcribe": "hand-kept $3/$5 per 1M (audio input price) vs genai-prices' text-token price $1.25; records carry no audio/text split",
    "gpt-4o-transcribe": "hand-kept $6/$10 per 1M (audio input price) vs genai-prices' text-token $2.50",
}
# Usage genai-prices prices that tokenmeter records cannot carry, so the test never sends it:
# audio/image/video tokens apart from text tokens, web searches, 1-hour cache writes (issue 13),
# off-peak hours (records are sent at 10:00 UTC, outside DeepSeek's discount window), service tiers.


def sample(models):
    """Every first-party entry, every 7th host entry: a wide, stable sample of token-priced models."""
    picked, host_seen = [], 0
    for m in models:
        if "valid_from" in m or not any(k in m for k in ("input", "output")):
            continue
        source = m.get("source", "")
        ref = None
        if source.startswith("genai-prices "):
            ref = source.split("(", 1)[1].split(")", 1)[0]  # provider/model id
            provider, model_id = ref.split("/", 1)
        else:
            provider, model_id = m.get("provider"), m["model"]
        first_party = "/" not in m["model"] and provider in ("openai", "anthropic", "google", "mistral", "deepseek", "x-ai", "cohere", "moonshotai")
        if not first_party:
            host_seen += 1
            if host_seen % 7:
                continue
        picked.append((m, provider, model_id))
    return picked


def records_for(model, tiers, when):
    """(id suffix, record fields, genai Usage kwargs)."""
    base = {"input_tokens": 1200, "output_tokens": 300}
    cases = [
        ("plain", base, {"input_tokens": 1200, "output_tokens": 300}),
        ("cache-read", {"input_tokens": 800, "cached_input_tokens": 5000, "output_tokens": 200},
         {"input_tokens": 5800, "cache_read_tokens": 5000, "output_tokens": 200}),
        ("cache-write", {"input_tokens": 400, "cache_write_tokens": 3000, "output_tokens": 100},
         {"input_tokens": 3400, "cache_write_tokens": 3000, "output_tokens": 100}),
        ("reasoning", {"input_tokens": 2000, "output_tokens": 4000, "reasoning_tokens": 3500},
         {"input_tokens": 2000, "output_tokens": 4000}),
    ]
    if tiers:
        above = tiers[-1]["above_input_tokens"] + 1000
        cases.append(("above-tier", {"input_tokens": above - 20000, "cached_input_tokens": 20000, "output_tokens": 1000},
                      {"input_tokens": above, "cache_read_tokens": 20000, "output_tokens": 1000}))
    return cases


# Prices with more than 6 decimals per 1M tokens (OpenRouter's $0.0833…) are kept as whole pico-USD
# per token: such a cost may differ from the exact decimal by 1 nano-USD.
def fine_grained(entry) -> bool:
    values = [entry.get(k) for k in ("input", "cached_input", "cache_write", "output")]
    values += [t.get(k) for t in entry.get("tiers", []) for k in ("input", "cached_input", "cache_write", "output")]
    return any(v is not None and abs(v * 1e6 - round(v * 1e6)) > 1e-6 for v in values)


def nano(usd: Decimal) -> int:
    return int((usd * Decimal(10**9)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def test_committed_catalog_equals_what_the_script_produces():
    result = subprocess.run([sys.executable, str(REPO_ROOT / "scripts/gen-catalog.py"), "--check"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_costs_equal_genai_prices_for_a_wide_sample(server_factory, tmp_path):
    models = json.loads(CATALOG.read_text())["models"]
    picked = sample(models)
    assert len(picked) >= 300, len(picked)
    when_dt = (datetime.now(timezone.utc) - timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
    when = when_dt.strftime("%Y-%m-%dT%H:%M:%SZ")

    expected, records = {}, []
    compared_models = set()
    for m, provider, model_id in picked:
        for suffix, fields, usage in records_for(m["model"], m.get("tiers"), when):
            try:
                calc = genai_prices.calc_price(genai_prices.Usage(**usage), model_ref=model_id, provider_id=provider,
                                               genai_request_timestamp=when_dt)
            except LookupError:
                continue  # genai-prices cannot find a hand-kept name: nothing to compare
            rid = f"{m['model']}|{suffix}"
            expected[rid] = (m["model"], nano(calc.total_price), 1 if fine_grained(m) else 0)
            records.append({"id": rid, "operation": "compare", "model": m["model"], "timestamp": when, **fields})
            compared_models.add(m["model"])
    assert len(compared_models) >= 300

    server = server_factory().start()
    for i in range(0, len(records), 500):
        answer = post_usage(server.port, records[i:i + 500])
        assert answer.status == 200, answer
        assert answer.json()["rejected"] == 0, answer.json()["errors"][:5]

    stored = dict(query_db(server.db_path, "SELECT id, cost_nano FROM usage_records"))
    differences = {}
    for rid, (model, want, tolerance) in expected.items():
        if abs(stored[rid] - want) > tolerance:
            differences.setdefault(model, []).append(f"{rid}: tokenmeter {stored[rid]} nano-USD, genai-prices {want}")
    unexpected = {m: d for m, d in differences.items() if m not in DELIBERATE}
    assert not unexpected, json.dumps(unexpected, indent=1)[:6000]
    stale = [m for m in DELIBERATE if m in compared_models and m not in differences]
    assert not stale, f"listed as deliberate but now equal: {stale}"
    tiers_compared = sum(1 for rid in expected if rid.endswith("|above-tier"))
    assert tiers_compared >= 30, tiers_compared
