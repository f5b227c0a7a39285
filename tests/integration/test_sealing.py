"""The sealing service on the real stack (`authtrail seal`, connect/sealer/service.py): events
produced through the pipeline by an independent producer are sealed once each into their
company's log; every stored tree's root is the root recomputed from the stored events as the
API shows them; every event's inclusion proof, read from the sealer's own collections, verifies
against a signed checkpoint chained to its predecessor. It survives kill -9 mid-stream and a
rewound consumer group without sealing anything twice, and never seals a document written
straight to the store."""

from __future__ import annotations

import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import bson
import pytest
from bson.int64 import Int64
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from pymongo.collection import Collection

from authtrail.audit_event import audit_event
from authtrail.integrity.checkpoint import SignedCheckpoint, check_follows, load_public_key, verify_signature
from authtrail.integrity.leaf import leaf_hash
from authtrail.integrity.merkle import CompactRange, inclusion_proof_from, root, verify_inclusion
from authtrail.integrity.seal_store import LEAVES, NODES, TREES, MongoSealStore, position_key
from authtrail.integrity.sealing import STORED_NODE_LEVEL
from authtrail.integrity.signing_key import public_key_path
from authtrail.kafka.clients import admin_client, observer
from authtrail.kafka.offsets import consumer_lag
from authtrail.kafka.records import partition_bounds
from authtrail.settings import Settings
from authtrail.waiting import wait_for
from scripts.stack.control import LocalStack
from scripts.stack.isolated_pipeline import IsolatedPipeline, isolated_pipeline
from scripts.stack.processes import ProcessTable
from tests.support.faults import Stream, suspend

pytestmark = [pytest.mark.stack]
USERS = 40  # a few dozen companies, so trees grow several levels deep


@pytest.fixture
def pipe(stack: LocalStack, settings: Settings, unique: str, tmp_path: Path) -> Iterator[IsolatedPipeline]:
    with isolated_pipeline(
        settings, unique, tmp_path, connector_tasks_max=2, integrity_checkpoint_interval_s=1.0
    ) as running:
        running.start("transformer")
        running.start("sink-watch")
        running.start("sealer")
        yield running


def sealer_caught_up(pipe: IsolatedPipeline) -> bool:
    s = pipe.settings
    return pipe.caught_up() and consumer_lag(s, s.sealer_group, s.sink_topic) == 0


def wait_sealed(pipe: IsolatedPipeline, count: int, timeout_s: float = 180) -> None:
    """Until the sealer committed all of the sink topic and holds ``count`` leaves."""
    leaves = pipe.mongo[pipe.settings.mongo_database][LEAVES]
    wait_for(
        lambda: sealer_caught_up(pipe) and leaves.count_documents({}) >= count,
        timeout_s,
        f"{count} sealed events",
        interval_s=0.5,
    )


def latest_checkpoints(store: MongoSealStore, company_id: int) -> list[SignedCheckpoint]:
    """The company's chain, from its first checkpoint, each one checked to follow the last."""
    chain: list[SignedCheckpoint] = []
    while following := store.checkpoint_following(
        company_id, chain[-1].checkpoint.digest() if chain else None
    ):
        check_follows(chain[-1].checkpoint if chain else None, following.checkpoint)
        chain.append(following)
    return chain


