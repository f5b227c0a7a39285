"""Sealing: appending each accepted event to its company's Merkle log, once, crash-safely.

The sealer's state lives in the store (:mod:`authtrail.integrity.seal_store`), in collections
of its own; the store has no multi-document transactions (FerretDB 1.x), so safety comes from
the order of writes alone. For each batch:

1. **journal** — every company whose tree grew since the trees were last saved (one document,
   rewritten only when a batch adds a company to it);
2. **leaves** — ``{_id: event id, company_id, index, leaf_hash}``, inserted *in order*: the
   unique ``_id`` refuses an event sealed before (a redelivery, or a second record reusing an
   id: the first sealed version wins), the unique ``(company_id, index)`` refuses a position
   someone else took. An ordered insert stops at its first refusal, so what was written is
   always a prefix of what was asked, and a company's leaves never have a gap;
3. **nodes** — the perfect subtrees of level ``STORED_NODE_LEVEL`` (4) or more that the new
   leaves completed (for proofs; deterministic, so writing one twice is harmless). A lower
   subtree covers at most 8 leaves and is recomputed from them when a proof needs it: storing
   every level would write about one node per event, as many documents as the leaves;
4. then, and only then, the caller stores the batch's Kafka offsets.

**Trees** — each grown company's compact range (size and frontier hashes) — are saved by
:meth:`Sealer.save`, every few seconds and before each checkpoint round, not per batch: a batch
spread over a thousand companies would otherwise update a thousand documents (measured: the
service sealed at 780-1,670/s that way, against ~20,000/s with the same writes over 20
companies). After they are saved, the journal is emptied.

A crash anywhere leaves leaves past a stored tree size only in journaled companies;
:meth:`Sealer.recover` adopts them in index order (re-deriving their nodes), so nothing written
is lost, and their records — never committed — come again and are refused as sealed. Nothing
is sealed twice, nothing accepted is left out. A failed store call mid-batch is handled the
same way: recover, then redo the batch.

Pure: the store is a :class:`SealStore`; the tests drive it with an in-memory model that
crashes at every write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import bson
from bson.errors import BSONError

from authtrail.audit_event import audit_event
from authtrail.integrity.checkpoint import SignedCheckpoint
from authtrail.integrity.errors import IntegrityError, LeafError
from authtrail.integrity.leaf import leaf_hash
from authtrail.integrity.merkle import CompactRange, CompactRangeState, NodeHash

# Perfect subtrees of this level or more are stored; lower ones (at most 2^(level-1) leaves) are
# folded from their leaves when a proof reads them (seal_store.py, query_service/seal_reads.py).
STORED_NODE_LEVEL = 4


class SealConflictError(IntegrityError):
    """A leaf position the sealer computed is taken: another sealer is writing the same logs."""


@dataclass(frozen=True, slots=True)
class Sealable:
    """One accepted event, as the sealer needs it."""

    event_id: str
    company_id: int
    leaf_hash: bytes


@dataclass(frozen=True, slots=True)
class StoredLeaf:
    event_id: str
    company_id: int
    index: int
    leaf_hash: bytes


@dataclass(frozen=True, slots=True)
class TreeRecord:
    """A company's stored tree, and the checkpoint last recorded as its latest (a hint: a crash
    may have left a newer one, which follows it in the chain)."""

    state: CompactRangeState
    checkpoint: SignedCheckpoint | None


class SealStore(Protocol):
    """The sealer's state in the store (``authtrail.integrity.seal_store.MongoSealStore``)."""

    def trees(self) -> dict[int, TreeRecord]: ...

    def journal(self) -> list[int]: ...

    def write_journal(self, companies: Sequence[int]) -> None: ...

    def insert_leaves(self, leaves: Sequence[StoredLeaf]) -> int:
        """Insert in order; how many were written before the first duplicate key (all: len)."""
        ...

    def find_leaf(self, event_id: str) -> StoredLeaf | None: ...

    def leaves_from(self, company_id: int, index: int) -> list[StoredLeaf]:
        """The company's leaves with ``index`` or above, in index order."""
        ...

    def delete_leaves_from(self, company_id: int, index: int) -> None: ...

    def insert_nodes(self, nodes: Sequence[tuple[int, NodeHash]]) -> None:
        """(company_id, node) pairs; a node already stored is left as it is."""
        ...

    def save_trees(
        self, trees: Mapping[int, CompactRangeState], latest: Mapping[int, SignedCheckpoint]
    ) -> None:
        """Store each company's compact range in place of its previous one, with the latest
        checkpoint known for it if given (a hint: recovery follows the chain from it; a company
        absent from ``latest`` is stored without one)."""
        ...

    def checkpoints_following(self, previous: Mapping[int, str | None]) -> dict[int, SignedCheckpoint]:
        """For each company, its checkpoint that follows the named one (its digest; None: the
        first), where one is stored."""
        ...

    def insert_checkpoints(self, signed: Sequence[SignedCheckpoint]) -> list[bool]:
        """For each, whether it was stored: False if its company already has a checkpoint
        following the same predecessor."""
        ...


