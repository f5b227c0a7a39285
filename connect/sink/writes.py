"""Writing sink records the way the MongoDB sink connector does, and judging what it refused.

Insert-only (first write wins), ``_id`` from the document, unordered — the connector's own
write model (``connect/sink/mongo-sink.json``). Used where sink-watch must write instead of the
connector: records a stalled connector cannot get past (``connect/sink/quarantine.py``).

A store can refuse one document in two ways: a per-document write error inside a bulk write
(the connector dead-letters those itself), or by failing the *whole* command (FerretDB on
PostgreSQL does for a string containing U+0000). The latter is found by bisecting the batch
down to the one record; before calling a record refused, a control write must succeed and the
record must fail once more after it — so a store that is failing (its PostgreSQL down, say),
or came back a moment ago, is never mistaken for a refusal, and a good record is never
dead-lettered for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import bson
from bson.raw_bson import RawBSONDocument
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, ConnectionFailure, ExecutionTimeout, OperationFailure, PyMongoError

from authtrail.errors import DependencyUnavailableError
from authtrail.kafka.records import RawMessage

DUPLICATE_KEY = 11000


@dataclass(frozen=True)
class Refusal:
    record: RawMessage
    message: str  # the store's own words
    code: int | None


@dataclass
class WriteReport:
    stored: int = 0
    duplicates: list[RawMessage] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    def failed(self, record: RawMessage, code: int | None, message: str) -> None:
        """A record the store did not write: a duplicate of a stored ``_id``, or refused."""
        if code == DUPLICATE_KEY:
            self.duplicates.append(record)
        else:
            self.refused.append(Refusal(record, message, code))


class SinkWriter:
    def __init__(self, collection: Collection[Any], control: Collection[Any]) -> None:
        self.collection = collection
        self.control = control  # a scratch collection of the same database, for control writes

    def write(self, records: Sequence[RawMessage]) -> WriteReport:
        """Insert every record; :class:`DependencyUnavailableError` if the store is failing."""
        report = WriteReport()
        documents: list[tuple[RawMessage, RawBSONDocument]] = []
        for record in records:
            document, problem = _document(record.value)
            if document is None:
                report.refused.append(Refusal(record, problem, None))
            else:
                documents.append((record, document))
        try:
            self._insert(documents, report)
        except (ConnectionFailure, ExecutionTimeout) as exc:
            raise DependencyUnavailableError("store", f"{type(exc).__name__}: {exc}") from exc
        return report

    def _insert(self, documents: list[tuple[RawMessage, RawBSONDocument]], report: WriteReport) -> None:
        if not documents:
            return
        try:
            self.collection.insert_many([d for _, d in documents], ordered=False)
            report.stored += len(documents)
        except BulkWriteError as exc:
            failed: set[int] = set()
            for error in exc.details.get("writeErrors", []):
                failed.add(error["index"])
                report.failed(documents[error["index"]][0], error.get("code"), str(error.get("errmsg", "")))
            rest = [d for i, d in enumerate(documents) if i not in failed]
            if exc.details.get("nInserted", 0) == len(rest):
                report.stored += len(rest)
            else:  # a store that stopped at the first error: the rest was never tried
                self._insert(rest, report)
        except OperationFailure:  # the whole command refused (not an outage: see module doc)
            if len(documents) > 1:
                middle = len(documents) // 2
                self._insert(documents[:middle], report)
                self._insert(documents[middle:], report)
                return
            self.confirm_healthy()
            self._insert_again(documents[0], report)

    def _insert_again(self, document: tuple[RawMessage, RawBSONDocument], report: WriteReport) -> None:
        """The last try of one document whose command failed, now that a control write passed: a
        store that came back between the failure and the control stores it; a refusal repeats."""
        record, value = document
        try:
            self.collection.insert_one(value)
            report.stored += 1
        except OperationFailure as exc:
            report.failed(record, exc.code, _message(exc))

    def confirm_healthy(self) -> None:
        """A control write and delete: raise :class:`DependencyUnavailableError` if it fails."""
        probe = {"_id": f"probe-{uuid.uuid4().hex}"}
        try:
            self.control.insert_one(probe)
            self.control.delete_one(probe)
        except PyMongoError as exc:
            raise DependencyUnavailableError("store", f"a control write failed: {_message(exc)}") from exc

    def stored_fingerprints(self, ids: list[Any]) -> dict[Any, str | None]:
        """``content_sha256`` of the stored documents with these ids."""
        if not ids:
            return {}
        try:
            found = self.collection.find({"_id": {"$in": ids}}, {"content_sha256": 1})
            return {doc["_id"]: doc.get("content_sha256") for doc in found}
        except PyMongoError as exc:
            raise DependencyUnavailableError("store", f"{type(exc).__name__}: {exc}") from exc


def _document(value: bytes | None) -> tuple[RawBSONDocument | None, str]:
    """The record's value as a document the connector would write, or why it is not one."""
    if not value:
        return None, "the record has no value (the sink writes no tombstones)"
    try:
        decoded = bson.decode(value)
    except (bson.errors.InvalidBSON, ValueError) as exc:
        return None, f"the value is not a BSON document: {exc}"
    if "_id" not in decoded:
        return None, "the document has no _id (the sink takes _id from the value)"
    return RawBSONDocument(value), ""


def _message(exc: PyMongoError) -> str:
    details = getattr(exc, "details", None)
    if isinstance(details, dict) and details.get("errmsg"):
        return str(details["errmsg"])[:1000]
    return str(exc)[:1000]
