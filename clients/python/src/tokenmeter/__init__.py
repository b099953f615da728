"""tokenmeter: record one usage record per AI call, without blocking the caller or losing it.

    from tokenmeter import TokenMeter
    meter = TokenMeter("http://127.0.0.1:9477", service="bot")
    meter.record(operation="chat", model="gpt-4o-mini", user_id=42, usage=response)
"""

from ._call import Call, CallRecord, Pending
from ._client import TokenMeter
from ._errors import TokenMeterError
from ._ids import new_id
from ._usage import extract as extract_usage
from ._version import __version__

__all__ = ["TokenMeter", "TokenMeterError", "Call", "CallRecord", "Pending", "new_id", "extract_usage", "__version__"]
