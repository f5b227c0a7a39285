"""The schemas and reusable responses of the OpenAPI document (``openapi.py`` assembles it)."""

from __future__ import annotations

from typing import Any

from authtrail.audit_event import AUDIT_EVENT_FIELDS
from query_service.export_format import CSV_COLUMNS
from query_service.params import ID_PATTERN

ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {
            "type": "string",
            "description": "Stable code: invalid_parameters, not_found, export_too_large, …",
        },
        "message": {"type": "string"},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["parameter", "problem"],
                "properties": {"parameter": {"type": "string"}, "problem": {"type": "string"}},
            },
        },
    },
}
AUDIT_EVENT = {
    "type": "object",
    "required": [name for name in AUDIT_EVENT_FIELDS if name != "content_sha256"],
    "properties": {
        "id": {"type": "string", "description": "The event's id, unique (the producer assigns it)."},
        "timestamp": {"type": "integer", "description": "When the action happened, epoch seconds."},
        "user_id": {"type": "integer", "format": "int64"},
        "company_id": {"type": "integer", "format": "int64"},
        "event_type": {"type": "string"},
        "event_resource_type": {"type": "string"},
        "resource_id": {"type": "string"},
        "event_data": {
            "type": "object",
            "additionalProperties": True,
            "description": "Details of the action.",
        },
        "ingested_at": {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "When authtrail's broker received the event (UTC, ISO 8601).",
        },
        "content_sha256": {
            "type": ["string", "null"],
            "description": "SHA-256 of the event's canonical content (integrity check).",
        },
    },
}
EVENTS = {"type": "array", "items": {"$ref": "#/components/schemas/AuditEvent"}}
EVENT_PAGE = {
    "type": "object",
    "description": "Page-number pagination (no order, cursor or after given).",
    "required": ["data", "meta"],
    "properties": {
        "data": EVENTS,
        "meta": {
            "type": "object",
            "required": ["current_page", "total_pages", "per_page", "total_count"],
            "properties": {
                name: {"type": "integer", "minimum": 0}
                for name in ("current_page", "total_pages", "per_page", "total_count")
            },
        },
    },
}
CURSOR_PAGE = {
    "type": "object",
    "description": "Cursor pagination (order, cursor or after given).",
    "required": ["data", "meta"],
    "properties": {
        "data": EVENTS,
        "meta": {
            "type": "object",
            "required": ["order", "per_page", "next_cursor"],
            "properties": {
                "order": {"type": "string", "enum": ["newest", "ingested"]},
                "per_page": {"type": "integer", "minimum": 1},
                "next_cursor": {
                    "type": ["string", "null"],
                    "description": (
                        "order=newest: pass as cursor= for the next page; null after the last page. "
                        "order=ingested: pass as after= on the next poll; never null."
                    ),
                },
                "settled_until": {
                    "type": "string",
                    "format": "date-time",
                    "description": (
                        "order=ingested: events ingested up to this time are included (now minus the "
                        "settle lag); later ones come on a later poll."
                    ),
                },
            },
        },
    },
}
STATUS = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}
COLUMNS = ", ".join(CSV_COLUMNS)


def id_path_parameter() -> dict[str, Any]:
    """``{id}`` in a path: an event's id."""
    return {
        "name": "id",
        "in": "path",
        "required": True,
        "description": "The event's id.",
        "schema": {"type": "string", "pattern": ID_PATTERN},
    }


def error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def json_response(description: str, schema: dict[str, Any], headers: dict[str, Any] | None = None) -> Any:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
        **({"headers": headers} if headers else {}),
    }


URI_TOO_LONG = error_response("The query string is longer than 4 KB.")
TOO_LARGE = error_response("The request carries a body larger than allowed (1 KB).")
UNAUTHORIZED = {
    **error_response("No API key, or one that is malformed, unknown or revoked."),
    "headers": {
        "WWW-Authenticate": {"schema": {"type": "string"}, "description": 'Bearer realm="authtrail"'}
    },
}
RATE_LIMITED = {
    **error_response("This key's request budget is spent for now (or it runs too many exports)."),
    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}},
}
UNAVAILABLE = error_response("The store is unreachable or busy, or the query exceeded its time limit.")
LINK = {
    "Link": {
        "schema": {"type": "string"},
        "description": 'Cursor pagination: <URL of the next page>; rel="next" (RFC 8288), when there is one.',
    }
}
EXPORT_HEADERS = {
    "Content-Disposition": {"schema": {"type": "string"}, "description": 'attachment; filename="…"'},
    "X-Total-Count": {
        "schema": {"type": "integer", "minimum": 0},
        "description": "How many events the export holds (counted when it starts).",
    },
}
EXPORT_CONTENT = {
    "application/x-ndjson": {
        "schema": {"type": "string", "description": "One AuditEvent (JSON) per line, newest first."}
    },
    "text/csv": {
        "schema": {
            "type": "string",
            "description": f"RFC 4180: a header row, then one event per row, newest first: {COLUMNS}.",
        }
    },
}
