"""One keep-alive HTTP connection to the server (http.client), and how to read its answers."""

from __future__ import annotations

import email.utils
import http.client
import json
import ssl
import time
from typing import Any, Dict, NamedTuple, Optional
from urllib.parse import quote, urlsplit

from ._version import __version__

USER_AGENT = f"tokenmeter-python/{__version__}"

# Answers worth retrying: the request may succeed later unchanged (CONTRACT 3: 503 + Retry-After).
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class Answer(NamedTuple):
    status: int
    headers: Dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None

    def message(self) -> str:
        """The server's `{"error": "..."}` message, else the start of the body."""
        parsed = self.json()
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
            return str(parsed["error"])
        text = self.body[:500].decode("utf-8", "replace").strip()
        return text or f"HTTP {self.status}"


def retry_after_seconds(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """`Retry-After` as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class Transport:
    """Sends requests to one base URL over one reused connection. Not thread-safe: one owner."""

    def __init__(self, url: str, token: Optional[str], timeout: float,
                 ssl_context: Optional[ssl.SSLContext] = None):
        parts = urlsplit(url if "://" in url else "http://" + url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"url: scheme must be http or https, got {parts.scheme!r}")
        if not parts.hostname:
            raise ValueError(f"url: no host in {url!r}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.base_headers = {"User-Agent": USER_AGENT}
        if token:
            self.base_headers["Authorization"] = f"Bearer {token}"
        self._conn: Optional[http.client.HTTPConnection] = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.https:
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout,
                    context=self.ssl_context or ssl.create_default_context())
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def request(self, method: str, path: str, body: bytes, headers: Dict[str, str]) -> Answer:
        """One request; raises OSError / http.client.HTTPException when there is no answer."""
        conn = self._connection()
        all_headers = dict(self.base_headers)
        all_headers.update(headers)
        try:
            conn.request(method, self.prefix + path, body=body, headers=all_headers)
            resp = conn.getresponse()
            data = resp.read()
        except BaseException:
            self.close()  # a half-used connection is never reused
            raise
        answer = Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        if resp.will_close:
            self.close()
        return answer

    def post_ndjson(self, body: bytes, gzipped: bool) -> Answer:
        headers = {"Content-Type": "application/x-ndjson"}
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        return self.request("POST", "/v1/usage", body, headers)

    def patch(self, record_id: str, body: bytes) -> Answer:
        return self.request("PATCH", "/v1/usage/" + quote(record_id, safe=""), body,
                            {"Content-Type": "application/json"})

