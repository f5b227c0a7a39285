"""The query API: a thin Starlette app over the audit store.

Built once per worker process by :func:`create_app`; the store client is opened in the
lifespan and shared by every request. ``authtrail serve`` runs it under uvicorn.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authtrail.logs import configure_logging, get_logger
from authtrail.settings import Settings, get_settings
from query_service.errors import EXCEPTION_HANDLERS, error_body
from query_service.openapi import docs_page, openapi_document
from query_service.params import InvalidParametersError, Problem, parse_query
from query_service.responses import JSONBody
from query_service.serialize import audit_event
from query_service.store import AuditStore

log = get_logger("query_service.access")
MAX_QUERY_STRING_BYTES = 4096


async def list_audit_events(request: Request) -> Response:
    state = request.app.state
    query = parse_query(query_pairs(request), state.settings.api_max_per_page)
    page = await state.store.page(query)
    return JSONBody(
        {
            "data": [audit_event(document) for document in page.documents],
            "meta": {
                "current_page": query.page,
                "total_pages": math.ceil(page.total / query.per_page),
                "per_page": query.per_page,
                "total_count": page.total,
            },
        }
    )


def query_pairs(request: Request) -> list[tuple[str, str]]:
    """Every (name, value) of the query string, repeats kept (Starlette's ``.get()`` keeps the last)."""
    try:
        return parse_qsl(
            request.scope["query_string"].decode("latin-1"), keep_blank_values=True, errors="strict"
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidParametersError([Problem("query string", "is not valid percent-encoded UTF-8")]) from exc


async def health(request: Request) -> Response:
    return JSONBody({"status": "ok"})


async def ready(request: Request) -> Response:
    await request.app.state.store.ping()
    return JSONBody({"status": "ready"})


async def openapi(request: Request) -> Response:
    return JSONBody(request.app.state.openapi)


async def docs(request: Request) -> Response:
    return HTMLResponse(docs_page(request.app.state.openapi))


class AccessLog:
    """One line per request (method, path, status, duration), and the URL size cap."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if len(scope["query_string"]) > MAX_QUERY_STRING_BYTES:
                # Outside the exception middleware: answer here, in the same JSON shape.
                too_long = error_body(
                    "uri_too_long", f"the query string is longer than {MAX_QUERY_STRING_BYTES} bytes"
                )
                await JSONBody(too_long, status_code=414)(scope, receive, record_status)
                return
            await self.app(scope, receive, record_status)
        finally:
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        store = AuditStore(settings)
        app.state.store = store
        log.info(
            "query API started",
            url=settings.api_url,
            store=f"{settings.mongo_database}.{settings.mongo_collection}",
            query_timeout_ms=settings.mongo_query_timeout_ms,
        )
        try:
            yield {}
        finally:
            await store.close()

    app = Starlette(
        routes=[
            Route("/audit_events", list_audit_events, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
            Route("/docs", docs, methods=["GET"]),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.openapi = openapi_document(settings.api_max_per_page, settings.api_url)
    app.add_middleware(AccessLog)
    return app


def app_from_environment() -> Starlette:
    """uvicorn's factory: each worker process configures logging and builds its app."""
    settings = get_settings()
    configure_logging(settings, "serve")
    return create_app(settings)
