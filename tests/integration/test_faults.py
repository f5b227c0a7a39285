"""Crash every component mid-stream: every produced event is stored exactly once, nothing else
is stored, nothing is dead-lettered for being merely delayed.

Each pipeline test streams 20,000 events with known ids at 3,000/s, injects its fault in the
middle, recovers, and checks with a full count; two kill the store's servers while it creates
collections and indexes, and while it sets up a count's hourly histogram. Run alone with
``authtrail specs -m fault``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any

import bson
import psycopg
import pytest
from psycopg import sql
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError, PyMongoError

from authtrail.contract import load_contract, register
from authtrail.kafka.offsets import consumer_lag
from authtrail.settings import Settings
from authtrail.waiting import wait_for, wait_until
from scripts.stack.control import LocalStack
from scripts.stack.isolated_pipeline import IsolatedPipeline
from scripts.stack.servers import LOOPBACK, POSTGRES_USER, STORE_DATABASE
from tests.support.faults import Stream, account, report, suspend

pytestmark = [pytest.mark.stack, pytest.mark.fault, pytest.mark.control]
EVENTS, RATE = 20_000, 3_000


def midway(stream: Stream) -> None:
    stream.wait_sent(EVENTS // 3)


def test_transformer_killed_after_acknowledgement_before_commit(
    pipe: IsolatedPipeline, settings: Settings
) -> None:
    # A commit interval longer than the test: at the kill, everything the transformer processed
    # has been acknowledged downstream and nothing is committed — the window where a crash
    # makes it redo its work.
    pipe.stop("transformer")
    pipe.start("transformer", transformer_commit_interval_ms=600_000)
    stream = Stream(pipe, EVENTS, RATE, seed=101).start()
    midway(stream)
    sink_group = f"connect-{pipe.settings.connector_name}"
    wait_for(
        lambda: pipe.committed(sink_group, pipe.settings.sink_topic) > 1000, 60, "events flowing downstream"
    )
    assert pipe.committed(pipe.settings.transformer_group, pipe.settings.raw_topic) == 0
    pipe.kill("transformer")  # kill -9, mid-batch
    pipe.start("transformer")
    restarted = time.monotonic()
    stream.join()
    result = account(pipe, stream.events, restarted)
    assert result.redelivered > 1000  # they did go downstream twice — and were stored once
    report("kill -9 transformer (acked, not committed)", result, settings.stack_dir)


def test_connect_worker_killed(pipe: IsolatedPipeline, stack: LocalStack, settings: Settings) -> None:
    stream = Stream(pipe, EVENTS, RATE, seed=102).start()
    midway(stream)
    stack.kill("connect")
    stack.start("connect")
    restarted = time.monotonic()
    stream.join()
    report("kill -9 Kafka Connect worker", account(pipe, stream.events, restarted), settings.stack_dir)


def test_postgres_killed(pipe: IsolatedPipeline, stack: LocalStack, settings: Settings) -> None:
    # kill -9 of every PostgreSQL process at once (an OOM kill, a container's hard stop): what
    # it had acknowledged to FerretDB — and FerretDB to the sink, which then committed its
    # offsets — must be on disk, not in its memory.
    stream = Stream(pipe, EVENTS, RATE, seed=107).start()
    midway(stream)
    sink_group = f"connect-{pipe.settings.connector_name}"
    stored_before = pipe.committed(sink_group, pipe.settings.sink_topic)
    wait_for(
        lambda: pipe.committed(sink_group, pipe.settings.sink_topic) > stored_before,
        60,
        "the sink committing offsets of stored events",
    )
    stack.kill("postgres")
    stack.start("postgres")
    restarted = time.monotonic()
    stream.join()
    report("kill -9 PostgreSQL under the store", account(pipe, stream.events, restarted), settings.stack_dir)


@pytest.mark.parametrize("server", ["postgres", "store"])
def test_a_server_killed_while_the_store_creates_collections_and_indexes(
    server: str, stack: LocalStack, settings: Settings, unique: str
) -> None:
    # A collection is created on its first insert (the sealer's, the sink's), an index on
    # request, each as several PostgreSQL statements and a metadata row. kill -9 of PostgreSQL
    # or FerretDB between two of them: released FerretDB left a table without its row, and every
    # later insert into that collection failed with "relation already exists" (for good: a
    # restarted FerretDB reads the same rows) — the sealer stalled on it in CI. Three clients
    # create collections one after another, each retrying one until it is made (as the sealer
    # does), through five kills; then every collection must refuse a duplicate _id (one made
    # without its unique _id index would not) and count what it holds (its maintained count is
    # made in the transaction that creates it).
    with MongoClient(settings.mongo_uri.get_secret_value(), serverSelectionTimeoutMS=5_000) as client:
        database = client[f"ddl_{unique}"]
        made: list[str] = []
        stop = threading.Event()

        def create_collections(prefix: str) -> None:
            for n in itertools.count():
                if stop.is_set():
                    return
                name, errors = f"{prefix}{n}", list[str]()
                if not wait_until(partial(made_with_an_index, database[name], errors), 60, interval_s=0.1):
                    raise AssertionError(f"collection {name} not made in 60 s: {errors[-1]}")
                made.append(name)

        with ThreadPoolExecutor(3) as creators:
            running = [creators.submit(create_collections, prefix) for prefix in "abc"]
            try:
                for _ in range(5):  # each kill lands wherever the creators are
                    wait_for(partial(more_made, made, len(made) + 20, running), 120, "20 more collections")
                    stack.kill(server)
                    stack.start(server)
                wait_for(partial(more_made, made, len(made) + 20, running), 120, "20 more collections")
            finally:
                stop.set()
            for creator in running:
                creator.result()  # a creator that stalled says on what
        for name in made:
            database[name].insert_one({"_id": 1})
            with pytest.raises(DuplicateKeyError):
                database[name].insert_one({"_id": 1})
            assert database[name].count_documents({}) == 2  # its count, made with it, counted both
        assert set(database.list_collection_names()) >= set(made)
        client.drop_database(database.name)


HOUR = dt.timedelta(hours=1)
T0 = dt.datetime(2026, 3, 2, 0, 0)
# each matches more than the stack store's 20,000 documents: its first count sets a histogram up
TWO_DAYS = {"$gte": T0, "$lt": T0 + 48 * HOUR}
HISTOGRAM_SHAPES: dict[str, dict[str, Any]] = {
    "a time range": {"timestamp": TWO_DAYS},
    "a time range and an event type": {"timestamp": TWO_DAYS, "event_type": "login"},
    "a time range and a company": {"timestamp": TWO_DAYS, "company_id": "c1"},
}


@pytest.mark.parametrize("server", ["postgres", "store"])
def test_a_server_killed_while_the_store_sets_up_a_histogram(
    server: str, stack: LocalStack, settings: Settings, unique: str
) -> None:
    # A date-range count that matched 20,000 documents or more sets up an hourly histogram,
    # detached from the request, in two transactions: triggers (counting from then on) and a
    # set-up row, not ready; then a snapshot's hourly counts less what the triggers counted
    # meanwhile, added, and the row made ready. kill -9 of PostgreSQL or FerretDB between the
    # two — seen in PostgreSQL, the store's own tables — while a writer inserts, moves and
    # deletes events throughout; then every count, read from a histogram once each is set up
    # again, must equal a count of the documents read back.
    with MongoClient(settings.mongo_uri.get_secret_value(), serverSelectionTimeoutMS=5_000) as client:
        collection = client[f"histogram_{unique}"]["e"]
        rng = random.Random(11)
        for first in range(0, 50_000, 5_000):
            collection.insert_many([_hourly_event(f"b{n}", rng) for n in range(first, first + 5_000)])
        store = _StoreTables(settings, collection)
        writer = _Writer(collection).start()
        for begun, (name, shape) in enumerate(HISTOGRAM_SHAPES.items(), start=1):
            counted = wait_for(partial(_count, collection, shape), 60, name)  # starts the set-up
            assert counted is not None
            assert counted >= 20_000
            set_up_begun = partial(_at_least, store.histogram_set_ups, begun)
            wait_for(set_up_begun, 30, f"{name}: the set-up's first transaction", interval_s=0.001)
            stack.kill(server)
            stack.start(server)
        interrupted = store.histogram_set_ups(ready=False)
        print(f"{interrupted} of {len(HISTOGRAM_SHAPES)} set-ups killed between their transactions")
        assert interrupted >= 1  # else the kills missed the window this test is about
        for name, shape in HISTOGRAM_SHAPES.items():
            wait_for(partial(_counted_from_histogram, collection, shape), 120, f"a histogram for {name}")
        ready = writer.done
        wait_for(lambda: writer.done >= ready + 300, 120, "300 writes counted by the histograms")
        writer.stop()
        documents = list(collection.find({}, {"timestamp": 1, "event_type": 1, "company_id": 1}))
        minute = dt.timedelta(minutes=1)
        windows = [(T0 - HOUR, T0 + 49 * HOUR), (T0 + 24 * HOUR, T0 + 48 * HOUR)] + [
            (T0 + hour * HOUR + 20 * minute, T0 + (hour + 9) * HOUR + 5 * minute) for hour in range(0, 48, 7)
        ]
        for start, end in windows:
            for name, shape in HISTOGRAM_SHAPES.items():
                query = {**shape, "timestamp": {"$gte": start, "$lt": end}}
                expected = sum(all(_matches(d, k, v) for k, v in query.items()) for d in documents)
                assert collection.count_documents(query) == expected, f"{name}, {start} to {end}"
        store.close()
        client.drop_database(collection.database.name)


class _StoreTables:
    """The patched store's own tables of one collection, read in PostgreSQL on one connection
    (made again after a restart)."""

    def __init__(self, settings: Settings, collection: Collection[dict[str, Any]]) -> None:
        self.schema = collection.database.name  # FerretDB's schema for a database of a valid name
        self.url = f"postgresql://{POSTGRES_USER}@{LOOPBACK}:{settings.postgres_port}/{STORE_DATABASE}"
        self._connection: psycopg.Connection[Any] | None = None
        metadata = sql.Identifier(self.schema, "_ferretdb_database_metadata")
        query = sql.SQL("SELECT _jsonb->>'table' FROM {} WHERE _jsonb->>'_id' = %s").format(metadata)
        self.table = self._one(query, [collection.name])

    def histogram_set_ups(self, ready: bool | None = None) -> int:
        """The collection's histogram set-ups begun (0 before the first), or those ready / not."""
        set_ups = sql.Identifier(self.schema, "_ferretdb_authtrail_hist_setups")
        query = sql.SQL("SELECT count(*) FROM {} WHERE table_name = %s AND ready = coalesce(%s, ready)")
        try:
            return int(self._one(query.format(set_ups), [self.table, ready]))
        except psycopg.errors.UndefinedTable:  # made by the first set-up
            return 0

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    def _one(self, query: sql.Composed, params: list[Any]) -> Any:
        for attempt in (1, 2):
            if self._connection is None or self._connection.closed:
                self._connection = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
            try:
                row = self._connection.execute(query, params).fetchone()
            except psycopg.OperationalError:  # PostgreSQL restarted since
                self._connection.close()
                if attempt == 2:
                    raise
            else:
                assert row is not None
                return row[0]
        raise AssertionError("unreachable")


