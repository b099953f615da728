"""Usage attributed to units of work (resource_type / resource_id / tags) and metered actions without a
model, through the real binary: /v1/usage in, /v1/resources/{type}/{id}/usage, /v1/reports/summary
(JSON and CSV), the CLI report and /metrics out, every figure checked against the raw records."""

from __future__ import annotations

import csv
import io
import json
import random
import subprocess
import time
from datetime import datetime, timedelta, timezone

from conftest import binary_path, family, http_request, metrics_for, post_usage, query_db


def rfc3339(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def get_json(port: int, path: str):
    r = http_request(port, "GET", path)
    assert r.status == 200, r
    return r.json()


def start(server_factory, tmp_path, credits=None):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"credits_per_operation": credits or {"workflow_execution": 0.001}}))
    return server_factory(extra_args=["--config", str(config)]).start()


def commission_pipeline(run: str, now: datetime) -> list[dict]:
    """Three chat calls and one image call under one pipeline run, and a credits-only workflow action."""
    t = now - timedelta(minutes=10)
    calls = [
        {"id": f"{run}-brief", "operation": "commission_brief", "model": "gpt-4o-mini", "user_id": "artist-7",
         "input_tokens": 1200, "output_tokens": 350, "duration_ms": 1800, "credits": 1, "timestamp": rfc3339(t)},
        {"id": f"{run}-prompt", "operation": "commission_prompt", "model": "gpt-4o", "user_id": "artist-7",
         "usage": {"prompt_tokens": 900, "completion_tokens": 120, "prompt_tokens_details": {"cached_tokens": 300}},
         "duration_ms": 2400, "timestamp": rfc3339(t + timedelta(seconds=3))},
        {"id": f"{run}-review", "operation": "commission_review", "model": "claude-sonnet-4", "user_id": "artist-7",
         "input_tokens": 2000, "output_tokens": 500, "duration_ms": 3100, "timestamp": rfc3339(t + timedelta(seconds=40))},
        {"id": f"{run}-image", "operation": "commission_render", "model": "dall-e-3", "category": "image_gen",
         "units": {"images": 1}, "user_id": "artist-7", "duration_ms": 9000, "credits": 10,
         "timestamp": rfc3339(t + timedelta(seconds=9))},
    ]
    for call in calls:
        call["pipeline_run_id"] = run
        call["tags"] = {"env": "prod", "app": "commissions"}
    workflow = {"id": f"{run}-wf", "operation": "workflow_execution", "category": "other", "user_id": "artist-7",
                "resource_type": "pipeline_run", "resource_id": run, "timestamp": rfc3339(t + timedelta(seconds=50)),
                "tags": {"env": "prod"}}
    return calls + [workflow]


