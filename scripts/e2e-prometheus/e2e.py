#!/usr/bin/env python3
"""Helpers for scripts/e2e-prometheus.sh (standard library only).

Subcommands:
  free-port                              print a free loopback TCP port
  wait URL [--token T] [--timeout S]     wait until URL answers 200
  expect-status URL CODE [--token T]     fail unless URL answers CODE
  test-copy SRC DST --port P --token-file F
                                         copy prometheus/ to DST for the test: 1 s scrape and
                                         evaluation intervals, target 127.0.0.1:P, bearer token
                                         enabled, rule group intervals 1 s
  validate-dashboards DIR                structural checks of the Grafana JSON
  send URL --token T                     post a realistic mix of usage records in rounds
  check PROM_URL --dashboards DIR --expect-firing A,B
                                         run every rule and panel query through Prometheus
"""
import argparse
import datetime
import json
import os
import random
import re
import shutil
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def log(msg=""):
    print(msg, flush=True)


def fail(msg):
    print(f"e2e-prometheus: FAIL: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def http(method, url, body=None, token=None, timeout=10):
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


# ------------------------------------------------------------------ small commands

def cmd_free_port(_):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def cmd_wait(a):
    deadline = time.monotonic() + a.timeout
    last = None
    while time.monotonic() < deadline:
        try:
            code, _ = http("GET", a.url, token=a.token, timeout=2)
            if code == 200:
                return
            last = f"HTTP {code}"
        except (OSError, urllib.error.URLError) as e:
            last = str(e)
        time.sleep(0.3)
    fail(f"{a.url} did not answer 200 within {a.timeout:.0f} s (last: {last})")


def cmd_expect_status(a):
    code, body = http("GET", a.url, token=a.token)
    if code != a.code:
        fail(f"GET {a.url} answered {code}, expected {a.code}: {body[:200]}")


def replace_once(text, old, new, what):
    n = text.count(old)
    if n != 1:
        fail(f"test copy: expected exactly one '{old.strip()}' in {what}, found {n}")
    return text.replace(old, new)


def cmd_test_copy(a):
    if os.path.exists(a.dst):
        shutil.rmtree(a.dst)
    shutil.copytree(a.src, a.dst, ignore=shutil.ignore_patterns("tests"))
    cfg_path = os.path.join(a.dst, "prometheus.yml")
    cfg = open(cfg_path).read()
    cfg = replace_once(cfg, "  scrape_interval: 15s\n", "  scrape_interval: 1s\n", "prometheus.yml")
    cfg = replace_once(cfg, "  evaluation_interval: 30s\n", "  evaluation_interval: 1s\n", "prometheus.yml")
    cfg = replace_once(cfg, "    scrape_timeout: 10s\n", "    scrape_timeout: 1s\n", "prometheus.yml")
    cfg = replace_once(cfg, "    # authorization:\n", "    authorization:\n", "prometheus.yml")
    cfg = replace_once(cfg, "    #   type: Bearer\n", "      type: Bearer\n", "prometheus.yml")
    cfg = replace_once(cfg, "    #   credentials_file: /etc/prometheus/tokenmeter-metrics.token\n",
                       f"      credentials_file: {a.token_file}\n", "prometheus.yml")
    cfg = replace_once(cfg, "['127.0.0.1:9477']", f"['127.0.0.1:{a.port}']", "prometheus.yml")
    open(cfg_path, "w").write(cfg)
    changed = 0
    rules_dir = os.path.join(a.dst, "rules")
    for name in sorted(os.listdir(rules_dir)):
        path = os.path.join(rules_dir, name)
        text = open(path).read()
        text, n = re.subn(r"(?m)^(\s+)interval: \d+[smh]$", r"\1interval: 1s", text)
        changed += n
        open(path, "w").write(text)
    log(f"test copy: scrape and evaluation every 1 s, target 127.0.0.1:{a.port}, bearer token from "
        f"{os.path.basename(a.token_file)}, {changed} rule group intervals set to 1 s")


# ------------------------------------------------------------------ dashboards

DIMENSION_VARS = ("service", "operation", "provider", "model")


def load_dashboards(directory):
    out = []
    for name in sorted(os.listdir(directory)):
        if name.endswith(".json"):
            with open(os.path.join(directory, name)) as f:
                try:
                    out.append((name, json.load(f)))
                except json.JSONDecodeError as e:
                    fail(f"{name}: not valid JSON: {e}")
    if not out:
        fail(f"no dashboards in {directory}")
    return out


def all_panels(dash):
    for p in dash.get("panels", []):
        yield p
        for inner in p.get("panels", []) or []:
            yield inner


def cmd_validate_dashboards(a):
    problems = []
    uids = {}
    for name, d in load_dashboards(a.dir):
        def bad(msg):
            problems.append(f"{name}: {msg}")
        for key in ("uid", "title", "schemaVersion", "panels", "templating"):
            if key not in d:
                bad(f"missing '{key}'")
        uid = d.get("uid", "")
        if not re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", uid or ""):
            bad(f"uid '{uid}' is not a stable id of at most 40 characters")
        if uid in uids:
            bad(f"uid '{uid}' also used by {uids[uid]}")
        uids[uid] = name
        if not isinstance(d.get("schemaVersion"), int) or d["schemaVersion"] < 36:
            bad(f"schemaVersion {d.get('schemaVersion')} < 36")
        if d.get("id") is not None:
            bad("id must be null in a provisioned dashboard")
        variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
        ds = variables.get("datasource")
        if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
            bad("no 'datasource' template variable of type datasource, query prometheus")
        for vname, v in variables.items():
            if v.get("type") == "query":
                if v.get("datasource", {}).get("uid") != "${datasource}":
                    bad(f"variable {vname}: datasource is not ${{datasource}}")
                if not isinstance(v.get("query"), str) or not v["query"].startswith("label_values("):
                    bad(f"variable {vname}: query is not label_values(...)")
        ids = set()
        for p in all_panels(d):
            pid = p.get("id")
            if pid in ids:
                bad(f"panel id {pid} used twice")
            ids.add(pid)
            if "gridPos" not in p:
                bad(f"panel {p.get('title')}: no gridPos")
            if p.get("type") == "row":
                continue
            title = p.get("title", "?")
            if p.get("datasource") != {"type": "prometheus", "uid": "${datasource}"}:
                bad(f"panel '{title}': datasource is not the ${{datasource}} variable")
            targets = p.get("targets") or []
            if not targets:
                bad(f"panel '{title}': no targets")
            refs = set()
            for t in targets:
                if not t.get("expr", "").strip():
                    bad(f"panel '{title}': target {t.get('refId')} has no expr")
                if t.get("refId") in refs:
                    bad(f"panel '{title}': refId {t.get('refId')} twice")
                refs.add(t.get("refId"))
                if t.get("datasource", {}).get("uid") != "${datasource}":
                    bad(f"panel '{title}': target {t.get('refId')} datasource is not ${{datasource}}")
                for var in re.findall(r"\$\{?([a-zA-Z_]\w*)", t.get("expr", "")):
                    if not var.startswith("__") and var not in variables:
                        bad(f"panel '{title}': ${var} is not a template variable")
        used = " ".join(t.get("expr", "") for p in all_panels(d) for t in p.get("targets", []) or [])
        for var in DIMENSION_VARS:
            if f"${var}" in used and var not in variables:
                bad(f"uses ${var} without defining it")
    if problems:
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        fail(f"{len(problems)} dashboard problem(s)")
    log(f"dashboards: {len(uids)} files valid (JSON, unique uids {', '.join(sorted(uids))}, schemaVersion >= 36, "
        "every panel on ${datasource} with PromQL targets)")


# ------------------------------------------------------------------ records

SERVICES = [
    # service, operation, provider, model, input, output, credits
    ("bot", "chat", "openai", "gpt-4o-mini", 1200, 400, 1),
    ("bot", "chat", "openai", "gpt-4o", 2500, 600, 3),
    ("api", "summarize", "anthropic", "claude-3-5-sonnet", 6000, 800, 5),
    ("api", "embed", "openai", "text-embedding-3-small", 3000, 0, 0),
    ("search", "rerank", "google", "gemini-2.0-flash", 4000, 200, 1),
    ("research", "agent", "openai", "o4-mini", 8000, 3000, 8),
    ("research", "agent", "anthropic", "claude-opus-4", 10000, 2000, 20),
    ("lab", "classify", "custom", "my-private-model", 500, 20, 1),   # unpriced
]


def make_record(rng, rid, spec, status="success"):
    service, operation, provider, model, inp, out, credits = spec
    r = {"id": rid, "service": service, "operation": operation, "provider": provider, "model": model,
         "input_tokens": int(inp * rng.uniform(0.5, 1.5)), "output_tokens": int(out * rng.uniform(0.5, 1.5)),
         "duration_ms": int(rng.lognormvariate(6.5, 0.8)), "user_id": f"u{rng.randint(1, 25)}",
         "status": status}
    if provider in ("openai", "google") and r["input_tokens"] > 1000:
        r["cached_input_tokens"] = int(r["input_tokens"] * rng.uniform(0.1, 0.5))
    if provider == "anthropic":
        r["cache_write_tokens"] = int(r["input_tokens"] * 0.2)
        r["cached_input_tokens"] = int(r["input_tokens"] * 0.3)
    if model in ("o4-mini", "claude-opus-4") and r["output_tokens"]:
        r["reasoning_tokens"] = int(r["output_tokens"] * 0.6)
    if credits:
        r["credits"] = credits
    if status == "error":
        r["error_type"] = rng.choice(["RateLimitError", "APITimeoutError"])
        r["output_tokens"] = 0
        r.pop("reasoning_tokens", None)
    return r


def cmd_send(a):
    rng = random.Random(6)
    url = a.url.rstrip("/") + "/v1/usage"
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    sent_ids = []
    start = time.monotonic()
    for rnd in range(a.rounds):
        batch = []
        for i in range(rng.randint(25, 40)):
            spec = rng.choice(SERVICES)
            status = "error" if rng.random() < 0.08 else "success"
            batch.append(make_record(rng, f"r{rnd}-{i}", spec, status))
        for i, r in enumerate(batch):   # units of work: the resource_type panels
            if i % 3 == 0:
                r["pipeline_run_id"] = f"run-{rnd}-{i % 2}"
            elif i % 3 == 1 and r["service"] == "bot":
                r["session_id"] = f"s-{i % 4}"
        batch.append({"id": f"wf{rnd}", "service": "automation", "operation": "workflow_execution", "category": "other",
                      "credits": 0.001, "resource_type": "workflow", "resource_id": f"w-{rnd % 3}"})  # no model
        if rnd % 2 == 1:   # records the ingest API must reject
            batch.append({"id": f"bad{rnd}-1", "service": "bot", "model": "gpt-4o-mini", "provider": "openai",
                          "input_tokens": 10, "output_tokens": 5})                     # no operation
            batch.append({"id": f"bad{rnd}-2", "service": "bot", "operation": "chat", "model": "gpt-4o-mini",
                          "provider": "openai", "input_tokens": 10, "output_tokens": 5,
                          "reasoning_tokens": 50})                                     # reasoning > output
        if rnd >= 2:       # a client retrying: duplicates
            batch.extend(r for r in sent_ids[:3])
        if rnd == 2:       # calls still running: pending
            for pid in ("pending-1", "pending-2"):
                batch.append({"id": pid, "service": "bot", "operation": "chat", "provider": "openai",
                              "model": "gpt-4o", "status": "pending", "user_id": "u3"})
        if rnd == 3:       # Anthropic web searches: a usage field tokenmeter does not price
            batch.append({"id": "search-1", "service": "research", "operation": "agent", "model": "claude-opus-4",
                          "usage": {"input_tokens": 900, "output_tokens": 200, "cache_read_input_tokens": 0,
                                    "server_tool_use": {"web_search_requests": 3, "web_fetch_requests": 0}}})
        if rnd == a.rounds - 3:   # a client putting ids into the operation label: overflow
            for j in range(12):
                batch.append(make_record(rng, f"ovf{j}", ("batch", f"job-{j:04d}", "openai", "gpt-4o-mini", 300, 50, 0)))
        code, body = http("POST", url, batch, token=a.token)
        if code not in (200, 400):
            fail(f"POST /v1/usage answered {code}: {body[:300]}")
        summary = json.loads(body)
        for k in totals:
            totals[k] += summary.get(k, 0)
        sent_ids.extend(r for r in batch[:5] if r["id"].startswith("r"))
        if rnd == 4:       # one pending call completes
            code, body = http("PATCH", a.url.rstrip("/") + "/v1/usage/pending-1",
                              {"status": "success", "input_tokens": 900, "output_tokens": 300, "duration_ms": 2400},
                              token=a.token)
            if code != 200:
                fail(f"PATCH /v1/usage/pending-1 answered {code}: {body[:300]}")
        if rnd < a.rounds - 1:
            time.sleep(max(0.0, start + (rnd + 1) * a.interval - time.monotonic()))
    log(f"records: {a.rounds} rounds over {time.monotonic() - start:.0f} s: {totals['accepted']} accepted, "
        f"{totals['duplicates']} duplicates, {totals['rejected']} rejected; 1 call left pending, 12 extra operation "
        "values (some over max_label_values: __other__)")
    if totals["accepted"] == 0 or totals["rejected"] == 0 or totals["duplicates"] == 0:
        fail(f"unexpected ingest totals {totals}")


# ------------------------------------------------------------------ checks against Prometheus

# Grafana's built-in variables, as they would be for a "last 1 hour" dashboard; template
# variables become ".*" (All). Range targets run as range queries over the last 4 minutes (step
# 5 s), instant targets as instant queries at now.
SUBSTITUTIONS = [("$__rate_interval", "1m"), ("${__rate_interval}", "1m"), ("$__range", "1h"),
                 ("${__range}", "1h"), ("$__interval", "15s"), ("${__interval}", "15s")]
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or", "unless"}
SELECTOR = re.compile(r'(?<![\w:"\.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^{}]*\})?(?!\s*\()')


class Prom:
    def __init__(self, base):
        self.base = base.rstrip("/")

    def get(self, path, **params):
        url = f"{self.base}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        code, body = http("GET", url, timeout=30)
        try:
            doc = json.loads(body)
        except json.JSONDecodeError:
            return {"status": "error", "error": f"HTTP {code}: {body[:200]}"}
        return doc

    def query_range(self, expr, seconds=240, step=5):
        end = time.time()
        doc = self.get("/api/v1/query_range", query=expr, start=f"{end - seconds:.3f}", end=f"{end:.3f}", step=str(step))
        if doc.get("status") != "success":
            return None, doc.get("error", "unknown error")
        return [r for r in doc["data"]["result"] if r.get("values")], None

    def query(self, expr, at=None):
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        doc = self.get("/api/v1/query", **params)
        if doc.get("status") != "success":
            return None, doc.get("error", "unknown error")
        data = doc["data"]
        result = data["result"]
        if data["resultType"] == "scalar":
            result = [result]
        return result, None


def substitute(expr, variables):
    for k, v in SUBSTITUTIONS:
        expr = expr.replace(k, v)
    for name in sorted(variables, key=len, reverse=True):
        expr = expr.replace("${" + name + "}", ".*").replace("$" + name, ".*")
    if "$" in expr:
        raise ValueError(f"unsubstituted variable in {expr}")
    return expr


def series_selectors(expr):
    """Metric selectors an expression reads: tokenmeter metrics, recorded series, up, scrape_*, ALERTS."""
    out = []
    for m in SELECTOR.finditer(expr):
        name, matchers = m.group(1), m.group(2) or ""
        if name in KEYWORDS:
            continue
        if name.startswith("tokenmeter") or ":" in name or name in ("up", "ALERTS") or name.startswith("scrape_"):
            sel = name + matchers
            if sel not in out:
                out.append(sel)
    return out


def nonempty_with_retry(prom, expr, deadline, at_offset=0.0, as_range=False):
    """Evaluate until non-empty or deadline: (result, error). as_range: over the last 4 minutes,
    as Grafana runs a time series panel's query, instead of an instant query at now."""
    started = time.monotonic()
    while True:
        at = time.time() + at_offset if at_offset else None
        result, err = prom.query_range(expr) if as_range else prom.query(expr, at)
        if err or result or time.monotonic() >= deadline:
            waited = time.monotonic() - started
            if waited > 5:
                log(f"       (waited {waited:.0f} s for data: {expr[:100]})")
            return result, err
        time.sleep(1)


def cmd_check(a):
    prom = Prom(a.prom)
    failures = []
    t0 = time.monotonic()
    deadline = t0 + a.timeout

    # Target scraped with the bearer token?
    while True:
        doc = prom.get("/api/v1/targets")
        active = [t for t in doc.get("data", {}).get("activeTargets", []) if t["labels"].get("job") == "tokenmeter"]
        if active and all(t["health"] == "up" for t in active):
            break
        if time.monotonic() >= deadline:
            fail(f"tokenmeter target not up: {[(t['scrapeUrl'], t['health'], t['lastError']) for t in active]}")
        time.sleep(1)
    log(f"target: {active[0]['scrapeUrl']} up (scraped with the bearer token)")

    # Wait until the last round of records is scraped and the rules have evaluated over it.
    settle = 'sum(tokenmeter_label_overflow_total) > 0 and on() count(tokenmeter:cost_usd:rate5m) > 0 ' \
             'and on() count(job:tokenmeter_cost_usd:increase30d) > 0'
    result, err = nonempty_with_retry(prom, settle, deadline)
    if err or not result:
        fail(f"data did not settle in Prometheus within {a.timeout} s ({err or 'empty'})")

    names_doc = prom.get("/api/v1/label/__name__/values")
    known = set(names_doc.get("data", []))

    # ---- rules, as Prometheus loaded them
    rules_doc = prom.get("/api/v1/rules")
    groups = rules_doc.get("data", {}).get("groups", [])
    rules = [(g["name"], r) for g in groups for r in g["rules"]]
    if not rules:
        fail("Prometheus loaded no rules")
    recorded = {r["name"] for _, r in rules if r["type"] == "recording"}
    known |= recorded
    history = set()      # recorded series that need days of history
    log()
    log(f"rules: {len(rules)} loaded in {len(groups)} groups "
        f"({len(recorded)} recording, {len(rules) - len(recorded)} alerting)")
    for group, r in rules:
        if r["type"] != "recording":
            continue
        name, expr = r["name"], r["query"]
        how = "now"
        if re.search(r"offset\s+\d+d", expr):
            # Reads days-old data, which a fresh Prometheus does not have: must be empty now, and
            # is evaluated one day ahead, where `offset 1d` reads the samples scraped just now.
            now_result, err = prom.query(expr)
            if not err:
                result, err = nonempty_with_retry(prom, expr, deadline, at_offset=86400)
            how = (f"at now+1d: offset 1d reads the data just scraped ({len(now_result or [])} series now; "
                   "needs 1 day of history in production)")
            history.add(name)
        else:
            result, err = nonempty_with_retry(prom, expr, deadline)
        if err:
            failures.append(f"recording rule {name}: invalid: {err}")
            log(f"  FAIL record {name}: {err}")
            continue
        if not result:
            failures.append(f"recording rule {name}: no data")
            log(f"  FAIL record {name}: expression returned no data")
            continue
        if name not in history:
            stored, err2 = nonempty_with_retry(prom, name, deadline)
            if err2 or not stored:
                failures.append(f"recording rule {name}: recorded series missing")
                log(f"  FAIL record {name}: expression has data but the recorded series is missing")
                continue
        if r.get("health") not in ("ok", "unknown") or r.get("lastError"):
            failures.append(f"recording rule {name}: health {r.get('health')} {r.get('lastError')}")
        log(f"  ok   record {name}: {len(result)} series, evaluated {how}")

    firing_now = {}
    for group, r in rules:
        if r["type"] != "alerting":
            continue
        name, expr = r["name"], r["query"]
        result, err = prom.query(expr)
        if err:
            failures.append(f"alert {name}: invalid: {err}")
            log(f"  FAIL alert  {name}: {err}")
            continue
        missing, notes = [], []
        for sel in series_selectors(expr):
            base = sel.split("{")[0]
            if base not in known:
                missing.append(f"{sel} (no such metric or recording rule)")
                continue
            if base in history:
                notes.append(f"{base} needs history (definition checked at now+1d)")
                continue
            got, err2 = nonempty_with_retry(prom, f"count({sel})", deadline)
            if err2 or not got:
                missing.append(sel)
        if missing:
            failures.append(f"alert {name}: inputs without data: {', '.join(missing)}")
            log(f"  FAIL alert  {name}: inputs without data: {', '.join(missing)}")
            continue
        if r.get("health") not in ("ok", "unknown") or r.get("lastError"):
            failures.append(f"alert {name}: health {r.get('health')} {r.get('lastError')}")
        n_inputs = len(series_selectors(expr))
        state = f"condition true for {len(result)} series now" if result else "condition false now (silent)"
        log(f"  ok   alert  {name}: valid, all {n_inputs} input selectors have data; {state}"
            + (f"; {'; '.join(notes)}" if notes else ""))
        firing_now[name] = r.get("state")

    # ---- alerts that must be firing after the record mix (no `for`, conditions met)
    expected = [x for x in a.expect_firing.split(",") if x]
    while True:
        doc = prom.get("/api/v1/alerts")
        alerts = doc.get("data", {}).get("alerts", [])
        firing = sorted({al["labels"]["alertname"] for al in alerts if al["state"] == "firing"})
        pending = sorted({al["labels"]["alertname"] for al in alerts if al["state"] == "pending"})
        if all(e in firing for e in expected) or time.monotonic() >= deadline:
            break
        time.sleep(1)
    log(f"alerts firing in Prometheus: {', '.join(firing) or 'none'}; pending (waiting for `for`): {', '.join(pending) or 'none'}")
    for e in expected:
        if e not in firing:
            failures.append(f"alert {e} expected firing after the record mix, state: "
                            f"{'pending' if e in pending else 'inactive'}")

    # ---- dashboards
    log()
    summary = []
    for fname, d in load_dashboards(a.dashboards):
        variables = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
        total = ok = 0
        for vname, v in variables.items():
            if v.get("type") != "query":
                continue
            m = re.fullmatch(r"label_values\((.*),\s*([a-zA-Z_]\w*)\)", v["query"].strip())
            total += 1
            if not m:
                failures.append(f"{fname}: variable {vname}: cannot read {v['query']}")
                continue
            expr = f"count by ({m.group(2)}) ({substitute(m.group(1), variables)})"
            result, err = nonempty_with_retry(prom, expr, deadline)
            if err or not result:
                failures.append(f"{fname}: variable {vname}: {err or 'no values'} ({expr})")
                log(f"  FAIL {d['title']}: variable ${vname}: {err or 'no values'}")
            else:
                ok += 1
        var_total, var_ok = total, ok
        total = ok = 0
        panels_ok = panels = 0
        for p in all_panels(d):
            if p.get("type") == "row":
                continue
            panels += 1
            panel_ok = True
            for t in p.get("targets", []):
                total += 1
                expr = substitute(t["expr"], variables)
                result, err = nonempty_with_retry(prom, expr, deadline, as_range=not t.get("instant"))
                if err or not result:
                    panel_ok = False
                    why = f"invalid: {err}" if err else "no data"
                    failures.append(f"{fname}: panel '{p['title']}' {t['refId']}: {why}: {expr}")
                    log(f"  FAIL {d['title']}: panel '{p['title']}' query {t['refId']}: {why}\n       {expr}")
                else:
                    ok += 1
            panels_ok += panel_ok
        line = (f"dashboard \"{d['title']}\" ({fname}): {ok}/{total} panel queries returned data "
                f"({panels_ok}/{panels} panels), {var_ok}/{var_total} template variables have values")
        summary.append(line)
        log(line)

    log()
    if failures:
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        fail(f"{len(failures)} check(s) failed")
    log(f"checks: all rule expressions valid with data, all dashboard queries returned data "
        f"({time.monotonic() - t0:.0f} s)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("free-port").set_defaults(fn=cmd_free_port)
    p = sub.add_parser("wait"); p.add_argument("url"); p.add_argument("--token"); p.add_argument("--timeout", type=float, default=30)
    p.set_defaults(fn=cmd_wait)
    p = sub.add_parser("expect-status"); p.add_argument("url"); p.add_argument("code", type=int); p.add_argument("--token")
    p.set_defaults(fn=cmd_expect_status)
    p = sub.add_parser("test-copy"); p.add_argument("src"); p.add_argument("dst"); p.add_argument("--port", required=True)
    p.add_argument("--token-file", required=True); p.set_defaults(fn=cmd_test_copy)
    p = sub.add_parser("validate-dashboards"); p.add_argument("dir"); p.set_defaults(fn=cmd_validate_dashboards)
    p = sub.add_parser("send"); p.add_argument("url"); p.add_argument("--token", required=True)
    p.add_argument("--rounds", type=int, default=9); p.add_argument("--interval", type=float, default=2.0)
    p.set_defaults(fn=cmd_send)
    p = sub.add_parser("check"); p.add_argument("prom"); p.add_argument("--dashboards", required=True)
    p.add_argument("--expect-firing", default=""); p.add_argument("--timeout", type=float, default=90)
    p.set_defaults(fn=cmd_check)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