def _hourly_event(_id: str, rng: random.Random) -> dict[str, Any]:
    return {
        "_id": _id,
        "timestamp": T0 + dt.timedelta(milliseconds=rng.randrange(48 * 3_600_000)),
        "event_type": rng.choice(["login", "create"]),
        "company_id": rng.choice(["c1", "c2"]),
    }


def _matches(document: dict[str, Any], field: str, condition: Any) -> bool:
    value = document.get(field)
    if isinstance(condition, dict):
        return isinstance(value, dt.datetime) and condition["$gte"] <= value < condition["$lt"]
    return bool(value == condition)


def _at_least(count: Callable[[], int], n: int) -> bool:
    return count() >= n


def _count(collection: Collection[dict[str, Any]], query: dict[str, Any]) -> int | None:
    try:
        return collection.count_documents(query)
    except PyMongoError:  # the restarted server not answering yet
        return None


def _counted_from_histogram(collection: Collection[dict[str, Any]], shape: dict[str, Any]) -> bool:
    """True once a count of the shape reads a histogram; each call counts (which starts a set-up
    that is not under way)."""
    pipeline = [{"$match": shape}, {"$group": {"_id": 1, "n": {"$sum": 1}}}]
    try:
        collection.count_documents(shape)
        explained = collection.database.command(
            "explain", {"aggregate": collection.name, "pipeline": pipeline, "cursor": {}}
        )
    except PyMongoError:  # the restarted server not answering yet
        return False
    return bool(explained.get("histogramCount"))


