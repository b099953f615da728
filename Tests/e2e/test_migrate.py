"""`tokenmeter migrate --from SQLITE --to POSTGRES_URL` (issue 19, "Moving up").

A SQLite store with every kind of row (success, error and pending records; several models, users,
plans, resources and tags; caller credits and run-time operation credits; unpriced records; an
unrecognized usage field; a price change; records old enough that retention pruned their raw rows
so only the hour and day rollups hold them; lifetime totals) is copied into an empty PostgreSQL
database. `serve` on the copy then answers every report route exactly as the SQLite server did, and
its counters resume to the same totals. A copy `kill -9`'d mid-way resumes with nothing doubled, a
run after completion says there is nothing to do, and refused starts write nothing.

Needs TOKENMETER_TEST_PG (`eval "$(scripts/pg start)"`): skipped without it, failed without it under
CI=true. The error cases that need no PostgreSQL run always.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pytest

from conftest import Server, binary_path, family, http_request, metrics_for, patch_usage, post_usage, query_db

PG_URL = os.environ.get("TOKENMETER_TEST_PG", "")
needs_pg = pytest.mark.skipif(not PG_URL and os.environ.get("CI") != "true",
                              reason="TOKENMETER_TEST_PG is not set (eval \"$(scripts/pg start)\" to run these)")

NOW = datetime.now(timezone.utc).replace(microsecond=0)
# Recent records sit in the middle of the hour three hours ago: far from every retention edge and from
# the current minute, so both servers plan every report the same way.
RECENT = NOW.replace(minute=30, second=0) - timedelta(hours=3)
OLD = [RECENT - timedelta(days=5), RECENT - timedelta(days=10)]  # raw rows pruned (raw_days 3)
FROM = (NOW - timedelta(days=20)).replace(hour=0, minute=0, second=0)
TO = NOW.replace(minute=0, second=0) + timedelta(hours=2)
LIFETIME_COUNTERS = ["tokenmeter_requests_total", "tokenmeter_tokens_total", "tokenmeter_reasoning_tokens_total",
                     "tokenmeter_cost_usd_total", "tokenmeter_resource_cost_usd_total", "tokenmeter_resource_requests_total",
                     "tokenmeter_credits_total", "tokenmeter_errors_total", "tokenmeter_unpriced_requests_total"]


def rfc3339(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


ASKED_BOUNDS = {FROM, TO, RECENT - timedelta(hours=1)}  # the `from`/`to` of the report queries below


def psql(url: str, sql: str) -> list[list[str]]:
    out = subprocess.run(["psql", url, "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         check=True, capture_output=True, text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def pg_url() -> str:
    if not PG_URL:
        raise RuntimeError("CI=true but TOKENMETER_TEST_PG is not set: the PostgreSQL e2e tests must run in CI")
    return PG_URL


@pytest.fixture
def database():
    name = "tm_migrate_" + uuid.uuid4().hex[:12]
    psql(pg_url(), f"CREATE DATABASE {name}")
    yield pg_url().rsplit("/", 1)[0] + "/" + name
    psql(pg_url(), f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def migrate(source: Path, target: str, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([binary_path(), "migrate", "--from", str(source), "--to", target, *extra],
                          capture_output=True, text=True, timeout=timeout)


def config(path: Path, raw_days: int) -> Path:
    path.write_text(json.dumps({"retention": {"raw_days": raw_days}, "prune_interval_seconds": 3600}))
    return path


def record(n: int, at: datetime, **fields) -> dict:
    models = ["gpt-4o-mini", "claude-sonnet-4", "gemini-2.5-flash", "gpt-4.1"]
    base = {
        "id": f"r-{n}", "timestamp": rfc3339(at + timedelta(seconds=n % 1200)), "service": ["chat", "search"][n % 2],
        "operation": ["answer", "summarize", "embed"][n % 3], "model": models[n % len(models)],
        "user_id": f"user-{n % 37}", "plan": ["free", "pro"][n % 2], "paying": n % 2 == 1,
        "input_tokens": 100 + n % 900, "output_tokens": 10 + n % 300, "duration_ms": 20 + n % 700,
    }
    if n % 11 == 0:
        base.update(status="error", error_type=["rate_limit", "timeout"][n % 2], error_message="upstream said no")
    if n % 5 == 0:
        base.update(resource_type="pipeline_run", resource_id=f"run-{n % 4}", tags={"team": ["a", "b"][n % 2], "env": "prod"})
    if n % 13 == 0:
        base.update(metadata={"trace": f"t-{n}"})
    base.update(fields)
    return base


def build_source(directory: Path, bulk: int = 0) -> tuple[Path, Path, dict, dict]:
    """The SQLite store with every kind of row; returns (db, config, reports, counters) as the SQLite
    server answered them just before it stopped."""
    db = directory / "source.sqlite"
    logs = directory / "source-logs"
    logs.mkdir(exist_ok=True)
    # 1. Old records, accepted while raw retention was long.
    server = Server(db, logs, extra_args=["--config", str(config(directory / "long.json", 30))]).start()
    try:
        old = [record(n, OLD[n % 2]) for n in range(120)]
        assert post_usage(server.port, old).status == 200
    finally:
        server.stop()
    # 2. Raw retention of 3 days: the pruner deletes the old raw rows at start; their rollups stay.
    short = config(directory / "short.json", 3)
    server = Server(db, logs, extra_args=["--config", str(short)]).start()
    try:
        deadline = time.monotonic() + 30
        while query_db(db, "SELECT count(*) FROM usage_records WHERE id LIKE 'r-%' AND CAST(substr(id, 3) AS INTEGER) < 120")[0][0]:
            assert time.monotonic() < deadline, "the old raw records were not pruned"
            time.sleep(0.2)
        entry = {"model": "gpt-4o-mini", "provider": "openai", "input": 0.2, "cached_input": 0.1, "output": 0.8}
        put = http_request(server.port, "PUT", "/v1/prices/gpt-4o-mini", json.dumps(entry).encode(), {"Content-Type": "application/json"})
        assert put.status in (200, 201), put
        credits = http_request(server.port, "PUT", "/v1/credits/workflow_execution", b'{"credits": 0.25}',
                               {"Content-Type": "application/json"})
        assert credits.status == 200, credits
        recent = [record(n, RECENT) for n in range(1000, 1300)]
        recent += [
            {"id": "unpriced-1", "timestamp": rfc3339(RECENT), "model": "house-model-x", "input_tokens": 5, "output_tokens": 5,
             "operation": "answer", "user_id": "user-3"},
            {"id": "caller-credits", "timestamp": rfc3339(RECENT), "model": "gpt-4o-mini", "input_tokens": 1, "output_tokens": 1,
             "credits": 2.5, "cost_usd": 0.0125, "operation": "answer", "user_id": "user-4"},
            {"id": "workflow-1", "timestamp": rfc3339(RECENT), "operation": "workflow_execution", "category": "other",
             "resource_type": "workflow", "resource_id": "w-1"},
            {"id": "search-1", "timestamp": rfc3339(RECENT), "model": "claude-sonnet-4-5", "operation": "answer",
             "usage": {"input_tokens": 100, "output_tokens": 10, "server_tool_use": {"web_search_requests": 2}}},
        ]
        recent += [record(n, RECENT, status="pending", output_tokens=0) for n in range(2000, 2010)]
        recent += [record(n, RECENT) for n in range(3000, 3000 + bulk)]
        for start in range(0, len(recent), 500):
            r = post_usage(server.port, recent[start:start + 500])
            assert r.status == 200 and not r.json()["rejected"], r
        for n in range(2000, 2006):  # four stay pending
            r = patch_usage(server.port, f"r-{n}", {"status": "success", "output_tokens": 42})
            assert r.status == 200, r
        assert query_db(db, "SELECT count(*) FROM usage_records WHERE unrecognized_usage IS NOT NULL")[0][0] >= 1
        assert query_db(db, "SELECT count(*) FROM usage_records WHERE status = 'pending'")[0][0] == 4
        assert query_db(db, "SELECT count(*) FROM usage_records WHERE unpriced")[0][0] >= 1
        assert query_db(db, "SELECT count(*) FROM rollup_day WHERE bucket < ?", (int(OLD[0].timestamp() * 1000) + 86400000,))[0][0] > 0
        reports = fetch_reports(server.port)
        live = lifetime_counters(server.port)
    finally:
        server.stop()
    # What a restarted SQLite server resumes its counters to (the float sums of the live process can
    # differ from the one resumed sum in the last bits).
    server = Server(db, logs, extra_args=["--config", str(short)]).start()
    try:
        counters = lifetime_counters(server.port)
    finally:
        server.stop()
    assert counters.keys() == live.keys()
    for name in counters:
        assert counters[name].keys() == live[name].keys()
        assert all(abs(counters[name][k] - live[name][k]) <= 1e-9 * max(1.0, live[name][k]) for k in live[name]), name
    return db, short, reports, counters


def report_paths() -> list[str]:
    span = f"from={quote(rfc3339(FROM))}&to={quote(rfc3339(TO))}"
    recent = f"from={quote(rfc3339(RECENT - timedelta(hours=1)))}&to={quote(rfc3339(TO))}"
    paths = [f"/v1/reports/summary?{span}"]
    for group in ["model", "service,operation", "status", "provider,category", "user", "plan", "resource_type", "resource"]:
        paths.append(f"/v1/reports/summary?{span}&group_by={group}&limit=1000")
    paths += [
        f"/v1/reports/summary?{span}&group_by=model&format=csv",
        f"/v1/reports/summary?{recent}&group_by=model&tag.team=a",
        f"/v1/reports/summary?{span}&group_by=model&status=error",
        f"/v1/reports/timeseries?{span}&interval=day&group_by=model",
        f"/v1/reports/timeseries?{span}&interval=hour",
        f"/v1/reports/timeseries?{recent}&interval=hour&group_by=resource_type",
        f"/v1/reports/monitoring?range=30d",
        f"/v1/reports/economics?{span}",
        f"/v1/users/user-5/usage?{span}",
        f"/v1/users/user-4/usage?{recent}",
        f"/v1/resources/pipeline_run/run-0/usage?{span}",
        f"/v1/resources/workflow/w-1/usage?{span}",
        "/v1/prices/gpt-4o-mini",
        "/v1/prices/claude-sonnet-4",
        "/v1/credits",
    ]
    return paths


def fetch_reports(port: int) -> dict:
    answers = {}
    for path in report_paths():
        r = http_request(port, "GET", path)
        assert r.status == 200, (path, r)
        answers[path] = r.text if "format=csv" in path else r.json()
    return answers


def lifetime_counters(port: int) -> dict:
    samples = metrics_for(port)
    return {name: {labels - {l for l in labels if l[0] == "instance"}: value for labels, value in family(samples, name).items()}
            for name in LIFETIME_COUNTERS}


def pg_serve(directory: Path, url: str, cfg: Path, name: str) -> Server:
    logs = directory / f"pg-{name}"
    logs.mkdir(exist_ok=True)
    # The last --db wins over the one Server passes (its SQLite path is never opened).
    return Server(directory / "unused.sqlite", logs, extra_args=["--config", str(cfg), "--db", url, "--instance", name])


def without_now(answer, moments: list):
    """The answer with the times that follow the clock taken out into `moments`: a `from` or `to` that is
    none of the bounds this test asks for (where a raw-only report's coverage starts, now minus raw
    retention; monitoring's `range=30d` window). Told apart by value, not by milliseconds: a clock
    time can fall on a whole second."""
    if isinstance(answer, dict):
        out = {}
        for key, value in answer.items():
            if key in ("from", "to") and isinstance(value, str) and parse_time(value) not in ASKED_BOUNDS:
                moments.append(parse_time(value))
                continue
            out[key] = without_now(value, moments)
        return out
    if isinstance(answer, list):
        return [without_now(v, moments) for v in answer]
    return answer


def assert_same_reports(expected: dict, got: dict) -> None:
    assert set(got) == set(expected)
    for path in expected:
        before, after = [], []
        assert without_now(got[path], after) == without_now(expected[path], before), f"{path} differs after the migration"
        # The same clock-relative edge, read a few seconds later.
        assert len(before) == len(after) and all(timedelta(0) <= b - a < timedelta(minutes=10) for a, b in zip(before, after)), path


def assert_same_counters(got: dict, expected: dict) -> None:
    """Counts equal exactly; USD and credit counters are float sums of the exact per-row totals (see
    assert_tables_equal), added in another row order, so they may differ in the last bits."""
    assert got.keys() == expected.keys()
    for name in expected:
        assert got[name].keys() == expected[name].keys(), name
        for labels, value in expected[name].items():
            if name in ("tokenmeter_cost_usd_total", "tokenmeter_resource_cost_usd_total", "tokenmeter_credits_total"):
                assert abs(got[name][labels] - value) <= 1e-12 * max(1.0, value), (name, labels)
            else:
                assert got[name][labels] == value, (name, labels)


def assert_records_equal(source: Path, url: str) -> None:
    """Every column of every record (pending ones too) arrived as stored (PostgreSQL adds `instance`)."""
    columns = [row[1] for row in query_db(source, "PRAGMA table_info(usage_records)") if row[1] not in ("seq", "id_hash")]
    def text(v):
        if v is None:
            return None
        if isinstance(v, float):
            return repr(v)
        return str(v)
    sqlite_rows = sorted(tuple(text(v) for v in row) for row in query_db(source, f"SELECT {', '.join(columns)} FROM usage_records"))
    select = ", ".join(
        f"CASE WHEN {c} IS NULL THEN '<null>' ELSE {c}::text END" if c not in ("id_given", "paying", "unpriced")
        else f"CASE WHEN {c} IS NULL THEN '<null>' WHEN {c} THEN '1' ELSE '0' END" for c in columns)
    pg_rows = sorted(tuple(None if v == "<null>" else v for v in row) for row in psql(url, f"SELECT {select} FROM usage_records"))
    # Doubles: compare as numbers (text forms differ between the two databases).
    real = [i for i, c in enumerate(columns) if c.startswith("units_")]
    def norm(rows):
        return sorted(tuple(float(v) if i in real and v is not None else v for i, v in enumerate(row)) for row in rows)
    assert norm(pg_rows) == norm(sqlite_rows)


def assert_tables_equal(source: Path, url: str) -> None:
    dims = "bucket, service, operation, category, provider, model, status, resource_type"
    figures = ("requests, errors, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, "
               "cost_nano, credits_micro, unpriced_requests, duration_us_sum, duration_count")
    for table in ["rollup_minute", "rollup_hour", "rollup_day"]:
        want = sorted(tuple(str(v) for v in row) for row in query_db(source, f"SELECT {dims}, {figures} FROM {table}"))
        got = sorted(tuple(row) for row in psql(url, f"SELECT {dims}, {figures} FROM {table}"))
        assert got == want, f"{table} differs"
        assert want, f"{table} is empty: the test store should fill it"
    for table in ["user_sets_hour", "user_sets_day"]:
        want = {}
        for row in query_db(source, f"SELECT {dims}, paying, chunk, members FROM {table}"):
            members = bytes(row[-1])
            if len(members) == 512:
                bits = {i for i in range(4096) if members[i // 8] >> (i % 8) & 1}
            else:
                bits = {members[i] | members[i + 1] << 8 for i in range(0, len(members), 2)}
            want[tuple(str(v) for v in row[:-3]) + (str(bool(row[-3])).lower()[0], str(row[-2]))] = bits
        got = {tuple(row[:-1]): {i for i, c in enumerate(row[-1]) if c == "1"}
               for row in psql(url, f"SELECT {dims}, paying, chunk, members::text FROM {table}")}
        assert got == want, f"{table} differs"
    totals = ("service, operation, category, provider, model, status, error_type, resource_type, requests, input_tokens, "
              "cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, cost_nano, credits_micro, unpriced_requests")
    want = sorted(tuple(str(v) for v in row) for row in query_db(source, f"SELECT {totals} FROM lifetime_totals"))
    assert sorted(tuple(row) for row in psql(url, f"SELECT {totals} FROM lifetime_totals")) == want and want
    assert (sorted(tuple(map(str, r)) for r in query_db(source, "SELECT ordinal, user_id FROM user_ordinals"))
            == sorted(tuple(r) for r in psql(url, "SELECT ordinal, user_id FROM user_ordinals")))
    assert ([tuple("" if v is None else str(v) for v in r) for r in query_db(
        source, "SELECT kind, model, valid_from, entry_json, layer, created_at FROM price_changes ORDER BY seq")]
            == [tuple(r) for r in psql(url, """SELECT kind, model, coalesce(valid_from::text, ''), coalesce(entry_json, ''),
                coalesce(layer, ''), created_at FROM price_changes ORDER BY seq""")])


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    directory = tmp_path_factory.mktemp("migrate-source")
    return build_source(directory, bulk=2500)


@needs_pg
def test_migrated_store_answers_every_report_as_sqlite_did_and_counters_resume(source, tmp_path, database):
    db, cfg, reports, counters = source
    copy = tmp_path / "copy.sqlite"
    shutil.copyfile(db, copy)
    done = migrate(copy, database, "--instance", "moved")
    assert done.returncode == 0, done.stderr
    assert "copied" in done.stdout and "as instance 'moved'" in done.stdout
    assert "records" in done.stderr and "100.0%" in done.stderr, "the progress bar with counts per table"
    assert_records_equal(copy, database)
    assert_tables_equal(copy, database)
    assert psql(database, "SELECT DISTINCT instance FROM lifetime_totals") == [["moved"]]

    # `tokenmeter report` and `prices list` read either store and answer the same, registering no instance.
    for args in (["report", "--from", rfc3339(FROM), "--to", rfc3339(TO), "--group-by", "model,status", "--format", "json"],
                 ["report", "--from", rfc3339(FROM), "--to", rfc3339(TO), "--group-by", "user", "--format", "json"],
                 ["prices", "list", "--json"]):
        answers = []
        for db_arg in (str(copy), database):
            cli = subprocess.run([binary_path(), *args, "--config", str(cfg), "--db", db_arg], capture_output=True, text=True, timeout=120)
            assert cli.returncode == 0, cli.stderr
            answers.append(json.loads(cli.stdout))
        moments: list = []
        assert without_now(answers[1], moments) == without_now(answers[0], moments), args
    assert psql(database, "SELECT name FROM instances") == [["moved"]]
    blank = "tm_migrate_" + uuid.uuid4().hex[:12]
    psql(pg_url(), f"CREATE DATABASE {blank}")
    try:
        blank_url = pg_url().rsplit("/", 1)[0] + "/" + blank
        empty = subprocess.run([binary_path(), "report", "--db", blank_url, "--range", "1d"], capture_output=True, text=True, timeout=60)
        assert empty.returncode != 0 and "there is no tokenmeter store at" in empty.stderr
        assert psql(blank_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [["0"]], "a reader creates nothing"
    finally:
        psql(pg_url(), f"DROP DATABASE IF EXISTS {blank} WITH (FORCE)")

    server = pg_serve(tmp_path, database, cfg, "moved").start()
    try:
        assert_same_reports(reports, fetch_reports(server.port))
        assert_same_counters(lifetime_counters(server.port), counters)
        # The copy takes new records and completes a pending one, like the SQLite store would.
        r = patch_usage(server.port, "r-2007", {"status": "success", "output_tokens": 7})
        assert r.status == 200, r
        assert post_usage(server.port, record(999_999, RECENT)).json()["accepted"] == 1
        assert post_usage(server.port, record(1000, RECENT)).json()["duplicates"] == 1, "copied ids stay unique"
        # A user seen before the copy keeps its ordinal; a new one gets the next.
        ordinals = dict((u, int(o)) for o, u in psql(database, "SELECT ordinal, user_id FROM user_ordinals"))
        assert len(set(ordinals.values())) == len(ordinals)
    finally:
        server.stop()


@needs_pg
def test_a_copy_killed_mid_way_resumes_with_nothing_doubled_and_then_has_nothing_to_do(source, tmp_path, database):
    db, cfg, reports, counters = source
    copy = tmp_path / "copy.sqlite"
    shutil.copyfile(db, copy)
    proc = subprocess.Popen([binary_path(), "migrate", "--from", str(copy), "--to", database, "--instance", "moved",
                             "--rows-per-piece", "100", "--pause-after-piece-ms", "150"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"migrate ended before it was killed: {proc.communicate()}"
            assert time.monotonic() < deadline, "migrate made no progress"
            try:
                rows = psql(database, "SELECT rows FROM migrate_progress WHERE step = 'usage_records'")
            except subprocess.CalledProcessError:
                rows = []  # the tables are not there yet
            if rows and int(rows[0][0]) >= 800:
                break
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # What was committed is exactly what the progress row says.
    copied, done = psql(database, "SELECT rows, done FROM migrate_progress WHERE step = 'usage_records'")[0]
    assert done == "f"
    assert int(psql(database, "SELECT count(*) FROM usage_records")[0][0]) == int(copied)
    assert psql(database, "SELECT count(*) FROM rollup_day") == [["0"]], "rollups come after the records"

    resumed = migrate(copy, database, "--instance", "moved", "--rows-per-piece", "700")
    assert resumed.returncode == 0, resumed.stderr
    assert "(resumed)" in resumed.stdout
    total = query_db(copy, "SELECT count(*) FROM usage_records")[0][0]
    assert psql(database, "SELECT count(*), count(DISTINCT id) FROM usage_records") == [[str(total), str(total)]]
    assert_records_equal(copy, database)
    assert_tables_equal(copy, database)

    again = migrate(copy, database, "--instance", "moved")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("nothing to do"), again.stdout
    other_name = migrate(copy, database, "--instance", "another")
    assert other_name.returncode != 0 and "--instance moved" in other_name.stderr

    server = pg_serve(tmp_path, database, cfg, "moved").start()
    try:
        assert_same_reports(reports, fetch_reports(server.port))
        assert_same_counters(lifetime_counters(server.port), counters)
    finally:
        server.stop()


@needs_pg
def test_a_target_holding_other_data_is_refused_and_left_as_it_was(source, tmp_path, database):
    db, cfg, _, _ = source
    server = pg_serve(tmp_path, database, cfg, "live").start()
    try:
        assert post_usage(server.port, record(1, RECENT)).json()["accepted"] == 1
    finally:
        server.stop()
    before = psql(database, "SELECT count(*) FROM usage_records")
    refused = migrate(db, database)
    assert refused.returncode != 0
    assert "already holds data that was not copied from" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert psql(database, "SELECT count(*) FROM usage_records") == before
    assert psql(database, "SELECT count(*) FROM migrate_source") == [["0"]]
    # A source that changed since its copy began is refused too.
    fresh = "tm_migrate_" + uuid.uuid4().hex[:12]
    psql(pg_url(), f"CREATE DATABASE {fresh}")
    try:
        url = pg_url().rsplit("/", 1)[0] + "/" + fresh
        changed = tmp_path / "changed.sqlite"
        shutil.copyfile(db, changed)
        first = migrate(changed, url, "--rows-per-piece", "100")
        assert first.returncode == 0, first.stderr
        _delete_one(changed)  # the source changes after its copy began
        second = migrate(changed, url)
        assert second.returncode != 0 and "differs" in second.stderr, second
    finally:
        psql(pg_url(), f"DROP DATABASE IF EXISTS {fresh} WITH (FORCE)")


def _delete_one(path: Path) -> None:
    import sqlite3
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM usage_records WHERE id = 'r-1000'")
    conn.commit()
    conn.close()


def test_refused_starts_give_one_line_and_a_failure(tmp_path):
    missing = migrate(tmp_path / "nope.sqlite", "postgres://u@127.0.0.1:1/db")
    assert missing.returncode != 0 and "there is no SQLite store at" in missing.stderr
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database at all" * 100)
    corrupt = migrate(garbage, "postgres://u@127.0.0.1:1/db")
    assert corrupt.returncode != 0 and "is not an SQLite database" in corrupt.stderr
    bad_url = migrate(garbage, "postgres://127.0.0.1/db")
    assert bad_url.returncode != 0 and "has no user name" in bad_url.stderr
    not_pg = migrate(garbage, str(tmp_path / "other.sqlite"))
    assert not_pg.returncode != 0 and "is not a postgres:// URL" in not_pg.stderr
    for result in (missing, corrupt, bad_url, not_pg):
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "other.sqlite").exists()


def test_a_source_in_use_or_an_unreachable_postgres_is_one_line_and_a_failure(tmp_path):
    db = tmp_path / "small.sqlite"
    server = Server(db, tmp_path).start()
    try:
        assert post_usage(server.port, record(1, RECENT)).status == 200
        busy = migrate(db, "postgres://u@127.0.0.1:1/db")
        assert busy.returncode != 0 and "another tokenmeter serve is already using" in busy.stderr, busy
        assert len(busy.stderr.strip().splitlines()) == 1, busy.stderr
    finally:
        server.stop()
    started = time.monotonic()
    result = migrate(db, "postgres://u@127.0.0.1:1/db", timeout=120)
    assert result.returncode != 0
    assert "127.0.0.1:1" in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert time.monotonic() - started < 60
