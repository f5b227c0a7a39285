"""Reading a company's Merkle log for the API: its checkpoints, its leaves in order, the nodes
of a proof. The sealer writes these collections (``authtrail/integrity/seal_store.py``); the
API only reads them, by ``_id`` or by the ``position`` index, so each answer is a handful of
index probes whatever the log's size.
"""

from __future__ import annotations

from collections import OrderedDict
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
from authtrail.integrity.merkle import root as merkle_root
from authtrail.integrity.seal_store import (
    CHECKPOINTS,
    LEAVES,
    NODES,
    node_id,
    position_key,
    positions_between,
    signed_checkpoint,
)
from authtrail.integrity.sealing import STORED_NODE_LEVEL
from query_service.store import AuditStore, Find

BY_POSITION = [("position", ASCENDING)]
BLOCK = 1 << STORED_NODE_LEVEL  # leaves: every subtree below the stored levels lies in one block
NODE_CACHE_SIZE = 200_000  # ~40 MB at most: the upper levels of every company's tree stay
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
    def __init__(self, store: AuditStore, cache: NodeCache) -> None:
        self.store = store
        self.cache = cache

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
        """Every node a proof reads, at once: the low ones (below ``STORED_NODE_LEVEL``) folded
        from the aligned block of 16 leaves holding them — one range read per block, and a
        proof's low siblings share one — the stored ones by ``_id``, unless cached (a perfect
        subtree never changes, and the upper ones are shared by every proof of a company)."""
        unique = list(dict.fromkeys(wanted))
        blocks = sorted({(index << level) // BLOCK for level, index in unique if level < STORED_NODE_LEVEL})
        stored = [
            (level, index)
            for level, index in unique
            if level >= STORED_NODE_LEVEL and self.cache.get((company_id, level, index)) is None
        ]
        answers = await self.store.read(
            *(_block_find(company_id, block) for block in blocks),
            *(Find(NODES, {"_id": node_id(company_id, level, index)}, limit=1) for level, index in stored),
        )
        leaves: dict[int, bytes] = {
            int(doc["index"]): bytes.fromhex(doc["leaf_hash"])
            for found in answers[: len(blocks)]
            for doc in found
        }
        for (level, index), found in zip(stored, answers[len(blocks) :], strict=True):
            if found:
                self.cache.put((company_id, level, index), bytes.fromhex(found[0]["hash"]))
        hashes = {}
        for level, index in unique:
            if level >= STORED_NODE_LEVEL:
                digest = self.cache.get((company_id, level, index))
            else:
                span = [leaves.get(position) for position in range(index << level, (index + 1) << level)]
                digest = None if None in span else merkle_root([h for h in span if h is not None])
            if digest is not None:
                hashes[(level, index)] = digest
        return FetchedNodes(hashes)


class NodeCache:
    """Stored nodes by (company, level, index), least recently used first out. Safe to keep for
    ever: a perfect subtree's hash never changes (and a proof is checked against a signed root,
    so a stale or wrong entry could only make a proof fail, never pass)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[int, int, int], bytes] = OrderedDict()

    def get(self, key: tuple[int, int, int]) -> bytes | None:
        digest = self._entries.get(key)
        if digest is not None:
            self._entries.move_to_end(key)
        return digest

    def put(self, key: tuple[int, int, int], digest: bytes) -> None:
        self._entries[key] = digest
        self._entries.move_to_end(key)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)


def _block_find(company_id: int, block: int) -> Find:
    span = {"position": positions_between(company_id, block * BLOCK, (block + 1) * BLOCK)}
    return Find(LEAVES, span, BY_POSITION, BLOCK)


def _sealed_leaf(doc: Mapping[str, Any]) -> SealedLeaf:
    return SealedLeaf(str(doc["_id"]), int(doc["company_id"]), int(doc["index"]), str(doc["leaf_hash"]))
