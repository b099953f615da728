"""Nothing a client sends can crash the server or corrupt stored data (CONTRACT 3), and valid records are
kept even when others in the same body are rejected.

One server takes a corpus of hostile bodies on POST /v1/usage: broken JSON, invalid UTF-8, wrong types for
every field of the record schema (CONTRACT 1), out-of-range numbers, deep nesting, huge strings, 100 000
records in one body, empty bodies, NDJSON with blank and broken lines, timestamps out of range and
label-hostile strings in every label field. Every case is sent alone, and (where it fits on one line) as
the middle line of an NDJSON body between two valid records, and (where it is valid JSON) as the middle
element of a JSON array. Each case states what the contract and README say the answer is:

- reject: 400 `{"accepted":0,...,"errors":[{"index":0,"error":"<field>: ..."}]}` alone; in a mixed body 200
  with the two valid records accepted and `errors == [{"index":1,...}]`;
- accept: stored safely (2xx), and the stored row holds exactly what was sent (or the documented
  normalization: truncation of `error_message`, lower-cased provider, ...);
- 413 over the body limit, nothing stored.

After every request /healthz must answer 200. At the end: the store holds exactly the records the server
acknowledged, the summary report and the counters agree with it, and `/metrics` passes our parser and
`promtool check metrics`. `pytest -s` prints a table of every case's outcome.
"""

from __future__ import annotations

import http.client
import json
import re
import select
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

import pytest

from conftest import Server, family, family_sum, http_request, parse_metrics, query_db, scrape

MODEL = "corpus-model"          # not in the catalog: cost 0 unless cost_usd is given
OPERATION = "corpus"
MIB = 1024 * 1024
BODY_LIMIT = 8 * MIB


class Raw:
    """A literal JSON token (or invalid bytes) put into a record where a value goes."""

    def __init__(self, text: bytes | str):
        self.text = text.encode("latin-1") if isinstance(text, str) else text


