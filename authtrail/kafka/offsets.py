"""Offsets: what a batch spans (where to rewind to, what to store once it is done), what a
consumer group committed, and how far behind it is — read from the broker.

``BatchSpan`` is one object, so the consume loop and the sink watch cannot disagree about it.

A consumer's position moves past *every* record ``consume()`` returned, on every partition
the batch touched. Redoing a batch therefore means seeking each of those partitions back to
its first offset in the batch — not only the partitions seen before a failure: a partition
left alone would silently continue after the batch, and its records would be committed over.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from authtrail.errors import DependencyUnavailableError
from authtrail.kafka.clients import observer
from authtrail.kafka.records import RawMessage, partition_bounds
from authtrail.logs import get_logger
from authtrail.settings import Settings

log = get_logger(__name__)


@dataclass(frozen=True)
class BatchSpan:
    first: dict[tuple[str, int], int]
    last: dict[tuple[str, int], int]

    @classmethod
    def of(cls, records: Iterable[RawMessage]) -> BatchSpan:
        first: dict[tuple[str, int], int] = {}
        last: dict[tuple[str, int], int] = {}
        for record in records:
            where = (record.topic, record.partition)
            first.setdefault(where, record.offset)
            last[where] = record.offset
        return cls(first, last)

    def next_offsets(self) -> list[TopicPartition]:
        """What to store once every record of the batch was handled: last offset + 1 each."""
        return [
            TopicPartition(topic, partition, offset + 1) for (topic, partition), offset in self.last.items()
        ]

    def rewind(self, consumer: Consumer) -> None:
        """Seek every partition of the batch back to its first offset in it."""
        for (topic, partition), offset in self.first.items():
            try:
                consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as exc:  # revoked meanwhile: its new owner redoes it from the commit
                log.info("rewind skipped", topic=topic, partition=partition, error=str(exc))


def commit_stored(consumer: Consumer, why: str) -> None:
    """Commit the stored offsets now (on revoke, at shutdown); nothing stored is fine."""
    try:
        consumer.commit(asynchronous=False)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError._NO_OFFSET:
            log.warning("commit failed", on=why, error=str(exc))


def committed(settings: Settings, group: str, topic: str) -> dict[int, int]:
    """Per partition, the offset ``group`` committed on ``topic`` (what the broker holds); -1
    where it never committed."""
    with observer(settings, group) as consumer:
        partitions = [TopicPartition(topic, p) for _, p in partition_bounds(consumer, topic)]
        return {tp.partition: tp.offset for tp in consumer.committed(partitions, timeout=10)}


def consumer_lag(settings: Settings, group: str, topic: str) -> int:
    """Records of ``topic`` not yet committed by ``group`` (a partition never committed counts
    from its first record)."""
    with observer(settings, group) as consumer:
        return sum(committed_lag(consumer, topic).values())


def committed_lag(consumer: Consumer, topic: str, timeout_s: float = 10.0) -> dict[int, int]:
    """Per partition of ``topic``, records not yet committed by the group of ``consumer`` (an
    :func:`~authtrail.kafka.clients.observer` of that group); asks the broker."""
    bounds = partition_bounds(consumer, topic, timeout_s)
    try:
        done = consumer.committed([TopicPartition(t, p) for t, p in bounds], timeout=timeout_s)
    except KafkaException as exc:  # e.g. the group's coordinator moving after a broker restart
        raise DependencyUnavailableError("kafka", f"committed offsets on {topic}: {exc}") from exc
    return {
        tp.partition: bounds[(tp.topic, tp.partition)][1]
        - max(tp.offset, bounds[(tp.topic, tp.partition)][0])
        for tp in done
    }


def assigned_lag(consumer: Consumer) -> dict[int, int]:
    """Per partition assigned to ``consumer`` (a one-topic subscriber), records between its
    position and the partition's end, from the watermarks its own fetches brought back — no
    broker round trip, so a service loop can afford it. Partitions it has not fetched from
    yet since they were assigned are left out."""
    assigned = consumer.assignment()
    if not assigned:
        return {}
    lag: dict[int, int] = {}
    for tp in consumer.position(assigned):
        _, high = consumer.get_watermark_offsets(tp, cached=True)
        if tp.offset >= 0 and high >= 0:
            lag[tp.partition] = max(high - tp.offset, 0)
    return lag


def topic_end(settings: Settings, topic: str) -> int:
    """Records written to ``topic`` so far (sum of its partitions' end offsets)."""
    with observer(settings) as consumer:
        return sum(high for _, high in partition_bounds(consumer, topic).values())
