"""`meter.call(...)`: time a block or a function and record its outcome; `meter.start(...)`: pending
records for long jobs, completed later with one PATCH."""

from __future__ import annotations

import functools
import inspect
import time
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Dict, Iterable, Iterator, List, Optional, TypeVar

from ._ids import new_id
from ._usage import has_usage

if TYPE_CHECKING:
    from ._client import TokenMeter

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

_ERROR_MESSAGE_LIMIT = 1024


class CallRecord:
    """One timed call, handed out by `with meter.call(...) as c`. Set what the call returned with
    `c.usage(response)` and any other field with `c.set(credits=2, ...)`."""

    def __init__(self, fields: Dict[str, Any]):
        self.fields = fields
        self.id: str = fields.pop("id", None) or new_id()
        self._t0 = time.perf_counter()
        self._wall = time.time()
        self.recorded = False

    def usage(self, response: Any) -> Any:
        """The SDK response, usage object or dict of this call (returned unchanged)."""
        self.fields["usage"] = response
        return response

    def set(self, **fields: Any) -> None:
        """Adds or replaces fields of the record (e.g. credits, units, user_id, metadata)."""
        self.fields.update(fields)

    def stream(self, chunks: Iterable[T]) -> Iterator[T]:
        """Passes a stream's chunks through and keeps the last one that carries usage (OpenAI
        streams with `stream_options={"include_usage": True}`, Responses `response.completed`)."""
        for chunk in chunks:
            self._keep_usage(chunk)
            yield chunk

    async def astream(self, chunks: Any) -> AsyncIterator[Any]:
        """`stream()` for async iterators."""
        async for chunk in chunks:
            self._keep_usage(chunk)
            yield chunk

    def _keep_usage(self, chunk: Any) -> None:
        if has_usage(chunk) or has_usage(getattr(chunk, "response", None)):
            self.fields["usage"] = chunk

    def _finish(self, meter: "TokenMeter", error: Optional[BaseException]) -> None:
        if self.recorded:
            return
        self.recorded = True
        fields = self.fields
        fields.setdefault("duration_ms", round((time.perf_counter() - self._t0) * 1000.0, 3))
        fields.setdefault("timestamp", round(self._wall, 6))
        if error is not None:
            fields["status"] = "error"
            fields.setdefault("error_type", type(error).__name__)
            message = str(error)
            if message:
                fields.setdefault("error_message", message[:_ERROR_MESSAGE_LIMIT])
        meter._record_fields(self.id, fields)


class Call:
    """A context manager (sync and async) and a decorator (sync and async functions).

    `with meter.call(operation="horoscope", model="gpt-4o-mini", user_id=42) as c:
        resp = client.chat.completions.create(...); c.usage(resp)`

    As a decorator, a returned value that carries usage (an SDK response) is recorded as `usage`.
    An exception is recorded with `status="error"` and its class as `error_type`, then re-raised.
    """

    def __init__(self, meter: "TokenMeter", **fields: Any):
        self._meter = meter
        self._fields = {k: v for k, v in fields.items() if v is not None}
        self._open: List[CallRecord] = []

    def _new(self) -> CallRecord:
        return CallRecord(dict(self._fields))

    def __enter__(self) -> CallRecord:
        rec = self._new()
        self._open.append(rec)
        return rec

    def __exit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> None:
        rec = self._open.pop()
        rec._finish(self._meter, exc)  # the exception, if any, propagates

    async def __aenter__(self) -> CallRecord:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, fn: F) -> F:
        meter = self._meter
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                rec = self._new()
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as error:
                    rec._finish(meter, error)
                    raise
                return _finished(rec, meter, result)
            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            rec = self._new()
            try:
                result = fn(*args, **kwargs)
            except BaseException as error:
                rec._finish(meter, error)
                raise
            return _finished(rec, meter, result)
        return wrapper  # type: ignore[return-value]


class Pending:
    """A long job recorded as `status: pending` at `meter.start(...)`; `complete(...)` finishes it
    with one `PATCH /v1/usage/{id}` through the same queue (so it is sent after the pending record).

    Also a context manager: leaving the block completes it with success, or with the exception's
    class as `error_type`, unless `complete()` was already called.
    """

    def __init__(self, meter: "TokenMeter", **fields: Any):
        self._meter = meter
        self._t0 = time.perf_counter()
        fields = {k: v for k, v in fields.items() if v is not None}
        fields["status"] = "pending"
        self.id: str = meter._record_fields(fields.pop("id", None), fields)
        self.completed = False

    def complete(self, status: str = "success", *, usage: Any = None, cost_usd: Optional[float] = None,
                 credits: Optional[float] = None, duration_ms: Optional[float] = None,
                 units: Optional[Dict[str, float]] = None, error_type: Optional[str] = None,
                 error_message: Optional[str] = None, **extra: Any) -> None:
        """Queues the completion (`status` "success" or "error"); never blocks, never raises.
        `duration_ms` defaults to the time since `start()`."""
        if self.completed:
            return
        self.completed = True
        try:
            from ._usage import extract
            fields: Dict[str, Any] = dict(extra)
            fields["status"] = status
            if usage is not None:
                found = extract(usage)
                if found.usage is not None:
                    fields["usage"] = found.usage
                if found.cost_usd is not None and cost_usd is None:
                    cost_usd = found.cost_usd
            for key, value in (("cost_usd", cost_usd), ("credits", credits), ("units", units),
                               ("error_type", error_type), ("error_message", error_message)):
                if value is not None:
                    fields[key] = value
            fields["duration_ms"] = duration_ms if duration_ms is not None else round((time.perf_counter() - self._t0) * 1000.0, 3)
        except Exception as error:  # noqa: BLE001 - never raises
            self._meter._drop(self.id, "invalid", f"the completion could not be built: {error!r}")
            return
        self._meter._submit(("patch", self.id, fields))

    def __enter__(self) -> "Pending":
        return self

    def __exit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> None:
        if not self.completed:
            if exc is None:
                self.complete("success")
            else:
                message = str(exc)[:_ERROR_MESSAGE_LIMIT]
                self.complete("error", error_type=type(exc).__name__, error_message=message or None)


def _finished(rec: Any, meter: Any, result: Any) -> Any:
    """A decorated call that returned: its result is the usage unless the call set one; recorded."""
    if "usage" not in rec.fields and has_usage(result):
        rec.fields["usage"] = result
    rec._finish(meter, None)
    return result
