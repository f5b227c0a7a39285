"""The transformer loop (connect/transformer/service.py) against an in-memory consumer that behaves like
librdkafka where it matters: ``consume()`` moves the position of *every* partition it returned
records from, ``seek()`` moves one back, ``store_offsets()`` is what a commit would save.

The invariant every test checks: an offset is stored only once every record before it in its
partition was produced downstream — so a crash after any commit loses nothing.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from confluent_kafka import TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st

from authtrail.errors import DependencyUnavailableError
from authtrail.kafka.delivery import CheckedProducer
from authtrail.kafka.records import RawMessage
from authtrail.settings import load_settings
from connect.dead_letter import Failure
from connect.transformer.event_transformer import Forward, Outcome
from connect.transformer.service import TransformerError, TransformerService
from connect.transformer.transforms.chain import TransformChain
from tests.support.kafka_messages import FakeMessage

TOPIC = "raw"


class FakeConsumer:
    """Partitions of ``sizes[p]`` records; consume() interleaves partitions round-robin."""

    def __init__(self, sizes: list[int], produced: set[bytes]) -> None:
        self.sizes = sizes
        self.position = [0] * len(sizes)
        self.stored = [0] * len(sizes)
        self.produced = produced

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        batch: list[FakeMessage] = []
        while len(batch) < num_messages and not self.exhausted:
            for p, size in enumerate(self.sizes):
                if self.position[p] < size and len(batch) < num_messages:
                    batch.append(FakeMessage(TOPIC, p, self.position[p], f"{p}:{self.position[p]}".encode()))
                    self.position[p] += 1
        return batch

    @property
    def exhausted(self) -> bool:
        return self.position == self.sizes

    def seek(self, tp: TopicPartition) -> None:
        self.position[tp.partition] = tp.offset

    def store_offsets(self, offsets: list[TopicPartition]) -> None:
        for tp in offsets:
            missing = [o for o in range(tp.offset) if f"{tp.partition}:{o}".encode() not in self.produced]
            assert not missing, f"offset {tp.offset} of partition {tp.partition} stored before {missing}"
            assert tp.offset >= self.stored[tp.partition], "stored offsets must only move forward"
            self.stored[tp.partition] = tp.offset


class FakeProducer:
    """Acknowledges everything, except the deliveries told to fail (by flush number)."""

    def __init__(self, config: dict[str, Any], produced: set[bytes], failing_flushes: set[int]) -> None:
        self.report = config["on_delivery"]
        self.produced = produced
        self.pending: list[tuple[str, bytes]] = []
        self.flushes = 0
        self.failing_flushes = failing_flushes
        self.topics: Counter[str] = Counter()

    def produce(self, topic: str, key: bytes | None, value: bytes, headers: Any = None) -> None:
        self.pending.append((topic, value))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        self.flushes += 1
        failing = self.flushes in self.failing_flushes
        for n, (topic, value) in enumerate(self.pending):
            if failing and n == len(self.pending) // 2:
                self.report(_KafkaErrorStub(), _MessageStub(topic))  # this one never landed
                continue
            self.produced.add(value)
            self.topics[topic] += 1
        self.pending.clear()
        return 0  # like librdkafka: a failed message is not "remaining"


class _KafkaErrorStub:
    def __str__(self) -> str:
        return "Local: Message timed out"


class _MessageStub:
    def __init__(self, topic: str) -> None:
        self._topic = topic

    def topic(self) -> str:
        return self._topic


class ScriptedTransformer:
    """Forwards every record; the registry is 'down' the first ``outages`` times a record at
    one of ``unavailable_at`` is processed; records in ``buggy`` raise a plain exception."""

    chain = TransformChain([])

    def __init__(
        self, unavailable_at: set[tuple[int, int]], outages: int = 1, buggy: frozenset = frozenset()
    ):
        self.unavailable_at = unavailable_at
        self.outages = Counter({where: outages for where in unavailable_at})
        self.buggy = buggy

    def process(self, message: RawMessage) -> Outcome:
        where = (message.partition, message.offset)
        if self.outages[where] > 0:
            self.outages[where] -= 1
            raise DependencyUnavailableError("schema registry", "connection refused")
        if where in self.buggy:
            raise KeyError("a bug")
        return Forward(key=b"k", value=message.value or b"")


def run_to_end(
    sizes: list[int],
    batch_size: int,
    transformer: ScriptedTransformer,
    failing_flushes: set[int] = frozenset(),  # type: ignore[assignment]
    max_internal: int = 20,
) -> tuple[FakeConsumer, FakeProducer]:
    produced: set[bytes] = set()
    consumer = FakeConsumer(sizes, produced)
    holder: dict[str, FakeProducer] = {}

    def factory(config: dict[str, Any]) -> FakeProducer:
        holder["p"] = FakeProducer(config, produced, set(failing_flushes))
        return holder["p"]

    service = TransformerService(
        load_settings(transformer_max_internal_errors_in_a_row=max_internal),
        transformer,
        consumer,  # type: ignore[arg-type]
        CheckedProducer({}, factory=factory),
        sleep=lambda _: None,
    )
    for _ in range(10_000):  # bounded: every redo makes progress once the fault is gone
        if consumer.exhausted and consumer.stored == sizes:
            break
        service.handle_batch(consumer.consume(batch_size, 0))  # type: ignore[arg-type]
    return consumer, holder["p"]


def everything(sizes: list[int]) -> set[bytes]:
    return {f"{p}:{o}".encode() for p, size in enumerate(sizes) for o in range(size)}


def test_a_registry_outage_mid_batch_redoes_every_partition_the_batch_touched() -> None:
    # The failure hits the batch's first record: the consumer is already past the batch's
    # records of partitions 1 and 2, which nothing had looked at yet.
    sizes = [10, 10, 10]
    consumer, _ = run_to_end(sizes, batch_size=12, transformer=ScriptedTransformer({(0, 0)}))
    assert consumer.stored == sizes
    assert consumer.produced == everything(sizes)


def test_nothing_is_produced_for_a_batch_that_hit_a_registry_outage() -> None:
    sizes = [4, 4]
    _, producer = run_to_end(sizes, batch_size=8, transformer=ScriptedTransformer({(1, 3)}))
    # The batch was computed, failed, and redone once: each record went downstream exactly once.
    assert producer.topics == Counter({"audit.events.sink": 8})


def test_a_failed_delivery_redoes_the_whole_batch() -> None:
    sizes = [5, 5, 5]
    consumer, producer = run_to_end(
        sizes, batch_size=15, transformer=ScriptedTransformer(set()), failing_flushes={1}
    )
    assert consumer.stored == sizes
    assert consumer.produced == everything(sizes)
    assert producer.flushes == 2


def test_one_internal_error_dead_letters_the_record_and_the_stream_goes_on() -> None:
    sizes = [6]
    consumer, producer = run_to_end(
        sizes, batch_size=3, transformer=ScriptedTransformer(set(), buggy=frozenset({(0, 2)}))
    )
    assert consumer.stored == sizes
    assert producer.topics == Counter({"audit.events.sink": 5, "audit.events.dlq": 1})


def test_a_run_of_internal_errors_stops_the_transformer_without_storing_the_batch() -> None:
    sizes = [8]
    buggy = frozenset((0, o) for o in range(8))
    with pytest.raises(TransformerError, match="3 records in a row"):
        run_to_end(sizes, batch_size=4, transformer=ScriptedTransformer(set(), buggy=buggy), max_internal=3)


@settings(max_examples=150, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 12), min_size=1, max_size=5),
    batch_size=st.integers(1, 20),
    outages=st.sets(st.tuples(st.integers(0, 4), st.integers(0, 11)), max_size=4),
    failing_flushes=st.sets(st.integers(1, 8), max_size=3),
)
def test_whatever_fails_when_every_record_goes_downstream_before_its_offset_is_stored(
    sizes: list[int], batch_size: int, outages: set[tuple[int, int]], failing_flushes: set[int]
) -> None:
    consumer, _ = run_to_end(
        sizes, batch_size, ScriptedTransformer(outages, outages=2), failing_flushes=failing_flushes
    )
    assert consumer.stored == sizes
    assert consumer.produced == everything(sizes)


def test_failure_outcomes_are_dead_lettered_with_their_reason() -> None:
    class Rejecting(ScriptedTransformer):
        def process(self, message: RawMessage) -> Outcome:
            return Failure("validate", "missing_field", "missing or null: id", "InvalidEventError")

    consumer, producer = run_to_end([3], batch_size=3, transformer=Rejecting(set()))
    assert consumer.stored == [3]
    assert producer.topics == Counter({"audit.events.dlq": 3})
