"""Events produced to the raw topic are stored exactly once, in the stored shape, in order;
bad records are dead-lettered with their reason and lose nothing around them."""

from __future__ import annotations

import json
import struct
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime

import bson
import fastavro
import pytest
from bson.int64 import Int64
from bson.raw_bson import RawBSONDocument

from authtrail.contract import load_contract, register
from authtrail.sample_events import EventFactory
from authtrail.settings import Settings
from authtrail.waiting import wait_for
from scripts.stack.control import LocalStack
from scripts.stack.isolated_pipeline import IsolatedPipeline, isolated_pipeline

pytestmark = pytest.mark.stack


@pytest.fixture
def pipe(stack: LocalStack, settings: Settings, unique: str, tmp_path):
    with isolated_pipeline(settings, unique, tmp_path) as running:
        running.start("transformer")
        running.start("sink-watch")
        yield running


def emit(pipe: IsolatedPipeline, events: list[dict]) -> None:
    emitter = pipe.emitter()
    for event in events:
        emitter.send(event)
    assert emitter.flush(60) == 0
    emitter.close()
    assert (emitter.counts.acked, emitter.counts.failed) == (len(events), 0)


def test_every_event_is_stored_once_in_the_stored_shape_and_in_user_order(pipe: IsolatedPipeline) -> None:
    factory = EventFactory(seed=7)
    events = [factory.event(user_id=user) for user in [factory.user() for _ in range(40)] for _ in range(5)]
    events += [factory.event() for _ in range(1800)]
    emit(pipe, events)

    pipe.wait_stored(len(events))
    stored = {
        doc["_id"]: doc
        for doc in pipe.collection.with_options(
            codec_options=bson.CodecOptions(document_class=RawBSONDocument)
        ).find()
    }
    assert sorted(stored) == sorted(e["id"] for e in events)  # every id, once, nothing else

    sample = events[0]
    doc = bson.decode(stored[sample["id"]].raw, codec_options=bson.CodecOptions(tz_aware=True))
    assert {k: type(v) for k, v in doc.items()} == {
        "_id": str,
        "timestamp": datetime,
        "user_id": Int64,
        "company_id": Int64,
        "event_type": str,
        "event_resource_type": str,
        "resource_id": str,
        "event_data": dict,
        "content_sha256": str,
        "kafka_topic": str,
        "kafka_partition": int,
        "kafka_offset": Int64,
        "ingested_at": datetime,
    }
    assert doc["timestamp"] == datetime.fromtimestamp(sample["timestamp"], UTC)
    assert (doc["user_id"], doc["company_id"]) == (sample["user_id"], sample["company_id"])
    assert (doc["event_type"], doc["event_resource_type"]) == (sample["event_type"], sample["resource_type"])
    assert doc["event_data"] == json.loads(sample["event_data"])
    assert doc["kafka_topic"] == pipe.settings.raw_topic
    assert abs((doc["ingested_at"] - datetime.now(UTC)).total_seconds()) < 300

    # Per-user order: one user's events share a raw partition, in the order they were sent.
    positions = defaultdict(list)
    for event in events:
        d = bson.decode(stored[event["id"]].raw)
        positions[event["user_id"]].append((d["kafka_partition"], d["kafka_offset"]))
    for user, seen in positions.items():
        assert len({partition for partition, _ in seen}) == 1, f"user {user} spread over partitions"
        assert [offset for _, offset in seen] == sorted(offset for _, offset in seen)
    assert pipe.read_topic(pipe.settings.dlq_topic) == []


