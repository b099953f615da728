#!/usr/bin/env python3
"""Regenerates the shipped price catalog from a pinned genai-prices plus the hand-kept entries.

    pip install genai-prices==0.2.3
    scripts/gen-catalog.py            # writes Sources/TokenMeterCore/Pricing/Resources/default-catalog.json
    scripts/gen-catalog.py --check    # exits 1 if the committed file differs from what this produces
    scripts/gen-catalog.py -o FILE    # writes FILE (e.g. for `tokenmeter prices update FILE`)

Inputs: `genai_prices.data` (first-party prices, context tiers and price history of 47 providers,
carried inside the PyPI package) and scripts/catalog/hand-kept.json (media models no price database
carries, and curated first-party entries that win over genai-prices). Output is deterministic.

Name rules (no price is borrowed from another model by guesswork):
- genai-prices `equals` clauses become aliases; `starts_with`/`contains`/`ends_with` clauses become
  an alias of the literal name only (never a prefix match); a `starts_with` ending in `-`/`@` or a
  regex `^name-\\d{8}$` style clause declares `snapshots_share_price` (a dated snapshot with no
  entry of its own is priced from the family). Other regexes and `and` clauses are not carried.
- First-party providers own the bare names. Hosts (Bedrock, Azure, OpenRouter, Groq, Together,
  Fireworks, …) get `<host>/<id>` keys, plus the bare id only when no first party or earlier host
  claimed it.
- `…-latest` names move: each becomes its own entry valid from DATA_DATE (the day this snapshot was
  taken as current), so records from before are unpriced rather than priced as whatever the alias
  points at today.
- Prices genai-prices has that tokenmeter records cannot carry (web searches, audio/image tokens
  apart from text tokens, 1-hour cache writes, off-peak hours, service tiers) are listed in the
  entry's `source` as not carried.
"""
import argparse
import datetime
import json
import pathlib
import re
import sys
from decimal import Decimal

GENAI_PRICES_VERSION = "0.2.3"
# The day the pinned genai-prices was taken as current: moving aliases are valid from it.
DATA_DATE = "2026-11-25"

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "Sources/TokenMeterCore/Pricing/Resources/default-catalog.json"
HAND_KEPT = ROOT / "scripts/catalog/hand-kept.json"

# Providers selling their own models: they own the bare names, in this order.
FIRST_PARTY = [
    "anthropic", "openai", "google", "mistral", "deepseek", "x-ai", "cohere", "moonshotai", "zai",
    "zhipuai", "minimax", "meta", "perplexity", "voyageai", "elevenlabs", "arcee", "openai-decisions",
]
# Key prefixes of hosts (the form routers and SDKs send, e.g. LiteLLM's `bedrock/`).
HOST_PREFIX = {"aws": "bedrock", "google": "vertex_ai", "x-ai": "xai"}
# Hosts claim leftover bare names in this order; any other provider comes after, by id.
HOST_ORDER = ["aws", "azure", "groq", "together", "fireworks", "openrouter", "cerebras", "databricks"]

KEY_MAP = {
    "input_mtok": ("input", Decimal(1)),
    "cache_read_mtok": ("cached_input", Decimal(1)),
    "cache_write_mtok": ("cache_write", Decimal(1)),
    "output_mtok": ("output", Decimal(1)),
    "output_reasoning_mtok": ("reasoning", Decimal(1)),
    "input_mchars": ("1k_characters", Decimal(1000)),  # USD per million characters → per 1000
    "audio_hours": ("minute", Decimal(60)),  # USD per hour → per minute
    "requests_kcount": ("request", Decimal(1000)),  # USD per 1000 requests → per request
}
TOKEN_FIELDS = ["input", "cached_input", "cache_write", "output", "reasoning"]
# The dated-snapshot suffixes of ModelNameForms.swift.
SNAPSHOT_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|\d{2}-\d{4}|\d{2}-\d{2}|\d{4}|\d{3})$")
DATED_REGEX = re.compile(r"^\^(?P<name>[a-z0-9.\\-]+?)(\[-@\]|-|@)(\\d\{8\}|\\d\{4\}-\\d\{2\}-\\d\{2\})\$$")


def num(value: Decimal):
    value = value.normalize()
    return int(value) if value == value.to_integral_value() and abs(value) < 10**15 else float(value)


def clauses(match):
    """(kind, value) pairs of an `or` of simple clauses; `and` clauses are not carried."""
    name = type(match).__name__
    if name == "ClauseOr":
        for inner in match.or_:
            yield from clauses(inner)
    elif name == "ClauseEquals":
        yield "eq", match.equals
    elif name == "ClauseStartsWith":
        yield "starts", match.starts_with
    elif name == "ClauseContains":
        yield "contains", match.contains
    elif name == "ClauseEndsWith":
        yield "ends", match.ends_with
    elif name == "ClauseRegex":
        yield "regex", match.regex


