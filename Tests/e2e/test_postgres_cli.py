"""`tokenmeter prices set|import|update` and `tokenmeter ingest` on a PostgreSQL store (issue 19).

Price changes made by the CLI reach a running `serve` instance within its price poll, as a change
over HTTP does; `ingest` goes through the store's one write path (idempotent by id), counts the
records under the instance `--instance` names, and gives the same reports as the same file
ingested into SQLite.

Needs TOKENMETER_TEST_PG (`eval "$(scripts/pg start)"`): skipped without it, failed without it under CI=true.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest

from conftest import PG_URL, run_cli, REPO_ROOT, Server, binary_path, family_sum, http_request, metrics_for, post_usage, query_db, postgres_marks
from test_postgres_instances import database, instance, psql  # noqa: F401  (the fixture and helpers)

pytestmark = postgres_marks()


def run(*args, env=None, check=True):
    return run_cli(*args, env=env, check=check, timeout=120)


def resolve(port: int, model: str) -> dict:
    return http_request(port, "GET", f"/v1/prices/resolve?model={model}").json()


def wait_for(condition, what: str, limit: float = 8.0):
    """The serve instance polls the store's price generation every 2 s: a change shows within that."""
    start = time.monotonic()
    while True:
        value = condition()
        if value:
            return time.monotonic() - start
        if time.monotonic() - start > limit:
            pytest.fail(f"{what}: not seen by the running instance within {limit} s")
        time.sleep(0.2)


def test_prices_set_import_and_update_reach_a_running_instance(tmp_path, database):
    server = instance(tmp_path, database, "web-1").start()
    try:
        assert resolve(server.port, "house-model")["resolved"] is False

        # prices set: the running instance prices new records with it within its poll.
        run("prices", "set", "house-model", "--input", "2", "--output", "4", "--provider", "acme", "--db", database)
        took = wait_for(lambda: resolve(server.port, "house-model")["resolved"], "prices set")
        assert took < 5
        assert post_usage(server.port, {"id": "h1", "model": "house-model", "operation": "chat", "input_tokens": 500_000}).status == 200
        time.sleep(0.2)
        assert psql(database, "SELECT cost_nano FROM usage_records WHERE id = 'h1'") == [["1000000000"]]  # 0.5M × $2/M
        listed = run("prices", "list", "--model", "house-model", "--db", database).stdout
        assert "house-model" in listed and "acme" in listed

        # A dated version from the CLI: the instance prices each record by the version at its timestamp.
        run("prices", "set", "house-model", "--input", "3", "--output", "6", "--valid-from", "2026-12-01T00:00:00Z", "--db", database)
        wait_for(lambda: resolve(server.port, "house-model")["entry"]["input"] == 3, "prices set --valid-from")
        assert post_usage(server.port, [
            {"id": "h2", "model": "house-model", "operation": "chat", "input_tokens": 1_000_000, "timestamp": "2026-11-30T12:00:00Z"},
            {"id": "h3", "model": "house-model", "operation": "chat", "input_tokens": 1_000_000, "timestamp": "2026-12-01T12:00:00Z"},
        ]).status == 200
        time.sleep(0.2)
        assert psql(database, "SELECT id, cost_nano FROM usage_records WHERE id IN ('h2', 'h3') ORDER BY id") == \
            [["h2", "2000000000"], ["h3", "3000000000"]]

        # prices import (LiteLLM's file).
        litellm = tmp_path / "litellm.json"
        litellm.write_text(json.dumps({"sample_spec": {}, "acme/tiny": {"input_cost_per_token": 1e-06, "litellm_provider": "acme", "mode": "chat"}}))
        imported = run("prices", "import", str(litellm), "--db", database)
        assert "imported 1 models" in imported.stdout
        wait_for(lambda: resolve(server.port, "acme/tiny")["resolved"], "prices import")

        # prices update (a newer shipped catalog): dry run changes nothing, the update is seen.
        shipped = json.loads((REPO_ROOT / "Sources/TokenMeterCore/Pricing/Resources/default-catalog.json").read_text())
        models = [m for m in shipped["models"] if m["model"] != "o1-pro"]
        models.append({"model": "brand-new-model", "provider": "acme", "input": 1, "output": 2, "source": "test"})
        newer = tmp_path / "catalog.json"
        newer.write_text(json.dumps({"catalog_version": "2099-01-01", "models": models}))
        dry = run("prices", "update", str(newer), "--dry-run", "--db", database)
        assert "would update to catalog_version 2099-01-01: 1 new, 0 changed, 1 removed, 0 conflicts" in dry.stdout
        time.sleep(2.5)
        assert resolve(server.port, "brand-new-model")["resolved"] is False
        assert "updated to catalog_version 2099-01-01" in run("prices", "update", str(newer), "--db", database).stdout
        wait_for(lambda: resolve(server.port, "brand-new-model")["resolved"], "prices update")
        wait_for(lambda: not resolve(server.port, "o1-pro")["resolved"], "prices update (a removed model)")
        # The CLI wrote as no instance: nothing registered, no lifetime totals.
        assert psql(database, "SELECT name FROM instances ORDER BY name") == [["web-1"]]
    finally:
        server.stop()


