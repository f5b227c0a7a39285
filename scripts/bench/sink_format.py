"""``authtrail bench sink-format``: which sink-topic record format should the transformer write?

The same N stored documents, encoded three ways the stock Connect runtime and the MongoDB
connector read natively, each pre-produced to its own topic and then sunk by the same
connector config into the same store; the rate is N / (time from connector start to the
last record committed by the connector — read from Kafka, so measuring puts no load on the
store; the stored count is checked once at the end). Also reported: bytes per record.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import bson
from bson import json_util
from bson.codec_options import CodecOptions
from confluent_kafka import Producer
from pymongo import MongoClient

from authtrail.contract import load_contract
from authtrail.errors import AuthtrailError
from authtrail.kafka.clients import admin_client, producer_config
from authtrail.kafka.offsets import consumer_lag
from authtrail.kafka_connect import ConnectorClient
from authtrail.settings import Settings
from authtrail.topics import TopicSpec, ensure_topics
from connect.sink.deploy import render_sink_config
from connect.transformer.stored_documents import stored_documents
from connect.transformer.stored_shape import StoredShape
from scripts.bench.results import BenchResult, print_table
from scripts.console import step

CONNECT_TYPES = {"string": "string", "long": "int64", "int": "int32"}
TIMESTAMP = {"type": "int64", "name": "org.apache.kafka.connect.data.Timestamp", "version": 1}


class BenchError(AuthtrailError):
    """A benchmark run did not do what it measures (e.g. lost documents)."""


def _json_with_schema_encoder(shape: dict[str, Any]) -> Any:
    """JsonConverter's envelope. Its schemas cannot express an arbitrary nested object, so
    event_data travels as a JSON string here — one reason this format loses."""
    fields = []
    for name, spec in shape["properties"].items():
        kind = spec["bsonType"]
        schema = TIMESTAMP if kind == "date" else {"type": CONNECT_TYPES.get(kind, "string")}
        fields.append({"field": name, **schema, "optional": False})
    schema = {"type": "struct", "fields": fields, "optional": False}

    def encode(doc: dict[str, Any]) -> bytes:
        payload = {
            k: (
                int(v.timestamp() * 1000)
                if k in ("timestamp", "ingested_at")
                else json.dumps(v)
                if isinstance(v, dict)
                else v
            )
            for k, v in doc.items()
        }
        return json.dumps({"schema": schema, "payload": payload}).encode()

    return encode


def run(settings: Settings, count: int) -> BenchResult:
    contract = load_contract(settings.schemas_dir)
    shape = StoredShape(contract.stored_shape)
    encoders: dict[str, tuple[dict[str, str], Any]] = {
        "bson (ByteArrayConverter)": (
            {"value.converter": "org.apache.kafka.connect.converters.ByteArrayConverter"},
            shape.encode,
        ),
        "extended JSON (StringConverter)": (
            {"value.converter": "org.apache.kafka.connect.storage.StringConverter"},
            lambda d: json_util.dumps(
                bson.decode(shape.encode(d)), json_options=json_util.CANONICAL_JSON_OPTIONS
            ).encode(),
        ),
        "JSON with schema (JsonConverter)": (
            {
                "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                "value.converter.schemas.enable": "true",
            },
            _json_with_schema_encoder(contract.stored_shape),
        ),
    }
    with step(f"building {count:,} pipeline-shaped documents"):
        aware: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)
        documents = [bson.decode(value, codec_options=aware) for value in stored_documents(settings, count)]
    result = BenchResult(
        "sink-format",
        {
            "documents": count,
            "partitions": settings.sink_partitions,
            "tasks_max": settings.connector_tasks_max,
        },
    )
    rows = []
    mongo: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_uri.get_secret_value())
    database = mongo["authtrail_bench"]
    for label, (converter, encode) in encoders.items():
        run_id = uuid.uuid4().hex[:8]
        topic, collection = f"bench.format.{run_id}", f"format_{run_id}"
        ensure_topics(admin_client(settings), [TopicSpec(topic, settings.sink_partitions)], 1)
        producer = Producer(producer_config(settings, "authtrail-bench"))
        payloads = [encode(doc) for doc in documents]
        for doc, payload in zip(documents, payloads, strict=True):
            producer.produce(topic, key=str(doc["user_id"]).encode(), value=payload)
            producer.poll(0)
        producer.flush(120)
        config = {
            **render_sink_config(
                settings, sink_topic=topic, database="authtrail_bench", collection=collection
            ),
            **converter,
            "errors.tolerance": "none",
            "mongo.errors.tolerance": "none",
        }
        name = f"bench-format-{run_id}"
        with step(f"sinking {count:,} records as {label}"):
            started = time.monotonic()
            ConnectorClient(settings.connect_url, name).deploy(config, timeout_s=120)
            while consumer_lag(settings, f"connect-{name}", topic) > 0:
                time.sleep(0.25)
            elapsed = time.monotonic() - started
        stored = database[collection].count_documents({})
        if stored != count:
            raise BenchError(f"{label}: {stored} of {count} documents stored")
        ConnectorClient(settings.connect_url, name).delete()
        database.drop_collection(collection)
        admin_client(settings).delete_topics([topic])
        size = sum(map(len, payloads)) / len(payloads)
        rows.append([label, count / elapsed, round(size), round(elapsed, 2)])
        result.figures[label] = {
            "docs_per_s": round(count / elapsed),
            "bytes_per_record": round(size),
            "seconds": round(elapsed, 2),
        }
    mongo.close()
    print_table("sink throughput by record format", ["format", "docs/s", "bytes/record", "seconds"], rows)
    result.save()
    return result
