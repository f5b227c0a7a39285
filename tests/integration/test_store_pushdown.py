"""The stack's FerretDB pushdown patch answers exactly what FerretDB and MongoDB answer.

* Differential: random documents (missing and null fields, ties, int/long/double mixes,
  strings that only bytewise order sorts right, arrays and odd types that must make the patch
  fall back) and random filter × sort × skip × limit × count, run on the stack's patched
  FerretDB and on the released, unpatched FerretDB (same PostgreSQL, database ``postgres``),
  and checked against a brute-force model of MongoDB's semantics: 0 differences.
* Writes: random update, delete and findAndModify statements — by filter, by ``_id``, by
  ``_id $in`` — which the patch answers from an index too, change exactly what the model and
  released FerretDB change.
* Explain: every request type of the API is served from an index, not a scan.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import bson
import pytest
from bson.int64 import Int64
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.errors import AutoReconnect, BulkWriteError

from authtrail.settings import Settings
from authtrail.store import ensure_indexes
from authtrail.waiting import wait_for
from scripts.stack.artifacts import reference_ferretdb
from scripts.stack.control import LocalStack
from scripts.stack.servers import POSTGRES_USER, STORE_DATABASE

pytestmark = pytest.mark.stack

READY_TIMEOUT_S = 30.0
T0 = dt.datetime(2026, 5, 1, 12, 0, 0)
FIELDS = ("company_id", "user_id", "event_type", "event_resource_type")
NEWEST_FIRST = [("timestamp", -1), ("_id", -1)]
EXAMPLES = 100  # per kind of data, each with 12 random queries: 3,600 cases, each checked 6 ways


# --- servers ---------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ping(client: MongoClient, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            client.admin.command("ping")
            return
        except Exception:
            if process.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture(scope="module")
def patched(stack: LocalStack, settings: Settings) -> Iterator[MongoClient]:
    client: MongoClient = MongoClient(settings.mongo_uri.get_secret_value(), serverSelectionTimeoutMS=5000)
    yield client
    client.close()


@contextlib.contextmanager
def _ferretdb(
    binary: Path, settings: Settings, name: str, pg_database: str, env: dict[str, str] | None = None
) -> Iterator[MongoClient]:
    """A FerretDB process of the test's own on the stack's PostgreSQL. Two FerretDB processes
    must not share a PostgreSQL database's schemas (each caches their metadata): each
    process's test databases live in a PostgreSQL database no other one uses them in."""
    port = _free_port()
    state = settings.stack_dir / name
    state.mkdir(parents=True, exist_ok=True)
    log = (state / "ferretdb.log").open("wb")
    process = subprocess.Popen(
        [
            str(binary),
            "--handler=postgresql",
            f"--postgresql-url=postgres://{POSTGRES_USER}@127.0.0.1:{settings.postgres_port}/{pg_database}",
            f"--state-dir={state}",
            f"--listen-addr=127.0.0.1:{port}",
            "--debug-addr=-",
            "--telemetry=disable",
            "--log-level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    client: MongoClient = MongoClient(port=port, serverSelectionTimeoutMS=1000)
    try:
        _wait_ping(client, process)
        yield client
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=READY_TIMEOUT_S)
        log.close()


@pytest.fixture(scope="module")
def reference(stack: LocalStack, settings: Settings) -> Iterator[MongoClient | None]:
    """Released FerretDB on the stack's PostgreSQL (its own database), or None against an
    external stack, where the model alone is the reference."""
    if settings.stack == "external":
        yield None
        return
    binary = reference_ferretdb(settings.cache_dir)
    with _ferretdb(binary, settings, "reference-ferretdb", "postgres") as client:
        yield client


def test_versions_say_patched(patched: MongoClient, reference: MongoClient | None) -> None:
    assert "-authtrail." in patched.admin.command("buildInfo")["ferretdbVersion"]
    if reference is not None:
        assert "-authtrail." not in reference.admin.command("buildInfo")["ferretdbVersion"]


NAN_MESSAGES: list[tuple[str, Callable[[Collection[Any]], Any]]] = [
    ("insert", lambda c: c.insert_one({"_id": "n1", "x": float("nan")})),
    # the whole message is refused: n2 is not stored either (MongoDB would store it)
    ("insert, nested", lambda c: c.insert_many([{"_id": "n2"}, {"_id": "n3", "a": [{"b": float("nan")}]}])),
    ("filter", lambda c: list(c.find({"x": float("nan")}))),
    ("update", lambda c: c.update_one({"_id": "ok"}, {"$set": {"x": float("nan")}})),
]


def test_a_nan_sent_is_refused_as_released_ferretdb_refuses_it(
    patched: MongoClient, reference: MongoClient | None, unique: str
) -> None:
    """PostgreSQL's JSON has no NaN: FerretDB refuses one in anything a client sends (it closes
    the connection). The patch checks what clients send itself, no longer every reply
    (handler/wire.go, clientconn/nan.go): the same refusals, nothing stored."""
    for client in (patched, reference) if reference is not None else (patched,):
        collection = client[f"nan_{unique}"]["c"]
        collection.insert_one({"_id": "ok", "x": 1.5})
        for what, send in NAN_MESSAGES:
            with pytest.raises(AutoReconnect):
                send(collection)
            assert list(collection.find({}, sort=[("_id", 1)])) == [{"_id": "ok", "x": 1.5}], what
        client.drop_database(f"nan_{unique}")


# --- the model: MongoDB's comparison and matching rules for the values generated here ------
def _rank(value: Any) -> int:
    if value is None:
        return 1
    if isinstance(value, bool):
        return 8
    if isinstance(value, int | float):
        return 2
    if isinstance(value, str):
        return 3
    if isinstance(value, dict):
        return 4
    if isinstance(value, list):
        return 5
    if isinstance(value, dt.datetime):
        return 9
    raise AssertionError(f"unexpected value {value!r}")


def _compare(a: Any, b: Any) -> int:
    ra, rb = _rank(a), _rank(b)
    if ra != rb:
        return -1 if ra < rb else 1
    if ra in (1,):
        return 0
    assert ra not in (4, 5), "objects and arrays are not compared here"
    return -1 if a < b else 1 if a > b else 0  # str: code points = UTF-8 bytes, as MongoDB


_MISSING = object()


def _sort_element(value: Any, ascending: bool) -> tuple[int, Any]:
    """(0, None) sorts below everything: an empty array; else the element MongoDB compares."""
    if value is _MISSING:
        value = None
    if isinstance(value, list):
        if not value:
            return (0, None)
        key = functools.cmp_to_key(_compare)
        value = min(value, key=key) if ascending else max(value, key=key)
    return (1, value)


def _compare_docs(sort: list[tuple[str, int]]) -> Callable[[dict[str, Any], dict[str, Any]], int]:
    def compare(a: dict[str, Any], b: dict[str, Any]) -> int:
        for field, direction in sort:
            ea, eb = (_sort_element(d.get(field, _MISSING), direction == 1) for d in (a, b))
            result = (ea[0] > eb[0]) - (ea[0] < eb[0]) or (_compare(ea[1], eb[1]) if ea[0] else 0)
            if result:
                return result * direction
        return 0

    return compare


def _matches_op(value: Any, op: str, bound: Any) -> bool:
    if op == "$in":
        return any(_matches_op(value, "$eq", one) for one in bound)
    if isinstance(value, list):
        return any(_matches_op(element, op, bound) for element in value)
    if _rank(value) != _rank(bound):
        return False
    c = _compare(value, bound)
    return {"$eq": c == 0, "$gt": c > 0, "$gte": c >= 0, "$lt": c < 0, "$lte": c <= 0}[op]


def _matches(doc: dict[str, Any], query: dict[str, Any]) -> bool:
    for field, condition in query.items():
        if field not in doc:
            return False
        ops = condition if isinstance(condition, dict) else {"$eq": condition}
        if not all(_matches_op(doc[field], op, bound) for op, bound in ops.items()):
            return False
    return True


# --- random data -------------------------------------------------------------------------------
_numbers = st.sampled_from([0, 1, 2, 3, -1, 2**40])
_number = st.one_of(
    _numbers.map(Int64),  # what the pipeline stores
    _numbers.filter(lambda n: abs(n) < 2**31),  # int32
    st.sampled_from([1.0, 2.0, 2.5, -0.5, 3.0]),
)
# doubles past 2^53, which jsonb cannot compare exactly with integers: the patch falls back
_big_double = st.sampled_from([1e16, -(2.0**60), 2.0**60 + 2**9])
_string = st.sampled_from(["a", "B", "b", "é", "ä", "A", "", "aa", "Z", "login", "Login", "z\u20ac"])
_date = st.builds(
    lambda s, ms: T0 + dt.timedelta(seconds=s, milliseconds=ms),
    st.integers(0, 4),
    st.sampled_from([0, 0, 0, 1, 999]),
)


def _documents(kind: str) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Random collections of one ``kind``:

    * ``pipeline``: every indexed field holds exactly its stored type, as the pipeline
      guarantees;
    * ``mixed``: also missing and null fields, int32/long/double mixes, other scalar types
      (numbers in a date field, dates in a number field, booleans…), int and string ``_id``s
      — every value still one the patch pushes down, so it must never fall back;
    * ``odd``: also arrays (an equality matches any element), doubles past 2^53 — the
      patch must fall back to FerretDB's own path for queries on such fields.
    """

    def field(
        name: str, odd_fields: set[str], scalar: st.SearchStrategy[Any], other: st.SearchStrategy[Any]
    ) -> st.SearchStrategy[Any]:
        if kind == "pipeline":
            return scalar
        odd = [st.lists(scalar, max_size=3), _big_double] if kind == "odd" and name in odd_fields else []
        return st.one_of(scalar, scalar, scalar, st.just(_MISSING), st.none(), other, *odd)

    def document(odd_fields: set[str]) -> st.SearchStrategy[dict[str, Any]]:
        number = _numbers.map(Int64) if kind == "pipeline" else _number
        return st.fixed_dictionaries(
            {
                "company_id": field("company_id", odd_fields, _numbers.map(Int64), _string),
                "user_id": field("user_id", odd_fields, number, _date),
                "event_type": field("event_type", odd_fields, _string, _number),
                "event_resource_type": field("event_resource_type", odd_fields, _string, st.booleans()),
                "timestamp": field("timestamp", odd_fields, _date, st.one_of(_number, _string)),
            }
        )

    text_ids = st.text(alphabet="aBbé0_-Zä", min_size=1, max_size=6)
    ids = text_ids if kind == "pipeline" else st.one_of(text_ids, st.integers(-3, 3))
    # odd values in one or two fields of a collection, so that queries on the others stay exact
    odd_fields = st.sets(st.sampled_from([*FIELDS, "timestamp"]), min_size=1, max_size=2)

    def collection(fields: set[str]) -> st.SearchStrategy[list[tuple[Any, dict[str, Any]]]]:
        # sizes from a fixed menu: Hypothesis alone favours very short lists
        return st.sampled_from([40, 25, 12, 5, 2, 1, 0]).flatmap(
            lambda n: st.lists(
                st.tuples(ids, document(fields)), min_size=n, max_size=n, unique_by=lambda pair: pair[0]
            )
        )

    return odd_fields.flatmap(collection).map(
        lambda pairs: [{"_id": i, **{k: v for k, v in d.items() if v is not _MISSING}} for i, d in pairs]
    )


_SORTS: list[list[tuple[str, int]] | None] = [
    NEWEST_FIRST,
    NEWEST_FIRST,
    [("timestamp", 1), ("_id", 1)],
    [("_id", 1)],
    [("company_id", 1), ("timestamp", -1), ("_id", -1)],
    [("event_type", 1), ("_id", -1)],
    [("timestamp", -1)],
    None,
]


@st.composite
def _queries(draw: st.DrawFn) -> dict[str, Any]:
    query: dict[str, Any] = {}
    for field, value in (
        ("company_id", _numbers.map(Int64)),
        ("user_id", _number),
        ("event_type", _string),
        ("event_resource_type", _string),
    ):
        if draw(st.integers(0, 3)) == 0:
            query[field] = draw(value)
    window = draw(st.sampled_from(["none", "none", "both", "from", "exclusive"]))
    low, high = sorted([draw(_date), draw(_date)])
    if window == "both":
        query["timestamp"] = {"$gte": low, "$lte": high}
    elif window == "from":
        query["timestamp"] = {"$gte": low}
    elif window == "exclusive":
        query["timestamp"] = {"$gt": low, "$lt": high}
    if draw(st.integers(0, 5)) == 0:
        query["company_id"] = {"$gte": draw(_numbers), "$lt": draw(_numbers)}
    return query


# --- the differential test -----------------------------------------------------------------
def _fresh(client: MongoClient, database: str, documents: list[dict[str, Any]]) -> Collection:
    collection: Collection = client[database]["e"]
    collection.drop()
    ensure_indexes(collection)
    if documents:
        collection.insert_many(documents)
    return collection


def _check_find(
    got: list[dict[str, Any]],
    matching: list[dict[str, Any]],
    sort: list[tuple[str, int]] | None,
    skip: int,
    limit: int,
    where: str,
) -> None:
    expected_len = max(0, len(matching) - skip)
    expected_len = min(expected_len, limit) if limit else expected_len
    assert len(got) == expected_len, where
    ids = [json.dumps(d["_id"]) for d in got]
    assert len(set(ids)) == len(ids), where
    by_id = {json.dumps(d["_id"]): d for d in matching}
    assert all(by_id.get(json.dumps(d["_id"])) == d for d in got), where
    if sort is None:
        return
    compare = _compare_docs(sort)
    ordered = sorted(matching, key=functools.cmp_to_key(compare))
    window = ordered[skip : skip + limit] if limit else ordered[skip:]
    # equal sort keys may come in any order (and, at a page's edge, either may be in it)
    assert all(compare(a, b) == 0 for a, b in zip(got, window, strict=True)), where
    if sort[-1][0] == "_id":
        assert got == window, where


class Tally:
    exact = 0
    fallback = 0
    documents = 0

    def plan(self, plan: dict[str, Any]) -> None:
        if plan["exactPushdown"]:
            self.exact += 1
        else:
            self.fallback += 1


def _examples(count: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Hypothesis settings of the differential tests: reproducible, slow examples welcome."""
    return settings(
        max_examples=count,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


def _run_then_drop(run: Callable[[], None], database: str, *clients: MongoClient | None) -> None:
    try:
        run()
    finally:
        for client in clients:
            if client is not None:
                client.drop_database(database)


@pytest.mark.parametrize("kind", ["pipeline", "mixed", "odd"])
def test_differential(patched: MongoClient, reference: MongoClient | None, unique: str, kind: str) -> None:
    database = f"pushdown_{unique}"
    tally = Tally()

    @_examples(EXAMPLES)
    @given(documents=_documents(kind), data=st.data())
    def run(documents: list[dict[str, Any]], data: st.DataObject) -> None:
        tally.documents += len(documents)
        collections = [_fresh(patched, database, documents)]
        if reference is not None:
            collections.append(_fresh(reference, database, documents))
        for _ in range(12):
            query = data.draw(_queries())
            sort = data.draw(st.sampled_from(_SORTS))
            skip = data.draw(st.integers(0, len(documents) + 2))
            limit = data.draw(st.sampled_from([0, 1, 3, 10, 1000]))
            matching = [d for d in documents if _matches(d, query)]
            where = f"query={query!r} sort={sort} skip={skip} limit={limit}"
            for collection in collections:
                got = collection.find(query, sort=sort, skip=skip, limit=limit).to_list()
                _check_find(got, matching, sort, skip, limit, where)
                assert collection.count_documents(query) == len(matching), where
                count = collection.database.command("count", "e", query=query, skip=skip, limit=limit)
                assert count["n"] == min(max(0, len(matching) - skip), limit or len(matching)), where
            plan = collections[0].database.command(
                "explain",
                {
                    "find": "e",
                    "filter": query,
                    "sort": dict(sort or []),
                    "skip": Int64(skip),
                    "limit": Int64(limit),
                },
            )
            tally.plan(plan)

    _run_then_drop(run, database, patched, reference)
    print(f"{tally.documents} documents, {tally.exact} exact queries, {tally.fallback} fallbacks")
    # the comparisons above must have exercised the patch, and, with odd values, its fallback
    assert tally.exact > 0
    if kind == "odd":
        assert tally.fallback > 0
    else:
        assert tally.fallback == 0


# --- writes: update, delete and findAndModify find their documents exactly --------------------
@st.composite
def _writes(draw: st.DrawFn, ids: list[Any]) -> tuple[str, dict[str, Any]]:
    """One write statement: its kind and filter."""
    by_id = draw(st.sampled_from([*ids, "absent", 99])) if ids else "absent"
    some_ids = draw(st.lists(st.sampled_from([*ids, "absent"]), max_size=5)) if ids else ["absent"]
    kind = draw(
        st.sampled_from(
            ["update_many", "delete_many", "update_one", "delete_one", "find_one_and_update", "insert"]
        )
    )
    if kind == "insert":  # new ids and, unordered, some taken ones: a partly refused batch
        return kind, {
            "_id": {"$in": draw(st.lists(st.sampled_from([*ids, "n1", "n2", "n3", 7]), max_size=4))}
        }
    query = draw(
        st.sampled_from([draw(_queries()), draw(_queries()), {"_id": by_id}, {"_id": {"$in": some_ids}}])
    )
    return kind, query


def _contents(collection: Collection) -> list[dict[str, Any]]:
    return sorted(collection.find({}).to_list(), key=lambda d: json.dumps(d["_id"]))


def _apply(
    model: list[dict[str, Any]],
    collection: Collection,
    kind: str,
    query: dict[str, Any],
    mark: int,
    where: str,
) -> None:
    """Run the statement on the collection, and on the model: the single-document kinds may
    change any one matching document, so the model follows the one the server changed."""
    matching = [d for d in model if _matches(d, query)]
    if kind == "insert":
        taken = {json.dumps(d["_id"]) for d in model}
        fresh = list({json.dumps(i): i for i in query["_id"]["$in"] if json.dumps(i) not in taken}.values())
        documents = [{"_id": i, "w": mark} for i in query["_id"]["$in"]]
        inserted = len(documents)
        try:
            if documents:
                collection.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            inserted = exc.details["nInserted"]
        assert inserted == len(fresh), where
        model.extend({"_id": i, "w": mark} for i in fresh)
        assert collection.count_documents({}) == len(model), where
        return
    if kind == "update_many":
        result = collection.update_many(query, {"$set": {"w": mark}})
        assert result.matched_count == len(matching), where
        chosen = matching
    elif kind == "delete_many":
        assert collection.delete_many(query).deleted_count == len(matching), where
        chosen = matching
    elif kind == "delete_one":
        before = {json.dumps(d["_id"]) for d in _contents(collection)}
        assert collection.delete_one(query).deleted_count == min(1, len(matching)), where
        gone = before - {json.dumps(d["_id"]) for d in _contents(collection)}
        chosen = [d for d in matching if json.dumps(d["_id"]) in gone]
    else:
        if kind == "update_one":
            assert collection.update_one(query, {"$set": {"w": mark}}).matched_count == min(
                1, len(matching)
            ), where
        else:
            found = collection.find_one_and_update(query, {"$set": {"w": mark}})
            assert (found is None) == (not matching), where
        chosen = [d for d in matching if collection.count_documents({"_id": d["_id"], "w": mark})]
    assert len(chosen) == (len(matching) if kind.endswith("_many") else min(1, len(matching))), where
    chosen_ids = {json.dumps(d["_id"]) for d in chosen}
    for document in [d for d in model if json.dumps(d["_id"]) in chosen_ids]:
        if kind.startswith("delete"):
            model.remove(document)
        else:
            document["w"] = mark
    assert _contents(collection) == sorted(model, key=lambda d: json.dumps(d["_id"])), where
    # every document counted: the patch reads a count its triggers keep (count.go)
    assert collection.count_documents({}) == len(model), where


@pytest.mark.parametrize("kind", ["pipeline", "mixed", "odd"])
def test_writes_differential(
    patched: MongoClient, reference: MongoClient | None, unique: str, kind: str
) -> None:
    database = f"pushdown_writes_{unique}"
    tally = Tally()

    @_examples(EXAMPLES // 2)
    @given(documents=_documents(kind), data=st.data())
    def run(documents: list[dict[str, Any]], data: st.DataObject) -> None:
        tally.documents += len(documents)
        servers = [patched] if reference is None else [patched, reference]
        runs = [(_fresh(server, database, documents), [dict(d) for d in documents]) for server in servers]
        for collection, model in runs:  # the first count starts the maintained count
            assert collection.count_documents({}) == len(model)
        for mark in range(8):
            kind_of_write, query = data.draw(_writes([d["_id"] for d in runs[0][1]]))
            where = f"{kind_of_write}({query!r})"
            plan = runs[0][0].database.command("explain", {"find": "e", "filter": query})
            tally.plan(plan)
            for collection, model in runs:
                _apply(model, collection, kind_of_write, query, mark, where)

    _run_then_drop(run, database, patched, reference)
    print(f"{tally.documents} documents, {tally.exact} exact writes, {tally.fallback} fallbacks")
    assert tally.exact > 0
    if kind == "odd":
        assert tally.fallback > 0


# --- counts read from maintained histograms ---------------------------------------------------
HOUR = dt.timedelta(hours=1)
HISTOGRAM_READY_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def histograms(stack: LocalStack, settings: Settings) -> Iterator[MongoClient]:
    """The stack's patched FerretDB, as a process of the test's own that keeps an hourly
    histogram for every date-range count shape matching at least one document (the stack's
    keeps one from 20,000), so that small collections take that path. Its databases are in the
    stack store's PostgreSQL database (the reference's are in ``postgres``), under names the
    stack's FerretDB never uses."""
    env = {"FERRETDB_AUTHTRAIL_HISTOGRAM_MIN_ROWS": "1"}
    binary = stack.artifacts().ferretdb
    with _ferretdb(binary, settings, "histogram-ferretdb", STORE_DATABASE, env) as client:
        yield client


# times at, next to and between hour boundaries, over six hours
_hour_time = st.builds(
    lambda hours, offset: T0.replace(minute=0) + hours * HOUR + offset,
    st.integers(0, 5),
    st.sampled_from(
        [dt.timedelta(0), dt.timedelta(milliseconds=1), -dt.timedelta(milliseconds=1), HOUR / 2, HOUR * 0.75]
    ),
)


def _hourly_documents(kind: str) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Events over six hours; ``mixed`` adds values a date-range count must not count (missing,
    null, numbers, strings) and numbers as event types (1 and 1.0 are equal); ``odd`` adds
    arrays, which make the patch fall back."""
    timestamp: st.SearchStrategy[Any] = _hour_time
    event_type: st.SearchStrategy[Any] = st.sampled_from(["login", "create", "Login"])
    if kind != "pipeline":
        event_type = st.one_of(event_type, st.sampled_from([1, 1.0, Int64(2), True]))
    if kind == "odd":
        timestamp = st.one_of(timestamp, st.lists(_hour_time, max_size=2))
        event_type = st.one_of(event_type, st.lists(event_type, max_size=2))
    if kind != "pipeline":
        timestamp = st.one_of(timestamp, timestamp, st.just(_MISSING), st.none(), _number, _string)
        event_type = st.one_of(event_type, st.just(_MISSING))
    document = st.fixed_dictionaries({"timestamp": timestamp, "event_type": event_type})
    return st.sampled_from([300, 120, 40, 5, 0]).flatmap(
        lambda n: st.lists(document, min_size=n, max_size=n).map(
            lambda docs: [
                {"_id": i, **{k: v for k, v in d.items() if v is not _MISSING}} for i, d in enumerate(docs)
            ]
        )
    )


@st.composite
def _hourly_counts(draw: st.DrawFn) -> dict[str, Any]:
    """A date-range count (an operator's day, a tenant's hour…), maybe with one event type."""
    window: dict[str, Any] = {}
    for op in ("$gte", "$gt", "$lte", "$lt"):
        if draw(st.integers(0, 2)) == 0:
            window[op] = draw(_hour_time) - HOUR * draw(st.sampled_from([0, 0, 1]))
    query: dict[str, Any] = {"timestamp": window or {"$gte": draw(_hour_time)}}
    if draw(st.booleans()):
        query["event_type"] = draw(st.sampled_from(["login", "Login", 1, 1.0, True, "absent"]))
    return query


def _reads_histogram(collection: Collection, query: dict[str, Any]) -> bool:
    pipeline = [{"$match": query}, {"$group": {"_id": 1, "n": {"$sum": 1}}}]
    explained = collection.database.command("explain", {"aggregate": "e", "pipeline": pipeline, "cursor": {}})
    return bool(explained["histogramCount"])


@pytest.mark.parametrize("kind", ["pipeline", "mixed", "odd"])
def test_histogram_counts_differential(
    histograms: MongoClient, reference: MongoClient | None, unique: str, kind: str
) -> None:
    """Counts of a date range, alone or with an event type, read from hourly histograms kept
    by triggers — set up on a collection that already holds events, then through inserts,
    deletes and updates that move events between hours — equal the model's and released
    FerretDB's."""
    database = f"histograms_{unique}"
    read_from_histogram = 0

    @_examples(EXAMPLES // 4)
    @given(documents=_hourly_documents(kind), data=st.data())
    def run(documents: list[dict[str, Any]], data: st.DataObject) -> None:
        nonlocal read_from_histogram
        servers = [histograms] if reference is None else [histograms, reference]
        runs = [(_fresh(server, database, documents), [dict(d) for d in documents]) for server in servers]
        patched = runs[0][0]
        # the first counts of each shape set their histograms up, detached from the request
        whole = {"timestamp": {"$gte": T0 - HOUR, "$lt": T0 + 7 * HOUR}}
        for shape in (whole, {**whole, "event_type": "login"}):
            matching = sum(_matches(d, shape) for d in documents)
            assert patched.count_documents(shape) == matching
            if matching and kind != "odd":  # (with arrays, a count never reads it: it falls back)
                wait_for(
                    functools.partial(_reads_histogram, patched, shape),
                    HISTOGRAM_READY_TIMEOUT_S,
                    "histogram",
                )
        for step in range(4):
            added = [{**d, "_id": f"{step}-{d['_id']}"} for d in data.draw(_hourly_documents(kind))[:20]]
            moved, later, gone = (
                data.draw(_hourly_counts()),
                data.draw(_hour_time),
                data.draw(_hourly_counts()),
            )
            for collection, model in runs:
                if added:
                    collection.insert_many([dict(d) for d in added])
                model.extend(dict(d) for d in added)
                matched = [d for d in model if _matches(d, moved)]  # moved to another hour
                assert collection.update_many(moved, {"$set": {"timestamp": later}}).matched_count == len(
                    matched
                )
                for d in matched:
                    d["timestamp"] = later
                deleted = [d for d in model if _matches(d, gone)]
                assert collection.delete_many(gone).deleted_count == len(deleted)
                model[:] = [d for d in model if not _matches(d, gone)]
            for _ in range(6):
                query = data.draw(_hourly_counts())
                where = f"query={query!r}"
                for collection, model in runs:
                    assert collection.count_documents(query) == sum(_matches(d, query) for d in model), where
                read_from_histogram += _reads_histogram(patched, query)

    _run_then_drop(run, database, histograms, reference)
    print(f"{read_from_histogram} counts read from histograms")
    if kind != "odd":
        assert read_from_histogram > 0


# --- explain: each API request type is served from an index -----------------------------------
def _plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


SCANS = {"Index Scan", "Index Only Scan", "Bitmap Index Scan", "Bitmap Heap Scan", "Seq Scan"}


# (filter, skip, limit, whether the count is selective enough to be read from an index)
Request = tuple[dict[str, Any], int, int, bool]


def _api_requests(sample: dict[str, Any], now: dt.datetime) -> dict[str, Request]:
    day = {"$gte": now - dt.timedelta(days=1), "$lte": now}
    company = {"company_id": sample["company_id"]}
    return {
        "no filter, page 1": ({}, 0, 10, False),
        "company_id": (company, 0, 10, True),
        "user_id": ({"user_id": sample["user_id"]}, 0, 10, True),
        "event_type": ({"event_type": sample["event_type"]}, 0, 10, False),
        "event_resource_type": ({"event_resource_type": sample["event_resource_type"]}, 0, 10, False),
        "company + event_type": ({**company, "event_type": sample["event_type"]}, 0, 10, True),
        "company + event_resource_type": (
            {**company, "event_resource_type": sample["event_resource_type"]},
            0,
            10,
            True,
        ),
        "time range only": ({"timestamp": day}, 0, 10, True),
        "company + time range": ({**company, "timestamp": day}, 0, 10, True),
        "per_page 1000": ({}, 0, 1000, False),
        "deep skip": ({}, 990, 10, False),
    }


def test_api_queries_use_indexes(patched: MongoClient, settings: Settings, unique: str) -> None:
    """Pages: an index scan in the API's order (no Sort node, no Seq Scan). Counts: ``count(*)``
    in PostgreSQL; from an index where the filter is selective (a count of a third of the
    collection may rightly be a sequential scan: PostgreSQL cannot count from an expression
    index alone)."""
    from bson.codec_options import CodecOptions

    from connect.transformer.stored_documents import stored_documents

    database = patched[f"explain_{unique}"]
    collection = database[settings.mongo_collection]
    try:
        ensure_indexes(collection)
        aware = CodecOptions(tz_aware=True)
        documents = [
            bson.decode(value, codec_options=aware)
            for value in stored_documents(settings, 20_000, seed=3, spread_s=30 * 86_400, users=500)
        ]
        for start in range(0, len(documents), 1000):
            collection.insert_many(documents[start : start + 1000])
        database.command("compact", settings.mongo_collection)  # VACUUM ANALYZE: real statistics
        now = max(d["timestamp"] for d in documents)
        for name, (query, skip, limit, selective) in _api_requests(documents[0], now).items():
            find = {"find": settings.mongo_collection, "filter": query, "sort": dict(NEWEST_FIRST)}
            page = {**find, "skip": Int64(skip), "limit": Int64(limit)}  # as FerretDB's explain wants
            count = {
                "aggregate": settings.mongo_collection,
                "pipeline": [{"$match": query}, {"$group": {"_id": 1, "n": {"$sum": 1}}}],
                "cursor": {},
            }
            for kind, command in (("page", page), ("count", count)):
                explained = database.command("explain", command)
                assert explained["exactPushdown"], f"{name} {kind}"
                nodes = list(_plan_nodes(explained["queryPlanner"]["Plan"]))
                scans = [n["Node Type"] for n in nodes if n["Node Type"] in SCANS]
                assert scans, f"{name} {kind}"
                if kind == "count":
                    assert any(n["Node Type"] == "Aggregate" for n in nodes), f"{name}: {nodes}"
                    if not selective:
                        continue
                assert "Seq Scan" not in scans, f"{name} {kind}: {scans}"
                if kind == "page":
                    # the index gives the order: nothing is sorted
                    assert all(n["Node Type"] != "Sort" for n in nodes), f"{name}: {nodes}"
    finally:
        patched.drop_database(database.name)
