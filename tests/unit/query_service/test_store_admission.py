"""The API's store queries are admitted a few at a time: the rest wait their turn, and a wait
past the queue timeout is a 503 (busy), not a pile-up that starves ingest on the same store."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from bson.codec_options import CodecOptions

from authtrail.settings import load_settings
from query_service.params import parse_query
from query_service.store import AuditStore, StoreUnavailableError

QUERY = parse_query([], 100)


class HeldCollection:
    """Answers only when the test releases it; records how many queries ran at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.changed = asyncio.Condition()
        self.running = 0
        self.most_at_once = 0

    async def until_running(self, count: int) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: self.running >= count)

    codec_options = CodecOptions()

    def with_options(self, **kwargs: Any) -> HeldCollection:
        return self

    def find(self, *args: Any, **kwargs: Any) -> HeldCollection:
        return self

    async def to_list(self) -> list[dict[str, Any]]:
        async with self.changed:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.changed.notify_all()
        await self.release.wait()
        self.running -= 1
        return []

    async def count_documents(self, *args: Any, **kwargs: Any) -> int:
        return 0


def store(slots: int, queue_timeout_s: float = 30.0) -> tuple[AuditStore, HeldCollection]:
    settings = load_settings(api_max_concurrent_queries=slots, api_query_queue_timeout_s=queue_timeout_s)
    audit_store = AuditStore(settings)
    held = HeldCollection()
    audit_store.collection = held  # type: ignore[assignment]
    return audit_store, held


async def _at_most_two_at_once() -> None:
    audit_store, held = store(slots=2)
    pages = [asyncio.create_task(audit_store.page(QUERY)) for _ in range(5)]
    await held.until_running(2)
    for _ in range(10):
        await asyncio.sleep(0)  # give the waiting three every chance to start
    assert held.running == 2
    held.release.set()
    await asyncio.gather(*pages)
    assert held.most_at_once == 2
    await audit_store.close()


async def _busy_after_the_queue_timeout() -> None:
    audit_store, held = store(slots=1, queue_timeout_s=0.05)
    first = asyncio.create_task(audit_store.page(QUERY))
    await held.until_running(1)
    with pytest.raises(StoreUnavailableError, match="busy"):
        async with asyncio.timeout(5):  # a second slot would make it wait for the held query
            await audit_store.page(QUERY)
    held.release.set()
    await first
    await audit_store.close()


def test_no_more_queries_run_at_once_than_there_are_slots() -> None:
    asyncio.run(_at_most_two_at_once())


def test_a_query_that_waits_past_the_queue_timeout_is_a_busy_503() -> None:
    asyncio.run(_busy_after_the_queue_timeout())
