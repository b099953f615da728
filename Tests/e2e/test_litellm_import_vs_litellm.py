"""LiteLLM's own price map imported into a real tokenmeter prices like `litellm.cost_per_token`.

The file is the one bundled with the pinned litellm (model_prices_and_context_window_backup.json).
`tokenmeter prices import` loads all of it; a seeded sample of its token-priced entries is priced by
a real server and compared with litellm's `cost_per_token` for the same usage, to the nano-USD,
except for the documented exceptions below. After the import, every shipped name keeps its
canonical model, provider and aliases (and its price, unless the import has an entry of that very
name, whose prices then apply: shipped < imported).
"""
import json
import os
import random
import subprocess
import time
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import quote

import pytest

from conftest import REPO_ROOT, binary_path, http_request, post_usage, query_db

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # the bundled map, no network
litellm = pytest.importorskip("litellm", reason="pip install litellm==1.110.2 (see .ci/run)")

PRICE_MAP = Path(litellm.__file__).parent / "model_prices_and_context_window_backup.json"
SEED = 14
SAMPLE = 250

# Documented exceptions (keys are matched as prefixes of `mode:…` or model names):
# - entries with a `tiered_pricing` table or per-request/ per-second costs beside token prices:
#   cost_per_token then bills differently from the flat token fields tokenmeter reads;
# - off-peak blocks (`off_peak_pricing`: LiteLLM applies them by the wall clock), service tiers (`…_flex`/`…_priority`), regional uplifts:
#   records carry no time-of-day window, tier or region;
# - xAI bills a context tier once the prompt *reaches* the threshold (LiteLLM's inclusive flag);
#   tokenmeter bills above it, so the sample never sends a prompt of exactly the threshold;
# - Perplexity: litellm/llms/perplexity/cost_calculator.py ignores the entry's `_above_…_tokens`
#   tiers; tokenmeter applies them as the entry states, so Perplexity gets no above-tier records.
EXCLUDED_FIELDS = ("tiered_pricing", "input_cost_per_request", "output_cost_per_request", "input_cost_per_second",
                   "output_cost_per_second", "input_cost_per_token_off_peak", "off_peak_pricing")


