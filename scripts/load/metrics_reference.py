#!/usr/bin/env python3
"""The prometheus_client reference for scripts/load/metrics.sh: the same series as a tokenmeter scrape.

Reads a tokenmeter /metrics body (Prometheus text 0.0.4), parses it with
prometheus_client.parser.text_string_to_metric_families, and recreates every family in a fresh
CollectorRegistry with real prometheus_client objects:
- counters: Counter(name, help, labelnames), .labels(...).inc(value)
- gauges: Gauge(...), .labels(...).set(value)
- histograms: Histogram(..., buckets=<the same upper bounds>). prometheus_client has no API to
  set a histogram from bucket counts, so each child's per-bucket counts and sum are written into
  its value cells (the `_buckets[i]` and `_sum` attributes that observe() increments). Exposition
  then runs through the library's normal collect() path, which sums the buckets and renders them.
_created series are disabled (tokenmeter has none), so both expositions have the same sample lines.

Then it checks that generate_latest() gives the same samples (name, labels, value) as the input,
times generate_latest() in process, serves the registry with prometheus_client.start_http_server on
127.0.0.1:PORT and writes key=value facts to --ready (the caller waits for that file).
"""
import argparse
import os
import statistics
import sys
import threading
import time

os.environ.setdefault("PROMETHEUS_DISABLE_CREATED_SERIES", "True")

import prometheus_client  # noqa: E402
from prometheus_client import (  # noqa: E402
    CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest, start_http_server)
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402


def sample_lines(text):
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def sample_set(text):
    return {(s.name, tuple(sorted(s.labels.items())), s.value)
            for family in text_string_to_metric_families(text) for s in family.samples}


def build(text):
    registry = CollectorRegistry()
    for family in text_string_to_metric_families(text):
        if not family.samples:
            continue
        if family.type in ("counter", "gauge"):
            labelnames = list(family.samples[0].labels)
            kind = Counter if family.type == "counter" else Gauge
            metric = kind(family.name, family.documentation, labelnames, registry=registry)
            for sample in family.samples:
                child = metric.labels(**sample.labels) if labelnames else metric
                if family.type == "counter":
                    child.inc(sample.value)
                else:
                    child.set(sample.value)
        elif family.type == "histogram":
            groups = {}  # label values without le -> {"buckets": [(le, cumulative)], "sum", "count"}
            for sample in family.samples:
                labels = {k: v for k, v in sample.labels.items() if k != "le"}
                group = groups.setdefault(tuple(labels.items()), {"buckets": []})
                if sample.name.endswith("_bucket"):
                    group["buckets"].append((float(sample.labels["le"]), sample.value))
                elif sample.name.endswith("_sum"):
                    group["sum"] = sample.value
                elif sample.name.endswith("_count"):
                    group["count"] = sample.value
            first_key = next(iter(groups))
            labelnames = [k for k, _ in first_key]
            bounds = [le for le, _ in sorted(groups[first_key]["buckets"]) if le != float("inf")]
            metric = Histogram(family.name, family.documentation, labelnames, buckets=bounds, registry=registry)
            for key, group in groups.items():
                buckets = sorted(group["buckets"])
                if [le for le, _ in buckets if le != float("inf")] != bounds:
                    sys.exit(f"{family.name}: series with other bucket bounds")
                child = metric.labels(**dict(key)) if labelnames else metric
                previous = 0.0
                for i, (_, cumulative) in enumerate(buckets):
                    child._buckets[i].set(cumulative - previous)
                    previous = cumulative
                if previous != group["count"]:
                    sys.exit(f"{family.name}{dict(key)}: +Inf bucket {previous} != count {group['count']}")
                child._sum.set(group["sum"])
        else:
            sys.exit(f"{family.name}: type {family.type} not handled")
    return registry


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", required=True, help="a tokenmeter /metrics body")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--iterations", type=int, default=200, help="generate_latest() calls to time")
    parser.add_argument("--ready", required=True, help="file to write key=value facts to once serving")
    args = parser.parse_args()

    disable_created_metrics()
    with open(args.input) as f:
        source = f.read()
    registry = build(source)
    rendered = generate_latest(registry)
    text = rendered.decode()
    if sample_lines(text) != sample_lines(source):
        sys.exit(f"prometheus_client renders {sample_lines(text)} sample lines, tokenmeter {sample_lines(source)}")
    mismatch = sample_set(text) ^ sample_set(source)
    if mismatch:
        sys.exit(f"samples differ, e.g. {sorted(mismatch)[:4]}")

    for _ in range(10):  # warm-up
        generate_latest(registry)
    times = []
    for _ in range(args.iterations):
        start = time.perf_counter()
        generate_latest(registry)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()

    start_http_server(args.port, addr="127.0.0.1", registry=registry)
    facts = {
        "version": getattr(prometheus_client, "__version__", "") or _version(),
        "python": sys.version.split()[0],
        "series": sample_lines(text),
        "bytes": len(rendered),
        "identical_samples": "yes",
        "render_iterations": args.iterations,
        "render_median_ms": f"{statistics.median(times):.3f}",
        "render_p99_ms": f"{times[min(len(times) - 1, int(len(times) * 0.99))]:.3f}",
    }
    tmp = args.ready + ".tmp"
    with open(tmp, "w") as f:
        f.writelines(f"{k}={v}\n" for k, v in facts.items())
    os.replace(tmp, args.ready)
    threading.Event().wait()  # serve until the caller stops this process


def _version():
    from importlib.metadata import version
    return version("prometheus-client")


if __name__ == "__main__":
    main()
