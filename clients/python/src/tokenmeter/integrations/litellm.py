"""A LiteLLM callback that records every success and failure through a TokenMeter's queue.

    import litellm
    from tokenmeter import TokenMeter
    from tokenmeter.integrations.litellm import TokenMeterLogger

    litellm.callbacks = [TokenMeterLogger(TokenMeter(service="bot"))]

Unlike LiteLLM's generic webhook logger, a failed POST loses nothing: records wait in the bounded
queue and are retried with their ids. Each record is built from LiteLLM's StandardLoggingPayload
(`kwargs["standard_logging_object"]`): model and provider, start time and duration, status and
error class, the end user, the detailed usage object (cache reads and writes and reasoning split
out by the server), and `operation` from the call's metadata (`metadata={"operation": "chat"}`),
a request tag `operation:NAME`, else the logger's default, else LiteLLM's `call_type`.
LiteLLM's own `response_cost` is kept in metadata as `litellm_response_cost`, next to the price
tokenmeter computes. Prompt and response text are never sent.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from litellm.integrations.custom_logger import CustomLogger

from .._client import TokenMeter
from .._usage import drop_nones, to_plain


def _get(mapping: Any, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, Mapping) else None


class TokenMeterLogger(CustomLogger):
    """`litellm.callbacks = [TokenMeterLogger(meter)]`; `operation`/`service` are defaults."""

    def __init__(self, meter: TokenMeter, *, operation: Optional[str] = None,
                 service: Optional[str] = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.meter = meter
        self.operation = operation
        self.service = service

    # LiteLLM calls the sync hooks for sync calls and the async ones for async calls.
    def log_success_event(self, kwargs: Dict[str, Any], response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._record(kwargs, response_obj, start_time, end_time, failed=False)

    def log_failure_event(self, kwargs: Dict[str, Any], response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._record(kwargs, response_obj, start_time, end_time, failed=True)

    async def async_log_success_event(self, kwargs: Dict[str, Any], response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._record(kwargs, response_obj, start_time, end_time, failed=False)  # record() never blocks

    async def async_log_failure_event(self, kwargs: Dict[str, Any], response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._record(kwargs, response_obj, start_time, end_time, failed=True)

    def _record(self, kwargs: Dict[str, Any], response_obj: Any, start_time: Any, end_time: Any, failed: bool) -> None:
        try:
            fields = self.fields_from(kwargs, response_obj, start_time, end_time, failed)
        except Exception as error:  # noqa: BLE001 - a logger must never break the LLM call
            self.meter._drop("", "invalid", f"LiteLLM payload not readable: {error!r}")
            return
        self.meter._record_fields(None, fields)

    def fields_from(self, kwargs: Dict[str, Any], response_obj: Any, start_time: Any, end_time: Any,
                    failed: bool) -> Dict[str, Any]:
        """The record for one LiteLLM event (pure: no I/O)."""
        payload = kwargs.get("standard_logging_object") or {}
        meta = _get(payload, "metadata") or {}
        call_meta = _get(kwargs.get("litellm_params"), "metadata") or kwargs.get("metadata") or {}
        requester = _get(meta, "requester_metadata") or {}
        fields: Dict[str, Any] = {}

        fields["model"] = _get(payload, "model") or kwargs.get("model")
        fields["provider"] = _get(payload, "custom_llm_provider") or _get(kwargs.get("litellm_params"), "custom_llm_provider")
        fields["operation"] = (self._operation_from_tags(_get(payload, "request_tags"))
                               or _get(call_meta, "operation") or _get(requester, "operation")
                               or self.operation or _get(payload, "call_type") or kwargs.get("call_type"))
        service = _get(call_meta, "service") or _get(requester, "service") or self.service
        if service:
            fields["service"] = service

        start = _get(payload, "startTime")
        end = _get(payload, "endTime")
        if start is None and start_time is not None:
            start = start_time.timestamp() if hasattr(start_time, "timestamp") else start_time
        if end is None and end_time is not None:
            end = end_time.timestamp() if hasattr(end_time, "timestamp") else end_time
        if isinstance(start, (int, float)):
            fields["timestamp"] = round(float(start), 6)
            if isinstance(end, (int, float)) and end >= start:
                fields["duration_ms"] = round((float(end) - float(start)) * 1000.0, 3)

        status = _get(payload, "status")
        failed = failed or status == "failure"
        fields["status"] = "error" if failed else "success"
        if failed:
            info = _get(payload, "error_information") or {}
            exc = kwargs.get("exception")
            fields["error_type"] = (_get(info, "error_class") or (type(exc).__name__ if exc is not None else None)
                                    or "LiteLLMError")
            message = _get(payload, "error_str") or _get(info, "error_message") or (str(exc) if exc is not None else None)
            if message:
                fields["error_message"] = str(message)[:1024]

        user = (_get(meta, "user_api_key_end_user_id") or _get(payload, "end_user")
                or _get(call_meta, "user_id") or kwargs.get("user") or _get(_get(kwargs, "optional_params"), "user"))
        if user:
            fields["user_id"] = user

        usage = _get(meta, "usage_object")
        if not usage and response_obj is not None and not failed:
            usage = to_plain(getattr(response_obj, "usage", None))
        if not usage and not failed and (_get(payload, "prompt_tokens") or _get(payload, "completion_tokens")):
            usage = {"prompt_tokens": _get(payload, "prompt_tokens") or 0,
                     "completion_tokens": _get(payload, "completion_tokens") or 0}
        if usage:
            fields["usage"] = drop_nones(to_plain(usage))

        extra_meta: Dict[str, Any] = {}
        for key, name in (("id", "litellm_id"), ("trace_id", "litellm_trace_id"),
                          ("model_group", "litellm_model_group"), ("call_type", "litellm_call_type")):
            value = _get(payload, key)
            if value:
                extra_meta[name] = value
        cost = _get(payload, "response_cost")
        if isinstance(cost, (int, float)) and not isinstance(cost, bool):
            extra_meta["litellm_response_cost"] = cost
        if extra_meta:
            fields["metadata"] = extra_meta
        for key in ("plan", "paying", "credits", "resource_type", "resource_id"):
            value = _get(call_meta, key)
            if value is not None:
                fields[key] = value
        return {k: v for k, v in fields.items() if v is not None}

    @staticmethod
    def _operation_from_tags(tags: Any) -> Optional[str]:
        if isinstance(tags, list):
            for tag in tags:
                if isinstance(tag, str) and tag.startswith("operation:"):
                    return tag.split(":", 1)[1] or None
        return None
