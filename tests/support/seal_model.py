"""An in-memory model of the sealer's store (``authtrail.integrity.seal_store``), faithful where
the sealer's safety rests: unique ``_id`` and ``(company_id, index)`` on leaves, ordered leaf
inserts that stop at the first duplicate, nodes that tolerate re-insertion, unique checkpoint
ids. It can crash after any number of document writes — half-way through a command included —
which is what a kill -9 of the sealer looks like from the store."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from authtrail.integrity.checkpoint import SignedCheckpoint
from authtrail.integrity.merkle import CompactRangeState, NodeHash, root
from authtrail.integrity.seal_store import checkpoint_id
from authtrail.integrity.sealing import STORED_NODE_LEVEL, StoredLeaf, TreeRecord


class CrashError(Exception):
    """The sealer process died here."""


@dataclass
class SealModel:
    leaves: dict[str, StoredLeaf] = field(default_factory=dict)
    nodes: dict[tuple[int, int, int], bytes] = field(default_factory=dict)
    tree_states: dict[int, CompactRangeState] = field(default_factory=dict)
    latest: dict[int, SignedCheckpoint] = field(default_factory=dict)
    checkpoints: dict[str, SignedCheckpoint] = field(default_factory=dict)
    journal_companies: list[int] = field(default_factory=list)
    writes_left: int | None = None  # None: never crash
    writes: int = 0
    reads: int = 0  # checkpoint lookups (each one store query)

    def _write(self) -> None:
        if self.writes_left is not None:
            if self.writes_left == 0:
                raise CrashError
            self.writes_left -= 1
        self.writes += 1

    def trees(self) -> dict[int, TreeRecord]:
        return {
            company: TreeRecord(
                {"size": state["size"], "hashes": list(state["hashes"])}, self.latest.get(company)
            )
            for company, state in self.tree_states.items()
        }

    def journal(self) -> list[int]:
        return list(self.journal_companies)

    def write_journal(self, companies: Sequence[int]) -> None:
        self._write()
        self.journal_companies = list(companies)

    def insert_leaves(self, leaves: Sequence[StoredLeaf]) -> int:
        for written, leaf in enumerate(leaves):
            taken = any(
                (other.company_id, other.index) == (leaf.company_id, leaf.index)
                for other in self.leaves.values()
            )
            if leaf.event_id in self.leaves or taken:
                return written
            self._write()
            self.leaves[leaf.event_id] = leaf
        return len(leaves)

    def find_leaf(self, event_id: str) -> StoredLeaf | None:
        return self.leaves.get(event_id)

    def leaves_from(self, company_id: int, index: int) -> list[StoredLeaf]:
        return sorted(
            (leaf for leaf in self.leaves.values() if leaf.company_id == company_id and leaf.index >= index),
            key=lambda leaf: leaf.index,
        )

    def delete_leaves_from(self, company_id: int, index: int) -> None:
        for leaf in self.leaves_from(company_id, index):
            self._write()
            del self.leaves[leaf.event_id]

    def insert_nodes(self, nodes: Sequence[tuple[int, NodeHash]]) -> None:
        for company, node in nodes:
            where = (company, node.level, node.index)
            if where in self.nodes:
                assert self.nodes[where] == node.digest, f"node {where} changed"
                continue
            self._write()
            self.nodes[where] = node.digest

    def save_trees(
        self, trees: Mapping[int, CompactRangeState], latest: Mapping[int, SignedCheckpoint]
    ) -> None:
        for company, state in trees.items():
            self._write()
            self.tree_states[company] = {"size": state["size"], "hashes": list(state["hashes"])}
            if company in latest:
                self.latest[company] = latest[company]
            else:
                self.latest.pop(company, None)

    def checkpoints_following(self, previous: Mapping[int, str | None]) -> dict[int, SignedCheckpoint]:
        self.reads += 1
        found = {
            company: self.checkpoints.get(checkpoint_id(company, digest))
            for company, digest in previous.items()
        }
        return {company: signed for company, signed in found.items() if signed is not None}

    def checkpoint_following(self, company_id: int, previous: str | None) -> SignedCheckpoint | None:
        return self.checkpoints_following({company_id: previous}).get(company_id)

    def insert_checkpoints(self, signed: Sequence[SignedCheckpoint]) -> list[bool]:
        return [self._insert_checkpoint(one) for one in signed]

    def _insert_checkpoint(self, signed: SignedCheckpoint) -> bool:
        made = signed.checkpoint
        key = checkpoint_id(made.company_id, made.previous)
        same_size = any(
            (c.checkpoint.company_id, c.checkpoint.tree_size) == (made.company_id, made.tree_size)
            for c in self.checkpoints.values()
        )
        if key in self.checkpoints or same_size:
            return False
        self._write()
        self.checkpoints[key] = signed
        return True

    # --- for assertions ----------------------------------------------------------------------
    def node_source(self, company_id: int) -> _ModelNodes:
        return _ModelNodes(self, company_id)


class _ModelNodes:
    def __init__(self, model: SealModel, company_id: int) -> None:
        self.model = model
        self.company_id = company_id

    def node_hash(self, level: int, index: int) -> bytes:
        if level < STORED_NODE_LEVEL:  # folded from its leaves, as the store's readers do
            span = range(index << level, (index + 1) << level)
            by_index = {
                leaf.index: leaf.leaf_hash
                for leaf in self.model.leaves.values()
                if leaf.company_id == self.company_id
            }
            return root([by_index[position] for position in span])
        return self.model.nodes[(self.company_id, level, index)]
