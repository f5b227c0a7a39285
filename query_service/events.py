"""``GET /audit_events`` (page-number or cursor pagination) and ``GET /audit_events/{id}``.

Three ways to read a listing, chosen by the parameters (``docs/query-api.md`` says when to use which):

* page-number (``page``/``per_page``; the seed's, unchanged): exact ``total_count``, a skip per page;
* ``order=newest`` + ``cursor=``: the same order, a keyset page whose cost does not grow with depth;
* ``order=ingested`` + ``after=``: incremental sync in ingestion order, for collectors that poll.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import Response

from authtrail.api_keys import Principal
from authtrail.audit_event import audit_event, iso_utc
from authtrail.errors import AuthtrailError
from query_service.auth import scoped
from query_service.cursor import CursorError, binding
from query_service.params import AuditQuery, InvalidParametersError, Problem, parse_event_id, parse_query
from query_service.query import (
    INGESTED,
    NEWEST,
    SYNC_START,
    Position,
    at_millis,
    disjuncts,
    from_millis,
    sync_filter,
)
from query_service.responses import JSONBody


class EventNotFoundError(AuthtrailError):
    """No such event for this key: absent, or another tenant's (the two are never told apart)."""


def query_pairs(request: Request) -> list[tuple[str, str]]:
    """Every (name, value) of the query string, repeats kept (Starlette's ``.get()`` keeps the last)."""
    try:
        return parse_qsl(
            request.scope["query_string"].decode("latin-1"), keep_blank_values=True, errors="strict"
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidParametersError([Problem("query string", "is not valid percent-encoded UTF-8")]) from exc


async def authorized(request: Request) -> Principal:
    """The caller's key, checked, noted in the access record, and charged one request."""
    state = request.app.state
    principal: Principal = await state.keys.authenticate(request)
    request.state.access.update(key_id=principal.key_id, scope=principal.scope)
    state.rate_limiter.take(principal.key_id)
    return principal


async def list_audit_events(request: Request) -> Response:
    principal = await authorized(request)
    pairs = query_pairs(request)
    query = scoped(parse_query(pairs, request.app.state.settings.api_max_per_page), principal)
    if query.order is None:
        return await _page_numbers(request, query)
    return await _cursor_page(request, query, principal, pairs)


async def get_audit_event(request: Request) -> Response:
    principal = await authorized(request)
    if not request.path_params["id"]:
        raise EventNotFoundError("no such event")  # /audit_events/ names no event
    event_id = parse_event_id(request.path_params["id"], query_pairs(request))
    conditions: dict[str, Any] = {"_id": event_id}
    if principal.company_id is not None:
        # Another tenant's event is "not found" with the very same query as an absent one.
        conditions["company_id"] = principal.company_id
    document = await request.app.state.store.event(conditions)
    request.state.access.update(result_count=0 if document is None else 1)
    if document is None:
        raise EventNotFoundError("no such event")
    return JSONBody(audit_event(document))


async def _page_numbers(request: Request, query: AuditQuery) -> Response:
    page = await request.app.state.store.page(query)
    request.state.access.update(result_count=len(page.documents), total_count=page.total)
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


async def _cursor_page(
    request: Request, query: AuditQuery, principal: Principal, pairs: list[tuple[str, str]]
) -> Response:
    state = request.app.state
    codec = await state.cursor_signing.codec()
    order = INGESTED if query.order == "ingested" else NEWEST
    bound_to = binding(query.filters(), principal.scope)
    token, parameter = (query.after, "after") if order is INGESTED else (query.cursor, "cursor")
    after: Position | None = None
    if token is not None:
        try:
            after = codec.decode(token, order, bound_to)
        except CursorError as exc:
            raise InvalidParametersError([Problem(parameter, str(exc))]) from exc
    meta: dict[str, Any] = {"order": order.name, "per_page": query.per_page}
    if order is INGESTED:
        settled_until = settled_horizon(state.settings.api_sync_settle_s)
        filters = [sync_filter(query, settled_until)]
        meta["settled_until"] = iso_utc(settled_until)
    else:
        filters = disjuncts(query)
    # One event more than the page says whether there is a next page (newest order).
    found = await state.store.walk(filters, order, after, query.per_page + 1)
    documents = found[: query.per_page]
    request.state.access.update(result_count=len(documents))
    if order is INGESTED:
        # A sync cursor never ends: with nothing new it stays where it was (or at the start).
        last = order.next_position(documents, after) if documents else (after or SYNC_START)
        next_cursor: str | None = codec.encode(order, last, bound_to)
    elif len(found) > query.per_page:
        next_cursor = codec.encode(order, order.next_position(documents, after), bound_to)
    else:
        next_cursor = None
    meta["next_cursor"] = next_cursor
    headers = {}
    if next_cursor is not None:
        headers["Link"] = f'<{_next_url(request, pairs, order.name, parameter, next_cursor)}>; rel="next"'
    return JSONBody({"data": [audit_event(d) for d in documents], "meta": meta}, headers=headers)


def settled_horizon(settle_s: float, now: datetime | None = None) -> datetime:
    """The newest ingestion time order=ingested may return: ``settle_s`` ago, to the millisecond."""
    moment = (now or datetime.now(UTC)) - timedelta(seconds=settle_s)
    return from_millis(at_millis(moment))


def _next_url(request: Request, pairs: list[tuple[str, str]], order: str, parameter: str, token: str) -> str:
    """This request again, one page on: its own filters and page size, the next cursor (RFC 8288)."""
    kept = [(name, value) for name, value in pairs if name not in ("order", "cursor", "after")]
    return str(request.url.replace(query=urlencode([*kept, ("order", order), (parameter, token)])))
