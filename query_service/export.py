"""``GET /audit_events/export``: everything a filter matches, streamed in constant memory.

The export walks the listing's order (newest first) with keyset pages of
``api_export_batch_size`` events, each admitted like any other query, the next fetched while
the current one is sent: never one huge find, never more than two batches in memory, and
uvicorn's flow control holds the walk while a slow client reads. The number of events is
counted first: over ``api_export_max_events`` is a 400 before anything streams, and the count is
sent as ``X-Total-Count`` (progress bars). A failure mid-stream (the store gone) aborts the
connection, so a client can never take a cut export for a complete one; it resumes with
``after_id`` = the last event it received. One access record per export: its filters, the count,
and how many events were sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from authtrail.audit_event import audit_event
from authtrail.errors import AuthtrailError
from authtrail.logs import get_logger
from query_service import export_format
from query_service.auth import scoped
from query_service.events import authorized, query_pairs
from query_service.params import AuditQuery, InvalidParametersError, Problem, parse_export
from query_service.query import NEWEST, Position, disjuncts
from query_service.store import AuditStore

log = get_logger(__name__)


class ExportTooLargeError(AuthtrailError):
    def __init__(self, matching: int, limit: int) -> None:
        super().__init__(
            f"{matching:,} events match; an export holds at most {limit:,}: narrow the filters or the "
            "time range, or export in parts"
        )


class ExportCutError(AuthtrailError):
    """The export could not be completed after it started streaming. No handler answers it (the
    status is sent already): it reaches the server, which aborts the connection."""


class ExportResponse(StreamingResponse):
    """A streaming response that runs ``on_close`` however it ends: completed, failed, or the
    client gone (Starlette cancels the stream then; the generator is closed here, not at GC)."""

    def __init__(self, content: AsyncIterator[bytes], on_close: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._content = content
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._on_close()
            aclose = getattr(self._content, "aclose", None)
            if aclose is not None:
                await aclose()


async def export_audit_events(request: Request) -> Response:
    state = request.app.state
    principal = await authorized(request)
    query = scoped(parse_export(query_pairs(request)), principal)
    # The slot is held from the first query (the count can be the longest) to the stream's end.
    state.export_limit.enter(principal.key_id)
    try:
        return await _export(
            request, query, principal.scope, lambda: state.export_limit.leave(principal.key_id)
        )
    except BaseException:
        state.export_limit.leave(principal.key_id)
        raise


async def _export(request: Request, query: AuditQuery, scope: str, on_close: Callable[[], None]) -> Response:
    store, settings = request.app.state.store, request.app.state.settings
    filters = disjuncts(query)
    after = None if query.after_id is None else await _resume_point(store, filters, query.after_id)
    total = await store.count(filters, NEWEST, after)
    access = request.state.access
    access.update(total_count=total, result_count=0)
    if total > settings.api_export_max_events:
        raise ExportTooLargeError(total, settings.api_export_max_events)
    content = _stream(
        store,
        filters,
        after,
        query.format,
        settings.api_export_batch_size,
        settings.api_export_max_events,
        access,
    )
    name = export_format.filename(query.format, scope, datetime.now(UTC))
    return ExportResponse(
        content,
        on_close=on_close,
        media_type=export_format.MEDIA_TYPES[query.format],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Total-Count": str(total),
            "Cache-Control": "no-store",
        },
    )


async def _resume_point(store: AuditStore, filters: list[dict[str, Any]], event_id: str) -> Position:
    """Where an export resumes: right after ``event_id``, which must be one of its events."""
    for conditions in filters:
        document = await store.event({**conditions, "_id": event_id})
        if document is not None:
            return NEWEST.position(document)
    raise InvalidParametersError(
        [
            Problem(
                "after_id",
                "is not an event of this export (absent, another tenant's, or outside these filters)",
            )
        ]
    )


async def _stream(
    store: AuditStore,
    filters: list[dict[str, Any]],
    after: Position | None,
    format: export_format.ExportFormat,
    batch_size: int,
    max_events: int,
    access: dict[str, Any],
) -> AsyncIterator[bytes]:
    sent = 0
    try:
        yield export_format.header(format)
        async for batch in _batches(store, filters, after, batch_size):
            if sent + len(batch) > max_events:
                # More arrived since the count: stop short rather than pass the cap, visibly.
                raise ExportCutError(f"the export grew past {max_events:,} events while streaming")
            yield export_format.rows(format, (audit_event(document) for document in batch))
            sent += len(batch)
            access["result_count"] = sent
    except AuthtrailError as exc:
        # A store error has a handler that would answer 503 — too late, the status is sent.
        access["error"] = type(exc).__name__
        log.warning("export cut short; the connection is aborted", sent=sent, error=str(exc))
        if isinstance(exc, ExportCutError):
            raise
        raise ExportCutError(f"export cut short after {sent:,} events: {exc}") from exc


async def _batches(
    store: AuditStore, filters: list[dict[str, Any]], after: Position | None, batch_size: int
) -> AsyncIterator[list[dict[str, Any]]]:
    """Keyset pages to the end, each fetched while the previous one is being sent."""
    fetch: asyncio.Task[list[dict[str, Any]]] | None = asyncio.create_task(
        store.walk(filters, NEWEST, after, batch_size)
    )
    try:
        while fetch is not None:
            batch = await fetch
            fetch = None
            if len(batch) == batch_size:
                after = NEWEST.next_position(batch, after)
                fetch = asyncio.create_task(store.walk(filters, NEWEST, after, batch_size))
            if batch:
                yield batch
    finally:
        if fetch is not None:
            fetch.cancel()
            await asyncio.gather(fetch, return_exceptions=True)  # its outcome is moot now
