"""The sealing service's loop (connect/sealer/service.py) with an in-memory consumer and the
in-memory store model: offsets are stored only once the batch's state is in the store; a store
failure rewinds every partition of the batch and recovers the state before it is redone; a
record that is no company's event is skipped, named, and does not hold the partition up."""

from __future__ import annotations

from datetime import UTC, datetime

import bson
from confluent_kafka import TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authtrail.errors import DependencyUnavailableError
from authtrail.integrity.checkpointer import Checkpointer
from authtrail.integrity.sealing import Sealer
from authtrail.settings import load_settings
from connect.sealer.service import SealerService
from tests.support.kafka_messages import FakeMessage
from tests.support.seal_model import SealModel

TOPIC = "sink"


def document(n: int) -> bytes:
    return bson.encode(
        {
            "_id": f"e{n}",
            "timestamp": datetime(2026, 5, 1, tzinfo=UTC),
            "user_id": n,
            "company_id": n % 2,
            "event_type": "update",
            "event_resource_type": "bug",
            "resource_id": f"BUG-{n}",
            "event_data": {},
            "ingested_at": datetime(2026, 5, 1, tzinfo=UTC),
            "content_sha256": "0" * 64,
        }
    )


class Consumer:
    def __init__(self, partitions: list[list[bytes]]) -> None:
        self.partitions = partitions
        self.position = [0] * len(partitions)
        self.stored = [0] * len(partitions)

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        batch = []
        for p, records in enumerate(self.partitions):
            while self.position[p] < len(records) and len(batch) < num_messages:
                batch.append(
                    FakeMessage(TOPIC, p, self.position[p], records[self.position[p]], timestamp_ms=0)
                )
                self.position[p] += 1
        return batch

    def seek(self, tp: TopicPartition) -> None:
        self.position[tp.partition] = tp.offset

    def store_offsets(self, offsets: list[TopicPartition]) -> None:
        for tp in offsets:
            self.stored[tp.partition] = tp.offset


class FailingOnce(SealModel):
    fail_leaves = False

    def insert_leaves(self, leaves):
        if self.fail_leaves:
            self.fail_leaves = False
            raise DependencyUnavailableError("store", "connection reset")
        return super().insert_leaves(leaves)


def service(model: SealModel, consumer: Consumer) -> SealerService:
    settings = load_settings(sealer_batch_size=4)
    sealer = Sealer(model)
    sealer.recover()
    checkpointer = Checkpointer(model, Ed25519PrivateKey.generate())
    return SealerService(settings, sealer, checkpointer, consumer, sleep=lambda _: None)  # type: ignore[arg-type]


def test_offsets_are_stored_after_the_state_and_a_failed_batch_is_rewound_and_redone() -> None:
    model = FailingOnce()
    consumer = Consumer([[document(n) for n in range(3)], [document(n) for n in range(3, 6)]])
    loop = service(model, consumer)
    assert loop.handle_batch(consumer.consume(4, 0))  # type: ignore[arg-type]
    assert consumer.stored == [3, 1]
    model.fail_leaves = True
    assert not loop.handle_batch(consumer.consume(4, 0))  # type: ignore[arg-type]
    assert consumer.stored == [3, 1], "nothing stored for the failed batch"
    assert consumer.position == [3, 1], "every partition of the batch rewound"
    loop.sealer.recover()
    assert loop.handle_batch(consumer.consume(4, 0))  # type: ignore[arg-type]
    assert consumer.stored == [3, 3]
    assert sorted(model.leaves) == [f"e{n}" for n in range(6)]
    assert loop.save_state()
    assert {c: s["size"] for c, s in model.tree_states.items()} == {0: 3, 1: 3}
    assert model.journal_companies == [], "saved: nothing left to recover from the leaves"


def test_trees_not_saved_before_a_crash_are_rebuilt_from_the_leaves() -> None:
    model = SealModel()
    consumer = Consumer([[document(n) for n in range(8)]])
    loop = service(model, consumer)
    assert loop.handle_batch(consumer.consume(4, 0))  # type: ignore[arg-type]
    assert loop.save_state()
    assert loop.handle_batch(consumer.consume(4, 0))  # type: ignore[arg-type]
    # kill -9 here: the second batch's leaves and offsets are stored, its trees are not.
    restarted = Sealer(model)
    assert restarted.recover().adopted == 4
    assert {c: tree.size for c, tree in restarted.trees.items()} == {0: 4, 1: 4}


def test_a_record_that_is_no_event_is_skipped_and_its_offset_stored() -> None:
    model = SealModel()
    consumer = Consumer([[document(0), b"garbage", document(1)]])
    loop = service(model, consumer)
    assert loop.handle_batch(consumer.consume(4, 0))  # type: ignore[arg-type]
    assert consumer.stored == [3]
    assert sorted(model.leaves) == ["e0", "e1"]
    assert loop.counts["unsealable"] == 1
