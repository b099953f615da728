"""The sender thread's half of TokenMeter: encoding batches, sending them, reading the answers,
retrying with backoff, and deciding what is reported (a mixin: the state lives in TokenMeter)."""

from __future__ import annotations

import datetime as _dt
import gzip as _gzip
import http.client
import json
import logging
import random
import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ._errors import TokenMeterError
from ._transport import RETRYABLE_STATUSES, Answer, Transport, retry_after_seconds
from ._usage import to_plain

# A queue item: ("post", record) or ("patch", record_id, completion fields).
_Item = Tuple[Any, ...]

_GZIP_MIN_BYTES = 1024

logger = logging.getLogger("tokenmeter")


def _json_default(value: Any) -> Any:
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    plain = to_plain(value)
    if plain is value:
        return str(value)
    return plain


# One encoder for every record (json.dumps with options builds a new encoder per call).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default)


def _encode(record: Mapping[str, Any]) -> bytes:
    return _ENCODER.encode(record).encode("utf-8")


class Delivery:
    """Methods that run on the sender thread (or on the caller's, in sync mode)."""

    _transport: Transport
    _stats: Dict[str, int]
    _gzip: bool
    _max_body: int
    _max_backoff: float
    _retry_timeout: Optional[float]
    _rng: random.Random
    _abort: threading.Event
    _lock: threading.Lock

    # Provided by TokenMeter (bookkeeping shared with the caller's side).
    def _drop(self, rid: str, reason: str, message: Optional[str] = None) -> None:
        raise NotImplementedError

    def _drop_locked(self, rid: str, reason: str) -> None:
        raise NotImplementedError

    def _settle(self, n: int) -> None:
        raise NotImplementedError

    def _report(self, error: TokenMeterError) -> None:
        raise NotImplementedError

    def _report_drops(self) -> None:
        raise NotImplementedError

    def _process(self, items: List[_Item], deadline: Optional[float]) -> None:
        if items[0][0] == "patch":
            self._deliver_patch(items[0][1], items[0][2], deadline)
            return
        records: List[Dict[str, Any]] = []
        lines: List[bytes] = []
        for item in items:
            record = item[1]
            try:
                lines.append(_encode(record) + b"\n")
                records.append(record)
            except (TypeError, ValueError) as error:
                self._drop(record.get("id", ""), "invalid", f"not encodable as JSON: {error}")
                self._settle(1)
        start = 0
        while start < len(lines):  # chunks under the body limit
            size, end = 0, start
            while end < len(lines) and (end == start or size + len(lines[end]) <= self._max_body):
                size += len(lines[end])
                end += 1
            self._deliver(records[start:end], lines[start:end], deadline)
            start = end

    def _deliver(self, records: List[Dict[str, Any]], lines: List[bytes], deadline: Optional[float]) -> None:
        body = b"".join(lines)
        use_gzip = self._gzip and len(body) >= _GZIP_MIN_BYTES
        attempt = 0
        started = time.monotonic()
        while True:
            answer: Optional[Answer] = None
            problem = ""
            try:
                payload = _gzip.compress(body, 5) if use_gzip else body
                self._stats["requests"] += 1
                answer = self._transport.post_ndjson(payload, use_gzip)
            except (OSError, http.client.HTTPException) as error:
                problem = f"{type(error).__name__}: {error}"
            if answer is not None:
                status = answer.status
                summary = answer.json()
                if 200 <= status < 300:
                    self._read_summary(records, answer, summary)
                    self._settle(len(records))
                    return
                nothing_taken = not isinstance(summary, dict) or not (summary.get("accepted") or summary.get("duplicates"))
                if use_gzip and status in (400, 415) and nothing_taken:
                    logger.info("tokenmeter: the server refused a gzip body (%d); sending uncompressed from now on", status)
                    self._gzip = use_gzip = False
                    continue
                if status == 413 and len(records) > 1:
                    half = len(records) // 2
                    self._deliver(records[:half], lines[:half], deadline)
                    self._deliver(records[half:], lines[half:], deadline)
                    return
                if status not in RETRYABLE_STATUSES and not 500 <= status < 600:
                    if isinstance(summary, dict) and isinstance(summary.get("errors"), list):
                        self._read_summary(records, answer, summary)
                    else:
                        self._stats["rejected"] += len(records)
                        self._report(TokenMeterError("rejected", answer.message(), status=status,
                                                     record_ids=[r["id"] for r in records], records=records))
                    self._settle(len(records))
                    return
                problem = f"HTTP {status}: {answer.message()}"
            retry_after = retry_after_seconds(answer.headers.get("retry-after")) if answer is not None else None
            if not self._wait_to_retry(attempt, retry_after, started, deadline):
                self._give_up(records, problem)
                return
            attempt += 1

    def _read_summary(self, records: List[Dict[str, Any]], answer: Answer, summary: Any) -> None:
        if not isinstance(summary, dict):
            self._stats["accepted"] += len(records)  # a 2xx means committed, whatever its body says
            return
        self._stats["accepted"] += int(summary.get("accepted") or 0)
        self._stats["duplicates"] += int(summary.get("duplicates") or 0)
        self._stats["rejected"] += int(summary.get("rejected") or 0)
        for entry in summary.get("errors") or []:
            if not isinstance(entry, dict):
                continue
            index = entry.get("index")
            message = str(entry.get("error", "rejected"))
            if isinstance(index, int) and 0 <= index < len(records):
                rec = records[index]
                self._report(TokenMeterError("rejected", message, status=answer.status,
                                             record_ids=[rec["id"]], records=[rec]))
            else:
                self._report(TokenMeterError("rejected", message, status=answer.status))

    def _deliver_patch(self, record_id: str, fields: Dict[str, Any], deadline: Optional[float]) -> None:
        try:
            body = _encode(fields)
        except (TypeError, ValueError) as error:
            self._drop(record_id, "invalid", f"completion not encodable as JSON: {error}")
            self._settle(1)
            return
        attempt = 0
        started = time.monotonic()
        while True:
            answer: Optional[Answer] = None
            problem = ""
            try:
                self._stats["requests"] += 1
                answer = self._transport.patch(record_id, body)
            except (OSError, http.client.HTTPException) as error:
                problem = f"{type(error).__name__}: {error}"
            if answer is not None:
                if 200 <= answer.status < 300 or (answer.status == 409 and attempt > 0):
                    # 409 on a retry: the earlier attempt completed it and its answer was lost.
                    self._stats["completed"] += 1
                    self._settle(1)
                    return
                if answer.status not in RETRYABLE_STATUSES and not 500 <= answer.status < 600:
                    self._stats["rejected"] += 1
                    self._report(TokenMeterError("rejected", answer.message(), status=answer.status,
                                                 record_ids=[record_id], records=[dict(fields, id=record_id)]))
                    self._settle(1)
                    return
                problem = f"HTTP {answer.status}: {answer.message()}"
            retry_after = retry_after_seconds(answer.headers.get("retry-after")) if answer is not None else None
            if not self._wait_to_retry(attempt, retry_after, started, deadline):
                self._give_up([dict(fields, id=record_id)], problem)
                return
            attempt += 1

    def _wait_to_retry(self, attempt: int, retry_after: Optional[float], started: float,
                       deadline: Optional[float]) -> bool:
        """Sleeps before the next attempt; False when it is time to give up instead."""
        delay = self._rng.uniform(0.0, min(self._max_backoff, 0.1 * (2 ** min(attempt, 20))))
        if retry_after is not None:
            delay = max(delay, min(retry_after, 60.0))
        now = time.monotonic()
        if deadline is not None and now + delay > deadline:
            return False
        if self._retry_timeout is not None and now + delay - started > self._retry_timeout:
            return False
        self._stats["retries"] += 1
        self._report_drops()  # drops while the server is down are reported now, not after it returns
        if self._abort.wait(delay):
            return False
        return True

    def _give_up(self, records: List[Dict[str, Any]], problem: str) -> None:
        ids = [r.get("id", "") for r in records]
        if self._abort.is_set():
            with self._lock:
                for rid in ids:
                    self._drop_locked(rid, "shutdown")
            self._report_drops()
        else:
            self._stats["failed"] += len(records)
            self._report(TokenMeterError("failed", f"gave up after retries; last problem: {problem}",
                                         record_ids=ids, records=records))
        self._settle(len(records))
