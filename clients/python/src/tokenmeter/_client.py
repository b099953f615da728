"""TokenMeter: a bounded queue on the caller's side, one sender thread on the other."""

from __future__ import annotations

import atexit
import datetime as _dt
import logging
import os
import random
import ssl
import threading
import time
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, List, Mapping, Optional, Union

from ._errors import TokenMeterError
from ._delivery import Delivery, _Item
from ._ids import new_id
from ._transport import Transport
from ._usage import extract

if TYPE_CHECKING:
    from ._call import Call, Pending

logger = logging.getLogger("tokenmeter")

ErrorCallback = Callable[[TokenMeterError], None]
Number = Union[int, float]

_COST_KEYS = ("cost_usd", "cost_dollars", "total_cost_usd")
_ID_ALIASES = ("generation_id", "request_id")
_ERROR_MESSAGE_CHARS = 1024  # the server keeps 1 KiB; a huge message need not wait in the queue
_MAX_DROPPED_IDS = 1000

_instances: "weakref.WeakSet[TokenMeter]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for meter in list(_instances):
        meter._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _timestamp(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.astimezone()  # a naive datetime is local time
        return value.isoformat()
    return value


class TokenMeter(Delivery):
    """Records usage without blocking the caller and delivers it to a tokenmeter server.

    `record()` builds a record, gives it a time-ordered id (kept across every retry, so the server
    stores it once), appends it to a bounded queue and returns the id; it never blocks and never
    raises. A daemon thread sends NDJSON batches of up to `batch_size` records, as soon as that
    many are queued or every `flush_interval` seconds. Connection errors, 408, 429 and 5xx are
    retried with exponential backoff and full jitter (at least `Retry-After`); any other 4xx is
    not retried: it is logged and reported to `on_error` with the server's message.

    Nothing queued is lost in a clean exit: `close()` runs at interpreter exit and waits up to
    `exit_timeout` seconds for the queue to drain. With `sync_mode=True` there is no thread:
    `record()` sends before it returns (for short-lived processes, at most `timeout` seconds of
    retries per call).
    """

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, *,
                 service: Optional[str] = None,
                 defaults: Optional[Mapping[str, Any]] = None,
                 batch_size: int = 500,
                 flush_interval: float = 1.0,
                 max_queue_size: int = 100_000,
                 timeout: float = 10.0,
                 max_backoff: float = 10.0,
                 retry_timeout: Optional[float] = None,
                 on_error: Optional[ErrorCallback] = None,
                 sync_mode: bool = False,
                 gzip: bool = False,
                 exit_timeout: float = 10.0,
                 max_body_bytes: int = 4 * 1024 * 1024,
                 ssl_context: Optional[ssl.SSLContext] = None,
                 register_atexit: bool = True):
        if batch_size < 1:
            raise ValueError("batch_size: must be at least 1")
        if max_queue_size < 1:
            raise ValueError("max_queue_size: must be at least 1")
        if flush_interval <= 0:
            raise ValueError("flush_interval: must be positive")
        url = url or os.environ.get("TOKENMETER_URL") or "http://127.0.0.1:9477"
        token = token if token is not None else os.environ.get("TOKENMETER_TOKEN") or None
        self._url = url
        self._token = token
        self._timeout = float(timeout)
        self._ssl_context = ssl_context
        self._transport = Transport(url, token, self._timeout, ssl_context)
        self._defaults: Dict[str, Any] = dict(defaults or {})
        if service is not None:
            self._defaults["service"] = service
        self._batch_size = int(batch_size)
        self._flush_interval = float(flush_interval)
        self._max_queue = int(max_queue_size)
        self._max_backoff = float(max_backoff)
        self._retry_timeout = retry_timeout
        self._on_error = on_error
        self._sync = bool(sync_mode)
        self._gzip = bool(gzip)
        self._exit_timeout = float(exit_timeout)
        self._max_body = int(max_body_bytes)
        self._rng = random.Random(os.urandom(16))
        self._atexit_registered = False
        self._init_state()
        _instances.add(self)
        if register_atexit:
            atexit.register(self._at_exit)
            self._atexit_registered = True
        if not self._sync:
            self._start_sender()

    # ------------------------------------------------------------------------------------------
    # state

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()  # one request at a time per transport (sync mode callers)
        self._queue: Deque[_Item] = deque()
        self._wake = threading.Event()
        self._abort = threading.Event()
        self._settled_cv = threading.Condition(threading.Lock())
        self._enqueued = 0
        self._settled = 0
        self._closed = False
        self._close_result: Optional[bool] = None
        self._drops: Dict[str, int] = {}
        self._dropped_ids: Dict[str, List[str]] = {}
        self._drop_total_by_reason: Dict[str, int] = {}  # drops already reported
        self._stats: Dict[str, int] = {
            "queued": 0, "accepted": 0, "duplicates": 0, "rejected": 0, "completed": 0,
            "dropped": 0, "failed": 0, "requests": 0, "retries": 0,
        }
        self._thread: Optional[threading.Thread] = None

    def _reset_after_fork(self) -> None:
        # The child has no sender thread and must not resend the parent's queue (the parent does).
        self._transport = Transport(self._url, self._token, self._timeout, self._ssl_context)
        self._rng = random.Random(os.urandom(16))
        self._init_state()
        if not self._sync:
            self._start_sender()

    def _start_sender(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tokenmeter-sender", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------------------------------
    # public API

    def record(self, operation: Optional[str] = None, model: Optional[str] = None, *,
               usage: Any = None,
               id: Optional[str] = None,
               timestamp: Union[str, Number, _dt.datetime, None] = None,
               user_id: Union[str, int, None] = None,
               plan: Optional[str] = None,
               paying: Optional[bool] = None,
               service: Optional[str] = None,
               category: Optional[str] = None,
               provider: Optional[str] = None,
               status: Optional[str] = None,
               input_tokens: Optional[int] = None,
               cached_input_tokens: Optional[int] = None,
               cache_write_tokens: Optional[int] = None,
               output_tokens: Optional[int] = None,
               reasoning_tokens: Optional[int] = None,
               units: Optional[Mapping[str, Number]] = None,
               cost_usd: Optional[Number] = None,
               credits: Optional[Number] = None,
               duration_ms: Optional[Number] = None,
               error_type: Optional[str] = None,
               error_message: Optional[str] = None,
               metadata: Optional[Mapping[str, Any]] = None,
               resource_type: Optional[str] = None,
               resource_id: Union[str, int, None] = None,
               tags: Optional[Mapping[str, str]] = None,
               **extra: Any) -> str:
        """Queues one usage record and returns its id. Never blocks (unless sync_mode), never raises.

        Every field of the record schema is a keyword; `usage=` takes an SDK usage object, an SDK
        response or a dict. Other keywords are sent as they are (the server's aliases such as
        `model_id`, `tokens_cost`, `latency_ms` work; unknown ones land in `metadata`).
        """
        # Plain checks, not a loop over a dict of every keyword: this is the caller's hot path.
        fields = extra
        if operation is not None:
            fields["operation"] = operation
        if model is not None:
            fields["model"] = model
        if usage is not None:
            fields["usage"] = usage
        if timestamp is not None:
            fields["timestamp"] = timestamp
        if user_id is not None:
            fields["user_id"] = user_id
        if plan is not None:
            fields["plan"] = plan
        if paying is not None:
            fields["paying"] = paying
        if service is not None:
            fields["service"] = service
        if category is not None:
            fields["category"] = category
        if provider is not None:
            fields["provider"] = provider
        if status is not None:
            fields["status"] = status
        if input_tokens is not None:
            fields["input_tokens"] = input_tokens
        if cached_input_tokens is not None:
            fields["cached_input_tokens"] = cached_input_tokens
        if cache_write_tokens is not None:
            fields["cache_write_tokens"] = cache_write_tokens
        if output_tokens is not None:
            fields["output_tokens"] = output_tokens
        if reasoning_tokens is not None:
            fields["reasoning_tokens"] = reasoning_tokens
        if units is not None:
            fields["units"] = units
        if cost_usd is not None:
            fields["cost_usd"] = cost_usd
        if credits is not None:
            fields["credits"] = credits
        if duration_ms is not None:
            fields["duration_ms"] = duration_ms
        if error_type is not None:
            fields["error_type"] = error_type
        if error_message is not None:
            fields["error_message"] = error_message
        if metadata is not None:
            fields["metadata"] = metadata
        if resource_type is not None:
            fields["resource_type"] = resource_type
        if resource_id is not None:
            fields["resource_id"] = resource_id
        if tags is not None:
            fields["tags"] = tags
        return self._record_fields(id, fields)

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Waits until every record queued before this call is delivered (or reported as failed).

        Returns False if `timeout` seconds passed first. Do not call it from `on_error`.
        """
        if self._sync:
            return True
        target = self._enqueued
        self._wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._settled_cv:
            while self._settled < target:
                if self._thread is None or not self._thread.is_alive():
                    return False
                remaining = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
                if remaining <= 0:
                    return False
                self._settled_cv.wait(remaining)
        return True

    def close(self, timeout: Optional[float] = None) -> bool:
        """Stops accepting records, delivers the queue (up to `timeout`, default `exit_timeout`)
        and stops the sender. Records still undelivered then are reported as dropped ("shutdown").
        Returns whether everything was delivered. Called at interpreter exit; idempotent."""
        with self._lock:
            if self._closed and self._close_result is not None:
                return self._close_result
            self._closed = True
        if self._atexit_registered:
            try:
                atexit.unregister(self._at_exit)
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass
            self._atexit_registered = False
        if self._sync:
            self._close_result = True
            return True
        ok = self.flush(self._exit_timeout if timeout is None else timeout)
        if not ok:
            self._abort.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(self._timeout + 2.0)
        self._report_drops()
        self._close_result = ok
        return ok

    def stats(self) -> Dict[str, int]:
        """Counters: queued, accepted, duplicates, rejected, completed, dropped, failed, requests,
        retries, plus dropped_<reason> for each drop reason seen and `in_queue`."""
        with self._lock:
            out = dict(self._stats)
            for reason, n in self._drop_totals().items():
                out["dropped_" + reason] = n
            out["in_queue"] = len(self._queue)
        return out

    async def aflush(self, timeout: Optional[float] = None) -> bool:
        """`flush()` for async code: waits in a worker thread, never blocking the event loop."""
        import asyncio
        return await asyncio.get_running_loop().run_in_executor(None, self.flush, timeout)

    async def aclose(self, timeout: Optional[float] = None) -> bool:
        """`close()` for async code: waits in a worker thread, never blocking the event loop."""
        import asyncio
        return await asyncio.get_running_loop().run_in_executor(None, self.close, timeout)

    def call(self, operation: Optional[str] = None, model: Optional[str] = None, **fields: Any) -> "Call":
        """Times a block or a function and records it: success, or the exception's class as
        `error_type`. `with meter.call(operation="chat", model="gpt-4o-mini") as c: c.usage(resp)`."""
        from ._call import Call
        return Call(self, operation=operation, model=model, **fields)

    def start(self, operation: Optional[str] = None, model: Optional[str] = None, **fields: Any) -> "Pending":
        """Records a pending call now (CONTRACT 1.3); the handle's `complete(...)` sends the PATCH."""
        from ._call import Pending
        return Pending(self, operation=operation, model=model, **fields)

    def __enter__(self) -> "TokenMeter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------
    # building and queueing (caller's thread)

    def _record_fields(self, record_id: Optional[str], fields: Dict[str, Any]) -> str:
        rid = record_id or ""
        try:
            if not rid:
                for alias in _ID_ALIASES:
                    value = fields.pop(alias, None)
                    if value is not None and not rid:
                        rid = str(value)
            rid = rid or new_id()
            record = self._build(rid, fields)
        except Exception as error:  # noqa: BLE001 - record() never raises
            rid = rid or new_id()
            self._drop(rid, "invalid", f"the record could not be built: {error!r}")
            return rid
        self._submit(("post", record))
        return rid

    def _build(self, rid: str, fields: Dict[str, Any]) -> Dict[str, Any]:
        if self._defaults:
            record: Dict[str, Any] = dict(self._defaults)
            record.update(fields)
        else:
            record = fields
        for key in [k for k, v in record.items() if v is None]:  # `is`, never `==` (arrays compare oddly)
            del record[key]
        for key in ("metadata", "units", "tags"):  # copies: the caller may reuse its dicts after record()
            value = record.get(key)
            if isinstance(value, Mapping):
                record[key] = dict(value)
        message = record.get("error_message")
        if isinstance(message, str) and len(message) > _ERROR_MESSAGE_CHARS:
            record["error_message"] = message[:_ERROR_MESSAGE_CHARS]
        usage = record.pop("usage", None)
        if usage is not None:
            found = extract(usage)
            if found.usage is not None:
                record["usage"] = found.usage
            if found.model and "model" not in record and "model_id" not in record and "ai_model" not in record:
                record["model"] = found.model
            if found.cost_usd is not None and not any(k in record for k in _COST_KEYS):
                record["cost_usd"] = found.cost_usd
            if found.response_id:
                meta = record.get("metadata")
                if meta is None or isinstance(meta, Mapping):
                    meta = dict(meta or {})
                    meta.setdefault("response_id", found.response_id)
                    record["metadata"] = meta
        record["id"] = rid
        if "timestamp" not in record and "created_at" not in record:
            record["timestamp"] = round(time.time(), 6)  # when record() ran, not when it is sent
        elif "timestamp" in record:
            record["timestamp"] = _timestamp(record["timestamp"])
        return record

    def _submit(self, item: _Item) -> None:
        if self._sync:
            with self._lock:
                if self._closed:
                    self._drop_locked(_item_id(item), "closed")
                    return
                self._stats["queued"] += 1
            try:
                with self._send_lock:
                    deadline = time.monotonic() + self._timeout
                    self._process([item], deadline)
            except Exception as error:  # noqa: BLE001 - record() never raises
                logger.exception("tokenmeter: sending failed unexpectedly")
                self._report(TokenMeterError("failed", f"unexpected error: {error!r}", record_ids=[_item_id(item)]))
            self._report_drops()
            return
        with self._lock:
            if self._closed:
                self._drop_locked(_item_id(item), "closed")
                return
            if len(self._queue) >= self._max_queue:
                self._drop_locked(_item_id(item), "queue_full")
                return
            self._queue.append(item)
            self._enqueued += 1
            self._stats["queued"] += 1
            full = len(self._queue) >= self._batch_size
        if full and not self._wake.is_set():
            self._wake.set()

    def _drop(self, rid: str, reason: str, message: Optional[str] = None) -> None:
        with self._lock:
            self._drop_locked(rid, reason)
        if message:
            logger.warning("tokenmeter: record %s dropped: %s", rid, message)
        if self._sync:
            self._report_drops()
        else:
            self._wake.set()  # reported by the sender thread, like every other report

    def _drop_locked(self, rid: str, reason: str) -> None:
        self._stats["dropped"] += 1
        self._drops[reason] = self._drops.get(reason, 0) + 1
        ids = self._dropped_ids.setdefault(reason, [])
        if len(ids) < _MAX_DROPPED_IDS:
            ids.append(rid)

    def _drop_totals(self) -> Dict[str, int]:
        totals = dict(self._drop_total_by_reason)
        for reason, n in self._drops.items():
            totals[reason] = totals.get(reason, 0) + n
        return totals

    # ------------------------------------------------------------------------------------------
    # reporting

    def _report(self, error: TokenMeterError) -> None:
        level = logging.WARNING if error.kind != "rejected" else logging.ERROR
        logger.log(level, "tokenmeter: %s %d record(s)%s: %s", error.kind, error.count,
                   f" ({error.reason})" if error.reason else "", error.message)
        if self._on_error is not None:
            try:
                self._on_error(error)
            except Exception:  # noqa: BLE001 - a failing callback must not stop delivery
                logger.exception("tokenmeter: on_error raised")

    def _report_drops(self) -> None:
        with self._lock:
            if not self._drops:
                return
            drops, ids = self._drops, self._dropped_ids
            self._drops, self._dropped_ids = {}, {}
            for reason, n in drops.items():
                self._drop_total_by_reason[reason] = self._drop_total_by_reason.get(reason, 0) + n
        for reason, count in drops.items():
            messages = {
                "queue_full": f"the queue is full ({self._max_queue} records): the server is down or slower than the records arrive",
                "closed": "record() was called after close()",
                "shutdown": "the process is exiting and the server did not take these records in time",
                "invalid": "the record could not be built or encoded as JSON",
            }
            self._report(TokenMeterError("dropped", f"{count} record(s) dropped: {messages.get(reason, reason)}",
                                         reason=reason, record_ids=ids.get(reason, []), count=count))

    def _settle(self, n: int) -> None:
        if self._sync:
            return
        with self._settled_cv:
            self._settled += n
            self._settled_cv.notify_all()

    # ------------------------------------------------------------------------------------------
    # the sender thread

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait(self._flush_interval)
                self._wake.clear()
                self._report_drops()
                while not self._abort.is_set():
                    items = self._take()
                    if not items:
                        break
                    self._process(items, None)
                    self._report_drops()
                with self._lock:
                    empty = not self._queue
                if self._abort.is_set() or (self._closed and empty):
                    break
        except Exception:  # noqa: BLE001 - never die silently
            logger.exception("tokenmeter: the sender thread failed")
        finally:
            self._give_up_queue("shutdown")
            self._transport.close()

    def _give_up_queue(self, reason: str) -> None:
        with self._lock:
            items = list(self._queue)
            self._queue.clear()
            for item in items:
                self._drop_locked(_item_id(item), reason)
        if items:
            self._settle(len(items))
        self._report_drops()

    def _take(self) -> List[_Item]:
        with self._lock:
            if not self._queue:
                return []
            if self._queue[0][0] != "post":
                return [self._queue.popleft()]
            items: List[_Item] = []
            while self._queue and len(items) < self._batch_size and self._queue[0][0] == "post":
                items.append(self._queue.popleft())
            return items

    def _at_exit(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter exit
            logger.exception("tokenmeter: close at exit failed")

    def __repr__(self) -> str:
        return f"TokenMeter({self._url!r}, sync_mode={self._sync})"


def _item_id(item: _Item) -> str:
    if item[0] == "post":
        return str(item[1].get("id", ""))
    return str(item[1])
