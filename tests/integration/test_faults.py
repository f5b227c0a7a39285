"""Crash every component mid-stream: every produced event is stored exactly once, nothing else
is stored, nothing is dead-lettered for being merely delayed.

Each pipeline test streams 20,000 events with known ids at 3,000/s, injects its fault in the
middle, recovers, and checks with a full count; one kills the store's servers while it creates
collections and indexes. Run alone with ``authtrail specs -m fault``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any

import bson
import pytest
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError, PyMongoError

from authtrail.contract import load_contract, register
from authtrail.kafka.offsets import consumer_lag
from authtrail.settings import Settings
from authtrail.waiting import wait_for, wait_until
from scripts.stack.control import LocalStack
from scripts.stack.isolated_pipeline import IsolatedPipeline
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
    # without its unique _id index would not).
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
        assert set(database.list_collection_names()) >= set(made)
        client.drop_database(database.name)


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
