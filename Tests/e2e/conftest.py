"""Shared helpers for tokenmeter's end-to-end tests.

The tests drive the real binary (`tokenmeter serve`) over loopback HTTP and look at its SQLite store
with Python's sqlite3. Only the standard library and pytest are used.

Binary: $TOKENMETER_BIN, default /work/main/.build/debug/tokenmeter (or .build/debug/tokenmeter next to
this repository's root). Every server gets a free port (bound to port 0 first) and a temp directory.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = "/work/main/.build/debug/tokenmeter"


PG_URL = os.environ.get("TOKENMETER_TEST_PG", "")


def postgres_marks() -> list:
    """A PostgreSQL test module's `pytestmark`: nothing when TOKENMETER_TEST_PG names a server, a skip
    without it, and an error under CI=true (CI must run these)."""
    if PG_URL:
        return []
    if os.environ.get("CI") == "true":
        raise RuntimeError("CI=true but TOKENMETER_TEST_PG is not set: the PostgreSQL e2e tests must run in CI")
    return [pytest.mark.skip(reason="TOKENMETER_TEST_PG is not set (eval \"$(scripts/pg start)\" to run these)")]


def run_cli(*args, env=None, check=True, timeout=60):
    """Runs the tokenmeter binary with `args`, none of the caller's TOKENMETER_* variables and `env` on
    top; `check`: a non-zero exit fails the test with its output."""
    merged = {k: v for k, v in os.environ.items() if not k.startswith("TOKENMETER_")}
    merged.update(env or {})
    result = subprocess.run([binary_path(), *args], capture_output=True, text=True, timeout=timeout, env=merged)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}: {result.stdout}{result.stderr}")
    return result


def binary_path() -> str:
    env = os.environ.get("TOKENMETER_BIN")
    if env:
        return env
    if os.path.exists(DEFAULT_BIN):
        return DEFAULT_BIN
    local = REPO_ROOT / ".build" / "debug" / "tokenmeter"
    return str(local) if local.exists() else DEFAULT_BIN


def wait_for_binary(path: str, timeout: float = 120.0) -> None:
    """The binary may be relinked under us; wait (bounded) until it is there and executable."""
    deadline = time.monotonic() + timeout
    while True:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"tokenmeter binary not found at {path} after {timeout:.0f} s (set TOKENMETER_BIN)")
        time.sleep(1.0)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------------
# HTTP


class HTTPResult:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def __repr__(self) -> str:
        return f"HTTPResult({self.status}, {self.body[:300]!r})"


def http_request(port: int, method: str, path: str, body: bytes | None = None,
                 headers: dict[str, str] | None = None, timeout: float = 30.0) -> HTTPResult:
    """One request on a fresh connection (no keep-alive state shared between threads or restarts).

    Raises OSError / http.client.HTTPException when there is no answer (refused, reset, timeout).
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = {"Connection": "close"}
        if headers:
            hdrs.update(headers)
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return HTTPResult(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        conn.close()


def post_usage(port: int, records, ndjson: bool = False, timeout: float = 30.0) -> HTTPResult:
    """POST /v1/usage with one object (dict) or a list (JSON array, or NDJSON lines)."""
    if ndjson:
        body = ("\n".join(json.dumps(r) for r in records) + "\n").encode("utf-8")
        ctype = "application/x-ndjson"
    else:
        body = json.dumps(records).encode("utf-8")
        ctype = "application/json"
    return http_request(port, "POST", "/v1/usage", body, {"Content-Type": ctype}, timeout=timeout)


def patch_usage(port: int, record_id: str, fields: dict, timeout: float = 30.0) -> HTTPResult:
    from urllib.parse import quote
    return http_request(port, "PATCH", "/v1/usage/" + quote(record_id, safe=""),
                        json.dumps(fields).encode("utf-8"), {"Content-Type": "application/json"}, timeout=timeout)


def scrape(port: int) -> str:
    r = http_request(port, "GET", "/metrics")
    assert r.status == 200, f"/metrics answered {r.status}: {r.body[:500]!r}"
    return r.text


# ---------------------------------------------------------------------------------------------------
# Server process


class Server:
    """One `tokenmeter serve` process on a temp db. Start/stop/kill only the process this object started."""

    def __init__(self, db_path: Path, log_dir: Path, env: dict[str, str] | None = None,
                 extra_args: list[str] | None = None, fixed_port: int | None = None):
        self.db_path = Path(db_path)
        self.log_dir = Path(log_dir)
        self.extra_env = env or {}
        self.extra_args = list(extra_args or [])  # e.g. ["--config", FILE]
        self.fixed_port = fixed_port  # restart on the same port (clients keep their address); None: a new free port
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.log_path: Path | None = None
        self._starts = 0

    def start(self, ready_timeout: float = 60.0) -> "Server":
        assert self.proc is None or self.proc.poll() is not None, "already running"
        binary = binary_path()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENMETER_")}
        env.update(self.extra_env)
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between probe and bind: retry on a new one
            wait_for_binary(binary)
            self._starts += 1
            if self.fixed_port is not None and _attempt > 0:
                time.sleep(1.0)  # the same port again: give the kernel a moment to release it
            self.port = self.fixed_port if self.fixed_port is not None else free_port()
            self.log_path = self.log_dir / f"server-{self._starts}.log"
            log = open(self.log_path, "wb")
            try:
                self.proc = subprocess.Popen(
                    [binary, "serve", "--db", str(self.db_path), "--host", "127.0.0.1", "--port", str(self.port)]
                    + self.extra_args,
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                    cwd=str(self.log_dir),
                )
            except OSError as e:  # e.g. ETXTBSY / ENOENT while the binary is being relinked
                log.close()
                last_error = repr(e)
                time.sleep(2.0)
                continue
            log.close()
            deadline = time.monotonic() + ready_timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    if http_request(self.port, "GET", "/healthz", timeout=2.0).status == 200:
                        return self
                except (OSError, http.client.HTTPException):
                    pass
                time.sleep(0.05)
            if self.proc.poll() is None:
                self.kill()
                pytest.fail(f"server did not answer /healthz within {ready_timeout} s; log:\n{self.log()}")
            last_error = f"exit code {self.proc.returncode}; log:\n{self.log()}"
        pytest.fail(f"server failed to start: {last_error}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:] if self.log_path else ""
        except OSError:
            return ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL (a crash): no graceful shutdown, no chance to flush anything."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def terminate(self, timeout: float = 10.0) -> tuple[int | None, float]:
        """SIGTERM; returns (exit code or None if it did not exit in time, seconds taken)."""
        assert self.proc is not None
        start = time.monotonic()
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, time.monotonic() - start
        return code, time.monotonic() - start

    def stop(self) -> None:
        """Cleanup: SIGTERM, then SIGKILL if it lingers."""
        if self.proc is not None and self.proc.poll() is None:
            code, _ = self.terminate(timeout=15.0)
            if code is None:
                self.kill()

    def query(self, sql: str, params=()) -> list[tuple]:
        return query_db(self.db_path, sql, params)


def query_db(db_path: Path, sql: str, params=()) -> list[tuple]:
    """Read-only query (works while the server runs: WAL readers do not block the writer)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30.0)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def stored_ids(db_path: Path) -> list[str]:
    return [row[0] for row in query_db(db_path, "SELECT id FROM usage_records")]


@pytest.fixture
def server_factory(tmp_path):
    """Makes servers on tmp_path/tokenmeter.sqlite (same db for every server of one test); stops them all."""
    servers: list[Server] = []

    def make(env: dict[str, str] | None = None, db: Path | None = None, **kwargs) -> Server:
        s = Server(db or tmp_path / "tokenmeter.sqlite", tmp_path, env, **kwargs)
        servers.append(s)
        return s

    yield make
    for s in servers:
        try:
            s.stop()
        except Exception:  # noqa: BLE001 - cleanup must reach every server
            s.kill()


# ---------------------------------------------------------------------------------------------------
# Prometheus text format 0.0.4 parser


class MetricsParseError(ValueError):
    pass


_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


def _parse_labels(line: str, i: int) -> tuple[tuple[tuple[str, str], ...], int]:
    """Parses `{name="value",...}` starting at line[i] == '{'; returns (labels, index after '}')."""
    assert line[i] == "{"
    i += 1
    labels: list[tuple[str, str]] = []
    n = len(line)
    while True:
        while i < n and line[i] == " ":
            i += 1
        if i < n and line[i] == "}":
            return tuple(labels), i + 1
        start = i
        while i < n and (line[i].isalnum() or line[i] == "_"):
            i += 1
        name = line[start:i]
        if not name or i >= n or line[i] != "=":
            raise MetricsParseError(f"bad label name at column {start}: {line!r}")
        i += 1
        if i >= n or line[i] != '"':
            raise MetricsParseError(f"label value must be quoted at column {i}: {line!r}")
        i += 1
        value = []
        while True:
            if i >= n:
                raise MetricsParseError(f"unterminated label value: {line!r}")
            c = line[i]
            if c == "\\":
                if i + 1 >= n or line[i + 1] not in _ESCAPES:
                    raise MetricsParseError(f"bad escape in label value at column {i}: {line!r}")
                value.append(_ESCAPES[line[i + 1]])
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                value.append(c)
                i += 1
        if any(existing == name for existing, _ in labels):
            raise MetricsParseError(f"duplicate label {name}: {line!r}")
        labels.append((name, "".join(value)))
        while i < n and line[i] == " ":
            i += 1
        if i < n and line[i] == ",":
            i += 1
            continue
        if i < n and line[i] == "}":
            return tuple(labels), i + 1
        raise MetricsParseError(f"expected ',' or '}}' at column {i}: {line!r}")


def _parse_value(text: str) -> float:
    special = {"+Inf": math.inf, "Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}
    if text in special:
        return special[text]
    return float(text)


def parse_metrics(text: str) -> dict[tuple[str, frozenset], float]:
    """Samples of a text-format exposition: {(name, frozenset(labels.items())): value}.

    Comment lines (# HELP / # TYPE / others) and blank lines are skipped. Raises MetricsParseError on
    anything malformed, including the same series twice.
    """
    samples: dict[tuple[str, frozenset], float] = {}
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        i = 0
        n = len(line)
        while i < n and (line[i].isalnum() or line[i] in "_:"):
            i += 1
        name = line[:i]
        if not name:
            raise MetricsParseError(f"line {lineno}: no metric name: {line!r}")
        labels: tuple[tuple[str, str], ...] = ()
        if i < n and line[i] == "{":
            labels, i = _parse_labels(line, i)
        rest = line[i:].split()
        if len(rest) not in (1, 2):
            raise MetricsParseError(f"line {lineno}: expected value [timestamp]: {line!r}")
        try:
            value = _parse_value(rest[0])
        except ValueError:
            raise MetricsParseError(f"line {lineno}: bad value {rest[0]!r}: {line!r}") from None
        key = (name, frozenset(labels))
        if key in samples:
            raise MetricsParseError(f"line {lineno}: duplicate series {line!r}")
        samples[key] = value
    return samples


def family(samples: dict, name: str) -> dict[frozenset, float]:
    """The samples of one metric name: {frozenset(labels): value}."""
    return {labels: value for (n, labels), value in samples.items() if n == name}


def family_sum(samples: dict, name: str, **match: str) -> float:
    return sum(v for labels, v in family(samples, name).items()
               if all((k, val) in labels for k, val in match.items()))


def labels_dict(labels: frozenset) -> dict[str, str]:
    return dict(labels)


def metrics_for(port: int) -> dict:
    return parse_metrics(scrape(port))
