"""Keyset pages and lists are built from pushable filters whose merged answers are exactly what
the query means: checked against a brute-force model over random events, positions and limits.
And every shape of filter the API sends has an index in its order."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from authtrail.settings import load_settings
from authtrail.store import INDEXES, INGESTED_FIRST, NEWEST_FIRST
from query_service.params import AuditQuery
from query_service.query import (
    INGESTED,
    NEWEST,
    SYNC_START,
    Position,
    SortOrder,
    disjuncts,
    keyset_filters,
    sync_filter,
)
from query_service.store import TIE_SLACK, AuditStore

T0 = datetime(2026, 5, 1, tzinfo=UTC)
OPS = {
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
}


def matches(document: dict[str, Any], conditions: dict[str, Any]) -> bool:
    for field, condition in conditions.items():
        if isinstance(condition, dict):
            assert set(condition) <= set(OPS), condition  # only operators the local store pushes down
            assert len(condition) <= 2, condition  # at most one bound per side
            if not all(OPS[op](document[field], bound) for op, bound in condition.items()):
                return False
        elif document[field] != condition:
            return False
    return True


def key(order: SortOrder, document: dict[str, Any]) -> tuple[datetime, str]:
    return (document[order.field], document["_id"])


class ModelCollection:
    """The store's find, by brute force: the filter (only pushable operators), the sort, the limit."""

    def __init__(self, documents: list[dict[str, Any]]) -> None:
        self.documents = documents
        self.filters: list[dict[str, Any]] = []
        self.limits: list[int] = []

    def find(
        self,
        conditions: dict[str, Any],
        sort: list[tuple[str, int]] | None = None,
        skip: int = 0,
        limit: int = 0,
        **_: Any,
    ) -> ModelCollection:
        self.filters.append(conditions)
        self.limits.append(limit)
        found = [d for d in self.documents if matches(d, conditions)]
        for name, direction in reversed(sort or []):
            found.sort(key=lambda d: d[name], reverse=direction == -1)
        self.answer = found[skip : skip + limit] if limit else found[skip:]
        return self

    async def to_list(self) -> list[dict[str, Any]]:
        return self.answer


def run(
    filters: list[dict[str, Any]],
    order: SortOrder,
    after: Position | None,
    limit: int,
    docs,
    tie_slack: int = TIE_SLACK,
    seen: list[dict[str, Any]] | None = None,
    limits: list[int] | None = None,
) -> list[str]:
    """What AuditStore.walk answers over ``docs`` (the queries it sent in ``seen``, ``limits``)."""

    async def walk() -> list[dict[str, Any]]:
        store = AuditStore(load_settings())
        model = ModelCollection(docs)
        store.collection = model  # type: ignore[assignment]
        store.tie_slack = tie_slack
        try:
            return await store.walk(filters, order, after, limit)
        finally:
            await store.close()
            if seen is not None:
                seen.extend(model.filters)
            if limits is not None:
                limits.extend(model.limits)

    return [d["_id"] for d in asyncio.run(walk())]


def expected(keep, order: SortOrder, after: Position | None, limit: int, docs) -> list[str]:
    ordered = sorted((d for d in docs if keep(d)), key=lambda d: key(order, d), reverse=order.descending)
    if after is not None:
        mark = (after.at, after.id)
        ordered = [d for d in ordered if (key(order, d) < mark if order.descending else key(order, d) > mark)]
    return [d["_id"] for d in ordered[:limit]]


events = st.lists(
    st.fixed_dictionaries(
        {
            "company_id": st.sampled_from([1, 2]),
            "user_id": st.sampled_from([10, 11, 12]),
            "event_type": st.sampled_from(["create", "login", "moved"]),
            "event_resource_type": st.sampled_from(["bug", "comment", "session"]),
            "resource_id": st.sampled_from(["BUG-1", "BUG-2"]),
            # few distinct seconds and milliseconds: many ties, which ids must break
            "timestamp": st.integers(0, 5).map(lambda s: T0 + timedelta(seconds=s)),
            "ingested_at": st.integers(0, 8).map(lambda ms: T0 + timedelta(milliseconds=ms)),
        }
    ),
    max_size=40,
).map(lambda ds: [{**d, "_id": f"e{i:02d}"[::-1]} for i, d in enumerate(ds)])  # ids out of time order

queries = st.builds(
    AuditQuery,
    company_id=st.sampled_from([None, 1, 2]),
    user_id=st.sampled_from([None, 10]),
    resource_id=st.sampled_from([None, "BUG-1"]),
    event_type=st.sampled_from([None, ("create",), ("create", "login"), ("moved", "login", "create")]),
    event_resource_type=st.sampled_from([None, ("bug",), ("bug", "session")]),
    timestamp_from=st.sampled_from([None, int(T0.timestamp()) + 1]),
).flatmap(
    lambda q: st.sampled_from([None, int(T0.timestamp()) + 4]).map(
        lambda to: q if q.timestamp_from is None else dataclasses.replace(q, timestamp_to=to)
    )
)


