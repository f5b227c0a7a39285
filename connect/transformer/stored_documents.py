"""Stored documents made without Kafka: sample events through the transformer's own steps.

Benchmarks load millions of documents and tests load fixtures faster than a pipeline would
carry them; both must be exactly what the pipeline stores. So each sample event goes through
:meth:`EventTransformer.transform` — validation, fingerprint, the configured chain, the stored
shape — and what comes out is the BSON the transformer would forward to the sink topic. Only
Avro decoding is skipped: the events are made decoded.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from functools import partial

from authtrail.kafka.records import RawMessage
from authtrail.sample_events import MAX_USER_ID, EventFactory
from authtrail.settings import Settings
from connect.transformer.event_transformer import EventTransformer, Forward


def stored_documents(
    settings: Settings,
    count: int,
    seed: int = 1,
    spread_s: int = 0,
    users: int = MAX_USER_ID,
    arrival_order: bool = False,
) -> Iterator[bytes]:
    """``count`` stored documents as BSON; ``spread_s`` spreads event times over that many past
    seconds (the ingestion time is now): at random, or with ``arrival_order`` as a pipeline
    stores them over that time (see :func:`arrival_times`)."""
    now = time.time()
    jitter = random.Random(seed)  # noqa: S311 - sample data, not secrets

    def at_random() -> float:
        return now - jitter.random() * spread_s

    clock: Callable[[], float] = (
        partial(next, arrival_times(now, spread_s, count, jitter)) if arrival_order else at_random
    )
    factory = EventFactory(seed=seed, clock=clock, users=users)
    transformer = EventTransformer.from_settings(settings, schemas=_no_registry)
    for offset in range(count):
        event = factory.event()
        coordinates = RawMessage(
            settings.raw_topic, offset % settings.raw_partitions, offset, int(now * 1000), None, None
        )
        outcome = transformer.transform(event, event["user_id"], coordinates)
        assert isinstance(outcome, Forward), outcome  # sample events are valid by construction
        yield outcome.value


def arrival_times(now: float, spread_s: int, count: int, jitter: random.Random) -> Iterator[float]:
    """Event times in the order a pipeline stores the events of ``spread_s`` past seconds: each
    a few seconds older than its arrival (a producer's delay), and one in a hundred late by up
    to a day (a retry, a replay from the dead-letter topic). A store filled by ingest keeps
    this order on disk, so a time range is a contiguous stretch of it, as it is here."""
    for index in range(count):
        arrived = now - spread_s * (1 - (index + 1) / count)
        late = LATE_S if jitter.random() < LATE_SHARE else DELAY_S
        yield arrived - jitter.random() * late


DELAY_S = 5.0
LATE_SHARE = 0.01
LATE_S = 86_400.0


def _no_registry(schema_id: int) -> None:
    raise AssertionError("stored_documents makes decoded events: the registry is never asked")