class _Writer:
    """Inserts, moves (to another hour) and deletes events one at a time from a thread, each
    retried until done, as a sink would."""

    def __init__(self, collection: Collection[dict[str, Any]]) -> None:
        self.collection = collection
        self.done = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> _Writer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)
        assert not self._thread.is_alive()

    def _run(self) -> None:
        rng = random.Random(12)
        for n in itertools.count():
            if self._stop.is_set():
                return
            event, other = _hourly_event(f"w{n}", rng), f"b{rng.randrange(50_000)}"
            moved = {"$set": {"timestamp": event["timestamp"]}}
            writes: list[Callable[[], object]] = [
                partial(self.collection.insert_one, event),
                partial(self.collection.update_one, {"_id": other}, moved),
                partial(self.collection.delete_one, {"_id": other}),
            ]
            write = writes[n % 3]
            wait_for(partial(_written, write), 120, "a write to be done")
            self.done += 1


def _written(write: Callable[[], object]) -> bool:
    try:
        write()
    except DuplicateKeyError:  # an insert that was stored before its connection died
        return True
    except PyMongoError:
        return False
    return True


def made_with_an_index(collection: Collection[dict[str, Any]], errors: list[str]) -> bool:
    try:
        collection.update_one({"_id": 0}, {"$set": {"k": 1}}, upsert=True)
        collection.create_index([("k", 1), ("_id", -1)])
    except PyMongoError as exc:
        errors.append(str(exc))
        return False
    return True


