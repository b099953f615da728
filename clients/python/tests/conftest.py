"""Fixtures for the client's tests: a real `tokenmeter serve` (the binary in $TOKENMETER_BIN) on a free
port with a temp database, started and stopped with the helpers of Tests/e2e/conftest.py."""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from pathlib import Path
from typing import List

import pytest

CLIENT_ROOT = Path(__file__).resolve().parents[1]
REPO_ROOT = CLIENT_ROOT.parents[1]
SRC = CLIENT_ROOT / "src"
sys.path.insert(0, str(SRC))  # the package under test, not an installed copy

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # LiteLLM must not fetch its cost map

_spec = importlib.util.spec_from_file_location("tokenmeter_e2e_support", REPO_ROOT / "Tests" / "e2e" / "conftest.py")
e2e = importlib.util.module_from_spec(_spec)
assert _spec.loader is not None
_spec.loader.exec_module(e2e)

Server = e2e.Server
free_port = e2e.free_port
query_db = e2e.query_db
http_request = e2e.http_request


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path / "tokenmeter.sqlite", tmp_path)
    s.start()
    yield s
    try:
        s.stop()
    except Exception:  # noqa: BLE001
        s.kill()


@pytest.fixture
def server_factory(tmp_path):
    servers: List[Server] = []

    def make(env=None, **kwargs) -> Server:
        s = Server(tmp_path / "tokenmeter.sqlite", tmp_path, env, **kwargs)
        servers.append(s)
        return s

    yield make
    for s in servers:
        try:
            s.stop()
        except Exception:  # noqa: BLE001
            s.kill()


class Errors:
    """An on_error callback that keeps what it was given (thread-safe)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def __call__(self, error) -> None:
        with self.lock:
            self.items.append(error)

    def of_kind(self, kind: str):
        with self.lock:
            return [e for e in self.items if e.kind == kind]


@pytest.fixture
def errors():
    return Errors()


def url_of(server) -> str:
    return f"http://127.0.0.1:{server.port}"


def stored(server, record_id: str) -> dict:
    """One stored row as a dict (column name → value)."""
    import sqlite3
    conn = sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True, timeout=30.0)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute("SELECT * FROM usage_records WHERE id = ?", (record_id,)).fetchone()
        return dict(row) if row is not None else {}
    finally:
        conn.close()
