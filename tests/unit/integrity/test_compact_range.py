"""The compact range (authtrail/integrity/merkle.py ``CompactRange``): the root of every prefix
equals the full tree's, its state survives a round trip through JSON, and the perfect nodes
it reports are enough to serve the same proofs as the full list of leaves."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authtrail.integrity.errors import CompactRangeError
from authtrail.integrity.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    consistency_proof_from,
    hash_leaf,
    inclusion_proof,
    inclusion_proof_from,
    root,
)

from .test_merkle import LEAF_HASHES, ROOTS

leaf_lists = st.lists(st.binary(max_size=6), max_size=80).map(lambda data: [hash_leaf(d) for d in data])


class StoredNodes:
    """What a sealing service would keep: every perfect node the range reported."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}

    def node_hash(self, level: int, index: int) -> bytes:
        return self.nodes[(level, index)]


def test_the_standard_leaves_give_the_standard_roots() -> None:
    compact = CompactRange()
    assert compact.root() == EMPTY_ROOT
    for size, leaf in enumerate(LEAF_HASHES, start=1):
        compact.append(leaf)
        assert (compact.size, compact.root()) == (size, ROOTS[size - 1])


@given(leaf_lists)
def test_the_root_of_every_prefix_is_the_full_trees(leaves: list[bytes]) -> None:
    compact = CompactRange()
    for size, leaf in enumerate(leaves, start=1):
        compact.append(leaf)
        assert compact.root() == root(leaves[:size])
        assert len(compact.hashes) == size.bit_count()  # O(log n) state


@given(leaf_lists, st.data())
def test_the_state_round_trips_through_json_and_keeps_growing(
    leaves: list[bytes], data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(leaves)), label="restart after")
    before = CompactRange()
    before.extend(leaves[:cut])
    state = json.loads(json.dumps(before.to_state()))
    restored = CompactRange.from_state(state)
    assert restored == before
    assert restored.to_state() == before.to_state()
    restored.extend(leaves[cut:])
    assert restored.root() == root(leaves)


@given(leaf_lists.filter(bool), st.data())
def test_reported_nodes_serve_the_same_proofs(leaves: list[bytes], data: st.DataObject) -> None:
    stored, compact = StoredNodes(), CompactRange()
    for leaf in leaves:
        for node in compact.append(leaf):
            key = (node.level, node.index)
            assert key not in stored.nodes  # each perfect node is completed exactly once
            assert node.digest == root(leaves[node.index << node.level : (node.index + 1) << node.level])
            stored.nodes[key] = node.digest
    size = len(leaves)
    assert len(stored.nodes) == 2 * size - size.bit_count()
    index = data.draw(st.integers(0, size - 1), label="index")
    old = data.draw(st.integers(0, size), label="old size")
    assert inclusion_proof_from(stored, index, size) == inclusion_proof(leaves, index)
    assert consistency_proof_from(stored, old, size) == consistency_proof(leaves, old)


def test_append_reports_the_leaf_then_each_subtree_it_closed() -> None:
    compact = CompactRange()
    compact.extend(LEAF_HASHES[:7])
    completed = compact.append(LEAF_HASHES[7])
    assert [(node.level, node.index) for node in completed] == [(0, 7), (1, 3), (2, 1), (3, 0)]
    assert completed[-1].digest == ROOTS[7]


@pytest.mark.parametrize(
    ("state", "complaint"),
    [
        ({"size": 3, "hashes": [ROOTS[0].hex()]}, "needs 2 hashes"),
        ({"size": 1, "hashes": [ROOTS[0].hex(), ROOTS[1].hex()]}, "needs 1 hashes"),
        ({"size": 1, "hashes": [ROOTS[0].hex().upper()]}, "lowercase hex"),
        ({"size": 1, "hashes": [ROOTS[0].hex()[:-2]]}, "lowercase hex"),
        ({"size": 1, "hashes": ROOTS[0].hex()}, "lowercase hex"),
        ({"size": -1, "hashes": []}, "non-negative"),
        ({"size": True, "hashes": [ROOTS[0].hex()]}, "non-negative"),
        ({"size": "1", "hashes": [ROOTS[0].hex()]}, "non-negative"),
        ({"hashes": []}, "non-negative"),
        ({"size": 0}, "lowercase hex"),
    ],
)
def test_a_corrupted_state_is_refused(state: dict[str, object], complaint: str) -> None:
    with pytest.raises(CompactRangeError, match=complaint):
        CompactRange.from_state(state)


def test_the_empty_state() -> None:
    assert CompactRange().to_state() == {"size": 0, "hashes": []}
    assert CompactRange.from_state({"size": 0, "hashes": []}).root() == EMPTY_ROOT


def test_a_leaf_hash_must_be_32_bytes() -> None:
    with pytest.raises(CompactRangeError, match="32 bytes"):
        CompactRange().append(b"leaf")
