"""The one place a validated :class:`AuditQuery` becomes a MongoDB filter and sort.

Only validated, typed values reach it (ints and pattern-checked names), so no operator
can be injected. The sort — newest first, ties broken by ``_id`` — is total, so pages never
overlap or skip while data is static, and every query index ends with these two keys.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from authtrail.store import NEWEST_FIRST
from query_service.params import AuditQuery

__all__ = ["NEWEST_FIRST", "mongo_filter"]


def mongo_filter(query: AuditQuery) -> dict[str, Any]:
    conditions: dict[str, Any] = {}
    for name in ("company_id", "user_id", "event_type", "event_resource_type"):
        value = getattr(query, name)
        if value is not None:
            conditions[name] = value
    if query.timestamp_from is not None:
        # Stored times are whole seconds: an inclusive upper bound of second N is <= N.
        window = {"$gte": _at(query.timestamp_from)}
        if query.timestamp_to is not None:
            window["$lte"] = _at(query.timestamp_to)
        conditions["timestamp"] = window
    return conditions


def _at(epoch_seconds: int) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, UTC)
