"""The sealer's state in the store: collections of its own next to the audit events, which
stay insert-only and untouched.

=========================  ===============================================================
``integrity_leaves``       ``{_id: event id, company_id, index, position, leaf_hash}`` —
                           unique ``(company_id, index)``: an id is sealed once, a position
                           holds one; ``position`` (:func:`position_key`) orders a company's
                           leaves in one indexed string field
``integrity_nodes``        ``{_id: "<company>:<level>:<index>", company_id, level, index,
                           hash}`` — perfect subtrees of level ≥ 4 (lower ones are folded
                           from their leaves when read)
``integrity_trees``        ``{_id: company_id, company_id, size, hashes, checkpoint}`` — the
                           compact range, and the checkpoint last recorded as the latest
``integrity_checkpoints``  ``{_id: "<company>:<previous digest | first>", company_id,
                           tree_size, root_hash, time, previous, key_id, signature,
                           position}`` — unique ``(company_id, tree_size)``
``integrity_sealer``       ``{_id: "journal", companies}`` — the companies of the batch in
                           flight (:mod:`authtrail.integrity.sealing`)
=========================  ===============================================================

Hashes are lowercase hex, as the API serves them. What the API reads
(``query_service/seal_reads.py``) — an event's leaf and a node by ``_id``, a company's leaves or
checkpoints in order by ``position`` — are single-document reads or one index range.

**Why a ``position`` string next to ``(company_id, index)``.** The unique index is the
guarantee; ``position`` — ``"<company_id>:<index, 15 digits>"``, so text order is index order
within a company — is what reads use: one field, a plain non-unique index, which the local
FerretDB's exact pushdown serves (it serves no unique index, and an index on the pair would
leave its per-field type guard scanning). MongoDB serves both either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, PyMongoError

from authtrail.errors import DependencyUnavailableError
from authtrail.integrity.checkpoint import SignedCheckpoint
from authtrail.integrity.merkle import CompactRangeState, NodeHash
from authtrail.integrity.sealing import StoredLeaf, TreeRecord
from authtrail.logs import get_logger

log = get_logger(__name__)
LEAVES = "integrity_leaves"
NODES = "integrity_nodes"
TREES = "integrity_trees"
CHECKPOINTS = "integrity_checkpoints"
SEALER = "integrity_sealer"
POSITION_DIGITS = 15  # tree sizes below 10^15
DUPLICATE_KEY = 11000
ORDERED_CHUNK = 100  # FerretDB's default --batch-size (see insert_leaves)
INDEXES = {
    LEAVES: [
        IndexModel([("company_id", ASCENDING), ("index", ASCENDING)], name="position", unique=True),
        IndexModel([("position", ASCENDING)], name="position_order"),
    ],
    CHECKPOINTS: [
        IndexModel([("company_id", ASCENDING), ("tree_size", ASCENDING)], name="company_size", unique=True),
        IndexModel([("position", ASCENDING)], name="position_order"),
    ],
}
Document = dict[str, Any]


def ensure_seal_indexes(database: Database[Document]) -> None:
    """The unique indexes the sealer's guarantees rest on (one per command: FerretDB 1.24)."""
    for name, indexes in INDEXES.items():
        collection = database[name]
        existing = {index["name"] for index in collection.list_indexes()}
        for index in indexes:
            if index.document["name"] not in existing:
                collection.create_indexes([index])
                log.info("index created", collection=collection.full_name, index=index.document["name"])


def node_id(company_id: int, level: int, index: int) -> str:
    return f"{company_id}:{level}:{index}"


def checkpoint_id(company_id: int, previous: str | None) -> str:
    return f"{company_id}:{previous or 'first'}"


def position_key(company_id: int, index: int) -> str:
    """``"<company_id>:<index>"``, the index zero-padded: text order is index order within a company."""
    return f"{company_id}:{index:0{POSITION_DIGITS}d}"