def stored(node: NodeHash) -> bool:
    """Whether the sealer stores this perfect subtree (see ``STORED_NODE_LEVEL``)."""
    return node.level >= STORED_NODE_LEVEL


def sealable(document: Mapping[str, Any]) -> Sealable:
    """The sealable form of a stored document (the API's view of it, hashed as a leaf)."""
    event = audit_event(dict(document))
    company_id = event["company_id"]
    if not isinstance(company_id, int):
        raise LeafError(f"event {event['id']!r} has no company_id: it belongs to no company's log")
    return Sealable(event["id"], company_id, leaf_hash(event))


def decode_sealable(value: bytes | None) -> Sealable:
    """A sink-topic record's value (the BSON document the sink stores) as a :class:`Sealable`."""
    if value is None:
        raise LeafError("a record without a value (a tombstone) is no event")
    try:
        document = bson.decode(value)
    except (BSONError, ValueError, TypeError) as exc:
        raise LeafError(f"not a BSON document: {exc}") from exc
    if "_id" not in document:
        raise LeafError("the document has no _id")
    return sealable(document)


@dataclass
class SealReport:
    sealed: int = 0
    duplicates: int = 0  # an id sealed before with the same content: a redelivery
    # (event id, company sealed under, company of the refused record): same id, other content
    conflicts: list[tuple[str, int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class Recovery:
    companies: int
    adopted: int  # leaves written before a crash, now part of their trees
    dropped: int  # leaves past a gap (never expected: ordered inserts leave none), removed
    checkpoints: dict[int, SignedCheckpoint | None]


class Sealer:
    """Every company's compact range, extended batch by batch; call :meth:`recover` first."""

    def __init__(self, store: SealStore) -> None:
        self.store = store
        self.trees: dict[int, CompactRange] = {}
        self.unsaved: set[int] = set()  # companies whose tree grew since it was last saved
        self.hints: dict[int, SignedCheckpoint] = {}  # the latest checkpoint known per company
        self.journaled: set[int] = set()  # what the stored journal names

    def recover(self) -> Recovery:
        """Load every tree; adopt the leaves a crash left past a journaled company's size."""
        records = self.store.trees()
        self.trees = {company: CompactRange.from_state(r.state) for company, r in records.items()}
        self.hints = {company: r.checkpoint for company, r in records.items() if r.checkpoint}
        self.unsaved.clear()
        self.journaled = set(self.store.journal())
        adopted = dropped = 0
        recovered: dict[int, CompactRangeState] = {}
        for company in sorted(self.journaled):
            tree = self.trees.setdefault(company, CompactRange())
            leaves = self.store.leaves_from(company, tree.size)
            nodes: list[tuple[int, NodeHash]] = []
            size_before = tree.size
            for leaf in leaves:
                if leaf.index != tree.size:
                    break
                nodes += [(company, node) for node in tree.append(leaf.leaf_hash) if stored(node)]
            adopted += tree.size - size_before
            stale = [leaf for leaf in leaves if leaf.index >= tree.size]
            if stale:
                # Never part of a tree or a checkpoint, and their records were never committed.
                self.store.delete_leaves_from(company, tree.size)
                dropped += len(stale)
            if tree.size > size_before:
                self.store.insert_nodes(nodes)
                recovered[company] = tree.to_state()
        if recovered:
            self.store.save_trees(recovered, self._hints_for(recovered))
        return Recovery(
            len(self.trees), adopted, dropped, {company: r.checkpoint for company, r in records.items()}
        )

    def seal(self, batch: Sequence[Sealable]) -> SealReport:
        """Seal every event of ``batch`` not sealed before, in order; returns what happened.

        On an exception the in-memory trees may be ahead of the store: :meth:`recover` before
        anything else."""
        report = SealReport()
        pending: list[Sealable] = []
        first: dict[str, Sealable] = {}
        for item in batch:
            seen = first.setdefault(item.event_id, item)
            if seen is not item:
                self._refused(report, seen.company_id, seen.leaf_hash, item)
            else:
                pending.append(item)
        if not pending:
            return report
        companies = {item.company_id for item in pending}
        if not companies <= self.journaled:
            self.journaled |= companies
            self.store.write_journal(sorted(self.journaled))
        nodes: list[tuple[int, NodeHash]] = []
        touched: set[int] = set()
        while pending:
            leaves = self._positions(pending)
            written = self.store.insert_leaves(leaves)
            for leaf in leaves[:written]:
                tree = self.trees.setdefault(leaf.company_id, CompactRange())
                nodes += [(leaf.company_id, n) for n in tree.append(leaf.leaf_hash) if stored(n)]
                touched.add(leaf.company_id)
            report.sealed += written
            if written == len(leaves):
                break
            refused = leaves[written]
            existing = self.store.find_leaf(refused.event_id)
            if existing is None:
                raise SealConflictError(
                    f"leaf {refused.index} of company {refused.company_id} is already taken by another "
                    "event: is a second sealer writing the same store?"
                )
            self._refused(report, existing.company_id, existing.leaf_hash, pending[written])
            pending = pending[written + 1 :]
            # A redelivery is a run of sealed ids: look the next ones up (one read each) rather
            # than have each fail an insert (a failed write, then a read).
            skipped = 0
            while skipped < len(pending) and (found := self.store.find_leaf(pending[skipped].event_id)):
                self._refused(report, found.company_id, found.leaf_hash, pending[skipped])
                skipped += 1
            pending = pending[skipped:]
        if nodes:
            self.store.insert_nodes(nodes)
        self.unsaved |= touched
        return report

    def save(self, latest: Mapping[int, SignedCheckpoint] | None = None) -> int:
        """Save every tree that grew since the last save (with its company's latest checkpoint:
        from ``latest``, else the one last saved with it), then empty the journal; returns how
        many were saved. On an exception, :meth:`recover` before anything else."""
        saved = len(self.unsaved)
        self.hints.update(latest or {})
        if self.unsaved:
            self.store.save_trees(
                {company: self.trees[company].to_state() for company in self.unsaved},
                self._hints_for(self.unsaved),
            )
            self.unsaved.clear()
        if self.journaled:
            self.store.write_journal([])
            self.journaled.clear()
        return saved

    def _hints_for(self, companies: Iterable[int]) -> dict[int, SignedCheckpoint]:
        return {company: self.hints[company] for company in companies if company in self.hints}

    def _positions(self, pending: Sequence[Sealable]) -> list[StoredLeaf]:
        next_index: dict[int, int] = {}
        leaves = []
        for item in pending:
            tree = self.trees.get(item.company_id)
            index = next_index.get(item.company_id, tree.size if tree is not None else 0)
            next_index[item.company_id] = index + 1
            leaves.append(StoredLeaf(item.event_id, item.company_id, index, item.leaf_hash))
        return leaves

    @staticmethod
    def _refused(report: SealReport, company_id: int, sealed_hash: bytes, item: Sealable) -> None:
        if sealed_hash == item.leaf_hash and company_id == item.company_id:
            report.duplicates += 1
        else:
            report.conflicts.append((item.event_id, company_id, item.company_id))
