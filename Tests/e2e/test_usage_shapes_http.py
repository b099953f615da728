"""Usage shapes over HTTP without any SDK (issue 13): NDJSON sent as application/json, and
unrecognized usage fields on pending records counted once, when the record completes."""
from __future__ import annotations

import json

from conftest import family_sum, http_request, metrics_for, patch_usage, post_usage


def test_ndjson_with_json_content_type_is_read_line_by_line(server_factory):
    s = server_factory().start()
    lines = [{"id": f"nd-{i}", "operation": "chat", "model": "gpt-4o-mini",
              "usage": {"prompt_tokens": 10, "completion_tokens": 2, "prompt_tokens_details": None}} for i in range(3)]
    body = ("\n".join(json.dumps(line) for line in lines) + "\n").encode()
    r = http_request(s.port, "POST", "/v1/usage", body, {"Content-Type": "application/json"})
    assert r.status == 200, r.body
    assert r.json()["accepted"] == 3 and r.json()["rejected"] == 0
    assert sorted(row[0] for row in s.query("SELECT id FROM usage_records")) == ["nd-0", "nd-1", "nd-2"]
    # One value followed by garbage on the same line stays a JSON error.
    bad = http_request(s.port, "POST", "/v1/usage", b'{"operation":"c","model":"m"} x\n{}', {"Content-Type": "application/json"})
    assert bad.status == 400 and "invalid JSON" in bad.text


def test_pending_record_with_unrecognized_usage_is_counted_once_on_completion(server_factory):
    s = server_factory().start()
    r = post_usage(s.port, {"id": "p-1", "operation": "agent", "model": "claude-sonnet-4-5", "status": "pending"})
    assert r.status == 200 and r.json()["accepted"] == 1
    usage = {"input_tokens": 100, "output_tokens": 20, "cache_read_input_tokens": 0, "output_tokens_details": None,
             "server_tool_use": {"web_search_requests": 4, "web_fetch_requests": 0}}
    done = patch_usage(s.port, "p-1", {"status": "success", "usage": usage})
    assert done.status == 200, done.body
    assert done.json()["unrecognized_usage"] == ["server_tool_use.web_search_requests"]
    (row,) = s.query("SELECT input_tokens, output_tokens, unrecognized_usage FROM usage_records WHERE id = 'p-1'")
    assert row[:2] == (100, 20) and json.loads(row[2]) == {"server_tool_use.web_search_requests": 4}
    samples = metrics_for(s.port)
    assert family_sum(samples, "tokenmeter_unrecognized_usage_total", field="server_tool_use.web_search_requests") == 1

    # Sent pending with the field already in its usage: counted at completion, not at the POST.
    r = post_usage(s.port, {"id": "p-2", "operation": "agent", "model": "claude-sonnet-4-5", "status": "pending", "usage": usage})
    assert r.json()["warnings"] == [{"index": 0, "unrecognized_usage": ["server_tool_use.web_search_requests"]}]
    assert family_sum(metrics_for(s.port), "tokenmeter_unrecognized_usage_total") == 1
    assert patch_usage(s.port, "p-2", {"status": "success"}).status == 200
    assert family_sum(metrics_for(s.port), "tokenmeter_unrecognized_usage_total") == 2
