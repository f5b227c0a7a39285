"""Writing records as the sink connector does (connect/sink/writes.py), against a store that
refuses a whole command for one bad document, as FerretDB on PostgreSQL does for U+0000: the
bad record is found by bisection and refused with the store's words; every other record is
stored; a store that is failing is never taken for a refusal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bson
import pytest
from pymongo.errors import AutoReconnect, BulkWriteError, DuplicateKeyError, OperationFailure

from authtrail.errors import DependencyUnavailableError
from authtrail.kafka.records import RawMessage
from connect.sink.writes import SinkWriter

REFUSED = "unsupported Unicode escape sequence"


class Store:
    """A collection that refuses any command holding a document marked ``poison``, fails every
    write while ``down`` (as FerretDB does when its PostgreSQL is gone), and keeps ``_id``s."""

    def __init__(self) -> None:
        self.ids: set[Any] = set()
        self.down = False
        self.before_write: Callable[[], None] = lambda: None

    def insert_many(self, documents: list[Any], ordered: bool) -> None:
        self._command(documents)

    def insert_one(self, document: Any) -> None:
        self._command([document])

    def delete_one(self, document: Any) -> None:
        self._command([])

    def _command(self, documents: list[Any]) -> None:
        self.before_write()
        if self.down:
            raise OperationFailure("PostgreSQL connection refused", code=1)
        fields = [dict(d) for d in documents]  # a RawBSONDocument (records) or a dict (the control)
        if any(f.get("poison") for f in fields):
            raise OperationFailure(REFUSED, code=1)
        taken = [i for i, f in enumerate(fields) if f["_id"] in self.ids]
        self.ids |= {f["_id"] for f in fields}
        if len(documents) == 1 and taken:
            raise DuplicateKeyError("E11000 duplicate key", code=11000)
        if taken:
            errors = [{"index": i, "code": 11000, "errmsg": "E11000 duplicate key"} for i in taken]
            raise BulkWriteError({"writeErrors": errors, "nInserted": len(fields) - len(taken)})


def record(offset: int, **fields: Any) -> RawMessage:
    value = bson.encode({"_id": f"e{offset}", **fields})
    return RawMessage("sink", 0, offset, None, None, value)


@pytest.fixture
def store() -> Store:
    return Store()


def writer(store: Store) -> SinkWriter:
    return SinkWriter(store, Store())  # type: ignore[arg-type]


def test_one_refused_record_among_many_is_found_and_the_rest_stored(store: Store) -> None:
    records = [record(i, poison=(i == 37)) for i in range(100)]
    report = writer(store).write(records)
    assert report.stored == 99
    assert [(r.record.offset, r.message) for r in report.refused] == [(37, REFUSED)]
    assert store.ids == {f"e{i}" for i in range(100) if i != 37}


def test_a_failing_store_is_unavailable_not_a_refusal(store: Store) -> None:
    sink = SinkWriter(store, store)  # type: ignore[arg-type]
    store.down = True
    with pytest.raises(DependencyUnavailableError, match="control write failed"):
        sink.write([record(i) for i in range(10)])
    assert store.ids == set()


def test_a_store_back_between_the_failure_and_the_control_write_stores_the_record(store: Store) -> None:
    # Down for the whole bisection, up again when the control write comes: the record was
    # never refused, only not written.
    control = Store()
    store.down = True
    control.before_write = lambda: setattr(store, "down", False)
    report = SinkWriter(store, control).write([record(i) for i in range(4)])  # type: ignore[arg-type]
    assert report.refused == []
    assert report.stored == 4
    assert store.ids == {"e0", "e1", "e2", "e3"}


def test_a_record_that_is_not_a_document_is_refused_without_asking_the_store(store: Store) -> None:
    empty = RawMessage("sink", 0, 5, None, None, None)
    no_id = RawMessage("sink", 0, 6, None, None, bson.encode({"x": 1}))
    report = writer(store).write([empty, no_id, record(7)])
    assert [r.record.offset for r in report.refused] == [5, 6]
    assert store.ids == {"e7"}


def test_a_duplicate_is_reported_as_one_not_refused(store: Store) -> None:
    store.ids.add("e1")
    report = writer(store).write([record(0), record(1), record(2)])
    assert [r.offset for r in report.duplicates] == [1]
    assert (report.stored, report.refused) == (2, [])


def test_a_command_written_but_whose_answer_was_lost_is_a_duplicate_on_its_last_try(store: Store) -> None:
    # The store wrote the document, then failed the command (its PostgreSQL died before the
    # answer): the retry after the control write meets its own document.
    def written_then_failed() -> None:
        store.before_write = lambda: None
        store.ids.add("e9")
        raise OperationFailure("terminating connection due to administrator command", code=1)

    store.before_write = written_then_failed
    report = writer(store).write([record(9)])
    assert [r.offset for r in report.duplicates] == [9]
    assert report.refused == []


def test_an_outage_the_driver_sees_as_a_lost_connection_is_unavailable(store: Store) -> None:
    def lost() -> None:
        raise AutoReconnect("connection closed")

    store.before_write = lost
    with pytest.raises(DependencyUnavailableError):
        writer(store).write([record(1)])
