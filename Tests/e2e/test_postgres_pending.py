"""`tokenmeter_pending_requests` on three `serve` instances sharing one PostgreSQL (issue 19).

The gauge is store-wide: every instance exports the store's pending count (read from the store with
the store gauges, every `stats_interval_seconds`), so `max` over instances is the store's count and
the sum is never the thing to take. A completion through one instance shows on every instance within
the refresh interval.

Needs TOKENMETER_TEST_PG (`eval "$(scripts/pg start)"`): skipped without it, failed without it under CI=true.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from conftest import PG_URL, Server, family, metrics_for, patch_usage, post_usage, postgres_marks
from test_postgres_instances import database, psql  # noqa: F401  (the fixture and the psql helper)

pytestmark = postgres_marks()

INTERVAL = 2  # stats_interval_seconds


def instance(tmp_path, url: str, name: str) -> Server:
    log_dir = tmp_path / name
    log_dir.mkdir(exist_ok=True)
    config = log_dir / "config.json"
    config.write_text(json.dumps({"stats_interval_seconds": INTERVAL}))
    return Server(tmp_path / "unused.sqlite", log_dir, extra_args=["--config", str(config), "--db", url, "--instance", name])


def pending_series(port: int) -> dict[tuple[str, str, str], float]:
    out = {}
    for labels, value in family(metrics_for(port), "tokenmeter_pending_requests").items():
        d = dict(labels)
        out[(d["service"], d["operation"], d["model"])] = value
    return out


def store_pending(url: str) -> dict[tuple[str, str, str], float]:
    return {(r[0], r[1], r[2]): float(r[3]) for r in psql(url, """
        SELECT service, operation, model, count(*) FROM usage_records WHERE status = 'pending' GROUP BY 1, 2, 3""")}


def wait_until_every_instance_shows(servers, expected, limit: float, before=None) -> float:
    """Seconds until every instance exports `expected`; fails past `limit`, or on a value above what
    the store held (`expected`, or `before` while an instance has not re-read it yet): never a multiple."""
    start = time.monotonic()
    while True:
        seen = [pending_series(s.port) for s in servers]
        for series in seen:
            for key, value in series.items():
                ceiling = max(expected.get(key, 0), (before or {}).get(key, 0))
                assert value <= ceiling, f"an instance exports {value} pending for {key}, the store had at most {ceiling}"
        if all(series == expected for series in seen):
            return time.monotonic() - start
        if time.monotonic() - start > limit:
            pytest.fail(f"after {limit} s the instances export {seen}, the store has {expected}")
        time.sleep(0.1)


def pending(record_id: str, model: str) -> dict:
    return {"id": record_id, "service": "video", "operation": "render", "model": model, "status": "pending", "user_id": "u1"}


def test_every_instance_exports_the_stores_pending_count_and_follows_other_instances(tmp_path, database):
    servers = [instance(tmp_path, database, f"p{k}").start() for k in range(3)]
    try:
        assert post_usage(servers[0].port, [pending("j1", "gpt-4o"), pending("j2", "gpt-4o"), pending("j3", "gpt-4o-mini")]).status == 200
        assert post_usage(servers[1].port, [pending("j4", "gpt-4o")]).status == 200
        expected = store_pending(database)
        assert expected == {("video", "render", "gpt-4o"): 3.0, ("video", "render", "gpt-4o-mini"): 1.0}
        # Each instance (not only the two that took the records) exports the store's 4, never a multiple.
        wait_until_every_instance_shows(servers, expected, limit=INTERVAL + 2)
        assert sum(sum(pending_series(s.port).values()) for s in servers) == 3 * 4  # why dashboards take max, not sum

        # A completion through p2 (which took none of them) shows on every instance within the interval.
        completed = patch_usage(servers[2].port, "j1", {"status": "success", "input_tokens": 100, "output_tokens": 50})
        assert completed.status == 200, completed
        before, expected = expected, store_pending(database)
        assert expected == {("video", "render", "gpt-4o"): 2.0, ("video", "render", "gpt-4o-mini"): 1.0}
        took = wait_until_every_instance_shows(servers, expected, limit=INTERVAL + 1.5, before=before)
        assert took <= INTERVAL + 1.5

        # The last pending call of a series completes: the series goes from every instance.
        assert patch_usage(servers[0].port, "j3", {"status": "success", "input_tokens": 10}).status == 200
        before, expected = expected, store_pending(database)
        assert ("video", "render", "gpt-4o-mini") not in expected
        wait_until_every_instance_shows(servers, expected, limit=INTERVAL + 1.5, before=before)

        # A restarted instance starts from the store's count.
        servers[1].stop()
        servers[1].start()
        assert pending_series(servers[1].port) == expected
    finally:
        for server in servers:
            server.stop()
