"""The OpenAPI 3.1 document of the query API, built from the same parameter specs the parser
uses, and a human page rendering it (self-contained: no scripts from a CDN)."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

from query_service.openapi_integrity import SCHEMAS as INTEGRITY_SCHEMAS
from query_service.openapi_integrity import integrity_paths
from query_service.openapi_schemas import (
    AUDIT_EVENT,
    CURSOR_PAGE,
    ERROR,
    EVENT_PAGE,
    EXPORT_CONTENT,
    EXPORT_HEADERS,
    LINK,
    RATE_LIMITED,
    STATUS,
    TOO_LARGE,
    UNAUTHORIZED,
    UNAVAILABLE,
    URI_TOO_LONG,
    error_response,
    id_path_parameter,
    json_response,
)
from query_service.params import MAX_RESULT_WINDOW, ParamSpec, export_specs, parameter_specs

BEARER: list[dict[str, list[str]]] = [{"apiKey": []}]
SCOPED = (
    "A company key sees its own company's events only: the company filter is applied server-side, "
    "and asking for another company_id is a 403. Operator keys see every company."
)


def query_parameters(specs: Iterable[ParamSpec]) -> list[dict[str, Any]]:
    parameters = []
    for spec in specs:
        schema: dict[str, Any] = {"type": "integer" if spec.kind == "integer" else "string"}
        if spec.kind == "integer":
            schema["format"] = "int64"
        schema |= {
            key: value
            for key, value in (
                ("minimum", spec.minimum),
                ("maximum", spec.maximum),
                ("default", spec.default),
                ("pattern", spec.pattern),
                ("enum", list(spec.enum) if spec.enum else None),
            )
            if value is not None
        }
        parameters.append(
            {
                "name": spec.name,
                "in": "query",
                "required": False,
                "description": spec.description,
                "schema": schema,
            }
        )
    return parameters


def _guarded(responses: dict[str, Any]) -> dict[str, Any]:
    """The answers every key-checked endpoint may give besides its own."""
    return {
        **responses,
        "401": UNAUTHORIZED,
        "413": TOO_LARGE,
        "414": URI_TOO_LONG,
        "429": RATE_LIMITED,
        "503": UNAVAILABLE,
    }


def openapi_document(max_per_page: int, server_url: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "authtrail query API",
            "version": "1.1.0",
            "description": (
                "Who did what, when: the audit events of the bug tracker. Filters combine with AND; "
                "event_type and event_resource_type take comma-separated lists. Listings come newest "
                "first (ties by id), by page number (page × per_page may reach "
                f"{MAX_RESULT_WINDOW:,}) or by cursor (order=newest, cursor=), or in ingestion order "
                "for incremental sync (order=ingested, after=). Any unknown, repeated, malformed or "
                "out-of-range parameter is a 400 naming each problem."
            ),
        },
        "servers": [{"url": server_url}],
        "paths": {
            "/audit_events": {
                "get": {
                    "operationId": "listAuditEvents",
                    "summary": "Audit events, filtered and paginated",
                    "description": SCOPED
                    + " Page-number pagination (page, per_page) answers an EventPage with exact totals; "
                    "cursor pagination (order, cursor, after) a CursorPage, whose cost does not grow "
                    "with depth. A cursor is bound to its filters and key: repeat the filters.",
                    "security": BEARER,
                    "parameters": query_parameters(parameter_specs(max_per_page)),
                    "responses": _guarded(
                        {
                            "200": json_response(
                                "A page of events.",
                                {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/EventPage"},
                                        {"$ref": "#/components/schemas/CursorPage"},
                                    ]
                                },
                                LINK,
                            ),
                            "400": error_response("Invalid parameters or cursor; details name each."),
                            "403": error_response("The key's company is not the one asked for."),
                        }
                    ),
                }
            },
            "/audit_events/export": {
                "get": {
                    "operationId": "exportAuditEvents",
                    "summary": "Every event a filter matches, as one streamed NDJSON or CSV download",
                    "description": SCOPED
                    + " Newest first, like the listing. An interrupted export resumes with after_id = "
                    "the id of the last event received. An export that ends without its final chunk "
                    "was cut short (the connection is aborted on a failure mid-stream).",
                    "security": BEARER,
                    "parameters": query_parameters(export_specs()),
                    "responses": _guarded(
                        {
                            "200": {
                                "description": "The events, streamed.",
                                "headers": EXPORT_HEADERS,
                                "content": EXPORT_CONTENT,
                            },
                            "400": error_response(
                                "Invalid parameters (details name each), or export_too_large: more events "
                                "match than one export may hold."
                            ),
                            "403": error_response("The key's company is not the one asked for."),
                        }
                    ),
                }
            },
            "/audit_events/{id}": {
                "get": {
                    "operationId": "getAuditEvent",
                    "summary": "One event by its id",
                    "description": (
                        "404 when there is no such event or it is another company's: the two are "
                        "never told apart. Takes no query parameters."
                    ),
                    "security": BEARER,
                    "parameters": [id_path_parameter()],
                    "responses": _guarded(
                        {
                            "200": json_response("The event.", {"$ref": "#/components/schemas/AuditEvent"}),
                            "400": error_response("A malformed id, or query parameters."),
                            "404": error_response("No such event (for this key)."),
                        }
                    ),
                }
            },
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "The process is alive",
                    "responses": {
                        "200": json_response("Alive.", {"$ref": "#/components/schemas/Status"}),
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
                        "200": json_response("Ready.", {"$ref": "#/components/schemas/Status"}),
                        "401": UNAUTHORIZED,
                        "413": TOO_LARGE,
                        "414": URI_TOO_LONG,
                        "503": error_response("The store is unreachable."),
                    },
                }
            },
            **integrity_paths(query_parameters, BEARER),
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
                "EventPage": EVENT_PAGE,
                "CursorPage": CURSOR_PAGE,
                "Status": STATUS,
                "Error": ERROR,
                **INTEGRITY_SCHEMAS,
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
    if "enum" in schema:
        return "one of " + ", ".join(schema["enum"])
    if "pattern" in schema:
        return f"pattern {schema['pattern']}"
    bounds = [f"{k} {schema[k]:,}" for k in ("minimum", "maximum", "default") if k in schema]
    return ", ".join(bounds)