def nano(usd) -> int:
    return int((Decimal(repr(usd)) * Decimal(10**9)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def run(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENMETER_")}
    return subprocess.run([binary_path(), *args], capture_output=True, text=True, timeout=300, env=env)


def sampled_entries(price_map):
    keys = []
    for key in sorted(price_map):
        entry = price_map[key]
        if key == "sample_spec" or not isinstance(entry, dict):
            continue
        if entry.get("mode") not in ("chat", "completion", "responses", "embedding"):
            continue
        if not entry.get("input_cost_per_token") or any(f in entry for f in EXCLUDED_FIELDS):
            continue
        if entry.get("litellm_provider") in ("github_copilot",):
            continue  # litellm's cost_per_token logs in to GitHub for these: no network in tests
        keys.append(key)
    rng = random.Random(SEED)
    picked = rng.sample(keys, SAMPLE)
    tiered = [k for k in keys if k not in picked and any("_above_" in f and f.endswith("_tokens") for f in price_map[k])
              and price_map[k].get("litellm_provider") != "perplexity"]
    return picked + rng.sample(tiered, min(30, len(tiered)))


def usages(entry):
    """(suffix, record fields, cost_per_token kwargs): prompt_tokens count every prompt token."""
    cases = [
        ("plain", {"input_tokens": 1200, "output_tokens": 300}, dict(prompt_tokens=1200, completion_tokens=300)),
        ("cache-read", {"input_tokens": 800, "cached_input_tokens": 5000, "output_tokens": 200},
         dict(prompt_tokens=5800, completion_tokens=200, cache_read_input_tokens=5000)),
    ]
    if "cache_creation_input_token_cost" in entry:
        cases.append(("cache-write", {"input_tokens": 400, "cache_write_tokens": 3000, "output_tokens": 100},
                      dict(prompt_tokens=3400, completion_tokens=100, cache_creation_input_tokens=3000)))
    thresholds = sorted({k.rsplit("_above_", 1)[1].split("_tokens")[0] for k in entry if "_above_" in k and k.endswith("_tokens")})
    if entry.get("litellm_provider") == "perplexity":
        thresholds = []
    for t in thresholds:
        count = int(t[:-1]) * 1000 if t.endswith("k") else int(t)
        cases.append((f"above-{t}", {"input_tokens": count + 1000, "output_tokens": 500},
                      dict(prompt_tokens=count + 1000, completion_tokens=500)))
    return cases


def test_import_prices_like_litellm_and_keeps_shipped_names(server_factory, tmp_path):
    price_map = json.loads(PRICE_MAP.read_text())
    db = tmp_path / "tokenmeter.sqlite"

    # Before the import: how shipped names resolve.
    shipped = json.loads((REPO_ROOT / "Sources/TokenMeterCore/Pricing/Resources/default-catalog.json").read_text())["models"]
    names = sorted({m["model"] for m in shipped if "/" not in m["model"]} | {a for m in shipped if "/" not in m["model"] for a in m.get("aliases", [])})
    names = random.Random(SEED).sample(names, 400)
    server = server_factory(db=db).start()
    before = {n: http_request(server.port, "GET", "/v1/prices/resolve?model=" + quote(n)).json() for n in names}
    server.stop()

    started = time.monotonic()
    imported = run("prices", "import", str(PRICE_MAP), "--db", str(db))
    import_seconds = time.monotonic() - started
    assert imported.returncode == 0, imported.stderr
    assert "conflict:" in imported.stdout and "skipped:" in imported.stdout  # listed with reasons
    print(f"import of {len(price_map)} LiteLLM entries: {import_seconds:.2f} s; {imported.stdout.splitlines()[0]}")

    started = time.monotonic()
    resolved = run("prices", "resolve", "gpt-4o", "--db", str(db))
    cli_seconds = time.monotonic() - started
    assert resolved.returncode == 0, resolved.stderr
    assert cli_seconds < 3, f"a CLI command after the import took {cli_seconds:.2f} s"

    server = server_factory(db=db).start()
    after = {n: http_request(server.port, "GET", "/v1/prices/resolve?model=" + quote(n)).json() for n in names}
    for n in names:
        b, a = before[n], after[n]
        assert a["model"] == b["model"], (n, b["model"], a["model"])
        if b["entry"] is None:
            continue
        assert a["entry"]["provider"] == b["entry"]["provider"], (n, b["entry"]["provider"], a["entry"]["provider"])
        assert a["entry"].get("aliases") == b["entry"].get("aliases"), n
        prices = ("input", "cached_input", "cache_write", "output")
        if b["model"] not in price_map:
            assert all(a["entry"].get(k) == b["entry"].get(k) for k in prices), (n, b["entry"], a["entry"])

    # A seeded sample of LiteLLM entries, priced by the server and by litellm.
    when = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    expected, records = {}, []
    for key in sampled_entries(price_map):
        for suffix, fields, kwargs in usages(price_map[key]):
            prompt_cost, completion_cost = litellm.cost_per_token(model=key, custom_llm_provider=price_map[key].get("litellm_provider"), **kwargs)
            rid = f"{key}|{suffix}"
            expected[rid] = nano(prompt_cost + completion_cost)
            records.append({"id": rid, "operation": "compare", "model": key, "timestamp": when, **fields})
    for i in range(0, len(records), 500):
        answer = post_usage(server.port, records[i:i + 500])
        assert answer.status == 200 and answer.json()["rejected"] == 0, answer
    stored = {rid: (cost, match) for rid, cost, match in query_db(db, "SELECT id, cost_nano, price_match FROM usage_records")}
    differences = {}
    for rid, want in expected.items():
        cost, match = stored[rid]
        key = rid.split("|")[0]
        if match is None:
            differences[rid] = "unpriced"
        elif abs(cost - want) > 1 and key in price_map and not shipped_name(key, shipped):
            differences[rid] = f"tokenmeter {cost} nano-USD, litellm {want}"
    assert not differences, json.dumps(differences, indent=1)[:6000]
    assert sum(1 for rid in expected if "|above-" in rid) >= 20


def shipped_name(key, shipped):
    """A LiteLLM key that is also a shipped name: priced by the import only if it is the canonical name."""
    return any(key == a for m in shipped for a in m.get("aliases", []))
