"""Sealing (authtrail/integrity/sealing.py) against an in-memory model of its store that can
crash after any document write: whatever the crash points, once the stream has been consumed
every event id is sealed exactly once (its first version), each company's leaves are one gapless
sequence, and the stored tree and nodes are exactly those of its leaves."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, datetime

import bson
import pytest
from bson.int64 import Int64
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from authtrail.audit_event import audit_event
from authtrail.errors import DependencyUnavailableError
from authtrail.integrity.checkpointer import Checkpointer
from authtrail.integrity.errors import LeafError
from authtrail.integrity.leaf import leaf_hash
from authtrail.integrity.merkle import (
    CompactRange,
    NodeHash,
    inclusion_proof_from,
    root,
    verify_inclusion,
)
from authtrail.integrity.sealing import (
    STORED_NODE_LEVEL,
    Sealable,
    SealConflictError,
    Sealer,
    StoredLeaf,
    decode_sealable,
)
from tests.support.seal_model import CrashError, SealModel


def event(event_id: str, company: int, version: int = 0) -> Sealable:
    digest = hashlib.sha256(f"{event_id}/{company}/{version}".encode()).digest()
    return Sealable(event_id, company, digest)


def consume(
    model: SealModel, stream: list[Sealable], batch_size: int, crashes: list[int], save_every: int = 3
) -> int:
    """Run sealers over ``stream`` like the service does — a batch, then its offset committed;
    the trees saved every ``save_every`` batches and at the end — crashing after each budget of
    writes in ``crashes``, restarting from the committed offset with a fresh process. Returns
    how many crashes happened."""
    committed = 0
    crashed = 0
    budgets = iter(crashes)
    while True:
        model.writes_left = next(budgets, None)
        sealer = Sealer(model)
        try:
            sealer.recover()
            batches = 0
            while committed < len(stream):
                batch = stream[committed : committed + batch_size]
                sealer.seal(batch)
                committed += len(batch)
                batches += 1
                if batches % save_every == 0:
                    sealer.save()
            sealer.save()
            return crashed
        except CrashError:
            crashed += 1


def assert_sealed_once(model: SealModel, stream: list[Sealable]) -> None:
    first: dict[str, Sealable] = {}
    for item in stream:
        first.setdefault(item.event_id, item)
    assert set(model.leaves) == set(first), "every event id, and nothing else, is sealed"
    by_company: dict[int, list[StoredLeaf]] = defaultdict(list)
    for leaf in model.leaves.values():
        assert (leaf.company_id, leaf.leaf_hash) == (
            first[leaf.event_id].company_id,
            first[leaf.event_id].leaf_hash,
        )
        by_company[leaf.company_id].append(leaf)
    assert set(model.tree_states) == set(by_company)
    for company, leaves in by_company.items():
        leaves.sort(key=lambda leaf: leaf.index)
        assert [leaf.index for leaf in leaves] == list(range(len(leaves))), "gapless, each position once"
        # Sealed in stream order: a company's leaves are its first versions as they came.
        in_order = [i.event_id for i in first.values() if i.company_id == company]
        assert [leaf.event_id for leaf in leaves] == in_order
        hashes = [leaf.leaf_hash for leaf in leaves]
        expected = CompactRange()
        nodes: list[NodeHash] = []
        for digest in hashes:
            nodes += expected.append(digest)
        assert model.tree_states[company] == expected.to_state()
        stored = {(level, index): h for (c, level, index), h in model.nodes.items() if c == company}
        assert stored == {(n.level, n.index): n.digest for n in nodes if n.level >= STORED_NODE_LEVEL}
        tree_root = root(hashes)
        for index, digest in enumerate(hashes):
            proof = inclusion_proof_from(model.node_source(company), index, len(hashes))
            verify_inclusion(digest, index, len(hashes), proof, tree_root)


STREAM = [event(f"e{i}", company=i % 3) for i in range(40)]
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_a_stream_is_sealed_into_one_log_per_company() -> None:
    model = SealModel()
    assert consume(model, STREAM, batch_size=7, crashes=[]) == 0
    assert_sealed_once(model, STREAM)
    assert {c: s["size"] for c, s in model.tree_states.items()} == {0: 14, 1: 13, 2: 13}


def test_redelivery_of_everything_seals_nothing_twice() -> None:
    model = SealModel()
    consume(model, STREAM, batch_size=7, crashes=[])
    before = (dict(model.leaves), dict(model.nodes), dict(model.tree_states))
    report = Sealer(model)
    report.recover()
    result = report.seal(STREAM)
    assert (result.sealed, result.duplicates, result.conflicts) == (0, 40, [])
    assert (model.leaves, model.nodes, model.tree_states) == before


def test_a_second_record_with_a_sealed_id_and_other_content_is_a_conflict_and_the_first_stays() -> None:
    model = SealModel()
    sealer = Sealer(model)
    sealer.recover()
    sealer.seal([event("a", 1), event("b", 1)])
    result = sealer.seal([event("a", 1, version=2), event("c", 1), event("b", 2)])
    assert result.sealed == 1
    assert result.conflicts == [("a", 1, 1), ("b", 1, 2)]
    assert model.leaves["a"].leaf_hash == event("a", 1).leaf_hash
    assert [model.leaves[i].index for i in "abc"] == [0, 1, 2]


def test_a_repeated_id_within_one_batch_is_sealed_once() -> None:
    model = SealModel()
    sealer = Sealer(model)
    sealer.recover()
    result = sealer.seal([event("a", 1), event("a", 1), event("a", 1, version=1), event("b", 1)])
    assert (result.sealed, result.duplicates, len(result.conflicts)) == (2, 1, 1)
    sealer.save()
    assert_sealed_once(model, [event("a", 1), event("b", 1)])


@pytest.mark.parametrize("budget", range(0, 40))
def test_a_crash_after_any_write_loses_nothing_and_seals_nothing_twice(budget: int) -> None:
    model = SealModel()
    assert consume(model, STREAM, batch_size=9, crashes=[budget]) == 1
    assert_sealed_once(model, STREAM)


@settings(max_examples=200, deadline=None)
@given(
    ids=st.lists(st.integers(0, 25), min_size=1, max_size=60),
    companies=st.lists(st.integers(1, 4), min_size=60, max_size=60),
    versions=st.lists(st.integers(0, 1), min_size=60, max_size=60),
    batch_size=st.integers(1, 12),
    crashes=st.lists(st.integers(0, 30), max_size=6),
)
def test_any_stream_any_crashes_every_id_sealed_exactly_once(
    ids: list[int], companies: list[int], versions: list[int], batch_size: int, crashes: list[int]
) -> None:
    """Redeliveries, conflicting reuses of an id (other content, other company), and crashes at
    arbitrary writes, several in a row included (a crash during recovery)."""
    stream = [event(f"e{i}", companies[i], versions[n]) for n, i in enumerate(ids)]
    model = SealModel()
    consume(model, stream, batch_size, crashes)
    assert_sealed_once(model, stream)


def test_a_tree_saved_without_a_new_checkpoint_keeps_the_one_saved_with_it_before() -> None:
    """The hint recovery follows the chain from survives later saves that name no checkpoint:
    a save without one, and the save of the trees a recovery adopts leaves into."""
    model = SealModel()
    sealer = Sealer(model)
    sealer.recover()
    sealer.seal(STREAM[:9])
    [signed, *_] = Checkpointer(model, KEY, lambda: T0).run(sealer.trees)
    company = signed.checkpoint.company_id
    sealer.save({company: signed})
    assert model.latest[company] == signed
    sealer.seal(STREAM[9:18])
    sealer.save()
    assert model.latest[company] == signed, "saved again without a checkpoint: the hint stays"
    sealer.seal(STREAM[18:27])  # a crash before the next save: a new process adopts these
    restarted = Sealer(model)
    assert restarted.recover().adopted == 9
    assert model.latest[company] == signed, "the adopted trees are saved with their hints"
    assert_sealed_once(model, STREAM[:27])


def test_a_store_failure_mid_batch_is_recovered_by_the_same_sealer() -> None:
    """What the service does after a DependencyUnavailableError: recover, then redo the batch."""

    class FlakyModel(SealModel):
        fail_next_journal = False

        def write_journal(self, companies):
            if self.fail_next_journal:
                self.fail_next_journal = False
                raise DependencyUnavailableError("store", "connection reset")
            super().write_journal(companies)

    model = FlakyModel()
    sealer = Sealer(model)
    sealer.recover()
    sealer.seal(STREAM[:10])
    sealer.seal(STREAM[10:20])
    model.fail_next_journal = True  # the save's last step: trees written, journal not emptied
    with pytest.raises(DependencyUnavailableError):
        sealer.save()
    sealer.seal(STREAM[20:30])
    recovery = sealer.recover()
    assert recovery.adopted == 10, "the leaves sealed after the last save"
    assert sealer.seal(STREAM[20:30]).duplicates == 10
    sealer.seal(STREAM[30:])
    sealer.save()
    assert_sealed_once(model, STREAM)


def test_leaves_past_a_gap_are_dropped_and_sealed_again() -> None:
    """Ordered inserts never leave a gap; if one appeared anyway (a store that reordered an
    insert), the leaves past it are removed rather than left to block their ids for ever."""
    model = SealModel()
    sealer = Sealer(model)
    sealer.recover()
    sealer.seal([event("a", 1)])
    sealer.save()
    model.journal_companies = [1]
    model.leaves["z"] = StoredLeaf("z", 1, 5, event("z", 1).leaf_hash)
    recovery = Sealer(model).recover()
    assert (recovery.adopted, recovery.dropped) == (0, 1)
    assert "z" not in model.leaves


def test_a_position_taken_by_another_event_stops_the_sealer() -> None:
    model = SealModel()
    sealer = Sealer(model)
    sealer.recover()
    sealer.seal([event("a", 1)])
    model.leaves["intruder"] = StoredLeaf("intruder", 1, 1, b"\x00" * 32)  # a second sealer's leaf
    with pytest.raises(SealConflictError, match="second sealer"):
        sealer.seal([event("b", 1)])


# --- decoding the sink topic's records ------------------------------------------------------------
DOCUMENT = {
    "_id": "1-2-3",
    "timestamp": datetime(2026, 5, 1, 12, 0, 0),
    "user_id": Int64(2),
    "company_id": Int64(1),
    "event_type": "update",
    "event_resource_type": "bug",
    "resource_id": "BUG-1",
    "event_data": {"n": Int64(2**40), "f": 0.5, "nested": {"k": [1, "x"]}},
    "ingested_at": datetime(2026, 5, 1, 12, 0, 1, 123000, tzinfo=UTC),
    "content_sha256": "0" * 64,
    "kafka_partition": 3,
}


def test_a_sink_record_is_sealed_as_the_api_serves_its_document() -> None:
    sealed = decode_sealable(bson.encode(DOCUMENT))
    assert sealed.event_id == "1-2-3"
    assert sealed.company_id == 1
    assert sealed.leaf_hash == leaf_hash(audit_event(dict(DOCUMENT)))


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (None, "tombstone"),
        (b"not bson", "not a BSON document"),
        (bson.encode({"company_id": 1}), "no _id"),
        (bson.encode({**DOCUMENT, "company_id": None}), "no company_id"),
    ],
)
def test_a_record_that_is_no_company_event_is_refused_by_name(value: bytes | None, why: str) -> None:
    with pytest.raises(LeafError, match=why):
        decode_sealable(value)