def encode(record: dict) -> bytes:
    """JSON of `record` (compact, one line); Raw values are spliced in as they are."""
    raws: dict[str, bytes] = {}

    def sub(value):
        if isinstance(value, Raw):
            key = f"__RAW_{len(raws)}__"
            raws[key] = value.text
            return key
        if isinstance(value, dict):
            return {k: sub(v) for k, v in value.items()}
        return value

    data = json.dumps(sub(record), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    for key, text in raws.items():
        data = data.replace(b'"' + key.encode() + b'"', text)
    return data


# ---------------------------------------------------------------------------------------------------
# Cases


@dataclass
class Case:
    group: str
    name: str
    build: Callable[[str], tuple[bytes, str | None]]   # variant tag -> (element bytes, id to look up or None)
    expect: str                                        # "reject" | "accept"
    error: str | None = None                           # regex the rejection's error must match (re.search)
    check: Callable[[dict], None] | None = None        # for accept: asserts on the stored row
    ndjson: bool = True                                # may be a line of an NDJSON body
    array: bool = True                                 # may be an element of a JSON array body

    @property
    def key(self) -> str:
        return f"{self.group}:{self.name}"


CASES: list[Case] = []
_seq = [0]


def case_id() -> str:
    _seq[0] += 1
    return f"c{_seq[0]:04d}"


def add(group: str, name: str, fields: dict, expect: str, error: str | None = None,
        check: Callable[[dict], None] | None = None, base: dict | None = None, drop: tuple = (),
        ndjson: bool = True, array: bool = True) -> None:
    """A case whose element is a record: base fields (id, operation, model) overlaid with `fields`."""
    cid = case_id()

    def build(variant: str, fields=fields, base=base, drop=drop, cid=cid):
        rec_id = f"{cid}.{variant}"
        record = {"id": rec_id, "operation": OPERATION, "model": MODEL}
        record.update(base or {})
        for k in drop:
            record.pop(k, None)
        record.update(fields)
        given = record.get("id")
        return encode(record), (given if isinstance(given, str) else None)

    valid_json = not any(isinstance(v, Raw) for v in _walk(fields))
    CASES.append(Case(group, name, build, expect, error, check, ndjson, array and valid_json))


def add_raw(group: str, name: str, element: bytes, expect: str, error: str | None = None,
            ndjson: bool = True, array: bool = False, check=None) -> None:
    """A case whose element is the given bytes as they are (no id: nothing to look up)."""
    CASES.append(Case(group, name, lambda variant, element=element: (element, None), expect, error, check,
                      ndjson and b"\n" not in element and element.strip() != b"", array))


def _walk(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    else:
        yield value


def field_error(field: str) -> str:
    return "^" + re.escape(field) + ": "


INVALID_JSON = r"^invalid JSON"

# --- truncated and invalid JSON; top-level values that are not records --------------------------------
for name, element in [
    ("open brace", b"{"),
    ("truncated after key", b'{"operation":"corpus","model":'),
    ("missing closing brace", b'{"operation":"corpus","model":"m"'),
    ("unterminated string", b'{"operation":"corpus","model":"m'),
    ("single quotes", b"{'operation':'corpus','model':'m'}"),
    ("missing comma", b'{"operation":"corpus" "model":"m"}'),
    ("bare word", b"hello"),
    ("trailing garbage", b'{"operation":"corpus","model":"m"} trailing'),
    ("two objects on one line", b'{"operation":"corpus","model":"m"}{"operation":"corpus","model":"m"}'),
    ("comment", b'/* c */ {"operation":"corpus","model":"m"}'),
    ("unescaped control char", b'{"operation":"cor\x01pus","model":"m"}'),
    ("raw NUL byte in string", b'{"operation":"cor\x00pus","model":"m"}'),
    ("truncated array (line)", b'[{"operation":"corpus","model":"m"},'),
    ("unclosed nesting 10000 arrays", b"[" * 10000),
    ("unclosed nesting 10000 objects", b'{"a":' * 10000),
]:
    add_raw("json", name, element, "reject", INVALID_JSON)

# Whole bodies only: their meaning differs between a JSON body and an NDJSON line.
add_raw("json", "string at top level", b'"str"', "reject", r"^record: must be a JSON object, got a string", ndjson=False)
add_raw("json", "number at top level", b"123", "reject", r"^record: must be a JSON object, got a number", ndjson=False)
add_raw("json", "null at top level", b"null", "reject", r"^record: must be a JSON object, got null", ndjson=False)
add_raw("json", "true at top level", b"true", "reject", r"^record: must be a JSON object, got a boolean", ndjson=False)
add_raw("json", "array of a number", b"[1]", "reject", r"^record: must be a JSON object, got a number", ndjson=False)
add_raw("json", "empty array", b"[]", "reject", r"^body: empty JSON array", ndjson=False)
# The JSON parser (swift-foundation) tolerates a trailing comma; the record is complete, so storing it is safe.
add_raw("json", "trailing comma in an object (tolerated)", b'{"operation":"corpus","model":"m",}', "accept", array=True)
add("json", "empty object", {}, "reject", r"^operation: required", drop=("id", "operation", "model"))
add("json", "operation missing", {}, "reject", r"^operation: required", drop=("operation",))
add("json", "model missing", {}, "reject", r"^model: required", drop=("model",))
add("json", "operation null", {"operation": None}, "reject", r"^operation: required")
# Duplicate keys: RFC 8259 leaves the meaning open; one of the values is kept, which is safe.
add_raw("json", "duplicate key", b'{"operation":"corpus","operation":"other","model":"m"}', "accept", array=True)

# --- invalid UTF-8 -------------------------------------------------------------------------------------
for name, element in [
    ("0xff 0xfe before the object", b'\xff\xfe{"operation":"corpus","model":"m"}'),
    ("0xff in a value", b'{"operation":"corpus\xff","model":"m"}'),
    ("0xff in a key", b'{"\xff":1,"operation":"corpus","model":"m"}'),
    ("overlong encoding", b'{"operation":"\xc0\xaf","model":"m"}'),
    ("UTF-8 encoded surrogate", b'{"operation":"\xed\xa0\x80","model":"m"}'),
    ("truncated multibyte sequence", b'{"operation":"\xe6\x97","model":"m"}'),
    ("lone continuation byte", b'{"operation":"a\x80b","model":"m"}'),
    ("latin-1 text", b'{"operation":"caf\xe9","model":"m"}'),
    ("lone surrogate escape", b'{"operation":"\\ud800","model":"m"}'),
    ("reversed surrogate escapes", b'{"operation":"\\udc00\\ud800","model":"m"}'),
]:
    add_raw("utf8", name, element, "reject", INVALID_JSON)
# RFC 8259 lets a parser ignore a leading BOM; the server does, which is safe.
add_raw("utf8", "UTF-8 BOM before the object", b'\xef\xbb\xbf{"operation":"corpus","model":"m"}', "accept",
        ndjson=False)

# --- wrong types for every field of the record schema -----------------------------------------------------
STRING_VALUES = {"a string": "10"}
NUMBER_VALUES = {"an integer": 7, "a fraction": 1.5}
OTHER_VALUES = {"true": True, "an object": {"k": "v"}, "an array": ["x"]}


def wrong(field: str, values: dict, error_field: str | None = None, base: dict | None = None) -> None:
    for label, value in values.items():
        add("types", f"{field} = {label}", {field: value}, "reject", field_error(error_field or field), base=base)


for f in ("service", "operation", "model", "provider", "plan", "error_message", "category", "status"):
    wrong(f, {**NUMBER_VALUES, **OTHER_VALUES})
for f in ("id", "user_id", "error_type"):  # integers are accepted as strings (CONTRACT 1: user_id "string or integer")
    wrong(f, {"a fraction": 1.5, **OTHER_VALUES})
add("types", "user_id = integer (stored as a string)", {"user_id": 12345}, "accept",
    check=lambda row: _eq(row["user_id"], "12345"))
add("types", "error_type = integer (stored as a string)", {"error_type": 429}, "accept",
    check=lambda row: _eq(row["error_type"], "429"))
wrong("timestamp", OTHER_VALUES)
wrong("paying", {**STRING_VALUES, "an integer": 1, "an object": {}, "an array": []})
wrong("success", {**STRING_VALUES, "an integer": 1, "an object": {}})
for f in ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens"):
    wrong(f, {**STRING_VALUES, **OTHER_VALUES})
for f in ("cost_usd", "credits", "duration_ms"):
    wrong(f, {**STRING_VALUES, **OTHER_VALUES})
for label, value in {"an array": [1], "a string": "x", "a number": 1, "true": True}.items():
    add("types", f"units = {label}", {"units": value}, "reject", field_error("units"))
    add("types", f"usage = {label}", {"usage": value}, "reject", field_error("usage"))
for unit in ("requests", "images", "seconds", "minutes", "characters"):
    for label, value in {**STRING_VALUES, **OTHER_VALUES}.items():
        add("types", f"units.{unit} = {label}", {"units": {unit: value}}, "reject", field_error(f"units.{unit}"))
add("types", "units.unknown unit", {"units": {"parsecs": 1}}, "reject", field_error("units.parsecs"))
add("types", "usage.prompt_tokens = a string", {"usage": {"prompt_tokens": "1"}}, "reject",
    field_error("usage.prompt_tokens"))
add("types", "usage.prompt_tokens negative", {"usage": {"prompt_tokens": -1}}, "reject",
    field_error("usage.prompt_tokens"))
add("types", "category unknown", {"category": "hologram"}, "reject", field_error("category"))
add("types", "status unknown", {"status": "maybe"}, "reject", field_error("status"))
# README: a non-object `metadata` is kept under the key "metadata" (stored as JSON, never a label).
for label, value in {"a string": "str", "an array": [1, 2], "a number": 5}.items():
    add("types", f"metadata = {label} (kept as JSON)", {"metadata": value}, "accept",
        check=lambda row, value=value: _eq(json.loads(row["metadata"]), {"metadata": value}))

# --- numbers: negative, fractional, huge, NaN/Infinity literals, for every numeric field --------------------
COUNT_FIELDS = ["input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens"]
QUANTITY_FIELDS = {  # field -> (stored column, scale to the stored integer or float, maximum accepted)
    "cost_usd": ("cost_nano", 1e9, 1_000_000),
    "credits": ("credits_micro", 1e6, 1e9),
    "duration_ms": ("duration_us", 1e3, 1e12),
    **{f"units.{u}": (f"units_{u}", 1.0, 1e12) for u in ("requests", "images", "seconds", "minutes", "characters")},
}


def numeric_fields(name: str, text: str) -> dict:
    value = Raw(text)
    if name.startswith("units."):
        return {"units": {name.split(".", 1)[1]: value}}
    return {name: value}


def stored_number(name: str, text: str):
    def check(row: dict):
        x = float(text) if text != "null" else None
        if name in COUNT_FIELDS:
            _eq(row[name], int(x or 0))
        else:
            column, scale, _ = QUANTITY_FIELDS[name]
            if x is None:
                assert row[column] in (None, 0), (column, row[column])
            elif column.startswith("units_"):
                _eq(row[column], x)
            else:
                _eq(row[column], round(x * scale))
    return check


REJECTED_NUMBERS = ["-1", "-0.5", "-1e300", "1e300", "9223372036854775807", "9223372036854775808",
                    "-9223372036854775809", "18446744073709551616", "123456789012345678901234567890"]
INVALID_NUMBER_LITERALS = ["NaN", "Infinity", "-Infinity", "nan", "inf", "+1", "0x10", ".5", "01"]

for fname in COUNT_FIELDS + list(QUANTITY_FIELDS):
    base = {"output_tokens": 10**12} if fname == "reasoning_tokens" else None  # reasoning is part of output
    err = field_error(fname)
    for text in REJECTED_NUMBERS:
        add("numbers", f"{fname} = {text}", numeric_fields(fname, text), "reject", err, base=base)
    # Beyond the range of a double: the JSON parser refuses it (its message names the path).
    add("numbers", f"{fname} = 1e400", numeric_fields(fname, "1e400"), "reject",
        INVALID_JSON + ".*" + re.escape(fname.split(".")[-1]), base=base, array=False)
    for text in INVALID_NUMBER_LITERALS:
        add("numbers", f"{fname} = {text} (not JSON)", numeric_fields(fname, text), "reject", INVALID_JSON, base=base)
    for text in ["0", "-0", "1e2", "1e-400", "null"]:
        add("numbers", f"{fname} = {text}", numeric_fields(fname, text), "accept",
            check=stored_number(fname, text), base=base)
    if fname in COUNT_FIELDS:
        add("numbers", f"{fname} = 1.5", numeric_fields(fname, "1.5"), "reject", err, base=base)
        add("numbers", f"{fname} = 10^12 (the limit)", numeric_fields(fname, str(10**12)), "accept",
            check=stored_number(fname, str(10**12)), base=base)
        add("numbers", f"{fname} = 10^12+1", numeric_fields(fname, str(10**12 + 1)), "reject", err, base=base)
    else:
        limit = QUANTITY_FIELDS[fname][2]
        add("numbers", f"{fname} = 1.5", numeric_fields(fname, "1.5"), "accept",
            check=stored_number(fname, "1.5"), base=base)
        add("numbers", f"{fname} = {limit:g} (the limit)", numeric_fields(fname, repr(float(limit))), "accept",
            check=stored_number(fname, repr(float(limit))), base=base)
        add("numbers", f"{fname} = above the limit", numeric_fields(fname, repr(float(limit) * 1.000001)),
            "reject", err, base=base)
add("numbers", "reasoning_tokens > output_tokens", {"output_tokens": 5, "reasoning_tokens": 6}, "reject",
    field_error("reasoning_tokens"))

# --- nesting ----------------------------------------------------------------------------------------------
DEEP = 10000
# A JSON array body wraps the element one level deeper, so the array variant would reject the whole body.
add_raw("nesting", "10000 nested arrays as the body", b"[" * DEEP + b"]" * DEEP, "reject", INVALID_JSON)
add("nesting", "10000 nested objects in metadata",
    {"metadata": Raw(b'{"a":' * DEEP + b"1" + b"}" * DEEP)}, "reject", INVALID_JSON, array=False)
add("nesting", "10000 nested arrays in metadata",
    {"metadata": Raw(b'{"a":' + b"[" * DEEP + b"]" * DEEP + b"}")}, "reject", INVALID_JSON, array=False)
add("nesting", "10000 nested arrays in an unknown field", {"extra": Raw(b"[" * DEEP + b"]" * DEEP)},
    "reject", INVALID_JSON, array=False)
add("nesting", "50 nested objects in metadata (kept)",
    {"metadata": json.loads('{"a":' * 50 + "1" + "}" * 50)}, "accept",
    check=lambda row: _eq(json.loads(row["metadata"]), json.loads('{"a":' * 50 + "1" + "}" * 50)))

# --- big strings ------------------------------------------------------------------------------------------
ONE_MB = "x" * MIB
for f in ("service", "operation", "model", "provider", "plan", "error_type", "user_id", "id"):
    add("size", f"1 MB {f}", {f: ONE_MB}, "reject", field_error(f) + r"1048576 bytes, longer than the limit")
add("size", "1 MB error_message (truncated to 1 KiB)", {"error_message": ONE_MB, "status": "error"}, "accept",
    check=lambda row: _eq(row["error_message"], "x" * 1024))
add("size", "1 MB multi-byte error_message (cut at a character)", {"error_message": "日" * 350000}, "accept",
    check=lambda row: _eq(row["error_message"], "日" * (1024 // 3)))
add("size", "1 MB metadata value", {"metadata": {"prompt": ONE_MB}}, "reject", field_error("metadata"))
add("size", "1 MB unknown field", {"prompt": ONE_MB}, "reject", field_error("metadata"))
add("size", "1 MB key", {ONE_MB: 1}, "reject", field_error("metadata"))
add("size", "metadata just under 16 KiB (kept)", {"metadata": {"p": "y" * 16000}}, "accept",
    check=lambda row: _eq(json.loads(row["metadata"]), {"p": "y" * 16000}))
add("size", "label of exactly 256 bytes (kept)", {"operation": "o" * 256}, "accept",
    check=lambda row: _eq(row["operation"], "o" * 256))
add("size", "label of 257 bytes", {"operation": "o" * 257}, "reject", field_error("operation"))

# --- timestamps -------------------------------------------------------------------------------------------
NOW = datetime.now(timezone.utc)
for name, value in [
    ("RFC 3339 one day ahead", (NOW + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")),
    ("RFC 3339 ten minutes ahead", (NOW + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")),
    ("year 9999", "9999-12-31T23:59:59Z"),
    ("Unix seconds one day ahead", NOW.timestamp() + 86400),
    ("Unix milliseconds (1000x ahead)", int(NOW.timestamp() * 1000)),
    ("Unix 1e15", 1e15),
    ("Unix 1e300", 1e300),
    ("1969-12-31T23:59:59Z", "1969-12-31T23:59:59Z"),
    ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"),
    ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
    ("Unix -1", -1),
    ("Unix -86400.5", -86400.5),
    ("Unix -1e300", -1e300),
    ("200 days ago (beyond raw retention)", (NOW - timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%SZ")),
    ("month 13", "2025-13-01T00:00:00Z"),
    ("hour 25", "2025-01-01T25:00:00Z"),
    ("not a date", "yesterday"),
    ("empty string", ""),
    ("date only", "2025-01-01"),
]:
    add("timestamp", name, {"timestamp": value}, "reject", field_error("timestamp"))
add("timestamp", "created_at alias one day ahead",
    {"created_at": (NOW + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}, "reject", field_error("created_at"))
add("timestamp", "timestamp NaN (not JSON)", {"timestamp": Raw(b"NaN")}, "reject", INVALID_JSON)
_recent = int(NOW.timestamp()) - 600
add("timestamp", "Unix seconds 10 minutes ago (kept)", {"timestamp": _recent}, "accept",
    check=lambda row: _eq(row["ts"], _recent * 1000))
add("timestamp", "RFC 3339 with offset and fraction (kept)",
    {"timestamp": datetime.fromtimestamp(_recent, timezone(timedelta(hours=3))).strftime("%Y-%m-%dT%H:%M:%S.250+03:00")},
    "accept", check=lambda row: _eq(row["ts"], _recent * 1000 + 250))

# --- label-hostile strings in every label field -----------------------------------------------------------
HOSTILE = [
    'quote"inside', "back\\slash", "trailing backslash\\", "literal \\n (backslash n)", "new\nline",
    "two\n\nnewlines\n", "crlf\r\nx", "tab\tand\rcarriage return", "} 1\nfake_metric{a=\"b\"} 2",
    "brace}close{open", "hash # not a comment", "# TYPE evil counter", 'comma, equals= and "quotes"',
    "unicode Ünïcödé 日本語 Ωμέγα", "emoji 🚀🔥 👩\u200d💻", "line sep\u2028para sep\u2029nel\u0085",
    "del\u007f and bell\u0007", "zero width\u200bspace", "right-to-left \u202eevil", " spaces around ",
    "é" * 128,  # 256 bytes of UTF-8: at the limit
]
# A NUL byte is valid JSON ("\u0000") and a valid Swift string; the server must store it exactly or reject it.
NUL_STRINGS = ["nul\u0000byte", "trailing nul\u0000"]
LABEL_COLUMNS = {"service": "service", "operation": "operation", "model": "model_raw", "provider": "provider",
                 "error_type": "error_type", "plan": "plan"}


def stored_label(column: str, value: str):
    def check(row: dict):
        _eq(row[column], value.lower() if column == "provider" else value)  # README: provider names lower-cased
    return check


for f, column in LABEL_COLUMNS.items():
    for i, text in enumerate(HOSTILE):
        add("labels", f"{f} hostile #{i} {text[:24]!r}", {f: text}, "accept", check=stored_label(column, text))
    for text in NUL_STRINGS:
        # Either answer is safe: 400 naming the field, or stored exactly. Stored truncated is not.
        add("labels", f"{f} with a NUL byte {text!r}", {f: text}, "nul", field_error(f), check=stored_label(column, text))
    add("labels", f"{f} 10 KB", {f: "n" * 10240}, "reject", field_error(f) + "10240 bytes, longer than the limit of 256")
    add("labels", f"{f} 10 KB of hostile text", {f: ('"\\\n}#' * 2048)}, "reject", field_error(f))
    add("labels", f"{f} empty", {f: ""}, "reject", field_error(f) + "must not be empty")
    add("labels", f"{f} blank", {f: "   "}, "reject", field_error(f) + "must not be empty")
for i, text in enumerate(HOSTILE + NUL_STRINGS):
    add("labels", f"category hostile #{i} {text[:24]!r}", {"category": text}, "reject", field_error("category"))
add("labels", "category 10 KB", {"category": "c" * 10240}, "reject", field_error("category"))
add("labels", "category upper case (kept, lower-cased)", {"category": "TEXT_WITH_IMAGE"}, "accept",
    check=lambda row: _eq(row["category"], "text_with_image"))
for text in NUL_STRINGS:
    add("labels", f"user_id with a NUL byte {text!r}", {"user_id": text}, "nul", field_error("user_id"),
        check=lambda row, text=text: _eq(row["user_id"], text))


def _eq(actual, expected):
    assert actual == expected, f"stored {actual!r:.200}, expected {expected!r:.200}"


# ---------------------------------------------------------------------------------------------------
# The server and the bookkeeping shared by the tests of this module


class Corpus:
    def __init__(self, server: Server):
        self.server = server
        self.acknowledged = 0          # sum of "accepted" over every 2xx answer
        self.valid_ids: list[str] = []  # ids of the valid records sent next to hostile ones
        self.rows: list[tuple] = []     # (case, variant, status, summary, verdict, note)
        self._ok = 0
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return self.server.port

    def ok_record(self) -> bytes:
        self._ok += 1
        rid = f"ok-{self._ok:05d}"
        self.valid_ids.append(rid)
        return encode({"id": rid, "operation": OPERATION, "model": MODEL, "input_tokens": 10, "output_tokens": 2})

    def post(self, body: bytes, ctype: str, timeout: float = 60.0):
        r = http_request(self.port, "POST", "/v1/usage", body, {"Content-Type": ctype}, timeout=timeout)
        if 200 <= r.status < 300:
            with self._lock:
                self.acknowledged += r.json().get("accepted", 0)
        return r

    def assert_alive(self) -> None:
        assert self.server.running, f"server exited with {self.server.proc.returncode}; log:\n{self.server.log()}"
        h = http_request(self.port, "GET", "/healthz", timeout=10)
        assert h.status == 200, h

    def row(self, rec_id: str) -> dict | None:
        cols = [r[1] for r in query_db(self.server.db_path, "PRAGMA table_info(usage_records)")]
        found = query_db(self.server.db_path, "SELECT * FROM usage_records WHERE id = ?", (rec_id,))
        return dict(zip(cols, found[0])) if found else None


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("corpus")
    server = Server(tmp / "tokenmeter.sqlite", tmp)
    c = Corpus(server)
    try:
        server.start()
        yield c
    finally:
        server.stop()
        print_table(c.rows)


def printable(text) -> str:
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in str(text))


def print_table(rows: list[tuple]) -> None:
    if not rows:
        return
    print(f"\n\n=== bad-input corpus: {len(rows)} requests ===")
    print(f"{'case':70} {'variant':13} {'status':6} {'acc/rej':8} verdict  note")
    rows = [r[:4] + ["FAIL" if r[4] == "?" else r[4]] + r[5:] for r in map(list, rows)]  # "?": the test stopped
    for case, variant, status, summary, verdict, note in rows:
        print(f"{printable(case)[:70]:70} {variant:13} {status!s:6} {summary:8} {verdict:8} {printable(note)[:110]}")
    bad = [r for r in rows if r[4] != "ok"]
    print(f"=== {len(rows) - len(bad)} ok, {len(bad)} failed ===")
    for case, variant, status, summary, verdict, note in bad:
        print(f"FAILED {printable(case)} [{variant}]: {printable(note)[:600]}")


# ---------------------------------------------------------------------------------------------------
# One test per case


def check_case(c: Corpus, case: Case, variant: str, row: list) -> str:
    """Sends one variant of a case; fills `row` (the table line); returns a note; raises on a wrong answer."""
    element, rec_id = case.build(variant)
    oks: list[bytes] = []
    if variant == "alone":
        body, ctype, bad_index = element, "application/json", 0
    elif variant == "ndjson-mixed":
        oks = [c.ok_record(), c.ok_record()]
        body, ctype, bad_index = oks[0] + b"\n" + element + b"\n" + oks[1] + b"\n", "application/x-ndjson", 1
    else:
        oks = [c.ok_record(), c.ok_record()]
        body, ctype, bad_index = b"[" + oks[0] + b"," + element + b"," + oks[1] + b"]", "application/json", 1
    ok_ids = [json.loads(o)["id"] for o in oks]
    r = c.post(body, ctype)
    row[2] = r.status
    try:
        answer = r.json()
    except ValueError:
        raise AssertionError(f"answer is not JSON: {r}") from None
    assert isinstance(answer, dict), answer
    row[3] = f"{answer.get('accepted', '-')}/{answer.get('rejected', '-')}"
    n_ok = len(oks)

    expect = case.expect
    if expect == "nul":  # rejected naming the field, or stored exactly
        expect = "reject" if r.status == 400 or answer.get("rejected") else "accept"
    if expect == "reject":
        assert r.status == (400 if n_ok == 0 else 200), f"expected {400 if n_ok == 0 else 200}, got {r}"
        assert answer["accepted"] == n_ok and answer["rejected"] == 1 and answer["duplicates"] == 0, answer
        assert len(answer["errors"]) == 1 and answer["errors"][0]["index"] == bad_index, answer
        message = answer["errors"][0]["error"]
        assert isinstance(message, str) and message, answer
        assert case.error is None or re.search(case.error, message, re.S), \
            f"error {message[:300]!r} does not match {case.error!r}"
        if rec_id is not None:
            assert c.row(rec_id) is None, f"rejected record {rec_id!r} is in the store"
        note = message
    else:
        assert r.status == 200, f"expected 200, got {r}"
        assert answer == {"accepted": n_ok + 1, "duplicates": 0, "rejected": 0, "errors": []}, answer
        note = "stored"
        if rec_id is not None:
            row = c.row(rec_id)
            assert row is not None, f"record {rec_id!r} acknowledged but not in the store"
            if case.check:
                case.check(row)
                note = "stored, verified"
    for ok in ok_ids:
        assert c.row(ok) is not None, f"valid record {ok} next to the bad one is not stored"
    return note


@pytest.mark.parametrize("case", CASES, ids=[c.key for c in CASES])
def test_case(corpus: Corpus, case: Case):
    variants = ["alone"] + (["ndjson-mixed"] if case.ndjson else []) + (["array-mixed"] if case.array else [])
    failures = []
    for variant in variants:
        row = [case.key, variant, "-", "-", "?", ""]
        corpus.rows.append(row)
        try:
            note = check_case(corpus, case, variant, row)
            verdict = "ok"
        except (AssertionError, KeyError, TypeError) as e:
            note, verdict = f"{type(e).__name__}: {e}", "FAIL"
            failures.append(f"[{variant}] {note}")
        except (OSError, http.client.HTTPException) as e:
            note, verdict = f"no answer: {e!r}", "FAIL"
            failures.append(f"[{variant}] {note}")
        row[4:] = [verdict, note.replace("\n", "\\n")]
        corpus.assert_alive()
    assert not failures, f"{case.key}:\n" + "\n".join(failures)


# ---------------------------------------------------------------------------------------------------
# Whole-body cases


def test_empty_bodies(corpus: Corpus):
    for body, ctype, pattern in [
        (b"", "application/json", r"^body: empty"),
        (b" \n\t\r\n ", "application/json", r"^body: empty"),
        (b"", "application/x-ndjson", r"^body: no records"),
        (b"\n\n   \n\r\n\t\n", "application/x-ndjson", r"^body: no records"),
    ]:
        r = corpus.post(body, ctype)
        corpus.rows.append([f"body:empty {body!r} {ctype}", "alone", r.status, "", "?", ""])
        answer = r.json()
        assert r.status == 400, r
        assert answer["accepted"] == 0 and answer["rejected"] == 1 and len(answer["errors"]) == 1, answer
        assert re.search(pattern, answer["errors"][0]["error"]), answer
        corpus.rows[-1][4:] = ["ok", answer["errors"][0]["error"]]
        corpus.assert_alive()


def test_ndjson_with_blank_and_broken_lines(corpus: Corpus):
    """Blank lines (also CRLF, spaces, tabs) are skipped; `index` counts records, i.e. non-blank lines."""
    ok = [corpus.ok_record() for _ in range(4)]
    body = (ok[0] + b"\r\n\r\n   \n\t\n" + b'{"operation":"corpus",' + b"\n" + ok[1] + b"\n\n"
            + b"{broken\n" + ok[2] + b"\r\n" + b'{"operation":"corpus","model":"m","input_tokens":-1}' + b"\n"
            + b'[{"operation":"corpus","model":"m"}]\n' + ok[3])  # an array is not a record; no newline at the end
    r = corpus.post(body, "application/x-ndjson")
    answer = r.json()
    corpus.rows.append(["body:ndjson blank+broken lines", "ndjson", r.status,
                        f"{answer.get('accepted')}/{answer.get('rejected')}", "?", ""])
    assert r.status == 200, r
    assert answer["accepted"] == 4 and answer["rejected"] == 4, answer
    assert [e["index"] for e in answer["errors"]] == [1, 3, 5, 6], answer
    assert answer["errors"][0]["error"].startswith("invalid JSON"), answer
    assert answer["errors"][1]["error"].startswith("invalid JSON"), answer
    assert answer["errors"][2]["error"].startswith("input_tokens: "), answer
    assert answer["errors"][3]["error"].startswith("record: must be a JSON object, got an array"), answer
    for o in ok:
        assert corpus.row(json.loads(o)["id"]) is not None
    corpus.rows[-1][4:] = ["ok", "valid lines kept; errors at record indexes 1, 3, 5, 6"]
    corpus.assert_alive()


def test_hundred_thousand_records_in_one_body(corpus: Corpus):
    """100 000 small NDJSON records (~6 MB, under the 8 MiB limit), ten of them broken, in one request."""
    n = 100_000
    broken = set(range(5_000, n, 10_000))
    lines = []
    for i in range(n):
        if i in broken:
            lines.append(b'{"id":"big-%06d","operation":"corpus","model":' % i)
        else:
            lines.append(b'{"id":"big-%06d","operation":"corpus","model":"corpus-model","input_tokens":3}' % i)
    body = b"\n".join(lines) + b"\n"
    assert len(body) < BODY_LIMIT, len(body)
    start = time.monotonic()
    r = corpus.post(body, "application/x-ndjson", timeout=120)
    took = time.monotonic() - start
    answer = r.json()
    corpus.rows.append(["body:100000 NDJSON records (10 broken)", "ndjson", r.status,
                        f"{answer.get('accepted')}/{answer.get('rejected')}", "?", ""])
    assert r.status == 200, r
    assert answer["accepted"] == n - len(broken) and answer["rejected"] == len(broken), \
        {k: answer[k] for k in ("accepted", "duplicates", "rejected")}
    assert [e["index"] for e in answer["errors"]] == sorted(broken)
    (count,) = query_db(corpus.server.db_path, "SELECT COUNT(*) FROM usage_records WHERE id LIKE 'big-%'")[0]
    assert count == n - len(broken)
    corpus.rows[-1][4:] = ["ok", f"{len(body)} bytes in {took:.1f} s, all valid records stored"]
    corpus.assert_alive()


def _raw_exchange(port: int, head: bytes, body_chunks, timeout: float = 30.0) -> tuple[int | None, bytes]:
    """Sends `head`, then the chunks until the server answers (it may answer early: a client that keeps
    writing into a closed connection gets a reset and loses the answer); returns (status, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(head)
        answered = bool(select.select([s], [], [], 1.0)[0])
        try:
            for chunk in body_chunks:
                if answered or select.select([s], [], [], 0)[0]:
                    break
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early and closed: read what it said
        data = b""
        try:
            while True:
                part = s.recv(65536)
                if not part:
                    break
                data += part
                if b"\r\n\r\n" in data:
                    head_end = data.index(b"\r\n\r\n")
                    m = re.search(rb"(?i)content-length:\s*(\d+)", data[:head_end])
                    if m and len(data) >= head_end + 4 + int(m.group(1)):
                        break
        except (ConnectionResetError, socket.timeout):
            pass
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.1 (\d{3})", data)
    if not m:
        return None, data
    return int(m.group(1)), data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""


def test_bodies_over_the_limit_are_413(corpus: Corpus):
    """9 MiB of valid records: 413 with a JSON error and nothing stored, with Content-Length and chunked."""
    rec = b'{"id":"over-%07d","operation":"corpus","model":"corpus-model"},'
    records = b"".join(rec % i for i in range(150_000))
    body = b"[" + records[:-1] + b"]"
    assert len(body) > BODY_LIMIT
    head = (b"POST /v1/usage HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    status, answer = _raw_exchange(corpus.port, head, [body[i:i + 65536] for i in range(0, len(body), 65536)])
    corpus.rows.append(["body:9 MiB with Content-Length", "alone", status, "", "?", ""])
    assert status == 413, (status, answer[:300])
    assert "error" in json.loads(answer), answer
    corpus.rows[-1][4:] = ["ok", json.loads(answer)["error"]]
    corpus.assert_alive()

    head = (b"POST /v1/usage HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    chunks = [b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536]) for i in range(0, len(body), 65536)]
    status, answer = _raw_exchange(corpus.port, head, chunks + [b"0\r\n\r\n"])
    corpus.rows.append(["body:9 MiB chunked", "alone", status, "", "?", ""])
    assert status == 413, (status, answer[:300])
    assert "error" in json.loads(answer), answer
    corpus.rows[-1][4:] = ["ok", json.loads(answer)["error"]]
    corpus.assert_alive()
    assert query_db(corpus.server.db_path, "SELECT COUNT(*) FROM usage_records WHERE id LIKE 'over-%'")[0][0] == 0


def test_unsupported_content_type_is_415(corpus: Corpus):
    r = corpus.post(b'{"operation":"corpus","model":"corpus-model"}', "text/plain")
    corpus.rows.append(["body:text/plain", "alone", r.status, "", "?", ""])
    assert r.status == 415 and "error" in r.json(), r
    corpus.rows[-1][4:] = ["ok", r.json()["error"]]
    corpus.assert_alive()


def test_ids_that_differ_only_after_a_nul_byte_are_not_merged(corpus: Corpus):
    """Two records whose ids differ only after a NUL byte are two records: both stored (with their exact ids)
    or both rejected (400 naming `id`). Reporting the second as a duplicate of the first loses it."""
    body = json.dumps([
        {"id": "nul-id\u0000first", "operation": OPERATION, "model": MODEL, "input_tokens": 5},
        {"id": "nul-id\u0000second", "operation": OPERATION, "model": MODEL, "input_tokens": 7},
    ]).encode()
    r = corpus.post(body, "application/json")
    answer = r.json()
    corpus.rows.append(["body:ids differing after a NUL byte", "array", r.status,
                        f"{answer.get('accepted')}/{answer.get('rejected')}", "?", ""])
    stored = query_db(corpus.server.db_path, "SELECT id, input_tokens FROM usage_records WHERE id LIKE 'nul-id%'")
    note = f"answer {answer}, stored {stored!r}"
    corpus.rows[-1][4:] = ["?", note]
    corpus.assert_alive()
    if r.status == 400:
        assert answer["rejected"] == 2 and all(e["error"].startswith("id: ") for e in answer["errors"]), answer
        assert stored == []
    else:
        assert answer["accepted"] == 2 and answer["duplicates"] == 0, \
            f"two distinct ids were merged: {note}"
        assert sorted(stored) == [("nul-id\u0000first", 5), ("nul-id\u0000second", 7)], note
    corpus.rows[-1][4] = "ok"


def test_deep_nesting_below_the_parser_limit_stays_cheap(corpus: Corpus):
    """Metadata nested 500 deep (just under the JSON parser's limit of 512) is a few KB; decoding it must
    cost about as much as any other few KB, and must not starve other requests. (10 000-deep input is
    refused by the parser at once: see the `nesting` cases.)"""
    depth, lines = 500, 4
    line = b'{"operation":"corpus","model":"corpus-model","metadata":{"x":' + b"[" * depth + b"]" * depth + b"}}"
    body = b"\n".join([line] * lines)
    result = {}

    def send():
        start = time.monotonic()
        try:
            result["r"] = corpus.post(body, "application/x-ndjson", timeout=120)
        except (OSError, http.client.HTTPException) as e:
            result["r"] = e
        result["took"] = time.monotonic() - start

    threads = [threading.Thread(target=send) for _ in range(2)]  # as many as this machine has cores
    for t in threads:
        t.start()
    time.sleep(0.2)
    health = []
    while any(t.is_alive() for t in threads) and len(health) < 200:
        start = time.monotonic()
        try:
            http_request(corpus.port, "GET", "/healthz", timeout=60)
        except (OSError, http.client.HTTPException):
            pass
        health.append(time.monotonic() - start)
        time.sleep(0.1)
    for t in threads:
        t.join(timeout=150)
    took, worst = result.get("took", float("inf")), max(health, default=0.0)
    corpus.rows.append([f"body:{lines} NDJSON lines, metadata {depth} deep ({len(body)} bytes), x2 concurrent",
                        "ndjson", getattr(result.get("r"), "status", "-"), "", "?",
                        f"took {took:.1f} s; /healthz worst {worst:.2f} s meanwhile"])
    corpus.assert_alive()
    assert took < 2.0 and worst < 1.0, \
        f"a {len(body)}-byte body took {took:.1f} s to ingest and /healthz waited up to {worst:.1f} s meanwhile " \
        f"(decode cost grows super-linearly with nesting depth: CPU amplification)"
    corpus.rows[-1][4] = "ok"


# ---------------------------------------------------------------------------------------------------
# After everything: the store, the reports and the counters agree with what was acknowledged


def test_zz_store_reports_and_metrics_consistent_after_the_corpus(corpus: Corpus):
    corpus.assert_alive()
    db = corpus.server.db_path
    (rows, distinct) = query_db(db, "SELECT COUNT(*), COUNT(DISTINCT id) FROM usage_records")[0]
    assert rows == distinct
    assert rows == corpus.acknowledged, f"{corpus.acknowledged} records acknowledged, {rows} stored"
    missing = [i for i in corpus.valid_ids if not query_db(db, "SELECT 1 FROM usage_records WHERE id = ?", (i,))]
    assert not missing, f"valid records next to hostile ones missing: {missing[:10]}"
    tables = {r[0] for r in query_db(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"usage_records", "rollup_minute", "rollup_hour", "rollup_day", "user_sets_day", "lifetime_totals"} <= tables
    assert query_db(db, "PRAGMA integrity_check")[0][0] == "ok"

    now = datetime.now(timezone.utc)
    window = f"from={(now - timedelta(hours=2)).strftime('%Y-%m-%dT%H:%M:%SZ')}" \
             f"&to={(now + timedelta(hours=1)).strftime('%Y-%m-%dT%H:%M:%SZ')}"
    report = http_request(corpus.port, "GET", "/v1/reports/summary?" + window)
    assert report.status == 200, report
    (completed,) = query_db(db, "SELECT COUNT(*) FROM usage_records WHERE status != 'pending'")[0]
    assert report.json()["totals"]["requests"] == completed == rows
    hour = http_request(corpus.port, "GET", "/v1/reports/summary?range=1h").json()
    (last_hour,) = query_db(db, "SELECT COUNT(*) FROM usage_records WHERE ts >= ?",
                            (int((time.time() - 3600) * 1000) + 5000,))[0]
    assert last_hour <= hour["totals"]["requests"] <= rows

    text = scrape(corpus.port)
    samples = parse_metrics(text)
    assert family_sum(samples, "tokenmeter_requests_total") == rows
    assert family_sum(samples, "tokenmeter_ingest_records_total", result="accepted") == corpus.acknowledged
    names = {name for name, _ in samples}
    assert all(n.startswith("tokenmeter_") for n in names), sorted(n for n in names if not n.startswith("tokenmeter_"))
    assert family(samples, "tokenmeter_build_info")

    if shutil.which("promtool") is None:
        pytest.skip("promtool not on PATH (Debian: apt-get install prometheus); the scrape passed our parser")
    proc = subprocess.run(["promtool", "check", "metrics"], input=text.encode("utf-8"), capture_output=True, timeout=60)
    assert proc.returncode == 0, \
        f"promtool check metrics exit {proc.returncode}:\n{(proc.stdout + proc.stderr).decode(errors='replace')[:3000]}"
