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
from collections.abc import Iterator

from authtrail.kafka.records import RawMessage
from authtrail.sample_events import MAX_USER_ID, EventFactory
from authtrail.settings import Settings
from connect.transformer.event_transformer import EventTransformer, Forward


def stored_documents(
    settings: Settings, count: int, seed: int = 1, spread_s: int = 0, users: int = MAX_USER_ID
) -> Iterator[bytes]:
    """``count`` stored documents as BSON; ``spread_s`` spreads event times over that many past
    seconds (the ingestion time is now)."""
    now = time.time()
    jitter = random.Random(seed)  # noqa: S311 - sample data, not secrets
    factory = EventFactory(seed=seed, clock=lambda: now - jitter.random() * spread_s, users=users)
    transformer = EventTransformer.from_settings(settings, schemas=_no_registry)
    for offset in range(count):
        event = factory.event()
        coordinates = RawMessage(
            settings.raw_topic, offset % settings.raw_partitions, offset, int(now * 1000), None, None
        )
        outcome = transformer.transform(event, event["user_id"], coordinates)
        assert isinstance(outcome, Forward), outcome  # sample events are valid by construction
        yield outcome.value


def _no_registry(schema_id: int) -> None:
    raise AssertionError("stored_documents makes decoded events: the registry is never asked")
