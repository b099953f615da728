"""The command line: backfill, prices, report and check-config on a real database file."""
import csv
import io
import json
import os
import subprocess
from datetime import datetime, timedelta, timezone

from conftest import binary_path, query_db, run_cli


def run(*args, env=None, check=True):
    return run_cli(*args, env=env, check=check)


def test_backfill_prices_and_report_on_one_database(tmp_path):
    db = tmp_path / "cli.sqlite"
    when = (datetime.now(timezone.utc) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [json.dumps({"id": f"c{i}", "operation": "chat" if i % 2 else "analyze", "model": "gpt-4o-mini",
                         "user_id": f"u{i % 3}", "input_tokens": 1_000_000, "timestamp": when}) for i in range(10)]
    lines.insert(3, '{"operation": "chat"}')
    lines.append(json.dumps({"id": "c0", "operation": "chat", "model": "gpt-4o-mini", "timestamp": when}))
    (tmp_path / "usage.ndjson").write_text("\n".join(lines) + "\n")

    backfill = run("ingest", str(tmp_path / "usage.ndjson"), "--db", str(db))
    assert "accepted 10, duplicates 1, rejected 1" in backfill.stdout
    assert "line 4: model: required" in backfill.stdout
    assert "records/s" in backfill.stderr  # the progress bar
    again = run("ingest", str(tmp_path / "usage.ndjson"), "--db", str(db))
    assert "accepted 0, duplicates 11, rejected 1" in again.stdout
    assert query_db(db, "SELECT sum(cost_nano) FROM usage_records")[0][0] == 10 * 150_000_000  # 1M tokens × $0.15

    # A price set from the CLI is persisted and used by the next backfill.
    run("prices", "set", "house-model", "--input", "2", "--output", "4", "--provider", "acme", "--db", str(db))
    listed = run("prices", "list", "--model", "house-model", "--db", str(db)).stdout
    assert "house-model" in listed and "acme" in listed
    (tmp_path / "house.ndjson").write_text(json.dumps({"id": "h1", "operation": "chat", "model": "house-model",
                                                       "input_tokens": 500_000, "timestamp": when}) + "\n")
    run("ingest", str(tmp_path / "house.ndjson"), "--db", str(db))
    assert query_db(db, "SELECT cost_nano FROM usage_records WHERE id = 'h1'")[0][0] == 1_000_000_000

    litellm = tmp_path / "litellm.json"
    litellm.write_text(json.dumps({"sample_spec": {}, "acme/tiny": {"input_cost_per_token": 1e-06, "litellm_provider": "acme", "mode": "chat"}}))
    imported = run("prices", "import", str(litellm), "--db", str(db))
    assert "imported 1 models" in imported.stdout

    table = run("report", "--db", str(db), "--range", "24h", "--group-by", "operation").stdout
    header = next(line for line in table.splitlines() if line.startswith("operation"))
    assert header.split()[:3] == ["operation", "requests", "errors"]
    assert any(line.split()[0] == "TOTAL" and line.split()[1] == "11" for line in table.splitlines())
    csv_text = run("report", "--db", str(db), "--range", "24h", "--group-by", "model", "--format", "csv").stdout
    assert csv_text.startswith("from,to,tz,rounded,active_users_rounded,covered_from,covered_to,row,model,other,requests,errors")
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert rows[0]["row"] == "total" and rows[0]["requests"] == "11"  # the same report as the API's CSV: totals first
    assert any(r["row"] == "group" and r["model"] == "gpt-4o-mini" and r["requests"] == "10" and r["errors"] == "0"
               and r["cost_usd"] == "1.500000000" and r["other"] == "false" for r in rows)
    summary = json.loads(run("report", "--db", str(db), "--range", "24h", "--format", "json").stdout)
    assert summary["totals"]["requests"] == 11 and summary["totals"]["cost_nano_usd"] == 2_500_000_000
    assert summary["totals"]["active_users"] == 3
    daily = run("report", "--db", str(db), "--daily").stdout
    assert "Daily report" in daily and "Top models" in daily and "Unpriced models" in daily
    assert "Usage fields not understood (priced without them): " in daily

    bad = run("report", "--db", str(db), "--range", "2w", check=False)
    assert bad.returncode != 0 and "range: unknown range '2w'" in bad.stderr


def test_check_config_reports_problems(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"host": "0.0.0.0", "tz": "Europe/Moscow", "budgets": [{"name": "m", "window": "month", "usd": 5}]}))
    refused = run("check-config", "--config", str(config), check=False)
    assert refused.returncode != 0 and "TOKENMETER_TOKENS" in refused.stderr
    ok = run("check-config", "--config", str(config), env={"TOKENMETER_TOKENS": "admin:abcdefgh12"})
    assert "configuration OK" in ok.stdout and "Europe/Moscow" in ok.stdout and "abcdefgh12" not in ok.stdout
    typo = tmp_path / "typo.json"
    typo.write_text('{"port": "ninety"}')
    broken = run("check-config", "--config", str(typo), check=False)
    assert broken.returncode != 0 and "port" in broken.stderr