def verify_logs(pipe: IsolatedPipeline) -> dict[int, int]:
    """Everything a verifier would check, from the store: per company, the leaves are a gapless
    sequence whose hashes are those of the stored events' API view; the stored tree's root is
    theirs; the latest checkpoint covers the whole tree, is signed by the pinned key and chained;
    every event's inclusion proof from the stored nodes verifies against it. Returns the
    number of leaves per company."""
    database = pipe.mongo[pipe.settings.mongo_database]
    store = MongoSealStore(database)
    public_key = load_public_key(public_key_path(pipe.settings.signing_key_path))
    stored = {d["_id"]: d for d in pipe.collection.find({})}
    by_company: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for leaf in database[LEAVES].find({}):
        by_company[leaf["company_id"]].append(leaf)
    trees = store.trees()
    stored_nodes: dict[int, dict[tuple[int, int], bytes]] = defaultdict(dict)
    for node in database[NODES].find({}):
        stored_nodes[node["company_id"]][(node["level"], node["index"])] = bytes.fromhex(node["hash"])
    assert set(trees) == set(by_company)
    sizes = {}
    for company_id, leaves in by_company.items():
        leaves.sort(key=lambda leaf: leaf["index"])
        assert [leaf["index"] for leaf in leaves] == list(range(len(leaves))), f"company {company_id}"
        hashes = []
        for leaf in leaves:
            event = audit_event(stored[leaf["_id"]])
            assert event["company_id"] == company_id
            assert leaf_hash(event).hex() == leaf["leaf_hash"], f"event {leaf['_id']} differs from its leaf"
            hashes.append(bytes.fromhex(leaf["leaf_hash"]))
        tree = CompactRange.from_state(trees[company_id].state)
        assert tree.size == len(hashes)
        assert tree.root() == root(hashes), f"company {company_id}: stored root != recomputed root"
        chain = latest_checkpoints(store, company_id)
        assert chain, f"company {company_id} has no checkpoint"
        latest = chain[-1]
        for signed in chain:
            verify_signature(signed, public_key)
        assert latest.checkpoint.tree_size == len(hashes)
        assert latest.checkpoint.root == root(hashes)
        # Every event's proof from the stored nodes (read in one query); the API's reader of the
        # same collections is checked through served proofs in test_tamper_evidence.py.
        nodes = StoredNodeDocuments(hashes, stored_nodes.get(company_id, {}))
        for index, digest in enumerate(hashes):
            proof = inclusion_proof_from(nodes, index, len(hashes))
            verify_inclusion(digest, index, len(hashes), proof, latest.checkpoint.root)
        sizes[company_id] = len(hashes)
    return sizes


class StoredNodeDocuments:
    """A company's stored nodes, read in bulk: leaves for level 0, nodes above."""

    def __init__(self, leaf_hashes: list[bytes], nodes: dict[tuple[int, int], bytes]) -> None:
        self.leaf_hashes = leaf_hashes
        self.nodes = nodes

    def node_hash(self, level: int, index: int) -> bytes:
        if level < STORED_NODE_LEVEL:  # folded from its leaves, like the store's readers
            return root(self.leaf_hashes[index << level : (index + 1) << level])
        return self.nodes[(level, index)]


def wait_checkpointed(pipe: IsolatedPipeline, count: int, timeout_s: float = 60) -> None:
    """Until the saved trees hold all ``count`` sealed leaves and every company's latest
    checkpoint covers its whole tree (both happen each checkpoint interval: 1 s). Leaves are
    written before trees are saved, so a company sealed since the last save has leaves and no
    tree yet: waiting on the trees present alone passed with half the companies missing."""
    store = MongoSealStore(pipe.mongo[pipe.settings.mongo_database])

    def covered() -> bool:
        trees = store.trees()
        return sum(record.state["size"] for record in trees.values()) == count and all(
            (chain := latest_checkpoints(store, company_id))
            and chain[-1].checkpoint.tree_size == record.state["size"]
            for company_id, record in trees.items()
        )

    wait_for(covered, timeout_s, "checkpoints covering every tree")


def at_least(collection: Collection[dict[str, Any]], count: int) -> bool:
    return collection.count_documents({}) >= count


def produced_per_company(events: list[dict[str, Any]]) -> dict[int, int]:
    return dict(Counter(e["company_id"] for e in events))