def more_made(made: list[str], count: int, creators: list[Future[None]]) -> bool:
    return len(made) >= count or any(creator.done() for creator in creators)


OUTAGES = {
    "stopped": "store stopped 10 s",
    "frozen": "store frozen 10 s (SIGSTOP)",
    "postgres frozen": "PostgreSQL frozen 10 s under the store (SIGSTOP)",
}


@pytest.mark.parametrize("outage", list(OUTAGES))
def test_store_out_for_ten_seconds(
    outage: str, pipe: IsolatedPipeline, stack: LocalStack, settings: Settings
) -> None:
    # Stopped: connections refused. Frozen (SIGSTOP): the port still accepts connections, writes
    # in flight get no answer. PostgreSQL frozen: FerretDB answers, and every statement it sends
    # hangs mid-transaction.
    stream = Stream(pipe, EVENTS, RATE, seed=103).start()
    midway(stream)
    end_outage: Callable[[], None]
    if outage == "stopped":
        stack.stop("store")
        end_outage = partial(stack.start, "store")
    else:
        end_outage = suspend(stack.processes, "postgres" if outage == "postgres frozen" else "store").resume
    time.sleep(10)  # the fault itself: a ten-second outage, not a wait for a condition
    end_outage()
    restarted = time.monotonic()
    stream.join()
    report(OUTAGES[outage], account(pipe, stream.events, restarted), settings.stack_dir)


def test_broker_restarted(pipe: IsolatedPipeline, stack: LocalStack, settings: Settings) -> None:
    stream = Stream(pipe, EVENTS, RATE, seed=104).start()
    midway(stream)
    stack.stop("kafka")
    stack.start("kafka")
    restarted = time.monotonic()
    stream.join()
    report("Kafka broker restarted", account(pipe, stream.events, restarted), settings.stack_dir)


@pytest.mark.parametrize(
    ("server", "fault"),
    [("kafka", "kill -9 Kafka broker"), ("store", "kill -9 FerretDB (the store's wire server)")],
)
def test_server_killed(
    server: str, fault: str, pipe: IsolatedPipeline, stack: LocalStack, settings: Settings
) -> None:
    # No shutdown: the broker's logs are recovered from an unclean stop; FerretDB's open
    # transactions (a sink batch mid-insert) die with their connections.
    stream = Stream(pipe, EVENTS, RATE, seed=108).start()
    midway(stream)
    stack.kill(server)
    stack.start(server)
    restarted = time.monotonic()
    stream.join()
    report(fault, account(pipe, stream.events, restarted), settings.stack_dir)


def test_transformer_frozen_past_its_session_timeout(pipe: IsolatedPipeline, settings: Settings) -> None:
    # SIGSTOP for longer than session.timeout.ms (10 s): the group drops it mid-batch; when it
    # wakes, its batch's offsets belong to a generation that is gone.
    stream = Stream(pipe, EVENTS, RATE, seed=110).start()
    midway(stream)
    transformer = suspend(pipe.processes, "transformer")
    time.sleep(15)  # the fault itself: frozen past the session timeout
    transformer.resume()
    resumed = time.monotonic()
    stream.join()
    report("transformer frozen 15 s (SIGSTOP)", account(pipe, stream.events, resumed), settings.stack_dir)