def positions_between(company_id: int, start: int, stop: int | None = None) -> dict[str, str]:
    """A filter on ``position``: the company's indexes in ``[start, stop)`` (``stop`` None: all)."""
    upper = (
        {"$lt": position_key(company_id, stop)}
        if stop is not None
        else {"$lte": position_key(company_id, 10**POSITION_DIGITS - 1)}
    )
    return {"$gte": position_key(company_id, start), **upper}


# Under the ~40 matched statements per update command that stall FerretDB 1.24 (save_trees).
TREE_UPDATES_PER_COMMAND = 16


class MongoSealStore:
    """:class:`authtrail.integrity.sealing.SealStore` on a MongoDB-protocol database. Every
    driver error other than a duplicate key the protocol expects is a
    :class:`DependencyUnavailableError`: the sealer recovers and redoes the batch."""

    def __init__(self, database: Database[Document]) -> None:
        self.database = database
        self.leaves: Collection[Document] = database[LEAVES]
        self.nodes: Collection[Document] = database[NODES]
        self.tree_records: Collection[Document] = database[TREES]
        self.checkpoints: Collection[Document] = database[CHECKPOINTS]
        self.sealer: Collection[Document] = database[SEALER]

    def ensure_indexes(self) -> None:
        try:
            ensure_seal_indexes(self.database)
        except PyMongoError as exc:
            raise _unavailable(exc) from exc

    # --- trees and the journal ---------------------------------------------------------------
    def trees(self) -> dict[int, TreeRecord]:
        try:
            return {
                int(doc["_id"]): TreeRecord(
                    {"size": doc["size"], "hashes": doc["hashes"]},
                    SignedCheckpoint.from_dict(doc["checkpoint"]) if doc.get("checkpoint") else None,
                )
                for doc in self.tree_records.find({})
            }
        except PyMongoError as exc:
            raise _unavailable(exc) from exc

    def save_trees(
        self, trees: Mapping[int, CompactRangeState], latest: Mapping[int, SignedCheckpoint]
    ) -> None:
        updates = [
            UpdateOne(
                {"_id": company_id},
                {
                    "$set": {
                        "company_id": company_id,
                        "size": state["size"],
                        "hashes": state["hashes"],
                        **({"checkpoint": latest[company_id].to_dict()} if company_id in latest else {}),
                    }
                },
                upsert=True,
            )
            for company_id, state in trees.items()
        ]
        try:
            # A few statements per command: FerretDB 1.24 keeps a PostgreSQL connection per
            # statement that matched a document until the whole command ends, so one update
            # command of ~40+ such statements exhausts its pool and stalls the whole store
            # (reproduced with plain pymongo; docs/integrity.md).
            for start in range(0, len(updates), TREE_UPDATES_PER_COMMAND):
                self.tree_records.bulk_write(updates[start : start + TREE_UPDATES_PER_COMMAND], ordered=False)
        except PyMongoError as exc:
            raise _unavailable(exc) from exc

    def journal(self) -> list[int]:
        try:
            doc = self.sealer.find_one({"_id": "journal"})
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return [int(company) for company in doc["companies"]] if doc else []

    def write_journal(self, companies: Sequence[int]) -> None:
        try:
            self.sealer.replace_one({"_id": "journal"}, {"companies": list(companies)}, upsert=True)
        except PyMongoError as exc:
            raise _unavailable(exc) from exc

    # --- leaves and nodes ------------------------------------------------------------------
    def insert_leaves(self, leaves: Sequence[StoredLeaf]) -> int:
        # One command per chunk of at most ORDERED_CHUNK documents, stopping at the first
        # refusal: FerretDB 1.24 inserts a command's documents in batches of 100 and, after an
        # ordered batch fails, goes on with the next batch — a single larger command could leave
        # leaves written past the refused one. Within one batch it is ordered like MongoDB.
        written = 0
        for start in range(0, len(leaves), ORDERED_CHUNK):
            chunk = leaves[start : start + ORDERED_CHUNK]
            try:
                self.leaves.insert_many([_leaf_document(leaf) for leaf in chunk], ordered=True)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if not errors or errors[0].get("code") != DUPLICATE_KEY:
                    raise _unavailable(exc) from exc
                # Ordered: everything before the first refused document was written, nothing after.
                return written + int(errors[0]["index"])
            except PyMongoError as exc:
                raise _unavailable(exc) from exc
            written += len(chunk)
        return written

    def find_leaf(self, event_id: str) -> StoredLeaf | None:
        try:
            doc = self.leaves.find_one({"_id": event_id})
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return _leaf(doc) if doc else None

    def leaves_from(self, company_id: int, index: int) -> list[StoredLeaf]:
        try:
            found = self.leaves.find({"position": positions_between(company_id, index)}).sort(
                "position", ASCENDING
            )
            return [_leaf(doc) for doc in found]
        except PyMongoError as exc:
            raise _unavailable(exc) from exc

    def delete_leaves_from(self, company_id: int, index: int) -> None:
        try:
            self.leaves.delete_many({"position": positions_between(company_id, index)})
        except PyMongoError as exc:
            raise _unavailable(exc) from exc

    def insert_nodes(self, nodes: Sequence[tuple[int, NodeHash]]) -> None:
        if not nodes:
            return
        documents = [
            {
                "_id": node_id(company_id, node.level, node.index),
                "company_id": company_id,
                "level": node.level,
                "index": node.index,
                "hash": node.digest.hex(),
            }
            for company_id, node in nodes
        ]
        try:
            self.nodes.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            # A node written before a crash comes again on recovery: same position, same hash.
            if any(error.get("code") != DUPLICATE_KEY for error in exc.details.get("writeErrors", [])):
                raise _unavailable(exc) from exc
        except PyMongoError as exc:
            raise _unavailable(exc) from exc

    # --- checkpoints ------------------------------------------------------------------------
    def checkpoint_following(self, company_id: int, previous: str | None) -> SignedCheckpoint | None:
        try:
            doc = self.checkpoints.find_one({"_id": checkpoint_id(company_id, previous)})
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return signed_checkpoint(doc) if doc else None

    def insert_checkpoints(self, signed: Sequence[SignedCheckpoint]) -> list[bool]:
        stored = [True] * len(signed)
        documents = [
            {
                "_id": checkpoint_id(one.checkpoint.company_id, one.checkpoint.previous),
                **one.to_dict(),
                "position": position_key(one.checkpoint.company_id, one.checkpoint.tree_size),
            }
            for one in signed
        ]
        for start in range(0, len(documents), ORDERED_CHUNK):
            try:
                self.checkpoints.insert_many(documents[start : start + ORDERED_CHUNK], ordered=False)
            except BulkWriteError as exc:
                for error in exc.details.get("writeErrors", []):
                    if error.get("code") != DUPLICATE_KEY:
                        raise _unavailable(exc) from exc
                    stored[start + int(error["index"])] = False  # its predecessor has a successor
            except PyMongoError as exc:
                raise _unavailable(exc) from exc
        return stored


def signed_checkpoint(doc: Mapping[str, Any]) -> SignedCheckpoint:
    return SignedCheckpoint.from_dict(
        {name: value for name, value in doc.items() if name not in ("_id", "position")}
    )


def _leaf_document(leaf: StoredLeaf) -> Document:
    return {
        "_id": leaf.event_id,
        "company_id": leaf.company_id,
        "index": leaf.index,
        "position": position_key(leaf.company_id, leaf.index),
        "leaf_hash": leaf.leaf_hash.hex(),
    }


def _leaf(doc: Mapping[str, Any]) -> StoredLeaf:
    return StoredLeaf(
        str(doc["_id"]), int(doc["company_id"]), int(doc["index"]), bytes.fromhex(doc["leaf_hash"])
    )


def _unavailable(exc: PyMongoError) -> DependencyUnavailableError:
    return DependencyUnavailableError("store", f"{type(exc).__name__}: {exc}")