def test_events_through_the_pipeline_are_sealed_and_a_document_written_to_the_store_is_not(
    pipe: IsolatedPipeline,
) -> None:
    stream = Stream(pipe, 4_000, 3_000, seed=151, users=USERS).start()
    stream.wait_sent(1_000)
    intruder = f"intruder-{uuid.uuid4()}"
    pipe.collection.insert_one(
        {
            "_id": intruder,
            "timestamp": datetime.now(UTC),
            "user_id": Int64(1),
            "company_id": Int64(stream.events[0]["company_id"]),
            "event_type": "update",
            "event_resource_type": "bug",
            "resource_id": "BUG-1",
            "event_data": {},
            "ingested_at": datetime.now(UTC),
            "content_sha256": "0" * 64,
        }
    )
    stream.join()
    wait_sealed(pipe, len(stream.events))
    wait_checkpointed(pipe, len(stream.events))
    database = pipe.mongo[pipe.settings.mongo_database]
    assert database[LEAVES].count_documents({"_id": intruder}) == 0, (
        "a document written straight to the store"
    )
    assert database[LEAVES].count_documents({}) == len(stream.events)
    pipe.collection.delete_one({"_id": intruder})  # the verifier below reads every stored event
    assert verify_logs(pipe) == produced_per_company(stream.events)
    assert "checkpoints signed" in (Path(pipe.workdir) / "log" / "seal.log").read_text()


def freeze(processes: ProcessTable, name: str) -> None:
    """SIGSTOP past the consumer's session timeout (10 s). The sealer: the group drops it
    mid-batch, and it wakes up to a generation that is gone. The broker: every request hangs,
    then every session looks expired at once."""
    process = suspend(processes, name)
    time.sleep(15)  # the fault itself, not a wait for a condition
    process.resume()


@pytest.mark.fault
@pytest.mark.control
@pytest.mark.parametrize(
    "fault", ["sealer killed", "postgres killed", "broker killed", "sealer frozen", "broker frozen"]
)
def test_a_fault_mid_stream_loses_nothing_and_seals_nothing_twice(
    fault: str, pipe: IsolatedPipeline, stack: LocalStack
) -> None:
    # The sealer killed: no clean shutdown, no final commit. PostgreSQL killed: the store's
    # database dies under the sealer mid-batch, mid-save or mid-checkpoint; what it
    # acknowledged stays. The broker killed or frozen: the sealer's group coordinator is gone
    # mid-batch, and comes back having forgotten it.
    def inject() -> None:
        what, how = fault.split()
        name = {"broker": "kafka"}.get(what, what)
        if how == "frozen":
            freeze(pipe.processes if what == "sealer" else stack.processes, name)
        elif what == "sealer":
            pipe.kill(name)
            pipe.start(name)
        else:
            stack.kill(name)
            stack.start(name)

    stream = Stream(pipe, 12_000, 2_000, seed=152, users=USERS).start()
    leaves = pipe.mongo[pipe.settings.mongo_database][LEAVES]
    for sealed in (1_500, 4_000, 7_000)[: 1 if fault.endswith("frozen") else 3]:
        wait_for(partial(at_least, leaves, sealed), 120, f"{sealed} sealed", interval_s=0.2)
        inject()
    stream.join()
    wait_sealed(pipe, len(stream.events))
    wait_checkpointed(pipe, len(stream.events))
    assert leaves.count_documents({}) == len(stream.events)
    assert verify_logs(pipe) == produced_per_company(stream.events)
    if fault == "sealer killed":
        assert pipe.log_of("sealer").count("sealer state recovered") >= 4  # at each start


def test_a_second_sealer_started_mid_stream_harms_nothing(pipe: IsolatedPipeline) -> None:
    # Against "run exactly one sealer" — a rolling update, a second `authtrail seal` by mistake:
    # it joins the group mid-stream and takes partitions whose companies the first one sealed
    # further since it read the state. Seen: it stops itself ("the sealer's state went back").
    stream = Stream(pipe, 12_000, 2_000, seed=155, users=USERS).start()
    stream.wait_sent(4_000)
    pipe.start("sealer", name="sealer-2")
    stream.join()
    wait_sealed(pipe, len(stream.events))
    wait_checkpointed(pipe, len(stream.events))
    assert pipe.mongo[pipe.settings.mongo_database][LEAVES].count_documents({}) == len(stream.events)
    assert verify_logs(pipe) == produced_per_company(stream.events)