def names_of(model):
    """The literal names a genai-prices model declares, and whether its snapshots share its price."""
    names, share = [], False
    for kind, value in clauses(model.match):
        value = value.lower()
        if value.startswith("ft:"):
            continue  # fine-tuned models are priced apart
        if kind == "regex":
            m = DATED_REGEX.match(value)
            if m:
                share = True
                names.append(m.group("name").replace("\\.", "."))
            continue
        if kind in ("starts", "contains") and value.endswith(("-", "@")):
            share = True
            value = value.rstrip("-@")
        elif kind in ("starts", "contains"):
            if re.search(r"-20\d\d$", value):
                continue  # a partial date (`claude-sonnet-4-2025`): not a name
            if not SNAPSHOT_SUFFIX.search(value):
                share = True  # `claude-3-5-haiku…`: its dated snapshots share its price
        if value.startswith("ft:") or not value or value.endswith("."):
            continue
        names.append(value)
    return names, share


def price_versions(model):
    """[(valid_from or None, fields, not_carried)] of a model, oldest first; off-peak prices skipped."""
    from genai_prices import types as T

    prices = model.prices if isinstance(model.prices, list) else [model.prices]
    # Time-of-day prices (DeepSeek's off-peak discount): records are priced at the price in force for
    # most of the day; the other one is not carried.
    daily = [c for c in prices if isinstance(c, T.ConditionalPrice) and isinstance(c.constraint, T.TimeOfDateConstraint)]
    main_daily = None
    for c in daily:
        start = c.constraint.start_time.hour * 60 + c.constraint.start_time.minute
        end = c.constraint.end_time.hour * 60 + c.constraint.end_time.minute
        if (end - start) % 1440 > 720:
            main_daily = c
    versions = []
    for item in prices:
        valid_from, mp = None, item
        if isinstance(item, T.ConditionalPrice):
            mp = item.prices
            if isinstance(item.constraint, T.TimeOfDateConstraint):
                continue
            if item.constraint is None and main_daily is not None:
                mp = main_daily.prices
            if isinstance(item.constraint, T.StartDateConstraint):
                valid_from = item.constraint.start_date.isoformat() + "T00:00:00Z"
        fields, not_carried, tiers = {}, [], {}
        for key, value in sorted(mp.__dict__.items()):
            if value is None or key.startswith("_"):
                continue
            if key not in KEY_MAP:
                not_carried.append(key)
                continue
            field, divisor = KEY_MAP[key]
            if isinstance(value, T.TieredPrices):
                fields[field] = num(value.base / divisor)
                for tier in value.tiers:
                    tiers.setdefault(tier.start, {})[field] = tier.price / divisor
            else:
                fields[field] = num(value / divisor)
        if not any(f in fields for f in TOKEN_FIELDS + ["1k_characters", "minute", "request"]):
            if not_carried:
                continue  # priced only in units tokenmeter records do not carry
            fields.update(input=0, output=0)  # a free model (genai-prices lists no price)
        if tiers:
            out, previous = [], {}
            for start in sorted(tiers):
                previous = {**previous, **tiers[start]}
                out.append({"above_input_tokens": start, **{k: num(previous[k]) for k in TOKEN_FIELDS if k in previous}})
            fields["tiers"] = out
        if daily:
            not_carried.append("time-of-day prices (the one in force most of the day is used)")
        versions.append((valid_from, fields, not_carried))
    versions.sort(key=lambda v: v[0] or "")
    return versions


def category_of(model_id, fields):
    if "embed" in model_id:
        return "embedding"
    if "1k_characters" in fields or "-tts" in model_id or model_id.startswith("tts-"):
        return "tts"
    if "minute" in fields or "transcribe" in model_id or "whisper" in model_id:
        return "transcription"
    if "image" in model_id and "output" in fields:
        return "image_gen"
    return "text"


def prices_equal(a, b):
    keys = ["input", "cached_input", "cache_write", "output"]
    return all(a.get(k) == b.get(k) for k in keys)


