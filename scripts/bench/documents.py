"""Pipeline-shaped documents without the pipeline: sample events run through the same
validation, fingerprint and transform chain the transformer applies (Avro decoding aside).
Benchmarks use them to load the store fast and to feed the sink pre-encoded records."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

from authtrail.sample_events import MAX_USER_ID, EventFactory
from authtrail.settings import Settings
from connect.transformer.record import ConnectRecord
from connect.transformer.transforms.chain import TransformChain
from connect.transformer.validation import Limits, fingerprint, validate_event


def pipeline_documents(
    settings: Settings, count: int, seed: int = 1, spread_s: int = 0, users: int = MAX_USER_ID
) -> Iterator[dict[str, Any]]:
    """``count`` stored documents; ``spread_s`` spreads event times over that many past seconds."""
    now = time.time()
    jitter = random.Random(seed)
    factory = EventFactory(seed=seed, clock=lambda: now - jitter.random() * spread_s, users=users)
    chain = TransformChain.from_file(settings.transforms_file)
    limits = Limits(
        settings.max_event_data_bytes, settings.max_event_age_days * 86_400, settings.max_event_future_s
    )
    for offset in range(count):
        raw = factory.event()
        event = validate_event(raw, raw["user_id"], now, limits)
        event["content_sha256"] = fingerprint(event)
        record = ConnectRecord(
            settings.raw_topic,
            offset % settings.raw_partitions,
            offset,
            int(now * 1000),
            raw["user_id"],
            event,
        )
        transformed = chain.apply(record)
        assert transformed is not None
        yield transformed.value
