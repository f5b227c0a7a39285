"""The query API: a thin Starlette app over the audit store.

Built once per worker process by :func:`create_app`; the store client, the key ring, the
rate and export limits, the cursor signing and the access recorder are created in the lifespan
and shared by every request. The endpoints live in ``events.py`` and ``export.py``.
``authtrail serve`` runs it under uvicorn.
"""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authtrail.logs import configure_logging, get_logger
from authtrail.settings import Settings, get_settings
from query_service.access import AccessRecorder
from query_service.auth import KeyRing
from query_service.checkpoints import (
    consistency,
    event_proof,
    list_checkpoints,
    list_leaves,
    new_node_cache,
    public_key,
)
from query_service.errors import EXCEPTION_HANDLERS, error_body
from query_service.events import get_audit_event, list_audit_events
from query_service.export import export_audit_events
from query_service.metrics import metrics_endpoint, observe_request
from query_service.openapi import docs_page, openapi_document
from query_service.rate_limit import RateLimiter, RunningLimit
from query_service.responses import JSONBody
from query_service.signing import CursorSigning
from query_service.store import AuditStore
from query_service.ui import ui_routes

log = get_logger("query_service.requests")
MAX_QUERY_STRING_BYTES = 4096


def is_audited(path: str) -> bool:
    """Every request that reads audit data (or the store's state) yields an access record."""
    if path == "/checkpoints/public-key":
        return False
    return path in ("/audit_events", "/ready", "/checkpoints") or path.startswith(
        ("/audit_events/", "/checkpoints/")
    )


async def health(request: Request) -> Response:
    return JSONBody({"status": "ok"})


async def ready(request: Request) -> Response:
    principal = await request.app.state.keys.authenticate(request)
    request.state.access.update(key_id=principal.key_id, scope=principal.scope)
    await request.app.state.store.ping()
    return JSONBody({"status": "ready"})


async def openapi(request: Request) -> Response:
    return JSONBody(request.app.state.openapi)


async def docs(request: Request) -> Response:
    return HTMLResponse(docs_page(request.app.state.openapi))


def recorded_path(scope: Scope) -> str:
    """The path as the client sent it (percent-encoded): an id in it is kept exactly, and a
    decoded control character (``%00``) cannot make the record one the store refuses."""
    raw = scope.get("raw_path") or quote(scope["path"]).encode()
    return bytes(raw).decode("latin-1")[:MAX_QUERY_STRING_BYTES]


class RequestBoundary:
    """Outermost layer: size caps (answered here, in the API's JSON shape), one log line per
    request, and the access record of every audited request."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        access: dict[str, Any] = {}
        scope.setdefault("state", {})["access"] = access

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            refusal = self._refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, record_status)
            else:
                await self.app(scope, receive, record_status)
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            log.info(
                "request", method=scope["method"], path=scope["path"], status=status, duration_ms=duration_ms
            )
            observe_request(scope, status, duration_ms / 1000)
            if is_audited(scope["path"]):
                scope["app"].state.access_recorder.record(
                    {
                        "at": datetime.now(UTC),
                        "path": recorded_path(scope),
                        "status": status,
                        "duration_ms": duration_ms,
                        "key_id": access.get("key_id"),
                        "scope": access.get("scope"),
                        "params": scope["query_string"].decode("latin-1")[:MAX_QUERY_STRING_BYTES],
                        "result_count": access.get("result_count"),
                        "total_count": access.get("total_count"),
                        **({"error": access["error"]} if "error" in access else {}),
                    }
                )

    def _refusal(self, scope: Scope) -> Response | None:
        if len(scope["query_string"]) > MAX_QUERY_STRING_BYTES:
            return JSONBody(
                error_body("uri_too_long", f"the query string is longer than {MAX_QUERY_STRING_BYTES} bytes"),
                status_code=414,
            )
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.max_body_bytes:
            return JSONBody(
                error_body("request_too_large", f"request bodies are limited to {self.max_body_bytes} bytes"),
                status_code=413,
            )
        return None


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        store = AuditStore(settings)
        database = store.client[settings.mongo_database]
        app.state.store = store
        app.state.keys = KeyRing(database[settings.api_keys_collection])
        app.state.rate_limiter = RateLimiter(settings.api_rate_limit_per_s, settings.api_rate_limit_burst)
        app.state.export_limit = RunningLimit(settings.api_export_max_concurrent_per_key, "exports")
        app.state.cursor_signing = CursorSigning(settings, database[settings.api_secrets_collection])
        app.state.node_cache = new_node_cache()
        recorder = AccessRecorder(
            database[settings.api_access_collection] if settings.api_access_log_to_store else None
        )
        app.state.access_recorder = recorder
        recorder.start()
        # What the process has built so far (modules, clients, the app) lives as long as it does:
        # frozen, it leaves the collector's full collections, which then scan only what requests
        # made. Measured on 1,000-event pages: full-collection pauses 22-27 ms -> 0.4 ms, p95
        # 40 -> 30 ms (docs/benchmarks.md, query). Garbage is collected first: frozen, it would
        # stay for the life of the process.
        gc.collect()
        gc.freeze()
        log.info(
            "query API started",
            url=settings.api_url,
            store=f"{settings.mongo_database}.{settings.mongo_collection}",
            query_timeout_ms=settings.mongo_query_timeout_ms,
            rate_limit_per_s=settings.api_rate_limit_per_s,
        )
        try:
            yield {}
        finally:
            await recorder.close()
            await store.close()

    app = Starlette(
        routes=[
            Route("/audit_events", list_audit_events, methods=["GET"]),
            # Before {id}: an event whose id is "export" is not reachable by id (ids like that are
            # not ones producers make).
            Route("/audit_events/export", export_audit_events, methods=["GET"]),
            # :path — an event id may contain "/" (any text without control characters); one
            # ending in "/proof" is reachable by id only through export and listings.
            Route("/audit_events/{id:path}/proof", event_proof, methods=["GET"]),
            Route("/audit_events/{id:path}", get_audit_event, methods=["GET"]),
            Route("/checkpoints", list_checkpoints, methods=["GET"]),
            Route("/checkpoints/public-key", public_key, methods=["GET"]),
            Route("/checkpoints/leaves", list_leaves, methods=["GET"]),
            Route("/checkpoints/consistency", consistency, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Route("/ready", ready, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
            Route("/docs", docs, methods=["GET"]),
            *ui_routes(),  # the investigators' viewer (docs/viewer.md)
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    if settings.api_metrics_port == 0:  # no metrics port of its own: /metrics here, not behind keys
        app.router.routes.append(Route("/metrics", metrics_endpoint, methods=["GET"]))
    app.state.openapi = openapi_document(settings.api_max_per_page, settings.api_url)
    app.add_middleware(RequestBoundary, max_body_bytes=settings.api_max_body_bytes)
    return app


def app_from_environment() -> Starlette:
    """uvicorn's factory: each worker process configures logging and builds its app."""
    settings = get_settings()
    configure_logging(settings, "serve")
    return create_app(settings)
