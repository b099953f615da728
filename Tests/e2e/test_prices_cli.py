"""`tokenmeter prices resolve` and `prices update` on a real database file."""
import json
import os
import subprocess

from conftest import REPO_ROOT, binary_path, query_db


def run(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENMETER_")}
    return subprocess.run([binary_path(), *args], capture_output=True, text=True, timeout=120, env=env)


def test_resolve_explains_and_exits_1_when_unpriced(tmp_path):
    db = str(tmp_path / "p.sqlite")
    hit = run("prices", "resolve", "us.anthropic.claude-3-5-haiku-20241022-v1:0", "--db", db)
    assert hit.returncode == 0, hit.stderr
    assert hit.stdout.startswith("us.anthropic.claude-3-5-haiku-20241022-v1:0: claude-3-5-haiku (snapshot)")
    miss = run("prices", "resolve", "gpt-3.5-turbo-9999", "--db", db, "--json")
    assert miss.returncode == 1
    answer = json.loads(miss.stdout)
    assert answer["resolved"] is False and "snapshots_share_price" in answer["notes"][0]


def test_update_dry_run_lists_changes_then_update_applies(tmp_path):
    db = str(tmp_path / "p.sqlite")
    shipped = json.loads((REPO_ROOT / "Sources/TokenMeterCore/Pricing/Resources/default-catalog.json").read_text())
    models = [m for m in shipped["models"] if m["model"] != "o1-pro"]
    for m in models:
        if m["model"] == "gpt-4.1":
            m["input"] = 1.5
    models.append({"model": "brand-new-model", "provider": "acme", "input": 1, "output": 2, "source": "test"})
    newer = tmp_path / "catalog.json"
    newer.write_text(json.dumps({"catalog_version": "2099-01-01", "models": models}))

    dry = run("prices", "update", str(newer), "--dry-run", "--db", db)
    assert dry.returncode == 0, dry.stderr
    assert "would update to catalog_version 2099-01-01: 1 new, 1 changed, 1 removed, 0 conflicts" in dry.stdout
    assert "new: brand-new-model" in dry.stdout and "changed: gpt-4.1" in dry.stdout and "removed: o1-pro" in dry.stdout
    assert run("prices", "resolve", "brand-new-model", "--db", db).returncode == 1

    applied = run("prices", "update", str(newer), "--db", db)
    assert applied.returncode == 0, applied.stderr
    resolved = json.loads(run("prices", "resolve", "gpt-4.1", "--db", db, "--json").stdout)
    assert resolved["entry"]["input"] == 1.5
    assert run("prices", "resolve", "o1-pro", "--db", db).returncode == 1
    assert query_db(tmp_path / "p.sqlite", "SELECT count(*) FROM price_changes WHERE layer = 'update'")[0][0] == len(models) + 1
