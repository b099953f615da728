"""What the client reports to `on_error` (never raised from `record()`)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence


class TokenMeterError(Exception):
    """One problem with some records, handed to `on_error` on the sender thread.

    kind:
      - "rejected": the server refused the record(s); `message` is the server's own message
        (e.g. `usage.prompt_tokens: must be ...`). Not retried: sending it again cannot help.
      - "dropped": the record(s) never left this process: `reason` is "queue_full" (the bounded
        queue was full), "closed" (record() after close()), "shutdown" (close() or interpreter exit
        gave up waiting for a server that did not answer), or "invalid" (the record could not be
        encoded as JSON, e.g. NaN).
      - "failed": delivery gave up after retries (only with a finite `retry_timeout`).
    record_ids: the ids concerned (at most the first 1000 for a drop report); count: how many.
    status: the HTTP status when there was an answer.
    """

    def __init__(self, kind: str, message: str, *, reason: Optional[str] = None,
                 status: Optional[int] = None, record_ids: Sequence[str] = (),
                 count: Optional[int] = None, records: Sequence[Dict[str, Any]] = ()):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.reason = reason
        self.status = status
        self.record_ids: List[str] = list(record_ids)
        self.count = len(self.record_ids) if count is None else count
        self.records: List[Dict[str, Any]] = list(records)

    def __repr__(self) -> str:
        return (f"TokenMeterError(kind={self.kind!r}, reason={self.reason!r}, status={self.status!r}, "
                f"count={self.count}, message={self.message!r})")
