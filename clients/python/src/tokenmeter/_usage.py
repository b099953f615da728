"""Reading SDK usage objects and responses into plain JSON (what `usage=` accepts).

Accepted: a provider usage object (openai `CompletionUsage` / `ResponseUsage`, anthropic `Usage`,
google-genai `GenerateContentResponseUsageMetadata`), a whole response (openai `ChatCompletion`,
`Response`, a stream's last `ChatCompletionChunk`, a `response.completed` event; anthropic
`Message`; google-genai `GenerateContentResponse`; LiteLLM `ModelResponse`), or a dict of either.
The result is a plain dict with every `None` removed: a key whose value is null says nothing, and
pydantic's `model_dump()` includes every field, null or not. google-genai objects are dumped under
their camelCase aliases (the REST shape, `promptTokenCount`), which is the Gemini shape the server
reads. OpenRouter's `usage.cost` (a number) becomes the record's `cost_usd` unless one is given.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import decimal
from typing import Any, Dict, Mapping, NamedTuple, Optional

_USAGE_KEYS = ("usage", "usage_metadata", "usageMetadata")


class Extracted(NamedTuple):
    usage: Optional[Dict[str, Any]]
    model: Optional[str]
    response_id: Optional[str]
    cost_usd: Optional[float]


def drop_nones(value: Any) -> Any:
    """A copy of a JSON-like value without `None` entries in its objects (lists keep their length)."""
    t = type(value)
    if t is int or t is str or t is float or t is bool:
        return value
    if t is dict or isinstance(value, Mapping):
        return {k if type(k) is str else str(k): drop_nones(v) for k, v in value.items() if v is not None}
    if t is list or t is tuple:
        return [drop_nones(v) for v in value]
    return value


def _is_genai(obj: Any) -> bool:
    return type(obj).__module__.startswith("google.genai")


def to_plain(obj: Any) -> Any:
    """A JSON-ready copy of `obj` (pydantic v2/v1 models, dataclasses, mappings, lists), no Nones."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        try:
            return drop_nones(dump(mode="json", exclude_none=True, by_alias=_is_genai(obj)))
        except TypeError:  # a model_dump with another signature (LiteLLM objects on some versions)
            return to_plain(dump())
    legacy = getattr(obj, "dict", None)
    if callable(legacy) and hasattr(obj, "__fields__"):  # pydantic v1
        return drop_nones(legacy(exclude_none=True))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return drop_nones(dataclasses.asdict(obj))
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return drop_nones(to_dict())
    if isinstance(obj, (_dt.datetime, _dt.date)):
        return obj.isoformat()
    if isinstance(obj, decimal.Decimal):
        return float(obj)
    if hasattr(obj, "__dict__"):
        return {k: to_plain(v) for k, v in vars(obj).items() if not k.startswith("_") and v is not None}
    return str(obj)


def _string(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value else None


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _from_response_mapping(d: Mapping[str, Any]) -> Optional[Extracted]:
    if "usage" not in d and "usage_metadata" not in d and "usageMetadata" not in d:
        return None
    for key in _USAGE_KEYS:
        usage = d.get(key)
        if isinstance(usage, Mapping):
            model = _string(d.get("model")) or _string(d.get("model_version")) or _string(d.get("modelVersion"))
            rid = _string(d.get("id")) or _string(d.get("response_id")) or _string(d.get("responseId"))
            plain = drop_nones(usage)
            return Extracted(plain, model, rid, _number(plain.get("cost")))
    return None


def extract(obj: Any) -> Extracted:
    """Usage, model, response id and provider cost found in an SDK object, a response or a dict."""
    if obj is None:
        return Extracted(None, None, None, None)
    if isinstance(obj, Mapping):
        found = _from_response_mapping(obj)
        if found is not None:
            return found
        for wrapper in ("response", "message"):  # a `response.completed` event, anthropic `message_start`
            inner = obj.get(wrapper) if wrapper in obj else None
            if isinstance(inner, Mapping):
                found = _from_response_mapping(inner)
                if found is not None:
                    return found
        plain = drop_nones(obj)
        return Extracted(plain, None, None, _number(plain.get("cost")))
    # An SDK object: look for the usage attribute first, so the response's content is never dumped.
    for attr in ("usage", "usage_metadata"):
        usage = getattr(obj, attr, None)
        if usage is not None and not callable(usage):
            plain = to_plain(usage)
            if isinstance(plain, dict):
                model = _string(getattr(obj, "model", None)) or _string(getattr(obj, "model_version", None))
                rid = _string(getattr(obj, "id", None)) or _string(getattr(obj, "response_id", None))
                return Extracted(plain, model, rid, _number(plain.get("cost")))
    for wrapper in ("response", "message"):
        inner = getattr(obj, wrapper, None)
        if inner is not None and (getattr(inner, "usage", None) is not None or getattr(inner, "usage_metadata", None) is not None):
            return extract(inner)
    plain = to_plain(obj)
    if isinstance(plain, dict):
        return extract(plain)
    return Extracted(None, None, None, None)


def has_usage(obj: Any) -> bool:
    """Whether `obj` carries a usage object that `extract` can read (used on decorated results)."""
    if obj is None or isinstance(obj, (str, bytes, int, float, bool, list, tuple)):
        return False
    if isinstance(obj, Mapping):
        return any(isinstance(obj.get(k), Mapping) for k in _USAGE_KEYS)
    return any(getattr(obj, a, None) is not None for a in ("usage", "usage_metadata"))