def keeps(query: AuditQuery):
    def keep(d: dict[str, Any]) -> bool:
        return all(
            [
                query.company_id in (None, d["company_id"]),
                query.user_id in (None, d["user_id"]),
                query.resource_id in (None, d["resource_id"]),
                query.event_type is None or d["event_type"] in query.event_type,
                query.event_resource_type is None or d["event_resource_type"] in query.event_resource_type,
                query.timestamp_from is None or d["timestamp"].timestamp() >= query.timestamp_from,
                query.timestamp_to is None or d["timestamp"].timestamp() <= query.timestamp_to,
            ]
        )

    return keep


SLACKS = st.sampled_from([0, 1, 3, TIE_SLACK])  # small ones make ties overflow: the exact form


@hypothesis_settings(max_examples=300, deadline=None)
@given(docs=events, query=queries, limit=st.integers(1, 12), slack=SLACKS, data=st.data())
def test_a_keyset_page_of_any_query_is_the_brute_force_page(docs, query, limit, slack, data) -> None:
    keep = keeps(query)
    matching = [d for d in docs if keep(d)]
    after = None
    if matching and data.draw(st.booleans(), label="from a position"):
        after = NEWEST.position(data.draw(st.sampled_from(matching), label="after"))
        # the ties a cursor carries size the query; right or wrong, the page is exact
        after = dataclasses.replace(after, ties=data.draw(st.none() | st.integers(0, 12), label="ties"))
    filters = disjuncts(query)
    assert run(filters, NEWEST, after, limit, docs, slack) == expected(keep, NEWEST, after, limit, docs)


@hypothesis_settings(max_examples=200, deadline=None)
@given(docs=events, limit=st.integers(1, 12), slack=SLACKS)
def test_walking_to_the_end_visits_each_match_once_in_order(docs, limit, slack) -> None:
    query = AuditQuery(event_type=("create", "login"), event_resource_type=("bug", "session"))
    keep = keeps(query)
    seen: list[str] = []
    after = None
    for _ in range(len(docs) + 2):  # bounded: a walk that does not advance must fail, not hang
        page = run(disjuncts(query), NEWEST, after, limit, docs, slack)
        seen += page
        if len(page) < limit:
            break
        after = NEWEST.next_position([next(d for d in docs if d["_id"] == i) for i in page], after)
    assert seen == expected(keep, NEWEST, None, len(docs), docs)


@hypothesis_settings(max_examples=200, deadline=None)
@given(
    docs=events,
    company=st.sampled_from([None, 1]),
    horizon_ms=st.integers(0, 9),
    limit=st.integers(1, 50),
    slack=SLACKS,
    data=st.data(),
)
def test_a_sync_page_is_everything_settled_after_the_cursor_in_ingestion_order(
    docs, company, horizon_ms, limit, slack, data
) -> None:
    settled_until = T0 + timedelta(milliseconds=horizon_ms)
    filters = [sync_filter(AuditQuery(company_id=company), settled_until)]

    def keep(d: dict[str, Any]) -> bool:
        return company in (None, d["company_id"]) and d["ingested_at"] <= settled_until

    settled = [d for d in docs if keep(d)]
    after = SYNC_START
    if settled and data.draw(st.booleans(), label="from a position"):
        after = INGESTED.position(data.draw(st.sampled_from(settled), label="after"))
    assert run(filters, INGESTED, after, limit, docs, slack) == expected(keep, INGESTED, after, limit, docs)


def test_one_query_serves_a_page_unless_ties_crowd_it_out() -> None:
    """A page after a position is one range query; when more events share the position's time
    than the slack covers, that filter is asked again in the exact two-query form."""
    ties = [{"company_id": 1, "timestamp": T0, "ingested_at": T0, "_id": f"t{i:02d}"} for i in range(20)] + [
        {"company_id": 1, "timestamp": T0 - timedelta(seconds=1), "ingested_at": T0, "_id": "older"}
    ]
    after = NEWEST.position(ties[19])  # the highest id at T0: first in the order
    expect = [f"t{i:02d}" for i in range(18, 13, -1)]
    seen: list[dict[str, Any]] = []
    assert run([{"company_id": 1}], NEWEST, after, 5, ties, tie_slack=32, seen=seen) == expect
    assert seen == [{"company_id": 1, "timestamp": {"$lte": T0}}]
    seen.clear()
    last_of_its_second = NEWEST.position(ties[0])
    assert run([{"company_id": 1}], NEWEST, last_of_its_second, 5, ties, tie_slack=2) == ["older"]
    seen.clear()
    assert run([{"company_id": 1}], NEWEST, after, 5, ties, tie_slack=0, seen=seen) == expect
    assert seen[1:] == keyset_filters({"company_id": 1}, NEWEST, after)


