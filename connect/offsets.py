"""Which offsets a batch spans: where to rewind to if it must be redone, what to store once it
is done. One object, so the consume loop and the sink watch cannot disagree about it.

A consumer's position moves past *every* record ``consume()`` returned, on every partition
the batch touched. Redoing a batch therefore means seeking each of those partitions back to
its first offset in the batch — not only the partitions seen before a failure: a partition
left alone would silently continue after the batch, and its records would be committed over.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from authtrail.logs import get_logger
from connect.raw import RawMessage

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
