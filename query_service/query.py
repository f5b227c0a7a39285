"""The one place a validated :class:`AuditQuery` becomes MongoDB filters and sorts.

Only validated, typed values reach it (ints, pattern-checked names and ids, dates), so no
operator can be injected. Both orders are total (ties broken by ``_id``), so pages never overlap
or skip while data is static, and every query index ends with the keys of one of them.

Every filter built here is one the local store answers from an index: equalities and one range
per field (the FerretDB pushdown patch declines ``$in``, ``$or`` and ``$and``, and would then scan
the collection). So a list of event types is one filter per value (:func:`disjuncts`), and a
keyset page after ``(t, id)`` is one range from ``t`` on whose first few events (``t``'s own, up
to ``id``) are dropped (:func:`from_position`), or, exactly, two filters (:func:`keyset_filters`);
the store runs each with the order's sort and merges the answers, disjoint by construction.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from authtrail.store import INGESTED_FIRST, NEWEST_FIRST
from query_service.params import AuditQuery

__all__ = ["INGESTED", "NEWEST", "NEWEST_FIRST", "Position", "SortOrder", "disjuncts"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Position:
    """A place in an order: the order's time (event time or ingestion time) and the event id;
    with, when the walk that reached it knows, how many of the events it returned have that
    time (this one included) — how far a keyset page from here must step over ties."""

    at: datetime
    id: str
    ties: int | None = None


@dataclass(frozen=True)
class SortOrder:
    name: str
    field: str  # the time field the order is by; ``_id`` breaks ties
    descending: bool
    sort: list[tuple[str, int]]

    def position(self, document: dict[str, Any]) -> Position:
        return Position(_utc(document[self.field]), str(document["_id"]))

    def next_position(self, page: list[dict[str, Any]], after: Position | None) -> Position:
        """Where a walk stands after ``page`` (non-empty), read from ``after``: its last event,
        and how many returned events share that event's time — counting back into earlier pages
        when the whole page has ``after``'s time."""
        last = self.position(page[-1])
        same = sum(1 for _ in itertools.takewhile(lambda d: _utc(d[self.field]) == last.at, reversed(page)))
        if same < len(page) or after is None or after.at != last.at:
            return dataclasses.replace(last, ties=same)
        return dataclasses.replace(last, ties=None if after.ties is None else after.ties + same)

    def beyond(self, document: dict[str, Any], after: Position) -> bool:
        """Whether ``document`` comes strictly after ``after`` in this order."""
        key, mark = (_utc(document[self.field]), str(document["_id"])), (after.at, after.id)
        return key < mark if self.descending else key > mark

    def merge(self, answers: Iterable[list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
        """Answers each already in this order, as one stream in this order."""
        return heapq.merge(
            *answers, key=lambda d: (_utc(d[self.field]), str(d["_id"])), reverse=self.descending
        )


NEWEST = SortOrder("newest", "timestamp", descending=True, sort=NEWEST_FIRST)
INGESTED = SortOrder("ingested", "ingested_at", descending=False, sort=INGESTED_FIRST)
# A sync cursor that has seen nothing yet: before every event.
SYNC_START = Position(EPOCH, "")


def disjuncts(query: AuditQuery) -> list[dict[str, Any]]:
    """One equality filter per combination of the listed event types and resource types: their
    union is the query's result, and they are disjoint (each event has one of each)."""
    common: dict[str, Any] = {}
    for name in ("company_id", "user_id", "resource_id"):
        value = getattr(query, name)
        if value is not None:
            common[name] = value
    if query.timestamp_from is not None:
        # Stored times are whole seconds: an inclusive upper bound of second N is <= N.
        window = {"$gte": _at(query.timestamp_from)}
        if query.timestamp_to is not None:
            window["$lte"] = _at(query.timestamp_to)
        common["timestamp"] = window
    types: tuple[str | None, ...] = query.event_type or (None,)
    resource_types: tuple[str | None, ...] = query.event_resource_type or (None,)
    filters = []
    for event_type, resource_type in itertools.product(types, resource_types):
        conditions = dict(common)
        if event_type is not None:
            conditions["event_type"] = event_type
        if resource_type is not None:
            conditions["event_resource_type"] = resource_type
        filters.append(_in_field_order(conditions))
    return filters


def sync_filter(query: AuditQuery, settled_until: datetime) -> dict[str, Any]:
    """order=ingested: the company (if any) and only events ingested by ``settled_until``."""
    conditions: dict[str, Any] = {} if query.company_id is None else {"company_id": query.company_id}
    return {**conditions, "ingested_at": {"$lte": settled_until}}


def keyset_filters(base: dict[str, Any], order: SortOrder, after: Position | None) -> list[dict[str, Any]]:
    """Filters whose union is what ``base`` matches strictly after ``after`` in ``order``:
    the rest of ``after``'s own time (ids beyond it), then every later time.

    ``after`` comes from an event ``base`` matched (cursors are bound to their filters), so it is
    inside any range ``base`` has on the order's field, and replaces that range's bound on its side.
    """
    if after is None:
        return [base]
    beyond = "$lt" if order.descending else "$gt"
    same_time = {**base, order.field: after.at, "_id": {beyond: after.id}}
    return [same_time, _from(base, order, beyond, after)]


def from_position(base: dict[str, Any], order: SortOrder, after: Position) -> dict[str, Any]:
    """One filter: what ``base`` matches from ``after``'s own time on, ``after``'s time included.
    In ``order``, its answer starts with the events of that time up to ``after`` itself (ties
    are few: events of one second, or one millisecond of ingestion), then holds exactly what
    :func:`keyset_filters` would; :meth:`SortOrder.beyond` drops that leading part."""
    return _from(base, order, "$lte" if order.descending else "$gte", after)


def _from(base: dict[str, Any], order: SortOrder, op: str, after: Position) -> dict[str, Any]:
    window = {
        name: bound
        for name, bound in dict(base.get(order.field, {})).items()
        if name not in (("$lt", "$lte") if order.descending else ("$gt", "$gte"))
    }
    return {**base, order.field: {**window, op: after.at}}


def at_millis(moment: datetime) -> int:
    """Milliseconds since the epoch, exactly (stored dates have millisecond precision)."""
    return (_utc(moment) - EPOCH) // timedelta(milliseconds=1)


def from_millis(millis: int) -> datetime:
    return EPOCH + timedelta(milliseconds=millis)


def _in_field_order(conditions: dict[str, Any]) -> dict[str, Any]:
    # Equality fields in index order; readable in logs and explain output, same meaning.
    order = ("company_id", "user_id", "resource_id", "event_type", "event_resource_type", "timestamp")
    return {name: conditions[name] for name in order if name in conditions}


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _at(epoch_seconds: int) -> datetime:
    return datetime.fromtimestamp(epoch_seconds, UTC)
