"""Reading audit events from the store: one async client per process, bounded time per request.

The page and its ``total_count`` are fetched concurrently, so a request costs the slower of
the two. Three bounds, kept apart on purpose (a single ``pymongo.timeout`` deadline would
also govern server selection, so a down store would hold requests for the whole query budget):
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
from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import ExecutionTimeout, PyMongoError

from authtrail.errors import AuthtrailError
from authtrail.settings import Settings
from query_service.params import AuditQuery
from query_service.query import NEWEST_FIRST, mongo_filter

SOCKET_MARGIN_MS = 2000


class StoreUnavailableError(AuthtrailError):
    def __init__(self, detail: str, timed_out: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.timed_out = timed_out


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

    async def page(self, query: AuditQuery) -> Page:
        try:
            async with asyncio.timeout(self.queue_timeout_s):
                await self._slots.acquire()
        except TimeoutError:
            raise StoreUnavailableError(
                "the store is busy: too many queries are waiting", timed_out=True
            ) from None
        try:
            return await self._page(query)
        finally:
            self._slots.release()

    async def _page(self, query: AuditQuery) -> Page:
        conditions = mongo_filter(query)
        try:
            documents, total = await asyncio.gather(
                self.collection.find(
                    conditions,
                    sort=NEWEST_FIRST,
                    skip=query.skip,
                    limit=query.per_page,
                    max_time_ms=self.max_time_ms,
                ).to_list(),
                self.collection.count_documents(conditions, maxTimeMS=self.max_time_ms),
            )
        except PyMongoError as exc:
            raise unavailable(exc) from exc
        return Page(documents=documents, total=total)

    async def ping(self) -> None:
        try:
            await self.client.admin.command("ping")
        except PyMongoError as exc:
            raise unavailable(exc) from exc

    async def close(self) -> None:
        await self.client.close()


def unavailable(exc: PyMongoError) -> StoreUnavailableError:
    if isinstance(exc, ExecutionTimeout):  # the server's own maxTimeMS (error code 50)
        return StoreUnavailableError("the query exceeded its time limit", timed_out=True)
    if exc.timeout:
        return StoreUnavailableError("the store did not answer in time", timed_out=True)
    return StoreUnavailableError(f"the store is unreachable ({type(exc).__name__})")
