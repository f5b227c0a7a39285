"""Stored documents → ``AuditEvent`` JSON with stable names; no MongoDB internals leak."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson

AUDIT_EVENT_FIELDS = (
    "id",
    "timestamp",
    "user_id",
    "company_id",
    "event_type",
    "event_resource_type",
    "resource_id",
    "event_data",
    "ingested_at",
    "content_sha256",
)


def audit_event(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(document["_id"]),
        "timestamp": _epoch_seconds(document.get("timestamp")),
        "user_id": _int(document.get("user_id")),
        "company_id": _int(document.get("company_id")),
        "event_type": document.get("event_type"),
        "event_resource_type": document.get("event_resource_type"),
        "resource_id": document.get("resource_id"),
        "event_data": document.get("event_data", {}),
        "ingested_at": _iso(document.get("ingested_at")),
        "content_sha256": document.get("content_sha256"),
    }


def dumps(content: Any) -> bytes:
    """JSON bytes; BSON leftovers inside event_data (ObjectId, Decimal128, bytes) become strings."""
    return orjson.dumps(content, default=_fallback, option=orjson.OPT_UTC_Z)


def _fallback(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _epoch_seconds(value: Any) -> int | None:
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())
    return None


def _iso(value: Any) -> str | None:
    if not isinstance(value, datetime):
        return None
    moment = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