def test_a_rewound_group_and_a_reused_id_seal_nothing_twice(pipe: IsolatedPipeline) -> None:
    stream = Stream(pipe, 3_000, 3_000, seed=153, users=USERS).start()
    stream.join()
    wait_sealed(pipe, len(stream.events))
    wait_checkpointed(pipe, len(stream.events))
    database = pipe.mongo[pipe.settings.mongo_database]
    before = {name: sorted(database[name].find({}), key=lambda d: str(d["_id"])) for name in (LEAVES, NODES)}
    trees_before = MongoSealStore(database).trees()
    # A second record reusing a sealed id with other content, straight to the sink topic.
    reused = dict(pipe.collection.find_one({"_id": stream.events[0]["id"]}) or {})
    reused["event_type"] = "delete"
    producer = Producer({"bootstrap.servers": pipe.settings.kafka_bootstrap_servers, "acks": "all"})
    producer.produce(pipe.settings.sink_topic, key=b'{"user_id":1}', value=bson.encode(reused))
    assert producer.flush(30) == 0
    wait_for(lambda: sealer_caught_up(pipe), 60, "the sealer to read the reused id")
    # Rewind the sealer's group to the start of the sink topic: every record comes again.
    pipe.stop("sealer")
    rewind(pipe.settings)
    pipe.start("sealer")
    wait_for(lambda: sealer_caught_up(pipe), 120, "the sealer to read everything again")
    after = {name: sorted(database[name].find({}), key=lambda d: str(d["_id"])) for name in (LEAVES, NODES)}
    assert after == before, "nothing sealed twice, nothing changed"
    assert MongoSealStore(database).trees().keys() == trees_before.keys()
    for company_id, record in MongoSealStore(database).trees().items():
        assert record.state == trees_before[company_id].state
    assert pipe.log_of("sealer").count("other content") >= 2, "the reused id, read twice"
    assert verify_logs(pipe) == produced_per_company(stream.events)


def rewind(settings: Settings) -> None:
    with observer(settings) as consumer:
        partitions = [TopicPartition(t, p, 0) for t, p in partition_bounds(consumer, settings.sink_topic)]
    admin = admin_client(settings)
    request = ConsumerGroupTopicPartitions(settings.sealer_group, partitions)
    for future in admin.alter_consumer_group_offsets([request]).values():
        future.result(timeout=30)


def test_trees_saved_before_trees_were_versioned_are_read_then_replaced(pipe: IsolatedPipeline) -> None:
    """A store sealed before trees were versioned holds one tree document per company, its
    ``_id`` the company id: each is read as its company's tree, and deleted by the company's next
    save — also when one save replaces old-style and versioned trees together."""
    database = pipe.collection.database
    trees = {company: CompactRange() for company in (7, 8)}
    for company, tree in trees.items():
        tree.extend(bytes([n]) * 32 for n in range(3))
        database[TREES].insert_one({"_id": company, "company_id": company, **tree.to_state()})
    store = MongoSealStore(database)
    assert {company: record.state for company, record in store.trees().items()} == {
        company: tree.to_state() for company, tree in trees.items()
    }
    trees[8].append(bytes([9]) * 32)
    store.save_trees({8: trees[8].to_state()}, {})  # 8 is versioned now, 7 is not
    for tree in trees.values():
        tree.append(bytes([10]) * 32)
    store.save_trees({company: tree.to_state() for company, tree in trees.items()}, {})
    assert sorted(doc["_id"] for doc in database[TREES].find({})) == [position_key(7, 4), position_key(8, 5)]
    assert {company: record.state for company, record in MongoSealStore(database).trees().items()} == {
        company: tree.to_state() for company, tree in trees.items()
    }
