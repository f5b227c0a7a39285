"""The local stack runs real servers, and each one does its job."""

from __future__ import annotations

import socket

import httpx
import psutil
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from pydantic import SecretStr
from pymongo import MongoClient

from authtrail.errors import StackError
from authtrail.kafka.clients import NewTopic
from authtrail.settings import Settings
from scripts.stack.control import LocalStack
from scripts.stack.servers import STORE_GOGC

pytestmark = pytest.mark.stack


@pytest.mark.control
def test_every_server_is_ready(stack: LocalStack) -> None:
    rows = stack.status()
    assert {row.name: row.state for row in rows} == {
        "postgres": "ready",
        "kafka": "ready",
        "store": "ready",
        "registry": "ready",
        "connect": "ready",
    }
    assert all(row.pid for row in rows)


@pytest.mark.control
def test_the_store_runs_with_its_garbage_collector_setting(stack: LocalStack) -> None:
    pids = {row.name: row.pid for row in stack.status()}
    store = psutil.Process(pids["store"]).environ()
    assert store.get("GOGC") == STORE_GOGC  # FerretDB's collector setting (large reads)


@pytest.mark.control
def test_up_again_is_harmless(stack: LocalStack) -> None:
    before = {row.name: row.pid for row in stack.status()}
    stack.up()
    assert {row.name: row.pid for row in stack.status()} == before


def test_broker_round_trips_a_message(stack: LocalStack, settings: Settings, unique: str) -> None:
    topic = f"smoke-{unique}"
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(timeout=30)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "acks": "all"})
    producer.produce(topic, key=b"42", value=b"hello authtrail")
    assert producer.flush(30) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": f"smoke-{unique}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    try:
        message = None
        for _ in range(60):
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                break
        assert message is not None
        assert message.error() is None
        assert (message.key(), message.value()) == (b"42", b"hello authtrail")
    finally:
        consumer.close()


def test_registry_stores_and_returns_an_avro_schema(
    stack: LocalStack, settings: Settings, unique: str
) -> None:
    schema_str = '{"type":"record","name":"Smoke","fields":[{"name":"n","type":"long"}]}'
    with SchemaRegistryClient({"url": settings.schema_registry_url}) as client:
        schema_id = client.register_schema(f"smoke-{unique}-value", Schema(schema_str, "AVRO"))
        fetched = client.get_schema(schema_id)
        latest = client.get_latest_version(f"smoke-{unique}-value")
    assert fetched.schema_type == "AVRO"
    assert '"name":"n"' in fetched.schema_str.replace(" ", "")
    assert (latest.schema_id, latest.version) == (schema_id, 1)


def test_store_inserts_and_finds_a_document(stack: LocalStack, settings: Settings, unique: str) -> None:
    with MongoClient(settings.mongo_uri.get_secret_value(), serverSelectionTimeoutMS=5000) as client:
        collection = client[f"smoke_{unique}"]["events"]
        collection.insert_one({"_id": "e1", "user_id": 7})
        assert collection.find_one({"user_id": 7}) == {"_id": "e1", "user_id": 7}


def test_connect_lists_the_mongodb_sink_connector(stack: LocalStack, settings: Settings) -> None:
    plugins = httpx.get(f"{settings.connect_url}/connector-plugins", timeout=10).json()
    assert {"class": "com.mongodb.kafka.connect.MongoSinkConnector", "type": "sink"}.items() <= next(
        p for p in plugins if p["class"].endswith("MongoSinkConnector")
    ).items()


@pytest.mark.control
def test_up_fails_naming_the_server_whose_port_is_taken(
    stack: LocalStack, settings: Settings, tmp_path
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        other = LocalStack(
            settings.model_copy(
                update={
                    "stack_dir": tmp_path,
                    "mongo_uri": SecretStr(f"mongodb://127.0.0.1:{port}/"),
                    "kafka_bootstrap_servers": "127.0.0.1:1",
                    "kafka_controller_port": 2,
                    "connect_url": "http://127.0.0.1:3",
                    "schema_registry_url": "http://127.0.0.1:4",
                    "postgres_port": 5,
                }
            )
        )
        with pytest.raises(StackError, match=rf"store cannot start: port {port} .*store\.log"):
            other.up()
