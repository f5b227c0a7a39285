"""JSON bytes of API responses; BSON leftovers inside ``event_data`` become strings."""

from __future__ import annotations

import base64
from typing import Any

import orjson


def dumps(content: Any) -> bytes:
    """JSON bytes; BSON leftovers inside event_data (ObjectId, Decimal128, bytes) become strings."""
    return orjson.dumps(content, default=_fallback, option=orjson.OPT_UTC_Z)


def _fallback(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)
