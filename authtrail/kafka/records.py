"""Kafka records as plain data, and reading fixed ranges of a topic.

:class:`RawMessage` is a consumed record as immutable data: what the transformer, the sink watch
and the dead-letter tools work on, so none of them touches librdkafka's ``Message`` directly.
:func:`read_ranges` reads partitions from a start offset up to an end offset known in advance,
without a consumer group's offsets — for tools that look at what a topic holds (the sink
quarantine, dead-letter tools, tests) rather than consume it: a live topic keeps growing, a
fixed range does not, so a read always terminates."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from authtrail.errors import DependencyUnavailableError
from authtrail.logs import get_logger

log = get_logger(__name__)


def is_record(message: Message, fatal: type[Exception]) -> bool:
    """Whether a consumed message is a record: a partition end is not, a transient consumer
    error is logged and skipped (librdkafka retries it), a fatal one raises ``fatal``."""
    error = message.error()
    if error is None:
        return True
    if error.code() == KafkaError._PARTITION_EOF:
        return False
    if error.fatal():
        raise fatal(f"fatal consumer error: {error}")
    log.warning("consumer error", error=str(error))
    return False


@dataclass(frozen=True)
class RawMessage:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


def raw_message(message: Message) -> RawMessage:
    """A consumed record without error (it always has topic, partition and offset)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    assert topic is not None
    assert partition is not None
    assert offset is not None
    kind, timestamp = message.timestamp()
    key, value = message.key(), message.value()
    headers = message.headers() or []
    pairs = headers.items() if isinstance(headers, dict) else headers
    return RawMessage(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp_ms=timestamp if kind else None,
        key=key.encode() if isinstance(key, str) else key,
        value=value.encode() if isinstance(value, str) else value,
        headers=tuple((k, v.encode() if isinstance(v, str) else v) for k, v in pairs),
    )


Partition = tuple[str, int]


def partition_bounds(
    consumer: Consumer, topic: str, timeout_s: float = 10.0
) -> dict[Partition, tuple[int, int]]:
    """(low, high) watermarks of every partition of ``topic``. A broker that cannot say —
    unreachable, or a partition without a leader for a moment (a broker just back from a
    freeze or a restart answers NOT_LEADER_FOR_PARTITION) — is :class:`DependencyUnavailableError`,
    which every caller already treats as "ask again later"."""
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if metadata is None or metadata.error is not None:
            raise DependencyUnavailableError("kafka", f"topic {topic} is not available")
        return {
            (topic, p): consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            for p in metadata.partitions
        }
    except KafkaException as exc:
        raise DependencyUnavailableError("kafka", f"watermarks of {topic}: {exc}") from exc


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


def read_topic(config: dict[str, Any], topic: str, timeout_s: float = 30.0) -> list[RawMessage]:
    """Every record ``topic`` holds now, partition by partition in offset order."""
    probe = Consumer({**config, "group.id": f"authtrail-reader-{uuid.uuid4().hex[:8]}"})
    try:
        bounds = partition_bounds(probe, topic)
    finally:
        probe.close()
    ranges = read_ranges(config, bounds, timeout_s)
    return [record for where in sorted(ranges) for record in ranges[where]]


def header_map(
    headers: Mapping[str, str | bytes | None] | Sequence[tuple[str, str | bytes | None]] | None,
) -> dict[str, str]:
    """Last value of each header, decoded (what tools and tests read)."""
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or [])
    return {k: v.decode("utf-8", errors="replace") if isinstance(v, bytes) else (v or "") for k, v in pairs}
