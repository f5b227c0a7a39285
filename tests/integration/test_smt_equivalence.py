""" "SMT-equivalent" is measured, not claimed: the same transforms configuration runs through
Kafka Connect's own SMTs (a MongoDB sink connector in the local worker with ``transforms=``
set) and through authtrail's Python chain, on the same records; the documents must be equal,
BSON types included, and the same records must fail."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import bson
import pytest
from bson.int64 import Int64
from confluent_kafka import Consumer, Producer, TopicPartition
from pymongo import MongoClient

from authtrail.kafka.clients import NewTopic, admin_client
from authtrail.kafka_connect import ConnectorClient
from authtrail.settings import Settings
from authtrail.waiting import wait_for
from connect.transformer.properties import load_properties
from connect.transformer.record import ConnectRecord
from connect.transformer.transforms.base import TransformDataError
from connect.transformer.transforms.chain import TransformChain
from scripts.stack.control import LocalStack

pytestmark = pytest.mark.stack
P = "org.apache.kafka.connect.transforms."
BASE_TS = 1_700_000_000_123
TZ = bson.CodecOptions(tz_aware=True, tzinfo=UTC)


def run_connect(
    settings: Settings,
    unique: str,
    transforms: dict[str, str],
    records: list[dict[str, Any]],
    id_strategy: str = "KafkaMetaDataStrategy",
) -> tuple[dict[str, Any], set[int], list[Any]]:
    """Produce ``records`` (JSON), sink them through Connect with ``transforms``; return the
    stored documents by _id, the offsets Connect dead-lettered, and the records as read back."""
    topic, dlq, database = f"smt-{unique}", f"smt-{unique}-dlq", f"smt_{unique}"
    admin = admin_client(settings)
    for name in (topic, dlq):
        admin.create_topics([NewTopic(name, 1, 1)])[name].result(timeout=30)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})
    for i, r in enumerate(records):
        producer.produce(
            topic,
            key=None if r.get("key") is None else json.dumps(r["key"]).encode(),
            value=None if r["value"] is None else json.dumps(r["value"]).encode(),
            headers=r.get("headers", []),
            timestamp=BASE_TS + i,
        )
    assert producer.flush(30) == 0
    config = {
        "connector.class": "com.mongodb.kafka.connect.MongoSinkConnector",
        "tasks.max": "1",
        "topics": topic,
        "connection.uri": settings.mongo_uri.get_secret_value(),
        "database": database,
        "collection": "out",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "false",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
        "document.id.strategy": f"com.mongodb.kafka.connect.sink.processor.id.strategy.{id_strategy}",
        "writemodel.strategy": "com.mongodb.kafka.connect.sink.writemodel.strategy.InsertOneDefaultStrategy",
        "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": dlq,
        "errors.deadletterqueue.topic.replication.factor": "1",
        "errors.deadletterqueue.context.headers.enable": "true",
        **transforms,
    }
    name = f"smt-{unique}"
    connector = ConnectorClient(settings.connect_url, name)
    connector.deploy(config, timeout_s=60)
    read_back = read_all(settings, topic)
    try:
        # Done when Connect committed the end of the topic: every record was put (or dead-lettered).
        wait_for(
            lambda: committed(settings, f"connect-{name}", topic) >= len(records),
            90,
            "Connect to commit every record",
        )
        dead = {int(dict(r.headers())["__connect.errors.offset"]) for r in read_all(settings, dlq)}
        with MongoClient(settings.mongo_uri.get_secret_value()) as client:
            out = client[database]["out"].with_options(codec_options=TZ)
            return {_id_key(doc["_id"]): doc for doc in out.find()}, dead, read_back
    finally:
        connector.delete()


def committed(settings: Settings, group: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": group})
    try:
        return max(consumer.committed([TopicPartition(topic, 0)], timeout=10)[0].offset, 0)
    finally:
        consumer.close()


def read_all(settings: Settings, topic: str) -> list[Any]:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": "smt-reader",
            "enable.auto.commit": False,
        }
    )
    try:
        end = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
        consumer.assign([TopicPartition(topic, 0, 0)])
        messages: list[Any] = []
        while len(messages) < end:
            messages += [m for m in consumer.consume(end - len(messages), timeout=2) if m.error() is None]
        return messages
    finally:
        consumer.close()


def as_connect_data(value: Any) -> Any:
    """What Connect's schemaless JsonConverter makes of JSON: integral numbers are Longs."""
    if isinstance(value, dict):
        return {k: as_connect_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_connect_data(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return Int64(value)
    return value


def run_python(
    config: dict[str, str], messages: list[Any], id_of: Any = None
) -> tuple[dict[str, Any], set[int]]:
    chain = TransformChain.from_config(config)
    out: dict[str, Any] = {}
    failed: set[int] = set()
    for m in messages:
        value = None if m.value() is None else as_connect_data(json.loads(m.value()))
        key = None if m.key() is None else as_connect_data(json.loads(m.key()))
        record = ConnectRecord(
            m.topic(), m.partition(), m.offset(), m.timestamp()[1], key, value, tuple(m.headers() or ())
        )
        try:
            result = chain.apply(record)
        except TransformDataError:
            failed.add(m.offset())
            continue
        if result is None or result.value is None:
            continue
        doc = dict(result.value)
        doc.setdefault("_id", id_of(result) if id_of else f"{m.topic()}#{m.partition()}#{m.offset()}")
        doc = bson.decode(bson.encode(doc), codec_options=TZ)  # what the store would hold
        out[_id_key(doc["_id"])] = doc
    return out, failed


def _id_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value)


def typed(value: Any) -> Any:
    """A comparable form that keeps BSON types apart (int32 vs int64, not just equal numbers)."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


def assert_equivalent(
    settings: Settings,
    unique: str,
    config: dict[str, str],
    records: list[dict[str, Any]],
    id_strategy: str = "KafkaMetaDataStrategy",
    id_of: Any = None,
) -> None:
    connect_docs, connect_failed, messages = run_connect(settings, unique, config, records, id_strategy)
    python_docs, python_failed = run_python(config, messages, id_of)
    assert python_failed == connect_failed
    assert typed(python_docs) == typed(connect_docs)
    assert connect_docs, "the comparison must cover some documents"


EVENTS = [
    {
        "value": {
            "id": f"e{i}",
            "timestamp": 1_652_502_000 + i * 3_600,
            "user_id": 10 + i,
            "company_id": 7,
            "resource_type": "bug",
            "event_type": "update",
            "title": "Crash",
            "n": 2**40 + i,
            "ratio": 0.25,
            "flag": i % 2 == 0,
            "event_data": {"from": "todo", "to": "done", "tags": ["a", "b"]},
        }
    }
    for i in range(6)
]


def test_replace_field(stack: LocalStack, settings: Settings, unique: str) -> None:
    config = {
        "transforms": "keep,drop",
        "transforms.keep.type": P + "ReplaceField$Value",
        "transforms.keep.include": "id,user_id,resource_type,event_data,title,n",
        "transforms.keep.renames": "resource_type:event_resource_type,title:headline",
        "transforms.drop.type": P + "ReplaceField$Value",
        "transforms.drop.exclude": "n",
    }
    assert_equivalent(settings, unique, config, EVENTS)


def test_insert_field(stack: LocalStack, settings: Settings, unique: str) -> None:
    config = {
        "transforms": "meta",
        "transforms.meta.type": P + "InsertField$Value",
        "transforms.meta.topic.field": "kafka_topic",
        "transforms.meta.partition.field": "kafka_partition",
        "transforms.meta.offset.field": "kafka_offset",
        "transforms.meta.timestamp.field": "ingested_at",
        "transforms.meta.static.field": "source",
        "transforms.meta.static.value": "authtrail",
    }
    assert_equivalent(settings, unique, config, EVENTS)


def test_timestamp_converter(stack: LocalStack, settings: Settings, unique: str) -> None:
    records = [
        {
            "value": {
                "s": 1_652_502_000 + i * 86_399,
                "ms": 1_700_000_000_123 + i * 37_000_001,
                "t": 1_700_000_000_999 + i,
            }
        }
        for i in range(6)
    ]
    converters = {
        "toTs": ("s", "Timestamp", "seconds"),
        "toDate": ("ms", "Date", "milliseconds"),
        "toTime": ("t", "Time", "milliseconds"),
    }
    config = {"transforms": ",".join(converters)}
    for alias, (field, target, precision) in converters.items():
        config |= {
            f"transforms.{alias}.type": P + "TimestampConverter$Value",
            f"transforms.{alias}.field": field,
            f"transforms.{alias}.target.type": target,
            f"transforms.{alias}.unix.precision": precision,
        }
    assert_equivalent(settings, unique, config, records)


def test_cast_including_which_records_fail(stack: LocalStack, settings: Settings, unique: str) -> None:
    ok = [
        {"value": {"i": v, "s": str(v), "f": v + 0.75, "b": v % 2 == 0}} for v in (0, 1, 300, -129, 2**31 + 5)
    ]
    failing = [
        {"value": {"i": 1, "s": " 42", "f": 1.5, "b": True}},  # Long.parseLong does not trim
        {"value": {"i": 1, "s": "4x", "f": 1.5, "b": True}},
        {"value": {"i": {"nested": 1}, "s": "1", "f": 1.5, "b": True}},
    ]  # maps cannot be cast
    config = {
        "transforms": "c",
        "transforms.c.type": P + "Cast$Value",
        "transforms.c.spec": "i:int8,s:int64,f:string,b:int32,missing:float32",
    }
    assert_equivalent(settings, unique, config, ok + failing)
    wide = {
        "transforms": "c",
        "transforms.c.type": P + "Cast$Value",
        "transforms.c.spec": "i:float32,s:int32,f:int16,b:string",
    }
    assert_equivalent(settings, unique + "w", wide, ok)


def test_value_to_key(stack: LocalStack, settings: Settings, unique: str) -> None:
    config = {
        "transforms": "key",
        "transforms.key.type": P + "ValueToKey",
        "transforms.key.fields": "user_id,company_id",
    }
    assert_equivalent(
        settings, unique, config, EVENTS, id_strategy="FullKeyStrategy", id_of=lambda record: record.key
    )


def test_filter_with_predicates(stack: LocalStack, settings: Settings, unique: str) -> None:
    records: list[dict[str, Any]] = [
        {"value": {"n": 1}},
        {"value": None},
        {"value": {"n": 2}, "headers": [("x-probe", b"1")]},
        {"value": {"n": 3}, "headers": [("other", b"")]},
        {"value": None},
        {"value": {"n": 4}},
    ]
    config = {
        "transforms": "tombstones,probes,onlySmt",
        "transforms.tombstones.type": P + "Filter",
        "transforms.tombstones.predicate": "isTombstone",
        "transforms.probes.type": P + "Filter",
        "transforms.probes.predicate": "isProbe",
        "transforms.onlySmt.type": P + "Filter",
        "transforms.onlySmt.predicate": "smtTopic",
        "transforms.onlySmt.negate": "true",
        "predicates": "isTombstone,isProbe,smtTopic",
        "predicates.isTombstone.type": P + "predicates.RecordIsTombstone",
        "predicates.isProbe.type": P + "predicates.HasHeaderKey",
        "predicates.isProbe.name": "x-probe",
        "predicates.smtTopic.type": P + "predicates.TopicNameMatches",
        "predicates.smtTopic.pattern": "smt-.*",
    }
    assert_equivalent(settings, unique, config, records)


def test_the_production_chain(stack: LocalStack, settings: Settings, unique: str) -> None:
    """connect/transformer/transforms.properties itself, on validated events as the transformer sees them."""
    config = load_properties(settings.transforms_file)
    records = [
        {
            "value": {
                **{k: v for k, v in e["value"].items() if k not in ("title", "n", "ratio", "flag")},
                "resource_id": f"BUG-{i}",
                "content_sha256": f"{i:064x}",
            },
            "key": e["value"]["user_id"],
        }
        for i, e in enumerate(EVENTS)
    ]
    records.append({"value": None, "key": 1})  # a tombstone, dropped by the chain
    assert_equivalent(settings, unique, config, records)
