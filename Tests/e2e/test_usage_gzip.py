"""POST /v1/usage with Content-Encoding: gzip: read like the plain body; the body limit holds for
the inflated size too (413); a corrupt body or an unknown encoding is refused with its reason."""

from __future__ import annotations

import gzip
import json

from conftest import http_request


def records(n: int, prefix: str) -> bytes:
    return ("\n".join(json.dumps({"id": f"{prefix}-{i}", "operation": "chat", "model": "gpt-4o-mini",
                                  "input_tokens": 100 + i}) for i in range(n)) + "\n").encode()


def test_a_gzip_body_is_read_like_the_plain_one(server_factory):
    server = server_factory().start()
    body = gzip.compress(records(200, "gz"))
    headers = {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
    r = http_request(server.port, "POST", "/v1/usage", body, headers)
    assert r.status == 200 and r.json()["accepted"] == 200, r
    again = http_request(server.port, "POST", "/v1/usage", body, headers)
    assert again.json()["duplicates"] == 200
    assert server.query("SELECT count(*), sum(input_tokens) FROM usage_records")[0] == (200, sum(100 + i for i in range(200)))


def test_gzip_limits_and_errors(server_factory, tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"body_limit_bytes": 64 * 1024}))
    server = server_factory(extra_args=["--config", str(config)]).start()
    bomb = gzip.compress(b" " * (10 * 1024 * 1024) + records(1, "bomb"))  # small on the wire, 10 MiB inflated
    assert len(bomb) < 64 * 1024
    r = http_request(server.port, "POST", "/v1/usage", bomb, {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status == 413 and "inflates to more than" in r.json()["error"], r
    r = http_request(server.port, "POST", "/v1/usage", b"\x1f\x8bnot really gzip",
                     {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status == 400 and "Content-Encoding: gzip" in r.json()["error"], r
    r = http_request(server.port, "POST", "/v1/usage", records(1, "br"), {"Content-Type": "application/json", "Content-Encoding": "br"})
    assert r.status == 415 and "br is not supported" in r.json()["error"], r
    assert server.query("SELECT count(*) FROM usage_records")[0][0] == 0
