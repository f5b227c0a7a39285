"""Read fixed ranges of a topic's partitions, without a consumer group's offsets.

For tools that look at what a topic holds (the sink quarantine, dead-letter tools) rather than
consume it: each partition is read from a start offset up to an end offset known in advance, so a
read always terminates — a live topic keeps growing, a fixed range does not.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from authtrail.errors import DependencyUnavailableError
from connect.raw import RawMessage, raw_message

Partition = tuple[str, int]


def partition_bounds(
    consumer: Consumer, topic: str, timeout_s: float = 10.0
) -> dict[Partition, tuple[int, int]]:
    """(low, high) watermarks of every partition of ``topic``."""
    metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if metadata is None or metadata.error is not None:
        raise DependencyUnavailableError("kafka", f"topic {topic} is not available")
    return {
        (topic, p): consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
        for p in metadata.partitions
    }


def read_ranges(
    config: dict[str, Any], ranges: dict[Partition, tuple[int, int]], timeout_s: float = 30.0
) -> dict[Partition, list[RawMessage]]:
    """Records with offsets in ``[start, end)`` of each partition, in offset order.

    ``config`` is a consumer configuration (its group id is replaced: nothing is committed).
    Raises :class:`DependencyUnavailableError` if the ranges cannot be read within ``timeout_s``.
    """
    wanted = {where: (start, end) for where, (start, end) in ranges.items() if end > start}
    records: dict[Partition, list[RawMessage]] = {where: [] for where in ranges}
    if not wanted:
        return records
    consumer = Consumer(
        {**config, "group.id": f"authtrail-reader-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False}
    )
    try:
        consumer.assign([TopicPartition(t, p, start) for (t, p), (start, _) in wanted.items()])
        deadline = time.monotonic() + timeout_s
        remaining = dict(wanted)
        while remaining:
            if time.monotonic() > deadline:
                raise DependencyUnavailableError(
                    "kafka", f"could not read {sorted(remaining)} in {timeout_s}s"
                )
            for message in consumer.consume(500, timeout=0.5):
                if message.error() is not None:
                    continue
                record = raw_message(message)
                where = (record.topic, record.partition)
                if where in remaining and record.offset < remaining[where][1]:
                    records[where].append(record)
            # By position, not by the last record seen: offsets may have gaps (transaction markers).
            positions = consumer.position([TopicPartition(t, p) for t, p in remaining])
            for tp in positions:
                if tp.offset >= remaining[(tp.topic, tp.partition)][1]:
                    del remaining[(tp.topic, tp.partition)]
        return records
    finally:
        consumer.close()