def test_prices_set_on_an_empty_database_creates_the_store(database):
    run("prices", "set", "house-model", "--input", "2", "--db", database)
    resolved = json.loads(run("prices", "resolve", "house-model", "--json", "--db", database).stdout)
    assert resolved["entry"]["input"] == 2


def ndjson(tmp_path) -> str:
    when = (datetime.now(timezone.utc) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [json.dumps({"id": f"c{i}", "operation": "chat" if i % 2 else "analyze", "model": "gpt-4o-mini",
                         "user_id": f"u{i % 3}", "input_tokens": 1_000_000, "output_tokens": 1000 * i, "timestamp": when,
                         "status": "error" if i == 7 else "success"}) for i in range(10)]
    lines.insert(3, '{"operation": "chat"}')
    lines.append(json.dumps({"id": "c0", "operation": "chat", "model": "gpt-4o-mini", "timestamp": when}))
    lines.append(json.dumps({"id": "p1", "operation": "render", "model": "gpt-4o", "status": "pending", "timestamp": when}))
    path = tmp_path / "usage.ndjson"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def reports(db: str) -> list:
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    window = ["--from", (hour - timedelta(days=1)).strftime(fmt), "--to", (hour + timedelta(hours=2)).strftime(fmt)]
    return [json.loads(run("report", "--db", db, *window, "--group-by", group, "--format", "json").stdout)
            for group in ("model", "operation", "user")]


def test_ingest_into_postgresql_is_idempotent_counted_under_its_instance_and_reports_like_sqlite(tmp_path, database):
    path = ndjson(tmp_path)

    # Without an instance name it is refused (the records' counts must belong to an instance).
    refused = run("ingest", path, "--db", database, check=False)
    assert refused.returncode != 0 and "--instance NAME" in refused.stderr
    # A live instance's name is refused too: its running counters could not include the records.
    live = instance(tmp_path, database, "web-1").start()
    try:
        taken = run("ingest", path, "--db", database, "--instance", "web-1", check=False)
        assert taken.returncode != 0 and "already runs as instance 'web-1'" in taken.stderr
    finally:
        live.stop()
    assert psql(database, "SELECT count(*) FROM usage_records") == [["0"]]

    first = run("ingest", path, "--db", database, "--instance", "backfill")
    assert "accepted 11, duplicates 1, rejected 1" in first.stdout
    assert "line 4: model: required" in first.stdout
    assert "records/s" in first.stderr
    assert "counted under instance 'backfill'" in first.stdout
    again = run("ingest", path, "--db", database, "--instance", "backfill")
    assert "accepted 0, duplicates 12, rejected 1" in again.stdout
    assert psql(database, "SELECT count(*), count(DISTINCT id) FROM usage_records") == [["11", "11"]]

    # The same file into SQLite: the same answers, the same reports.
    sqlite = str(tmp_path / "same.sqlite")
    assert "accepted 11, duplicates 1, rejected 1" in run("ingest", path, "--db", sqlite).stdout
    pg_reports, sqlite_reports = reports(database), reports(sqlite)
    assert pg_reports[0]["totals"]["requests"] == 10 and pg_reports[0]["totals"]["errors"] == 1
    assert pg_reports == sqlite_reports
    assert psql(database, "SELECT sum(cost_nano) FROM usage_records")[0][0] == str(query_db(tmp_path / "same.sqlite", "SELECT sum(cost_nano) FROM usage_records")[0][0])

    # The counts went to 'backfill''s lifetime totals, in the records' transaction: with web-1 (which
    # wrote nothing) and a serve under 'backfill', the counters summed over instances equal the store.
    assert psql(database, "SELECT instance, sum(requests) FROM lifetime_totals GROUP BY instance") == [["backfill", "10"]]
    servers = [instance(tmp_path, database, "web-1").start(), instance(tmp_path, database, "backfill").start()]
    try:
        scraped = [metrics_for(s.port) for s in servers]
        assert sum(family_sum(m, "tokenmeter_requests_total") for m in scraped) == 10
        assert sum(family_sum(m, "tokenmeter_tokens_total", type="input") for m in scraped) == 10_000_000
        assert sum(family_sum(m, "tokenmeter_requests_total", status="error") for m in scraped) == 1
    finally:
        for s in servers:
            s.stop()