@pytest.mark.parametrize(
    ("server", "fault"),
    [
        ("connect", "Kafka Connect worker frozen 15 s (SIGSTOP), past its sink tasks' session timeout"),
        ("kafka", "Kafka broker frozen 15 s (SIGSTOP)"),
    ],
)
def test_server_frozen_past_session_timeouts(
    server: str, fault: str, pipe: IsolatedPipeline, stack: LocalStack, settings: Settings
) -> None:
    # SIGSTOP: sockets stay open, nothing answers. The Connect worker: its sink tasks are dropped
    # from their consumer group mid-put and wake holding a batch of a generation that is gone.
    # The broker: every client's requests (produce, fetch, commit, heartbeat) hang until it wakes,
    # and then every session looks expired at once.
    stream = Stream(pipe, EVENTS, RATE, seed=111).start()
    midway(stream)
    frozen = suspend(stack.processes, server)
    time.sleep(15)  # the fault itself: frozen past every 10 s session timeout
    frozen.resume()
    resumed = time.monotonic()
    stream.join()
    report(fault, account(pipe, stream.events, resumed), settings.stack_dir)


def test_one_of_two_transformers_killed_keeps_user_order(pipe: IsolatedPipeline, settings: Settings) -> None:
    pipe.start("transformer", name="transformer-2")
    stream = Stream(pipe, EVENTS, RATE, seed=105, users=500).start()
    midway(stream)
    pipe.kill("transformer")  # the other member takes its partitions over
    restarted = time.monotonic()
    stream.join()
    result = account(pipe, stream.events, restarted)
    # Per user, first appearances on the sink topic follow the order the user's events were sent.
    sent_order = defaultdict(list)
    for event in stream.events:
        sent_order[event["user_id"]].append(event["id"])
    first_seen = defaultdict(list)
    seen: set[str] = set()
    records = sorted(
        pipe.read_topic(pipe.settings.sink_topic, timeout_s=30), key=lambda r: (r["partition"], r["offset"])
    )
    for record in records:
        document = bson.decode(record["value"])
        if document["_id"] not in seen:
            seen.add(document["_id"])
            first_seen[document["user_id"]].append(document["_id"])
    assert first_seen == sent_order
    report("1 of 2 transformers killed", result, settings.stack_dir)


def test_replaying_the_whole_sink_topic_changes_nothing(pipe: IsolatedPipeline, settings: Settings) -> None:
    stream = Stream(pipe, EVENTS, RATE, seed=106).start()
    stream.join()
    account(pipe, stream.events, time.monotonic())
    before = {d["_id"]: d for d in pipe.collection.find()}
    pipe.connector.stop()
    pipe.connector.reset_sink_offsets()  # back to the beginning
    pipe.connector.resume()
    resumed = time.monotonic()
    group = f"{pipe.settings.connector_name}-reconciler"
    wait_for(
        lambda: pipe.committed(group, pipe.settings.sink_dlq_topic) >= EVENTS,
        240,
        "every replayed record reconciled",
    )
    result = account(pipe, stream.events, resumed)
    assert {d["_id"]: d for d in pipe.collection.find()} == before
    assert pipe.read_topic(pipe.settings.dlq_topic) == []  # no duplicate-key noise for people
    report("sink consumer group reset to the beginning", result, settings.stack_dir)


def test_schema_evolution_mid_stream(pipe: IsolatedPipeline, settings: Settings) -> None:
    old = Stream(pipe, EVENTS // 2, RATE / 2, seed=107).start()
    old.wait_sent(EVENTS // 6)
    # Read again until something is stored: a cold sink may not have written anything yet
    # (the check used to test one fixed reading, and failed whenever that reading was empty).
    snapshot_ids = wait_for(lambda: set(pipe.stored_ids()), 30, "some events stored before the new version")
    before = {d["_id"]: d for d in pipe.collection.find({"_id": {"$in": list(snapshot_ids)}})}
    schema = json.loads(load_contract(settings.schemas_dir).event_schema_str)
    schema["fields"].append(
        {
            "name": "client_ip",
            "type": ["null", "string"],
            "default": None,
            "doc": "Where the action came from.",
        }
    )
    v2 = json.dumps(schema)
    assert register(pipe.settings, f"{pipe.settings.raw_topic}-value", v2).version == 2
    new = Stream(
        pipe, EVENTS // 2, RATE / 2, seed=108, schema_str=v2, extra={"client_ip": "10.9.8.7"}
    ).start()
    old.join()
    new.join()
    restarted = time.monotonic()
    result = account(pipe, old.events + new.events, restarted)
    assert pipe.collection.count_documents({"client_ip": "10.9.8.7"}) == len(new.events)
    assert pipe.collection.count_documents({"client_ip": {"$exists": True}}) == len(new.events)
    assert {d["_id"]: d for d in pipe.collection.find({"_id": {"$in": list(before)}})} == before
    assert consumer_lag(pipe.settings, pipe.settings.transformer_group, pipe.settings.raw_topic) == 0
    report("schema v2 registered mid-stream", result, settings.stack_dir)
