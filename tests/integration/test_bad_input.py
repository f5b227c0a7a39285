"""Bad records of every kind get a dead letter with a reason; the good records between them
are all stored; the transformer neither crashes nor stalls. Dead letters can be inspected and,
after a fix, replayed — idempotently."""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import fastavro
import pytest
from confluent_kafka import KafkaError, Producer

from authtrail.contract import load_contract, register
from authtrail.emitter import EventEmitter
from authtrail.kafka.offsets import consumer_lag
from authtrail.sample_events import EventFactory
from authtrail.settings import Settings
from authtrail.waiting import wait_for
from scripts.stack.control import LocalStack
from scripts.stack.isolated_pipeline import IsolatedPipeline, isolated_pipeline

pytestmark = pytest.mark.stack


def framed(schema_id: int, schema: dict, datum: dict) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), datum)
    return b"\x00" + struct.pack(">I", schema_id) + buffer.getvalue()


# Avro written with a schema other than the one its id names decodes into anything — or nothing.
AVRO_OF_ANOTHER_SHAPE = {
    "malformed_avro_value",
    "invalid_field",
    "invalid_utf8_value",
    "timestamp_out_of_range",
    "key_mismatch",
    "invalid_event_data",
}


def variant(base: dict, **changes) -> dict:
    """The contract with some fields dropped (None) or retyped — a producer that got it wrong."""
    fields = [
        {**f, "type": changes[f["name"]]} if changes.get(f["name"]) else f
        for f in base["fields"]
        if not (f["name"] in changes and changes[f["name"]] is None)
    ]
    return {**base, "fields": fields}


@pytest.fixture
def pipe(stack: LocalStack, settings: Settings, unique: str, tmp_path: Path) -> Iterator[IsolatedPipeline]:
    """An isolated pipeline with its transformer running."""
    with isolated_pipeline(settings, unique, tmp_path) as pipe:
        pipe.start("transformer")
        yield pipe


@dataclass(frozen=True)
class Forger:
    """What a test needs to send forged records between good ones: a good event and its
    serialized form, its value schema's registry id, the contract."""

    emitter: EventEmitter
    factory: EventFactory
    base: dict
    key: bytes
    good_value: bytes
    value_id: int
    contract: dict


def forger(pipe: IsolatedPipeline, seed: int) -> Forger:
    emitter = pipe.emitter()
    factory = EventFactory(seed=seed)
    base = factory.event()
    key, good_value = emitter.serialize(base)
    value_id = struct.unpack(">I", good_value[1:5])[0]
    contract = json.loads(load_contract(pipe.settings.schemas_dir).event_schema_str)
    return Forger(emitter, factory, base, key, good_value, value_id, contract)


def assert_neither_crashed_nor_stalled(pipe: IsolatedPipeline) -> None:
    """The transformer is still running, has nothing left to read, and logged no traceback."""
    assert pipe.processes.running("transformer") is not None
    wait_for(
        lambda: consumer_lag(pipe.settings, pipe.settings.transformer_group, pipe.settings.raw_topic) == 0,
        30,
        "the transformer to commit everything",
    )
    assert "Traceback" not in pipe.log_of("transformer")