def test_bad_records_are_dead_lettered_with_a_reason_and_good_ones_around_them_are_stored(
    pipe: IsolatedPipeline, settings: Settings
) -> None:
    contract = load_contract(settings.schemas_dir)
    emitter = pipe.emitter()
    factory = EventFactory(seed=11)
    base = factory.event()
    good_key, good_value = emitter.serialize(base)
    other_schema = '{"type":"record","name":"Other","fields":[{"name":"x","type":"long"}]}'
    other_id = register(pipe.settings, f"{pipe.settings.raw_topic}-other-value", other_schema).schema_id
    value_id = struct.unpack(">I", good_value[1:5])[0]

    def avro(event: dict) -> bytes:
        import io

        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, contract.event_schema, event)
        return b"\x00" + struct.pack(">I", value_id) + buffer.getvalue()

    bad = {
        "not_avro_value": (good_key, b'{"json": "not avro"}'),
        "unknown_schema_id_value": (good_key, b"\x00" + struct.pack(">I", 999_999) + good_value[5:]),
        "malformed_avro_value": (good_key, good_value[: len(good_value) // 2]),
        "wrong_schema_value": (good_key, b"\x00" + struct.pack(">I", other_id) + b"\x02"),
        "event_data_too_large": (
            good_key,
            avro({**base, "event_data": json.dumps({"body": "x" * (settings.max_event_data_bytes + 1)})}),
        ),
        "timestamp_out_of_range": (good_key, avro({**base, "timestamp": -5})),
        "key_mismatch": (emitter.serialize({**base, "user_id": base["user_id"] + 1})[0], good_value),
        "missing_key": (b"", good_value),
    }
    good_events = [factory.event() for _ in range(len(bad) * 3)]
    bad_items = list(bad.items())
    for i, event in enumerate(good_events):  # good and bad interleaved
        emitter.send(event)
        if i % 3 == 0:
            _, (key, value) = bad_items[i // 3]
            emitter.send_raw(key, value)
    assert emitter.flush(60) == 0
    emitter.close()

    pipe.wait_stored(len(good_events))
    assert sorted(pipe.stored_ids()) == sorted(e["id"] for e in good_events)
    reasons = {r["headers"]["authtrail.error.reason"]: r for r in pipe.wait_dead_letters(len(bad))}
    assert set(reasons) == set(bad)
    for reason, (_key, value) in bad.items():
        record = reasons[reason]
        assert record["value"] == value, f"{reason}: the original bytes are kept"
        assert record["headers"]["authtrail.source.topic"] == pipe.settings.raw_topic
        assert record["headers"]["authtrail.error.detail"]
    assert "Traceback" not in pipe.log_of("transformer")


def test_restarting_the_transformer_mid_stream_loses_and_duplicates_nothing(pipe: IsolatedPipeline) -> None:
    factory = EventFactory(seed=3)
    events = [factory.event() for _ in range(6000)]
    emitter = pipe.emitter()

    def send_steadily() -> None:
        for event in events:
            emitter.send(event)
            time.sleep(0.0003)

    sender = threading.Thread(target=send_steadily)
    sender.start()
    pipe.wait_stored(500)
    pipe.kill("transformer")  # kill -9, mid-batch
    pipe.start("transformer")
    sender.join()
    assert emitter.flush(60) == 0
    emitter.close()

    pipe.wait_stored(len(events))
    wait_for(lambda: pipe.collection.count_documents({}) == len(events), 30, "no extra documents")
    assert sorted(pipe.stored_ids()) == sorted(e["id"] for e in events)
    assert pipe.read_topic(pipe.settings.dlq_topic) == []  # redeliveries are not dead letters


def test_a_different_event_reusing_an_id_is_surfaced_and_the_stored_one_kept(pipe: IsolatedPipeline) -> None:
    factory = EventFactory(seed=5)
    original = factory.event()
    emit(pipe, [original])
    pipe.wait_stored(1)
    impostor = {**original, "event_type": "delete", "event_data": '{"reason": "not me"}'}
    emit(pipe, [impostor, factory.event()])
    pipe.wait_stored(2)

    dead = wait_for(lambda: pipe.read_topic(pipe.settings.dlq_topic), 60, "the conflicting event in the DLQ")
    assert [r["headers"]["authtrail.error.reason"] for r in dead] == ["id_conflict"]
    assert original["id"] in dead[0]["headers"]["authtrail.error.detail"]
    kept = pipe.collection.find_one({"_id": original["id"]})
    assert (kept["event_type"], kept["event_data"]) == (
        original["event_type"],
        json.loads(original["event_data"]),
    )


def test_replaying_the_sink_topic_changes_nothing_and_dead_letters_nothing(pipe: IsolatedPipeline) -> None:
    factory = EventFactory(seed=9)
    emit(pipe, [factory.event() for _ in range(300)])
    pipe.wait_stored(300)
    before = {d["_id"]: d for d in pipe.collection.find()}
    replay = pipe.emitter()
    replay.topic = pipe.settings.sink_topic
    for record in pipe.read_topic(pipe.settings.sink_topic):
        replay.send_raw(record["key"], record["value"])
    assert replay.flush(60) == 0
    replay.close()

    # The sink dead-letters each redelivery as a duplicate key; the sink watch reconciles them.
    wait_for(
        lambda: len(pipe.read_topic(pipe.settings.sink_dlq_topic)) >= 300, 60, "redeliveries in the sink DLQ"
    )
    reconciler = f"{pipe.settings.connector_name}-reconciler"
    wait_for(
        lambda: pipe.committed(reconciler, pipe.settings.sink_dlq_topic) >= 300, 60, "all of them reconciled"
    )
    assert {d["_id"]: d for d in pipe.collection.find()} == before
    assert pipe.read_topic(pipe.settings.dlq_topic) == []
