"""Watermarks of a topic (authtrail/kafka/records.py): what the broker cannot say now — a
partition without a leader for a moment after the broker was restarted or frozen — is a
dependency unavailable for now, which waits and services ride out, not a crash."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from authtrail.errors import DependencyUnavailableError
from authtrail.kafka.records import partition_bounds


class Broker:
    """A consumer's view of a two-partition topic; ``leaderless`` partitions refuse watermarks."""

    def __init__(self, leaderless: frozenset[int] = frozenset()) -> None:
        self.leaderless = leaderless

    def list_topics(self, topic: str, timeout: float) -> SimpleNamespace:
        return SimpleNamespace(topics={topic: SimpleNamespace(error=None, partitions={0: None, 1: None})})

    def get_watermark_offsets(self, where: TopicPartition, timeout: float) -> tuple[int, int]:
        if where.partition in self.leaderless:
            raise KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION))
        return (0, 10 * (where.partition + 1))


def test_the_watermarks_of_every_partition() -> None:
    assert partition_bounds(Broker(), "t") == {("t", 0): (0, 10), ("t", 1): (0, 20)}  # type: ignore[arg-type]


def test_a_partition_without_a_leader_is_a_dependency_unavailable_for_now() -> None:
    with pytest.raises(DependencyUnavailableError, match="NOT_LEADER_FOR_PARTITION"):
        partition_bounds(Broker(leaderless=frozenset({1})), "t")  # type: ignore[arg-type]
