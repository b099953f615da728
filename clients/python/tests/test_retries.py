"""How the client answers each kind of failure, through a fault-injecting proxy in front of the real server:
a lost answer is retried with the same ids (stored once, counted as a duplicate); 503 + Retry-After is
honoured; 408, 429 and 5xx are retried; other 4xx are not; 413 splits the batch."""

from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import List, Optional, Tuple

import pytest

from conftest import query_db, url_of

from tokenmeter import TokenMeter
from tokenmeter._transport import retry_after_seconds


class FaultProxy:
    """Forwards requests to the server, except that the next planned faults are applied in order:
    ("drop_answer",) forwards the request, then closes the connection without answering;
    ("status", code, retry_after) answers `code` without forwarding."""

    def __init__(self, server_port: int):
        self.server_port = server_port
        self.plan: List[Tuple] = []
        self.log: List[Tuple[float, str, int, int]] = []  # (time, fault or "forward", status, body bytes)
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with proxy.lock:
                    fault = proxy.plan.pop(0) if proxy.plan else None
                if fault and fault[0] == "status":
                    code, retry_after = fault[1], fault[2]
                    with proxy.lock:
                        proxy.log.append((time.monotonic(), f"status {code}", code, len(body)))
                    payload = b'{"error":"injected by the test proxy"}'
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    if retry_after is not None:
                        self.send_header("Retry-After", str(retry_after))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection("127.0.0.1", proxy.server_port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                with proxy.lock:
                    proxy.log.append((time.monotonic(), fault[0] if fault else "forward", resp.status, len(body)))
                if fault and fault[0] == "drop_answer":
                    self.close_connection = True
                    self.connection.shutdown(2)  # committed by the server, but the client never hears it
                    return
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = _handle
            do_PATCH = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def proxy(server):
    p = FaultProxy(server.port)
    yield p
    p.close()


def meter_for(url: str, errors, **kw) -> TokenMeter:
    options = dict(on_error=errors, flush_interval=30, max_backoff=0.2, register_atexit=False, timeout=5)
    options.update(kw)
    return TokenMeter(url, **options)


def test_a_lost_answer_is_retried_with_the_same_ids_and_stored_once(server, proxy, errors):
    proxy.plan = [("drop_answer",), ("drop_answer",)]
    meter = meter_for(proxy.url, errors)
    ids = [meter.record(operation="lost", model="gpt-4o-mini", input_tokens=i) for i in range(20)]
    assert meter.flush(20)
    meter.close()
    assert [entry[1] for entry in proxy.log] == ["drop_answer", "drop_answer", "forward"]
    assert len({entry[3] for entry in proxy.log}) == 1, "every attempt sent the same body"
    rows = query_db(server.db_path, "SELECT id, COUNT(*) FROM usage_records GROUP BY id")
    assert sorted(r[0] for r in rows) == sorted(ids) and all(r[1] == 1 for r in rows)
    s = meter.stats()
    assert (s["accepted"], s["duplicates"], s["retries"]) == (0, 20, 2), s
    assert errors.items == []


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried(server, proxy, errors, status):
    proxy.plan = [("status", status, None)]
    meter = meter_for(proxy.url, errors)
    rid = meter.record(operation="retry", model="gpt-4o-mini")
    assert meter.flush(20)
    meter.close()
    assert [e[2] for e in proxy.log] == [status, 200]
    assert query_db(server.db_path, "SELECT COUNT(*) FROM usage_records WHERE id = ?", (rid,)) == [(1,)]
    assert errors.items == []


def test_503_retry_after_is_honoured(server, proxy, errors):
    proxy.plan = [("status", 503, 1)]
    meter = meter_for(proxy.url, errors, max_backoff=0.05)
    meter.record(operation="busy", model="gpt-4o-mini")
    assert meter.flush(20)
    meter.close()
    (t1, *_), (t2, *_) = proxy.log
    assert t2 - t1 >= 0.95, f"retried after {t2 - t1:.3f} s despite Retry-After: 1"


@pytest.mark.parametrize("status", [400, 401, 404, 409, 415, 422])
def test_other_4xx_are_reported_with_the_message_and_not_retried(server, proxy, errors, status):
    proxy.plan = [("status", status, None)]
    meter = meter_for(proxy.url, errors)
    rid = meter.record(operation="nope", model="gpt-4o-mini")
    assert meter.flush(20)
    meter.close()
    assert len(proxy.log) == 1
    (err,) = errors.items
    assert (err.kind, err.status, err.record_ids, err.message) == ("rejected", status, [rid], "injected by the test proxy")


def test_413_splits_the_batch_until_it_fits(server, proxy, errors):
    proxy.plan = [("status", 413, None), ("status", 413, None)]
    meter = meter_for(proxy.url, errors)
    ids = [meter.record(operation="big", model="gpt-4o-mini", input_tokens=i) for i in range(8)]
    assert meter.flush(20)
    meter.close()
    sizes = [e[3] for e in proxy.log]
    assert sizes[1] < sizes[0] and len(proxy.log) == 5  # 8 -> 4 (413) -> 2 + 2, then the other 4
    assert {r[0] for r in query_db(server.db_path, "SELECT id FROM usage_records")} == set(ids)
    assert errors.items == []


def test_retry_timeout_reports_failed_records(errors):
    from conftest import free_port
    meter = meter_for(f"http://127.0.0.1:{free_port()}", errors, retry_timeout=0.5)
    rid = meter.record(operation="gone", model="gpt-4o-mini")
    assert meter.flush(10)  # settled: given up and reported
    meter.close(1)
    (err,) = errors.items
    assert err.kind == "failed" and err.record_ids == [rid] and "ConnectionRefusedError" in err.message


@pytest.mark.parametrize("value,expected", [
    ("1", 1.0), ("0", 0.0), (" 2.5 ", 2.5), ("-3", 0.0), ("soon", None), ("", None), (None, None),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
])
def test_retry_after_values(value: Optional[str], expected: Optional[float]):
    assert retry_after_seconds(value, now=time.time()) == expected


def test_retry_after_http_date_in_the_future():
    import email.utils
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= retry_after_seconds(when) <= 31
