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
``integrity_trees``        ``{_id: "<company>:<size>", company_id, size, hashes,
                           checkpoint}`` — the compact range at that size, and the checkpoint
                           last recorded as the latest; a company's largest size is its tree
``integrity_checkpoints``  ``{_id: "<company>:<previous digest | first>", company_id,
                           tree_size, root_hash, time, previous, key_id, signature,
                           position}`` — unique ``(company_id, tree_size)``
``integrity_sealer``       ``{_id: "journal", companies}`` — the companies of the batch in
                           flight (:mod:`authtrail.integrity.sealing`)
=========================  ===============================================================

Hashes are lowercase hex, as the API serves them. What the API reads
(``query_service/seal_reads.py``) — an event's leaf and a node by ``_id``, a company's leaves or
checkpoints in order by ``position`` — are single-document reads or one index range.

**Why trees are inserted, not updated.** A save writes every tree that grew — a thousand
companies at the seed's load. An update is a read and a rewrite per document, one statement
each: ~1.5 ms apiece on the local FerretDB, ~1.5 s per save, during which the sink's inserts
wait. So a save *inserts* each grown tree as a new version (``_id`` = :func:`position_key` of
its size: one ``insert_many``), then deletes the versions it replaced (one ``delete_many`` by
``_id $in``): 0.3 s for a thousand, measured side by side. A crash between the two leaves an
older version beside the newer; a tree is the company's largest size, so it is harmless, and
the next save of that company deletes it. Sizes only grow and a tree of a given size is fixed
by its leaves, so a version written twice is the same tree.

**Why a ``position`` string next to ``(company_id, index)``.** The unique index is the
guarantee; ``position`` — ``"<company_id>:<index, 15 digits>"``, so text order is index order
within a company — is what reads use: one field, a plain non-unique index, which the local
FerretDB's exact pushdown serves (it serves no unique index, and an index on the pair would
leave its per-field type guard scanning). MongoDB serves both either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import ASCENDING, IndexModel
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


IDS_PER_QUERY = 1000  # _id $in values per statement


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
        # Every tree version read or written, per company: what the next save replaces.
        self.tree_versions: dict[int, set[Any]] = {}

    def ensure_indexes(self) -> None:
        try:
            ensure_seal_indexes(self.database)
        except PyMongoError as exc:
            raise _unavailable(exc) from exc

    # --- trees and the journal ---------------------------------------------------------------
    def trees(self) -> dict[int, TreeRecord]:
        latest: dict[int, Document] = {}
        self.tree_versions = {}
        try:
            for doc in self.tree_records.find({}):
                company = int(doc["company_id"])
                self.tree_versions.setdefault(company, set()).add(doc["_id"])
                if company not in latest or doc["size"] > latest[company]["size"]:
                    latest[company] = doc
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return {
            company: TreeRecord(
                {"size": doc["size"], "hashes": doc["hashes"]},
                SignedCheckpoint.from_dict(doc["checkpoint"]) if doc.get("checkpoint") else None,
            )
            for company, doc in latest.items()
        }

    def save_trees(
        self, trees: Mapping[int, CompactRangeState], latest: Mapping[int, SignedCheckpoint]
    ) -> None:
        versions: dict[int, Document] = {
            company_id: {
                "_id": position_key(company_id, state["size"]),
                "company_id": company_id,
                "size": state["size"],
                "hashes": state["hashes"],
                **({"checkpoint": latest[company_id].to_dict()} if company_id in latest else {}),
            }
            for company_id, state in trees.items()
        }
        try:
            self.tree_records.insert_many(list(versions.values()), ordered=False)
        except BulkWriteError as exc:
            # A version written before a crash: the same size, so the same tree.
            if any(error.get("code") != DUPLICATE_KEY for error in exc.details.get("writeErrors", [])):
                raise _unavailable(exc) from exc
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        replaced = [  # any _id type: a tree saved before versions is its company id
            old
            for company_id, version in versions.items()
            for old in self.tree_versions.get(company_id, set()) - {version["_id"]}
        ]
        try:
            for start in range(0, len(replaced), IDS_PER_QUERY):
                self.tree_records.delete_many({"_id": {"$in": replaced[start : start + IDS_PER_QUERY]}})
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        for company_id, version in versions.items():
            self.tree_versions[company_id] = {version["_id"]}

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
    def checkpoints_following(self, previous: Mapping[int, str | None]) -> dict[int, SignedCheckpoint]:
        ids = [checkpoint_id(company, digest) for company, digest in previous.items()]
        found: dict[int, SignedCheckpoint] = {}
        try:
            for start in range(0, len(ids), IDS_PER_QUERY):
                for doc in self.checkpoints.find({"_id": {"$in": ids[start : start + IDS_PER_QUERY]}}):
                    signed = signed_checkpoint(doc)
                    found[signed.checkpoint.company_id] = signed
        except PyMongoError as exc:
            raise _unavailable(exc) from exc
        return found

    def checkpoint_following(self, company_id: int, previous: str | None) -> SignedCheckpoint | None:
        return self.checkpoints_following({company_id: previous}).get(company_id)

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