def test_pipeline_run_report_equals_the_sum_of_its_calls(server_factory, tmp_path):
    server = start(server_factory, tmp_path)
    now = datetime.now(timezone.utc)
    records = commission_pipeline("8812", now) + commission_pipeline("8813", now)
    r = post_usage(server.port, records)
    assert r.status == 200 and r.json()["accepted"] == len(records), r

    rows = query_db(server.db_path, """SELECT id, model, cost_nano, credits_micro, input_tokens + cached_input_tokens
        + cache_write_tokens + output_tokens, ts, duration_us, unpriced, cost_source FROM usage_records
        WHERE resource_type = 'pipeline_run' AND resource_id = '8812'""")
    assert len(rows) == 5
    by_id = {row[0]: row for row in rows}
    assert all(row[7] == 0 for row in rows), "no call of the run is unpriced"
    wf = by_id["8812-wf"]
    assert wf[1] == "" and wf[2] == 0 and wf[3] == 1000 and wf[4] == 0 and wf[8] == "metered"
    cost = sum(row[2] for row in rows)
    credits = sum(row[3] for row in rows)
    tokens = sum(row[4] for row in rows)
    assert cost > 0

    run = get_json(server.port, "/v1/resources/pipeline_run/8812/usage")
    assert run["cost_nano_usd"] == cost and run["totals"]["cost_nano_usd"] == cost
    assert round(run["credits"] * 1_000_000) == credits == 11_001_000
    assert run["totals"]["requests"] == 5 and run["totals"]["total_tokens"] == tokens
    assert run["totals"]["unpriced_requests"] == 0
    assert {m["model"]: m["requests"] for m in run["by_model"]} == {
        "gpt-4o-mini": 1, "gpt-4o": 1, "claude-sonnet-4": 1, "dall-e-3": 1, "": 1}
    assert sum(m["cost_nano_usd"] for m in run["by_model"]) == cost
    model_cost = {m["model"]: m["cost_nano_usd"] for m in run["by_model"]}
    assert model_cost == {row[1]: row[2] for row in rows}
    ops = {o["operation"]: o for o in run["by_operation"]}
    assert set(ops) == {"commission_brief", "commission_prompt", "commission_review", "commission_render", "workflow_execution"}
    assert ops["workflow_execution"]["credits"] == 0.001 and ops["workflow_execution"]["total_tokens"] == 0
    first = min(row[5] for row in rows)
    last_end = max(row[5] + (row[6] or 0) / 1000 for row in rows)
    assert run["first_call_at"] == rfc3339(datetime.fromtimestamp(first / 1000, timezone.utc))
    assert run["wall_span_ms"] == round(last_end - first) == 50_000
    assert run["users"] == ["artist-7"] and run["user_count"] == 1

    # The same figure grouped by resource, in JSON and CSV, and from the CLI.
    summary = get_json(server.port, "/v1/reports/summary?range=24h&group_by=resource&resource_type=pipeline_run")
    group = next(g for g in summary["groups"] if g["key"]["resource"] == "pipeline_run/8812")
    assert group["key"]["resource_type"] == "pipeline_run" and group["key"]["resource_id"] == "8812"
    assert group["cost_nano_usd"] == cost and group["requests"] == 5
    text = http_request(server.port, "GET", "/v1/reports/summary?range=24h&group_by=resource&format=csv").text
    csv_row = next(row for row in csv.DictReader(io.StringIO(text)) if row["resource"] == "pipeline_run/8812")
    assert int(csv_row["cost_nano_usd"]) == cost
    run_csv = dict(csv.reader(io.StringIO(http_request(server.port, "GET", "/v1/resources/pipeline_run/8812/usage?format=csv").text)))
    assert int(run_csv["cost_nano_usd"]) == cost and run_csv["users.0"] == "artist-7" and run_csv["by_model.4.model"] == ""
    cli = subprocess.run([binary_path(), "report", "--db", str(server.db_path), "--range", "24h", "--group-by", "resource",
                          "--resource-type", "pipeline_run", "--limit", "10", "--format", "json"],
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    cli_group = next(g for g in json.loads(cli.stdout)["groups"] if g["key"]["resource"] == "pipeline_run/8812")
    assert cli_group["cost_nano_usd"] == cost

    # Tags filter raw records: the workflow action has only env=prod.
    tagged = get_json(server.port, "/v1/reports/summary?range=24h&tag.app=commissions&resource=pipeline_run/8812")
    assert tagged["totals"]["requests"] == 4 and tagged["totals"]["cost_nano_usd"] == cost
    both = get_json(server.port, "/v1/reports/summary?range=24h&tag.env=prod&tag.app=commissions")
    assert both["totals"]["requests"] == 8
    assert get_json(server.port, "/v1/reports/summary?range=24h&resource_id=8813")["totals"]["requests"] == 5

    # Metrics: the credits-only action counts in requests and credits (empty model), never in tokens or unpriced.
    samples = metrics_for(server.port)
    requests = {frozenset(k): v for k, v in family(samples, "tokenmeter_requests_total").items()}
    empty_model = [v for k, v in requests.items() if dict(k).get("model") == "" and dict(k).get("operation") == "workflow_execution"
                   and dict(k).get("status") == "success"]
    assert empty_model == [2.0]
    assert all(v == 0 for k, v in family(samples, "tokenmeter_tokens_total").items() if dict(k).get("model") == "")
    assert not any(dict(k).get("model") == "" for k in family(samples, "tokenmeter_unpriced_requests_total"))
    credits_empty = [v for k, v in family(samples, "tokenmeter_credits_total").items() if dict(k).get("model") == ""]
    assert credits_empty == [0.002]
    resource_cost = {dict(k)["resource_type"]: v for k, v in family(samples, "tokenmeter_resource_cost_usd_total").items()}
    all_cost = query_db(server.db_path, "SELECT sum(cost_nano) FROM usage_records WHERE resource_type = 'pipeline_run'")[0][0]
    assert abs(resource_cost["pipeline_run"] - all_cost / 1e9) < 1e-9
    assert not any(v > 0 for v in family(samples, "tokenmeter_label_overflow_total").values()), "no label overflow"

    # A run never seen: 404 naming it. A metered action with nothing to charge: rejected, saying what is missing.
    missing = http_request(server.port, "GET", "/v1/resources/pipeline_run/nope/usage")
    assert missing.status == 404 and "pipeline_run/nope" in missing.json()["error"]
    bad = post_usage(server.port, {"operation": "youtube_sync", "category": "other"})
    assert bad.status == 400
    assert "needs credits or cost_usd" in bad.json()["errors"][0]["error"]


def test_top_ten_runs_by_cost_over_a_week_equal_a_brute_force_sort(server_factory, tmp_path):
    server = start(server_factory, tmp_path)
    rng = random.Random(21)
    now = datetime.now(timezone.utc)
    records = []
    for run in range(40):
        twin = run % 8 == 0  # runs 0, 8, 16…: identical calls, so equal cost and requests: a tie
        calls = 2 if twin else rng.randint(1, 5)
        for i in range(calls):
            model = "gpt-4o-mini" if twin else rng.choice(["gpt-4o-mini", "gpt-4o", "claude-sonnet-4"])
            records.append({
                "id": f"run{run}-{i}", "operation": "commission", "model": model, "pipeline_run_id": f"r{run:02d}",
                "input_tokens": 1000 if twin else rng.randint(100, 20000), "output_tokens": 100 if twin else rng.randint(10, 3000),
                "timestamp": rfc3339(now - timedelta(seconds=rng.randint(60, 6 * 86400))),
            })
    # Sessions and calls without a resource, which the filter leaves out; one run older than the week.
    records += [{"id": f"s{i}", "operation": "chat", "model": "gpt-4o", "session_id": f"s{i % 3}", "input_tokens": 50000,
                 "timestamp": rfc3339(now - timedelta(hours=i))} for i in range(6)]
    records += [{"id": "plain", "operation": "chat", "model": "gpt-4o", "input_tokens": 99999}]
    records += [{"id": "old", "operation": "commission", "model": "gpt-4o", "pipeline_run_id": "r-old",
                 "input_tokens": 900000, "timestamp": rfc3339(now - timedelta(days=8))}]
    r = post_usage(server.port, records, ndjson=True)
    assert r.status == 200 and r.json()["accepted"] == len(records), r

    start_at = now - timedelta(days=7)
    end_at = now + timedelta(minutes=1)
    rows = query_db(server.db_path, """SELECT resource_type, resource_id, cost_nano FROM usage_records
        WHERE resource_type = 'pipeline_run' AND status != 'pending' AND ts >= ? AND ts < ?""",
                    (int(start_at.timestamp() * 1000), int(end_at.timestamp() * 1000)))
    runs: dict[str, list[int]] = {}
    for rtype, rid, cost in rows:
        entry = runs.setdefault(f"{rtype}/{rid}", [0, 0])
        entry[0] += cost
        entry[1] += 1
    expected = sorted(runs.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))[:10]
    ties = [k for k, v in runs.items() if sum(1 for w in runs.values() if w == v) > 1]
    assert len(ties) >= 5, "the fixture has tied runs"

    from urllib.parse import quote
    query = (f"/v1/reports/summary?from={quote(rfc3339(start_at))}&to={quote(rfc3339(end_at))}"
             "&group_by=resource&resource_type=pipeline_run&limit=10")
    summary = get_json(server.port, query)
    top = [g for g in summary["groups"] if not g.get("other")]
    assert [(g["key"]["resource"], g["cost_nano_usd"], g["requests"]) for g in top] == \
        [(k, v[0], v[1]) for k, v in expected]
    other = [g for g in summary["groups"] if g.get("other")]
    assert other and other[0]["cost_nano_usd"] == sum(v[0] for v in runs.values()) - sum(v[0] for _, v in expected)
    assert summary["totals"]["cost_nano_usd"] == sum(v[0] for v in runs.values())

    # Ties among the tail, ranked the same way when every run is shown.
    everything = get_json(server.port, query.replace("limit=10", "limit=100"))
    assert [g["key"]["resource"] for g in everything["groups"]] == \
        [k for k, _ in sorted(runs.items(), key=lambda kv: (-kv[1][0], -kv[1][1], kv[0]))]

    # The CLI command of the README gives the same ten.
    cli = subprocess.run([binary_path(), "report", "--db", str(server.db_path), "--from", rfc3339(start_at), "--to", rfc3339(end_at),
                          "--group-by", "resource", "--resource-type", "pipeline_run", "--limit", "10", "--format", "json"],
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert [g["key"]["resource"] for g in json.loads(cli.stdout)["groups"] if not g.get("other")] == [k for k, _ in expected]

    # group_by=resource_type comes from the rollups and equals the raw records too.
    by_type = get_json(server.port, f"/v1/reports/summary?from={quote(rfc3339(start_at))}&to={quote(rfc3339(end_at))}&group_by=resource_type")
    raw = dict(query_db(server.db_path, """SELECT coalesce(resource_type, ''), sum(cost_nano) FROM usage_records
        WHERE ts >= ? AND ts < ? GROUP BY 1""", (int(start_at.timestamp() * 1000), int(end_at.timestamp() * 1000))))
    assert {g["key"]["resource_type"]: g["cost_nano_usd"] for g in by_type["groups"]} == raw


def test_credits_per_operation_change_at_run_time_and_survive_a_restart(server_factory, tmp_path):
    server = start(server_factory, tmp_path)
    action = {"operation": "workflow_execution", "category": "other", "resource_type": "workflow", "resource_id": "w-1"}

    def charged(record_id: str) -> int:
        r = post_usage(server.port, dict(action, id=record_id))
        assert r.status == 200 and r.json()["accepted"] == 1, r
        return query_db(server.db_path, "SELECT credits_micro FROM usage_records WHERE id = ?", (record_id,))[0][0]

    assert charged("a") == 1000
    assert get_json(server.port, "/v1/credits") == {"credits_per_operation": {"workflow_execution": 0.001}, "changed": {}}
    put = http_request(server.port, "PUT", "/v1/credits/workflow_execution", b'{"credits": 0.25}',
                       {"Content-Type": "application/json"})
    assert put.status == 200 and put.json()["credits_per_operation"] == {"workflow_execution": 0.25}, put
    assert charged("b") == 250_000
    bad = http_request(server.port, "PUT", "/v1/credits/workflow_execution", b'{"credits": -1}', {"Content-Type": "application/json"})
    assert bad.status == 400 and "credits" in bad.json()["error"]

    server.stop()
    server.start()
    assert charged("c") == 250_000, "the run-time change is persisted"
    assert http_request(server.port, "DELETE", "/v1/credits/workflow_execution").status == 200
    assert charged("d") == 1000, "back to the configuration file's value"
    assert http_request(server.port, "DELETE", "/v1/credits/workflow_execution").status == 404
    assert round(get_json(server.port, "/v1/resources/workflow/w-1/usage")["credits"] * 1_000_000) == 502_000
