"""Reading a company's Merkle log for the API: its checkpoints, its leaves in order, the nodes
of a proof. The sealer writes these collections (``authtrail/integrity/seal_store.py``); the
API only reads them, by ``_id`` or by the ``position`` index, so each answer is a handful of
index probes whatever the log's size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DESCENDING

from authtrail.integrity.checkpoint import SignedCheckpoint
from authtrail.integrity.merkle import (
    FetchedNodes,
    consistency_nodes,
    consistency_proof_from,
    inclusion_nodes,
    inclusion_proof_from,
)
from authtrail.integrity.seal_store import (
    CHECKPOINTS,
    LEAVES,
    NODES,
    fold_leaves,
    node_id,
    position_key,
    positions_between,
    signed_checkpoint,
)
from authtrail.integrity.sealing import STORED_NODE_LEVEL
from query_service.store import AuditStore, Find

BY_POSITION = [("position", ASCENDING)]
NEWEST_POSITION_FIRST = [("position", DESCENDING)]


@dataclass(frozen=True, slots=True)
class SealedLeaf:
    event_id: str
    company_id: int
    index: int
    leaf_hash: str

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "event_id": self.event_id, "leaf_hash": self.leaf_hash}


class SealReads:
    def __init__(self, store: AuditStore) -> None:
        self.store = store

    async def latest_checkpoint(self, company_id: int) -> SignedCheckpoint | None:
        found = await self.checkpoints(company_id, before=None, limit=1)
        return found[0] if found else None

    async def checkpoints(self, company_id: int, before: int | None, limit: int) -> list[SignedCheckpoint]:
        """Newest first; only those of tree size below ``before`` if given."""
        (found,) = await self.store.read(
            Find(
                CHECKPOINTS,
                {"position": positions_between(company_id, 0, before)},
                NEWEST_POSITION_FIRST,
                limit,
            )
        )
        return [signed_checkpoint(doc) for doc in found]

    async def checkpoint_at(self, company_id: int, tree_size: int) -> SignedCheckpoint | None:
        (found,) = await self.store.read(
            Find(CHECKPOINTS, {"position": position_key(company_id, tree_size)}, limit=1)
        )
        return signed_checkpoint(found[0]) if found else None

    async def leaf(self, event_id: str) -> SealedLeaf | None:
        (found,) = await self.store.read(Find(LEAVES, {"_id": event_id}, limit=1))
        return _sealed_leaf(found[0]) if found else None

    async def leaves(self, company_id: int, start: int, stop: int) -> list[SealedLeaf]:
        """The company's leaves ``[start, stop)`` in index order."""
        (found,) = await self.store.read(
            Find(LEAVES, {"position": positions_between(company_id, start, stop)}, BY_POSITION, stop - start)
        )
        return [_sealed_leaf(doc) for doc in found]

    async def inclusion_proof(self, company_id: int, index: int, tree_size: int) -> list[bytes]:
        nodes = await self._nodes(company_id, inclusion_nodes(index, tree_size))
        return inclusion_proof_from(nodes, index, tree_size)

    async def consistency_proof(self, company_id: int, old_size: int, new_size: int) -> list[bytes]:
        nodes = await self._nodes(company_id, consistency_nodes(old_size, new_size))
        return consistency_proof_from(nodes, old_size, new_size)

    async def _nodes(self, company_id: int, wanted: list[tuple[int, int]]) -> FetchedNodes:
        """Every node a proof reads, fetched at once: a leaf by position, a low subtree as its
        leaves (folded here), a stored node by ``_id``."""
        unique = list(dict.fromkeys(wanted))
        answers = await self.store.read(*(_node_find(company_id, level, index) for level, index in unique))
        hashes = {}
        for (level, index), found in zip(unique, answers, strict=True):
            digest = _node_hash(level, found)
            if digest is not None:
                hashes[(level, index)] = digest
        return FetchedNodes(hashes)


def _node_find(company_id: int, level: int, index: int) -> Find:
    if level < STORED_NODE_LEVEL:
        start, stop = index << level, (index + 1) << level
        return Find(
            LEAVES, {"position": positions_between(company_id, start, stop)}, BY_POSITION, stop - start
        )
    return Find(NODES, {"_id": node_id(company_id, level, index)}, limit=1)


def _node_hash(level: int, found: list[dict[str, Any]]) -> bytes | None:
    if level >= STORED_NODE_LEVEL:
        return bytes.fromhex(found[0]["hash"]) if found else None
    return fold_leaves(found, 1 << level)


def _sealed_leaf(doc: Mapping[str, Any]) -> SealedLeaf:
    return SealedLeaf(str(doc["_id"]), int(doc["company_id"]), int(doc["index"]), str(doc["leaf_hash"]))
