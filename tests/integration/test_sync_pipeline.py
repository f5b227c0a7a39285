"""Through the real pipeline (producer → transformer → two sink tasks → store → `authtrail serve`):
an incremental-sync collector polling while events with old timestamps keep arriving ends with
exactly the stored set, each event once; and a newest-first cursor walk while events arrive never
repeats one and never misses one that was stored when the walk began."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from authtrail.emitter import EventEmitter
from authtrail.sample_events import EventFactory
from authtrail.settings import Settings
from authtrail.token_bucket import TokenBucket
from authtrail.waiting import http_ok, wait_for
from scripts.stack.control import LocalStack
from scripts.stack.isolated_pipeline import IsolatedPipeline, isolated_pipeline

pytestmark = pytest.mark.stack
API_PORT = 14520
NAIVE_PORT = 14521
# Well above produce → stored on this machine (p99 under a second in `authtrail bench sustained`),
# small enough that the test waits for it only once.
SETTLE_S = 15.0
DAY_S = 86_400


@pytest.fixture(scope="module")
def pipe(stack: LocalStack, settings: Settings, tmp_path_factory) -> Iterator[IsolatedPipeline]:
    workdir: Path = tmp_path_factory.mktemp("sync")
    with isolated_pipeline(
        settings,
        uuid.uuid4().hex[:10],
        workdir,
        connector_tasks_max=2,  # two tasks write in parallel: visibility out of ingestion order
        api_port=API_PORT,
        api_sync_settle_s=SETTLE_S,
        api_rate_limit_per_s=10_000.0,
        api_rate_limit_burst=10_000.0,
    ) as running:
        running.start("transformer")
        running.start("sink-watch")
        running.start("api")
        # The same API without a settle lag: what a naive "since my last event" collector gets.
        running.start("api", name="api-naive", api_port=NAIVE_PORT, api_sync_settle_s=0.0)
        for url in (f"http://127.0.0.1:{port}/health" for port in (API_PORT, NAIVE_PORT)):
            wait_for(partial(http_ok, url), 30, f"{url} to answer")
        yield running


class Producer(threading.Thread):
    """Sends ``count`` events at ``rate_per_s``, timestamps up to ``age_s`` old (late arrivals)."""

    def __init__(self, emitter: EventEmitter, count: int, rate_per_s: float, age_s: int, seed: int) -> None:
        super().__init__(daemon=True)
        jitter = random.Random(seed)
        self.factory = EventFactory(seed=seed, clock=lambda: time.time() - jitter.random() * age_s, users=200)
        self.emitter, self.count, self.bucket = emitter, count, TokenBucket(rate_per_s)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for _ in range(self.count):
                self.bucket.take()
                self.emitter.send(self.factory.event())
            assert self.emitter.flush(60) == 0
        except BaseException as exc:
            self.error = exc

    def finished(self) -> bool:
        self.join(0)
        if self.error is not None:
            raise self.error
        return not self.is_alive()


def get(pipe: IsolatedPipeline, key: str, params: dict[str, Any], port: int = API_PORT) -> dict[str, Any]:
    response = httpx.get(
        f"http://127.0.0.1:{port}/audit_events",
        params=params,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class Collector:
    """Polls order=ingested from its last sync cursor, as a SIEM collector does."""

    def __init__(self, pipe: IsolatedPipeline, key: str, port: int) -> None:
        self.pipe, self.key, self.port = pipe, key, port
        self.collected: list[str] = []
        self.params: dict[str, Any] = {"order": "ingested"}

    def poll(self) -> None:
        for _ in range(1000):
            body = get(self.pipe, self.key, {**self.params, "per_page": 500}, self.port)
            self.collected.extend(event["id"] for event in body["data"])
            self.params = {"after": body["meta"]["next_cursor"]}
            if len(body["data"]) < 500:
                return


def test_a_sync_collector_ends_with_exactly_the_stored_set(pipe: IsolatedPipeline) -> None:
    key = pipe.key()
    emitter = pipe.emitter()
    producer = Producer(emitter, count=3000, rate_per_s=250, age_s=30 * DAY_S, seed=1)
    collector, naive = Collector(pipe, key, API_PORT), Collector(pipe, key, NAIVE_PORT)

    def complete() -> bool:
        collector.poll()
        naive.poll()
        if not producer.finished() or not pipe.caught_up():
            return False
        return set(collector.collected) == set(pipe.stored_ids())

    producer.start()
    try:
        # Polls all along (while events arrive out of order), then until the settle lag has passed.
        wait_for(complete, 180 + SETTLE_S, "the collector to hold every stored event", interval_s=0.3)
    finally:
        producer.join(60)
        emitter.close()
    stored = pipe.stored_ids()
    assert len(collector.collected) == len(set(collector.collected)), "an event was delivered twice"
    assert sorted(collector.collected) == sorted(stored)
    assert len(stored) == emitter.counts.acked == 3000
    naive.poll()
    # Not asserted (it depends on how the sink's batches interleave): shown, as the reason for the lag.
    missed = len(set(stored) - set(naive.collected))
    print(f"a collector without the settle lag missed {missed} of {len(stored)}")


def test_a_walk_while_events_arrive_repeats_none_and_misses_none_it_started_with(
    pipe: IsolatedPipeline,
) -> None:
    key = pipe.key()
    emitter = pipe.emitter()
    first = Producer(emitter, count=1000, rate_per_s=1000, age_s=DAY_S, seed=2)
    first.start()
    wait_for(first.finished, 120, "the first events to be sent")
    wait_for(pipe.caught_up, 120, "the pipeline to store them")
    existing = set(pipe.stored_ids())
    # Events old and new keep arriving while the walk goes from newest to oldest: some land
    # behind its position (it will meet them), some ahead (it will not).
    more = Producer(emitter, count=1500, rate_per_s=300, age_s=DAY_S, seed=3)
    more.start()
    walked: list[str] = []
    try:
        body = get(pipe, key, {"order": "newest", "per_page": 20})
        for _ in range(10_000):
            walked += [event["id"] for event in body["data"]]
            if body["meta"]["next_cursor"] is None:
                break
            body = get(pipe, key, {"cursor": body["meta"]["next_cursor"], "per_page": 20})
        arrived_during_walk = not more.finished()
    finally:
        more.join(60)
        emitter.close()
    wait_for(pipe.caught_up, 120, "the pipeline to store the rest")
    assert len(walked) == len(set(walked)), "an event was returned twice"
    assert existing <= set(walked), f"{len(existing - set(walked))} pre-existing events were skipped"
    assert set(walked) <= set(pipe.stored_ids())
    assert arrived_during_walk or len(walked) > len(existing), "events must have arrived during the walk"