def test_a_cursor_that_knows_its_ties_asks_each_filter_for_that_many_more_than_the_page() -> None:
    docs = [
        {"event_type": kind, "timestamp": T0 - timedelta(seconds=s), "_id": f"{kind}{s:02d}"}
        for s in range(30)
        for kind in ("create", "login")
    ]
    filters = disjuncts(AuditQuery(event_type=("create", "login")))
    first = run(filters, NEWEST, None, 10, docs)
    after = NEWEST.next_position([d for i in first for d in docs if d["_id"] == i], None)
    assert after.ties == 2  # this second's create and login
    limits: list[int] = []
    second = run(filters, NEWEST, after, 10, docs, limits=limits)
    assert limits == [12, 12]  # not 10 + TIE_SLACK each
    assert second == expected(lambda d: True, NEWEST, after, 10, docs)


def test_a_crowded_time_goes_straight_to_the_exact_form() -> None:
    docs = [{"company_id": 1, "timestamp": T0, "_id": f"t{i:02d}"} for i in range(30)]
    after = dataclasses.replace(NEWEST.position(docs[20]), ties=TIE_SLACK + 1)
    seen: list[dict[str, Any]] = []
    assert run([{"company_id": 1}], NEWEST, after, 5, docs, seen=seen) == [
        f"t{i:02d}" for i in range(19, 14, -1)
    ]
    assert seen == keyset_filters({"company_id": 1}, NEWEST, after)  # no doomed wide query first


def test_the_next_position_counts_the_ties_back_into_earlier_pages() -> None:
    def page(*seconds: int) -> list[dict[str, Any]]:
        return [{"timestamp": T0 + timedelta(seconds=s), "_id": f"{s}-{i}"} for i, s in enumerate(seconds)]

    assert NEWEST.next_position(page(5, 4, 4), None).ties == 2
    assert NEWEST.next_position(page(4, 4, 4), None).ties == 3
    earlier = NEWEST.next_position(page(5, 4, 4), None)
    assert NEWEST.next_position(page(4, 4), earlier).ties == 4  # the whole page shares the time
    assert NEWEST.next_position(page(3, 3), earlier).ties == 2  # another time: counting restarts
    unknown = dataclasses.replace(earlier, ties=None)
    assert NEWEST.next_position(page(4, 4), unknown).ties is None  # an old cursor: still unknown
    assert NEWEST.next_position(page(4, 3), unknown).ties == 1


def test_keyset_filters_replace_the_window_bound_on_their_own_side_only() -> None:
    window = {"$gte": T0, "$lte": T0 + timedelta(days=1)}
    at = Position(T0 + timedelta(hours=1), "x")
    same, later = keyset_filters({"company_id": 1, "timestamp": window}, NEWEST, at)
    assert same == {"company_id": 1, "timestamp": at.at, "_id": {"$lt": "x"}}
    assert later == {"company_id": 1, "timestamp": {"$gte": T0, "$lt": at.at}}
    same, later = keyset_filters({"ingested_at": {"$lte": T0}}, INGESTED, Position(T0, "y"))
    assert same == {"ingested_at": T0, "_id": {"$gt": "y"}}
    assert later == {"ingested_at": {"$lte": T0, "$gt": T0}}
    assert keyset_filters({"user_id": 5}, NEWEST, None) == [{"user_id": 5}]


def test_a_list_is_one_filter_per_combination() -> None:
    query = AuditQuery(company_id=3, event_type=("a", "b"), event_resource_type=("x", "y"))
    assert disjuncts(query) == [
        {"company_id": 3, "event_type": t, "event_resource_type": r} for t in ("a", "b") for r in ("x", "y")
    ]


def test_every_filter_shape_has_an_index_in_its_order() -> None:
    """Equality fields first, then the order's keys (MongoDB's equality-sort-range rule). Company
    keys always add company_id; user_id alone is narrower than a company and serves both."""
    keys = [list(index.document["key"].items()) for index in INDEXES]
    shapes = {
        tuple(NEWEST_FIRST): [
            (),
            ("company_id",),
            ("user_id",),
            ("event_type",),
            ("event_resource_type",),
            ("resource_id",),
            ("company_id", "event_resource_type"),
            ("company_id", "event_type"),
            ("company_id", "resource_id"),
        ],
        tuple(INGESTED_FIRST): [(), ("company_id",)],
    }
    for sort, equalities in shapes.items():
        for equality in equalities:
            assert any(
                {k for k, _ in key[: len(equality)]} == set(equality) and tuple(key[len(equality) :]) == sort
                for key in keys
            ), f"no index serves {equality} + {sort}"
