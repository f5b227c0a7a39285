"""Reading audit events from the store: one async client per process, bounded time per request.

The page and its ``total_count`` are fetched concurrently, so a request costs the slower of
the two. A request made of several index queries (a list of event types, a keyset page: see
``query.py``) runs them concurrently too, and merges their answers in the order.

Three bounds, kept apart on purpose (a single ``pymongo.timeout`` deadline would also govern
server selection, so a down store would hold requests for the whole query budget):
* server selection (``mongo_server_selection_timeout_ms``): a store that is down → 503 fast;
* ``maxTimeMS`` per operation (``mongo_query_timeout_ms``): the server aborts a slow query;
* socket timeout a little above it: a hung server cannot hold a request forever.
Driver errors become :class:`StoreUnavailableError`, which the API answers with 503.

At most ``api_max_concurrent_queries`` requests of this process query the store at once; the
rest wait their turn (up to ``api_query_queue_timeout_s``, then 503). Ingest writes to the same
store: measured on the 2-core local stack, ten unbounded query clients took the CPU the sink
needed and produce → queryable grew to tens of seconds. Queueing in the API keeps each query
fast once it runs, instead of every query slow and ingest starved.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import ExecutionTimeout, PyMongoError

from authtrail.errors import AuthtrailError
from authtrail.settings import Settings
from query_service.metrics import STORE_ERRORS, STORE_QUERY_DURATION, STORE_QUEUE_WAIT
from query_service.params import AuditQuery
from query_service.query import (
    NEWEST,
    NEWEST_FIRST,
    Position,
    SortOrder,
    disjuncts,
    from_position,
    keyset_filters,
)

SOCKET_MARGIN_MS = 2000
# Events a keyset page reads beyond the page to step over those sharing the cursor's own time,
# when the cursor does not say how many the walk returned (see AuditStore.walk): above the usual
# ties, so one query answers; small, because every page pays for it (measured: 32 made a deep
# page of 10 ~1.5x the first, 8 a list filter's ~1.35x). Also the most a page steps over in one
# query: more ties than this (a burst of ingest sharing one second) take the exact two-query form.
TIE_SLACK = 8


class StoreUnavailableError(AuthtrailError):
    def __init__(self, detail: str, timed_out: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.timed_out = timed_out


@dataclass(frozen=True)
class Find:
    """One query on a collection of the audit database (the sealer's, for proofs)."""

    collection: str
    conditions: dict[str, Any]
    sort: list[tuple[str, int]] | None = None
    limit: int = 0


@dataclass(frozen=True)
class Page:
    documents: list[dict[str, Any]]
    total: int


class AuditStore:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            settings.mongo_uri.get_secret_value(),
            serverSelectionTimeoutMS=settings.mongo_server_selection_timeout_ms,
            connectTimeoutMS=settings.mongo_server_selection_timeout_ms,
            socketTimeoutMS=settings.mongo_query_timeout_ms + SOCKET_MARGIN_MS,
            tz_aware=True,
            appname="authtrail-query",
        )
        self.collection = self.client[settings.mongo_database][settings.mongo_collection]
        self.max_time_ms = settings.mongo_query_timeout_ms
        self.queue_timeout_s = settings.api_query_queue_timeout_s
        self._slots = asyncio.Semaphore(settings.api_max_concurrent_queries)
        self.tie_slack = TIE_SLACK

    async def page(self, query: AuditQuery) -> Page:
        """Page-number pagination: page ``query.page`` and the exact total."""
        async with self._admitted("page"):
            return await self._page(query)

    async def walk(
        self, filters: list[dict[str, Any]], order: SortOrder, after: Position | None, limit: int
    ) -> list[dict[str, Any]]:
        """Keyset pagination: the first ``limit`` events of the union of ``filters`` strictly after
        ``after`` in ``order`` — the same cost at any depth (no skip).

        One query per filter: from ``after``'s own time on, as many events more than the page as
        the walk has returned of that time (``after.ties``; ``tie_slack`` if unknown), the leading
        ones up to ``after`` dropped. Exact whenever what is left fills the page or the answer was
        not full (the end); otherwise more events share ``after``'s time (late arrivals), and that
        filter is asked again in the exact two-query form — as every filter is when the ties are
        more than ``tie_slack``.
        """
        async with self._admitted("walk"):
            if after is None:
                answers = await self._gather(*(self._find(f, order.sort, limit) for f in filters))
            else:
                answers = await self._after(filters, order, after, limit)
        return list(itertools.islice(order.merge(answers), limit))

    async def _after(
        self, filters: list[dict[str, Any]], order: SortOrder, after: Position, limit: int
    ) -> list[list[dict[str, Any]]]:
        slack = self.tie_slack if after.ties is None else after.ties
        if slack > self.tie_slack:  # a crowded time: one query per filter would not step over it
            return await self._exactly_after(filters, order, after, limit)
        wide = limit + slack
        found = await self._gather(
            *(self._find(from_position(f, order, after), order.sort, wide) for f in filters)
        )
        answers, crowded = [], []
        for conditions, answer in zip(filters, found, strict=True):
            rest = [document for document in answer if order.beyond(document, after)]
            if len(rest) >= limit or len(answer) < wide:  # the page is full, or this is the end
                answers.append(rest)
            else:
                crowded.append(conditions)
        if crowded:
            answers += await self._exactly_after(crowded, order, after, limit)
        return answers

    async def _exactly_after(
        self, filters: list[dict[str, Any]], order: SortOrder, after: Position, limit: int
    ) -> list[list[dict[str, Any]]]:
        exact = [q for f in filters for q in keyset_filters(f, order, after)]
        return await self._gather(*(self._find(q, order.sort, limit) for q in exact))

    async def count(
        self, filters: list[dict[str, Any]], order: SortOrder = NEWEST, after: Position | None = None
    ) -> int:
        """How many events the union of ``filters`` holds (after ``after``, if given); exact."""
        queries = [q for f in filters for q in keyset_filters(f, order, after)]
        async with self._admitted("count"):
            return sum(await self._gather(*(self._count(q) for q in queries)))

    async def event(self, conditions: dict[str, Any]) -> dict[str, Any] | None:
        async with self._admitted("event"):
            (found,) = await self._gather(self._find(conditions, None, 1))
        return found[0] if found else None

    async def read(self, *finds: Find) -> list[list[dict[str, Any]]]:
        """Several queries at once, in one admission slot (a proof's nodes, …)."""
        database = self.client[self.settings.mongo_database]

        async def run(find: Find) -> list[dict[str, Any]]:
            cursor = database[find.collection].find(
                find.conditions, sort=find.sort, limit=find.limit, max_time_ms=self.max_time_ms
            )
            return await cursor.to_list()

        async with self._admitted("read"):
            return await self._gather(*(run(find) for find in finds))

    async def ping(self) -> None:
        try:
            await self.client.admin.command("ping")
        except PyMongoError as exc:
            raise unavailable(exc) from exc

    async def close(self) -> None:
        await self.client.close()

    async def _page(self, query: AuditQuery) -> Page:
        filters = disjuncts(query)
        if len(filters) == 1:
            documents, total = await self._gather(
                self._find(filters[0], NEWEST_FIRST, query.per_page, skip=query.skip, rendered=True),
                self._count(filters[0]),
            )
            return Page(documents=documents, total=total)
        # Several disjoint filters: the page is a window of their merge, so each gives its first
        # skip + per_page events (cost grows with depth: deep walks use cursors).
        window = query.skip + query.per_page
        answers = await self._gather(*(self._find(f, NEWEST_FIRST, window, rendered=True) for f in filters))
        counts = await self._gather(*(self._count(f) for f in filters))
        documents = list(itertools.islice(NEWEST.merge(answers), query.skip, window))
        return Page(documents=documents, total=sum(counts))

    async def _find(
        self,
        conditions: dict[str, Any],
        sort: list[tuple[str, int]] | None,
        limit: int,
        skip: int = 0,
        rendered: bool = False,
    ) -> list[dict[str, Any]]:
        collection = self.collection
        if rendered:  # only rendered (audit_event reads a naive date as UTC): decoded naive, cheaper
            naive_dates = collection.codec_options.with_options(tz_aware=False)
            collection = collection.with_options(codec_options=naive_dates)
        cursor = collection.find(conditions, sort=sort, skip=skip, limit=limit, max_time_ms=self.max_time_ms)
        return await cursor.to_list()

    async def _count(self, conditions: dict[str, Any]) -> int:
        return await self.collection.count_documents(conditions, maxTimeMS=self.max_time_ms)

    async def _gather(self, *operations: Any) -> list[Any]:
        """Run store operations at once; the first failure cancels the rest (none is left behind)."""
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(operation) for operation in operations]
        except ExceptionGroup as errors:
            store_errors, others = errors.split(PyMongoError)
            if others is None and store_errors is not None:
                first = store_errors.exceptions[0]
                assert isinstance(first, PyMongoError)
                raise unavailable(first) from first
            raise
        return [task.result() for task in tasks]

    @asynccontextmanager
    async def _admitted(self, operation: str) -> AsyncIterator[None]:
        """One of the query slots for the block; its wait and its work are timed apart."""
        queued = time.perf_counter()
        try:
            async with asyncio.timeout(self.queue_timeout_s):
                await self._slots.acquire()
        except TimeoutError:
            STORE_ERRORS.labels("busy").inc()
            raise StoreUnavailableError(
                "the store is busy: too many queries are waiting", timed_out=True
            ) from None
        admitted = time.perf_counter()
        STORE_QUEUE_WAIT.observe(admitted - queued)
        try:
            yield
        finally:
            self._slots.release()
            STORE_QUERY_DURATION.labels(operation).observe(time.perf_counter() - admitted)


def unavailable(exc: PyMongoError) -> StoreUnavailableError:
    if isinstance(exc, ExecutionTimeout):  # the server's own maxTimeMS (error code 50)
        STORE_ERRORS.labels("timeout").inc()
        return StoreUnavailableError("the query exceeded its time limit", timed_out=True)
    if exc.timeout:
        STORE_ERRORS.labels("timeout").inc()
        return StoreUnavailableError("the store did not answer in time", timed_out=True)
    STORE_ERRORS.labels("unreachable").inc()
    return StoreUnavailableError(f"the store is unreachable ({type(exc).__name__})")
