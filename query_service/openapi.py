"""The OpenAPI 3.1 document of the query API, built from the same parameter specs the parser
uses, and a human page rendering it (self-contained: no scripts from a CDN)."""

from __future__ import annotations

import html
from typing import Any

from query_service.params import MAX_RESULT_WINDOW, NAME_PATTERN, parameter_specs
from query_service.serialize import AUDIT_EVENT_FIELDS

ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "Stable code: invalid_parameters, store_unavailable, …"},
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


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


URI_TOO_LONG = _error_response("The query string is longer than 4 KB.")
TOO_LARGE = _error_response("The request carries a body larger than allowed (1 KB).")
UNAUTHORIZED = {
    **_error_response("No API key, or one that is malformed, unknown or revoked."),
    "headers": {
        "WWW-Authenticate": {"schema": {"type": "string"}, "description": 'Bearer realm="authtrail"'}
    },
}
BEARER: list[dict[str, list[str]]] = [{"apiKey": []}]


def openapi_document(max_per_page: int, server_url: str) -> dict[str, Any]:
    parameters = []
    for spec in parameter_specs(max_per_page):
        schema: dict[str, Any] = {"type": spec.kind}
        if spec.kind == "integer":
            schema |= {
                k: v
                for k, v in (("minimum", spec.minimum), ("maximum", spec.maximum), ("default", spec.default))
                if v is not None
            }
            schema["format"] = "int64"
        else:
            schema["pattern"] = NAME_PATTERN
        parameters.append(
            {
                "name": spec.name,
                "in": "query",
                "required": False,
                "description": spec.description,
                "schema": schema,
            }
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "authtrail query API",
            "version": "1.0.0",
            "description": (
                "Who did what, when: the audit events of the bug tracker, newest first (ties by id). Filters "
                "combine with AND. Any unknown, repeated, malformed or out-of-range parameter is a 400 "
                "naming "
                f"each problem. page × per_page may reach {MAX_RESULT_WINDOW:,}."
            ),
        },
        "servers": [{"url": server_url}],
        "paths": {
            "/audit_events": {
                "get": {
                    "operationId": "listAuditEvents",
                    "summary": "Audit events, filtered and paginated",
                    "description": (
                        "A company key sees its own company's events only: the company filter is applied "
                        "server-side, and asking for another company_id is a 403. "
                        "Operator keys see every company."
                    ),
                    "security": BEARER,
                    "parameters": parameters,
                    "responses": {
                        "200": {
                            "description": "A page of events.",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/EventPage"}}
                            },
                        },
                        "400": _error_response("Invalid parameters; details name each."),
                        "401": UNAUTHORIZED,
                        "403": _error_response("The key's company is not the one asked for."),
                        "413": TOO_LARGE,
                        "414": URI_TOO_LONG,
                        "429": {
                            **_error_response("This key's request budget is spent for now."),
                            "headers": {
                                "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}
                            },
                        },
                        "503": _error_response(
                            "The store is unreachable or busy, or the query exceeded its time limit."
                        ),
                    },
                }
            },
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "The process is alive",
                    "responses": {
                        "200": {
                            "description": "Alive.",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Status"}}
                            },
                        },
                        "413": TOO_LARGE,
                        "414": URI_TOO_LONG,
                    },
                }
            },
            "/ready": {
                "get": {
                    "operationId": "ready",
                    "summary": "The store answers",
                    "security": BEARER,
                    "responses": {
                        "200": {
                            "description": "Ready.",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Status"}}
                            },
                        },
                        "401": UNAUTHORIZED,
                        "413": TOO_LARGE,
                        "414": URI_TOO_LONG,
                        "503": _error_response("The store is unreachable."),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "at_<key id>_<secret>",
                    "description": "An API key from `authtrail keys create`.",
                }
            },
            "schemas": {
                "AuditEvent": AUDIT_EVENT,
                "EventPage": {
                    "type": "object",
                    "required": ["data", "meta"],
                    "properties": {
                        "data": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEvent"}},
                        "meta": {
                            "type": "object",
                            "required": ["current_page", "total_pages", "per_page", "total_count"],
                            "properties": {
                                name: {"type": "integer", "minimum": 0}
                                for name in ("current_page", "total_pages", "per_page", "total_count")
                            },
                        },
                    },
                },
                "Status": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {"status": {"type": "string"}},
                },
                "Error": ERROR,
            },
        },
    }


def docs_page(document: dict[str, Any]) -> str:
    """The API reference as one HTML page, rendered from the OpenAPI document."""
    esc = html.escape
    parts = [
        f"<h1>{esc(document['info']['title'])}</h1><p>{esc(document['info']['description'])}</p>",
        '<p>Machine-readable: <a href="/openapi.json">/openapi.json</a></p>',
    ]
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            parts.append(f"<h2><code>{method.upper()} {esc(path)}</code></h2><p>{esc(op['summary'])}</p>")
            if op.get("parameters"):
                rows = "".join(
                    f"<tr><td><code>{esc(p['name'])}</code></td><td>{esc(p['schema']['type'])}</td>"
                    f"<td>{esc(_limits(p['schema']))}</td><td>{esc(p['description'])}</td></tr>"
                    for p in op["parameters"]
                )
                parts.append(
                    "<table><tr><th>parameter</th><th>type</th><th>limits</th><th>meaning</th></tr>"
                    f"{rows}</table>"
                )
            parts.append(
                "<ul>"
                + "".join(
                    f"<li><b>{code}</b> {esc(r['description'])}</li>" for code, r in op["responses"].items()
                )
                + "</ul>"
            )
    style = (
        "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}"
    )
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{esc(document['info']['title'])}"
        f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>"
    )


def _limits(schema: dict[str, Any]) -> str:
    if "pattern" in schema:
        return f"pattern {schema['pattern']}"
    bounds = [f"{k} {schema[k]:,}" for k in ("minimum", "maximum", "default") if k in schema]
    return ", ".join(bounds)