def test_every_kind_of_bad_record_is_dead_lettered_with_its_reason(pipe: IsolatedPipeline) -> None:
    forged = forger(pipe, seed=31)
    emitter, factory, base, key, good_value = (
        forged.emitter,
        forged.factory,
        forged.base,
        forged.key,
        forged.good_value,
    )
    value_id, contract = forged.value_id, forged.contract
    other_id = register(
        pipe.settings,
        f"{pipe.settings.raw_topic}-other-value",
        '{"type":"record","name":"Other","fields":[{"name":"x","type":"long"}]}',
    ).schema_id
    no_company = {k: v for k, v in base.items() if k != "company_id"}
    as_bytes = {**base, "id": b"\xff\xfe not utf-8"}
    corpus: dict[str, tuple[bytes | None, bytes | None, set[str]]] = {
        "not Avro": (key, b'{"json": "not avro"}', {"not_avro_value"}),
        "truncated Avro": (key, good_value[:-7], {"malformed_avro_value"}),
        "wrong magic byte": (key, b"\x01" + good_value[1:], {"not_avro_value"}),
        "unknown schema id": (
            key,
            b"\x00" + struct.pack(">I", 987_654) + good_value[5:],
            {"unknown_schema_id_value"},
        ),
        "Avro of another schema": (
            key,
            framed(
                other_id,
                {"type": "record", "name": "Other", "fields": [{"name": "x", "type": "long"}]},
                {"x": 1},
            ),
            {"wrong_schema_value"},
        ),
        "missing required fields": (
            key,
            framed(value_id, variant(contract, company_id=None), no_company),
            AVRO_OF_ANOTHER_SHAPE,
        ),
        "wrong types": (
            key,
            framed(value_id, variant(contract, user_id="string"), {**base, "user_id": "abc"}),
            AVRO_OF_ANOTHER_SHAPE,
        ),
        "negative timestamp": (
            key,
            framed(value_id, contract, {**base, "timestamp": -1}),
            {"timestamp_out_of_range"},
        ),
        "timestamp in the year 3000": (
            key,
            framed(value_id, contract, {**base, "timestamp": 32_503_680_000}),
            {"timestamp_out_of_range"},
        ),
        "oversized event_data": (
            key,
            framed(
                value_id,
                contract,
                {**base, "event_data": json.dumps({"body": "x" * (pipe.settings.max_event_data_bytes + 10)})},
            ),
            {"event_data_too_large"},
        ),
        "event_data not JSON": (
            key,
            framed(value_id, contract, {**base, "event_data": "{oops"}),
            {"invalid_event_data"},
        ),
        "event_data with an operator key": (
            key,
            framed(value_id, contract, {**base, "event_data": json.dumps({"$where": "1"})}),
            {"invalid_event_data"},
        ),
        "empty key": (b"", good_value, {"missing_key"}),
        "no key": (None, good_value, {"missing_key"}),
        "key of another user": (
            emitter.serialize({**base, "user_id": base["user_id"] + 1})[0],
            good_value,
            {"key_mismatch"},
        ),
        "non-UTF-8 string": (
            key,
            framed(value_id, variant(contract, id="bytes"), as_bytes),
            {"invalid_utf8_value"},
        ),
    }
    good = [factory.event() for _ in range(len(corpus) * 4)]
    bad = list(corpus.items())
    for i, event in enumerate(good):
        emitter.send(event)
        if i % 4 == 0:
            _, (bad_key, bad_value, _) = bad[i // 4]
            emitter.send_raw(bad_key, bad_value, headers=[("corpus", bad[i // 4][0].encode())])
    assert emitter.flush(60) == 0
    emitter.close()

    pipe.wait_stored(len(good))
    by_case = {r["headers"]["corpus"]: r for r in pipe.wait_dead_letters(len(corpus))}
    assert set(by_case) == set(corpus)
    for case, (_, bad_value, reasons) in corpus.items():
        record = by_case[case]
        assert record["headers"]["authtrail.error.reason"] in reasons, (case, record["headers"])
        assert record["headers"]["authtrail.error.detail"]
        assert record["value"] == bad_value, f"{case}: original bytes kept"
    assert sorted(pipe.stored_ids()) == sorted(e["id"] for e in good)
    assert_neither_crashed_nor_stalled(pipe)


# Kafka's default largest record batch (the broker's message.max.bytes), and what a batch of one
# record adds to its key and value (a 61-byte batch header, the record's varints).
KAFKA_MAX_BATCH, BATCH_OF_ONE_OVERHEAD = 1_048_588, 100


def sized(value_id: int, schema: dict, datum: dict, field: str, size: int, filler: str) -> bytes:
    """``datum`` framed in Avro, its string ``field`` padded so the whole value is ``size`` bytes."""
    padding = size - len(framed(value_id, schema, {**datum, field: ""}))
    text = filler * (padding // len(filler) + 1)
    while len(value := framed(value_id, schema, {**datum, field: text[:padding]})) > size:
        padding -= 1  # the string's length prefix grew by a byte
    return value


def test_a_record_of_any_size_is_dead_lettered_and_the_stream_goes_on(pipe: IsolatedPipeline) -> None:
    # A dead letter is its record plus headers. A producer may send the largest record Kafka
    # takes — or, compressed, far more — and an event of a later contract version may carry a
    # field of any size. Sent by an independent client, between good events.
    forged = forger(pipe, seed=33)
    emitter, factory, base, key = forged.emitter, forged.factory, forged.base, forged.key
    value_id, contract = forged.value_id, forged.contract
    v2 = {**contract, "fields": [*contract["fields"], {"name": "note", "type": "string", "default": ""}]}
    v2_id = register(pipe.settings, f"{pipe.settings.raw_topic}-value", json.dumps(v2)).schema_id
    incompressible = base64.b64encode(os.urandom(KAFKA_MAX_BATCH)).decode()
    largest = KAFKA_MAX_BATCH - BATCH_OF_ONE_OVERHEAD - len(key)
    cases = {
        # event_data over its 64 KiB limit, the record as large as Kafka's default takes:
        # with the dead letter's headers, larger than that.
        "the largest record": (
            sized(value_id, contract, base, "event_data", largest, incompressible),
            "none",
            "event_data_too_large",
        ),
        # 12 MiB that compress to almost nothing: more than a dead letter may carry.
        "12 MiB compressed": (
            sized(value_id, contract, base, "event_data", 12 * 1024 * 1024, "x"),
            "zstd",
            "event_data_too_large",
        ),
        # Valid by every field rule, with a 300 KiB field the contract's version 2 added.
        "a large later field": (
            framed(v2_id, v2, {**base, "id": f"{base['id']}-v2", "note": incompressible[:300_000]}),
            "none",
            "event_too_large",
        ),
    }
    good = [factory.event() for _ in range(40)]
    for event in good[:20]:
        emitter.send(event)
    assert emitter.flush(60) == 0
    for case, (value, compression, _) in cases.items():
        independent = Producer(
            {
                "bootstrap.servers": pipe.settings.kafka_bootstrap_servers,
                "message.max.bytes": 16 * 1024 * 1024,
                "compression.type": compression,
                "acks": "all",
            }
        )
        delivered: list[KafkaError | None] = []

        def delivery(error: KafkaError | None, _: object, into: list = delivered) -> None:
            into.append(error)

        independent.produce(
            pipe.settings.raw_topic,
            key=key,
            value=value,
            headers=[("case", case)],
            on_delivery=delivery,
        )
        assert independent.flush(30) == 0
        assert delivered == [None], f"{case}: the broker refused the test's own record: {delivered}"
    for event in good[20:]:
        emitter.send(event)
    assert emitter.flush(60) == 0
    emitter.close()

    pipe.wait_stored(len(good))
    letters = pipe.wait_dead_letters(len(cases))
    assert sorted(r["headers"]["case"] for r in letters) == sorted(cases)
    by_case = {r["headers"]["case"]: r for r in letters}
    for case, (value, _, reason) in cases.items():
        headers = by_case[case]["headers"]
        assert headers["authtrail.error.reason"] == reason, (case, headers)
        if case == "12 MiB compressed":  # in the raw topic, at the coordinates the headers give
            assert by_case[case]["value"] is None
            assert headers["authtrail.error.omitted"].startswith(f"value ({len(value):,} bytes)")
        else:
            assert by_case[case]["value"] == value, f"{case}: original bytes kept"
    # The premise: that dead letter would not have fitted a topic of Kafka's default limit.
    letter_headers = sum(len(k) + len(v) for k, v in by_case["the largest record"]["headers"].items())
    assert len(key) + largest + letter_headers + 61 > KAFKA_MAX_BATCH
    assert sorted(pipe.stored_ids()) == sorted(e["id"] for e in good)
    assert_neither_crashed_nor_stalled(pipe)


def dlq_cli(pipe: IsolatedPipeline, *args: str) -> subprocess.CompletedProcess[str]:
    return pipe.cli("dlq", *args)


def test_dead_letters_are_inspected_then_replayed_after_a_fix_idempotently(
    stack: LocalStack, settings: Settings, unique: str, tmp_path
) -> None:
    with isolated_pipeline(settings, unique, tmp_path) as pipe:
        pipe.start("transformer", max_event_age_days=1)  # too strict: rejects last week's events
        pipe.start("sink-watch")
        week_ago = time.time() - 7 * 86_400
        last_week, today = EventFactory(seed=41, clock=lambda: week_ago), EventFactory(seed=42)
        old = [last_week.event() for _ in range(12)]
        fresh = [today.event() for _ in range(8)]
        emitter = pipe.emitter()
        for event in old + fresh:
            emitter.send(event)
        assert emitter.flush(60) == 0
        emitter.close()
        pipe.wait_stored(len(fresh))
        wait_for(
            lambda: len(pipe.read_topic(pipe.settings.dlq_topic)) >= len(old), 60, "old events dead-lettered"
        )

        report = json.loads(dlq_cli(pipe, "inspect", "--json", "--limit", "2").stdout)
        assert report["total"] == len(old)
        assert report["by_reason"] == {"timestamp_out_of_range": len(old)}
        assert len(report["records"]) == 2
        assert report["records"][0]["headers"]["authtrail.source.topic"] == pipe.settings.raw_topic
        human = dlq_cli(pipe, "inspect")
        assert "timestamp_out_of_range" in human.stdout
        assert human.returncode == 0

        pipe.stop("transformer")  # the fix: default age limit
        pipe.start("transformer")
        assert dlq_cli(pipe, "replay").returncode != 0  # refuses to replay without a selection
        first = dlq_cli(pipe, "replay", "--reason", "timestamp_out_of_range")
        assert f"replayed {len(old)} record(s)" in first.stdout, first.stdout + first.stderr
        pipe.wait_stored(len(old) + len(fresh))
        second = dlq_cli(pipe, "replay", "--reason", "timestamp_out_of_range")
        assert f"replayed {len(old)} record(s)" in second.stdout
        reconciler = f"{pipe.settings.connector_name}-reconciler"
        wait_for(
            lambda: pipe.committed(reconciler, pipe.settings.sink_dlq_topic) >= len(old),
            60,
            "the second replay's redeliveries reconciled",
        )
        assert sorted(pipe.stored_ids()) == sorted(e["id"] for e in old + fresh)  # stored once
        assert len(pipe.read_topic(pipe.settings.dlq_topic)) == len(old)  # nothing new dead-lettered
