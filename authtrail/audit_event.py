"""The API's view of a stored event: ``AuditEvent`` with stable names, no MongoDB internals.

Below the query service because it is also what tamper evidence seals (``authtrail/integrity``):
a company verifies the events exactly as the API returns them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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
        "ingested_at": iso_utc(document.get("ingested_at")),
        "content_sha256": document.get("content_sha256"),
    }


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def _epoch_seconds(value: Any) -> int | None:
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())
    return None


def iso_utc(value: Any) -> str | None:
    """ISO 8601 UTC with milliseconds (``2026-05-01T12:00:00.123Z``), or None if not a date."""
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:  # UTC, as the API's page reads decode stored dates: no conversion
        return value.isoformat(timespec="milliseconds") + "Z"
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
