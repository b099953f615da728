#!/usr/bin/env python3
"""Fill a running tokenmeter until its /metrics has about TARGET series (sample lines).

Used by scripts/load/metrics.sh. What one record adds to /metrics (Sources/TokenMeterServer/Metrics):
- a new label set L = (service, operation, category, provider, model) adds 9 counter series
  (requests_total x2 statuses, tokens_total x4 types, reasoning, cost, credits), all exported
  even at 0, and, when the record has duration_ms, one request_duration_seconds histogram
  (17 buckets + +Inf + _sum + _count = 20 lines);
- an error record adds one errors_total series per new (service, operation, provider, model,
  error_type).
So a "combo" (one L, two successes and one error, all with durations) adds about 30 lines. The
script measures that on the first combo instead of trusting it, posts as many combos as fit under
the target, then adds single errors_total series (a second error type on existing combos) until
the count is exactly the target. The guard (200 values per label, 2 500 label sets for the usage
counters, 10 000 series per other metric) is never reached: 6 services x 20 operations x 20 models.

Prints one line: "series=<count> combos=<n> extra_error_series=<m> records=<r>".
"""
import argparse
import json
import random
import sys
import urllib.request

SERVICES = ["support_bot", "xray_analyzer", "horoscope_app", "search", "media_studio", "voice_assistant"]
OPERATIONS = [
    "chat", "summarize", "translate", "classify", "extract", "rewrite", "horoscope", "analyze",
    "caption", "moderate", "embed_docs", "answer", "plan", "code_review", "sql_generate",
    "title", "tag", "sentiment", "qa_check", "autocomplete",
]
# Token-priced catalog entries, so each record gets a cost and a canonical name.
MODELS = [
    "gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3", "o4-mini", "gpt-5",
    "gpt-5-mini", "gpt-5-nano", "claude-3-5-haiku", "claude-haiku-4-5", "claude-sonnet-4",
    "claude-sonnet-4-5", "claude-opus-4-1", "gemini-2.0-flash", "gemini-2.5-flash",
    "gemini-2.5-flash-lite", "gemini-2.5-pro", "gemini-3-pro",
]
ERROR_TYPES = [
    "RateLimitError", "Timeout", "APIConnectionError", "BadRequestError", "InternalServerError",
    "ContentFilter", "ContextLengthExceeded", "AuthenticationError",
]


def scrape_series(url):
    with urllib.request.urlopen(url + "/metrics", timeout=30) as response:
        text = response.read().decode()
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def post(url, records):
    for start in range(0, len(records), 500):
        chunk = records[start:start + 500]
        request = urllib.request.Request(
            url + "/v1/usage", data=json.dumps(chunk).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
        if answer.get("accepted") != len(chunk):
            sys.exit(f"ingest did not accept every record: {answer}")


def combo_records(rng, index, combo):
    service, operation, model = combo
    records = []
    for n in range(3):
        error = n == 2
        record = {
            "id": f"metrics-fill-{index}-{n}",
            "service": service, "operation": operation, "model": model,
            "user_id": f"user-{rng.randrange(5000)}", "plan": rng.choice(["free", "pro", "unlimited"]),
            "paying": rng.random() < 0.3,
            "input_tokens": rng.randrange(50, 20000), "output_tokens": rng.randrange(10, 4000),
            # 20 ms to about 300 s, so the histograms spread over many buckets.
            "duration_ms": round(20 * 2 ** rng.uniform(0, 14), 3),
        }
        if rng.random() < 0.5:
            record["cached_input_tokens"] = rng.randrange(0, 8000)
        if model.startswith(("o3", "o4", "gpt-5")):
            record["reasoning_tokens"] = rng.randrange(0, record["output_tokens"])
        if rng.random() < 0.4:
            record["credits"] = rng.randrange(1, 20)
        if error:
            record["status"] = "error"
            record["error_type"] = ERROR_TYPES[index % len(ERROR_TYPES)]
        records.append(record)
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--target", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    combos = [(s, o, m) for s in SERVICES for o in OPERATIONS for m in MODELS]
    rng.shuffle(combos)

    base = scrape_series(args.url)
    records = combo_records(rng, 0, combos[0])
    post(args.url, records)
    per_combo = scrape_series(args.url) - base
    if per_combo <= 0:
        sys.exit(f"one combo added {per_combo} series")
    count = max(1, (args.target - base) // per_combo)
    if count > len(combos):
        sys.exit(f"target {args.target} needs {count} combos, only {len(combos)} defined")
    total_records = len(records)
    batch = []
    for index in range(1, count):
        batch.extend(combo_records(rng, index, combos[index]))
    post(args.url, batch)
    total_records += len(batch)

    series = scrape_series(args.url)
    extra = max(0, args.target - series)
    if extra > count * (len(ERROR_TYPES) - 1):
        sys.exit(f"cannot add {extra} error series")
    topup = []
    for k in range(extra):
        index = k % count
        step = 1 + k // count  # a different error type than the combo's own
        service, operation, model = combos[index]
        topup.append({
            "id": f"metrics-fill-extra-{k}", "service": service, "operation": operation, "model": model,
            "status": "error", "error_type": ERROR_TYPES[(index + step) % len(ERROR_TYPES)],
            "input_tokens": rng.randrange(50, 2000), "duration_ms": round(20 * 2 ** rng.uniform(0, 14), 3),
        })
    if topup:
        post(args.url, topup)
    total_records += len(topup)
    print(f"series={scrape_series(args.url)} combos={count} per_combo={per_combo} base={base} "
          f"extra_error_series={extra} records={total_records}")


if __name__ == "__main__":
    main()
