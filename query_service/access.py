"""The audit log's own audit: who looked at what.

Every request to ``/audit_events`` (and ``/ready``) yields one record — key id, scope,
parameters, status, result count, duration — written as a structured log line at once and,
when enabled, queued and inserted into the store in batches off the request path. If the
store cannot take them, the log line remains the record and a warning says so.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from authtrail.logs import get_logger

log = get_logger("query_service.access")
QUEUE_LIMIT = 10_000
BATCH = 500
FLUSH_EVERY_S = 0.5


class AccessRecorder:
    def __init__(self, collection: AsyncCollection[dict[str, Any]] | None) -> None:
        self.collection = collection
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.collection is not None:
            self._task = asyncio.create_task(self._drain())

    def record(self, entry: dict[str, Any]) -> None:
        log.info("access", **entry)
        if self.collection is None:
            return
        try:
            self.queue.put_nowait(entry)
        except asyncio.QueueFull:
            self.dropped += 1

    async def _drain(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            await self.flush()

    async def flush(self) -> None:
        batch: list[dict[str, Any]] = []
        while not self.queue.empty() and len(batch) < BATCH:
            batch.append(self.queue.get_nowait())
        if not batch or self.collection is None:
            return
        try:
            await self.collection.insert_many(batch, ordered=False)
        except PyMongoError as exc:
            log.warning(
                "access records not stored (kept in the log)", count=len(batch), error=type(exc).__name__
            )
        if self.dropped:
            log.warning("access records not queued for the store (kept in the log)", count=self.dropped)
            self.dropped = 0

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        while not self.queue.empty():
            await self.flush()