def build():
    from genai_prices.data import providers

    hand = json.loads(HAND_KEPT.read_text())
    entries = [dict(e) for e in hand["models"]]
    owner = {}  # every claimed name → the index of its entry
    for i, e in enumerate(entries):
        owner.setdefault(e["model"], i)
        for a in e.get("aliases", []):
            owner.setdefault(a, i)

    by_id = {p.id: p for p in providers}
    hosts = [p for p in HOST_ORDER if p in by_id] + sorted(p for p in by_id if p not in FIRST_PARTY and p not in HOST_ORDER)
    order = [(p, True) for p in FIRST_PARTY if p in by_id] + [(p, False) for p in hosts]
    generated = []
    first_party_indices = set(range(len(entries)))

    def first_party_name(name):
        """Whether `name`, by tokenmeter's rules (provider prefixes, snapshots), is a first party's."""
        parts = name.split("/")
        for i in range(len(parts)):
            form = "/".join(parts[i:])
            for candidate in (form, SNAPSHOT_SUFFIX.sub("", form)):
                if owner.get(candidate) in first_party_indices:
                    return True
        return False

    def claim(name, index):
        if name in owner:
            return False
        owner[name] = index
        return True

    for pid, first_party in order:
        provider = by_id[pid]
        prefix = HOST_PREFIX.get(pid, pid)
        for model in provider.models:
            versions = price_versions(model)
            if not versions:
                continue
            names, share = names_of(model)
            model_id = model.id.lower()
            literal = [n for n in [model_id] + names if not n.endswith("latest")]
            moving = sorted({n for n in [model_id] + names if n.endswith("latest")})
            current = [v for v in versions if (v[0] or "") <= DATA_DATE + "T"]
            current_fields = (current[-1] if current else versions[0])[1]
            not_carried = sorted({k for v in versions for k in v[2]})
            source = f"genai-prices {GENAI_PRICES_VERSION} ({pid}/{model.id})" + (
                f"; not carried: {', '.join(not_carried)}" if not_carried else "") + (
                f"; {provider.pricing_urls[0]}" if provider.pricing_urls else "")

            if first_party:
                canonical = next((n for n in literal if n not in owner or owner[n] >= len(entries)), literal[0] if literal else model_id)
                existing = next((owner[n] for n in literal if n in owner), None)
                if existing is not None and existing < len(entries):
                    # A hand-kept entry: it wins; genai-prices adds its other names if the prices agree.
                    hand_entry = entries[existing]
                    if prices_equal(hand_entry, current_fields):
                        for n in literal:
                            if claim(n, existing):
                                hand_entry.setdefault("aliases", []).append(n)
                    continue
                if existing is not None:
                    continue  # an earlier first party owns this model's names
                keys = [canonical]
            else:
                canonical = f"{prefix}/{model_id}"
                if canonical in owner:
                    continue
                keys = [canonical]
            index = len(entries) + len(generated)
            owner[canonical] = index
            aliases = []
            for n in literal:
                if not first_party and first_party_name(n):
                    candidates = [f"{prefix}/{n}"]  # a first party's name (or its snapshot) stays the first party's
                else:
                    candidates = [n] if first_party else [f"{prefix}/{n}", n]
                for candidate in candidates:
                    if claim(candidate, index):
                        aliases.append(candidate)
            if first_party:
                first_party_indices.add(index)
            category = category_of(model_id, current_fields)
            for valid_from, fields, _ in versions:
                entry = {"model": canonical, "provider": prefix if not first_party else pid, "category": category}
                if aliases:
                    entry["aliases"] = aliases
                entry.update(fields)
                if valid_from:
                    entry["valid_from"] = valid_from
                entry["source"] = source
                if share:
                    entry["snapshots_share_price"] = True
                generated.append(entry)
            for name in moving:
                key = name if first_party else f"{prefix}/{name}"
                if key in owner:
                    continue
                owner[key] = -1
                later = [v for v in versions if (v[0] or "") > DATA_DATE + "T"]
                for valid_from, fields in [(DATA_DATE + "T00:00:00Z", current_fields)] + [(v[0], v[1]) for v in later]:
                    generated.append({
                        "model": key, "provider": prefix if not first_party else pid, "category": category, **fields,
                        "valid_from": valid_from,
                        "source": f"moving alias: points at {canonical} in genai-prices {GENAI_PRICES_VERSION} as of {DATA_DATE}; unpriced before",
                    })

    models = entries + generated
    for e in models:
        if "aliases" in e:
            e["aliases"] = list(dict.fromkeys(e["aliases"]))
    return {"catalog_version": DATA_DATE, "models": models}


def render(catalog):
    return json.dumps(catalog, indent=2, ensure_ascii=False) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--output", type=pathlib.Path, default=OUTPUT)
    parser.add_argument("--check", action="store_true", help="compare with the committed catalog instead of writing")
    args = parser.parse_args()
    import genai_prices

    if genai_prices.__version__ != GENAI_PRICES_VERSION:
        sys.exit(f"genai-prices {genai_prices.__version__} is installed; this script is pinned to {GENAI_PRICES_VERSION} (pip install genai-prices=={GENAI_PRICES_VERSION})")
    text = render(build())
    if args.check:
        if args.output.read_text() != text:
            sys.exit(f"{args.output} differs from what scripts/gen-catalog.py produces: run scripts/gen-catalog.py and commit the result")
        print(f"{args.output}: up to date ({text.count(chr(10) + '    {')} entries)")
        return
    args.output.write_text(text)
    print(f"wrote {args.output}: {len(json.loads(text)['models'])} entries")


if __name__ == "__main__":
    main()
