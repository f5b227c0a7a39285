"""The contract lives in the registry under transitive compatibility; topics and the sink are
deployed explicitly and idempotently."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from authtrail.contract import SchemaRejectedError, load_contract, register, register_contract
from authtrail.kafka.clients import MAX_RECORD_BYTES, ConfigResource, NewTopic, admin_client
from authtrail.kafka_connect import ConnectorClient
from authtrail.settings import Settings
from authtrail.topics import ensure_topics, topic_specs
from connect.sink.deploy import deploy_sink
from scripts.stack.control import LocalStack

pytestmark = pytest.mark.stack


@pytest.fixture
def isolated(settings: Settings, unique: str) -> Settings:
    return settings.model_copy(
        update={
            "raw_topic": f"c{unique}.raw",
            "sink_topic": f"c{unique}.sink",
            "dlq_topic": f"c{unique}.dlq",
            "sink_dlq_topic": f"c{unique}.sink.dlq",
            "connector_name": f"sink-{unique}",
            "mongo_database": f"db_{unique}",
        }
    )


def evolved(settings: Settings, change) -> str:
    schema = json.loads(load_contract(settings.schemas_dir).event_schema_str)
    schema["fields"] = change(schema["fields"])
    return json.dumps(schema)


def test_registration_is_idempotent_and_transitive(stack: LocalStack, isolated: Settings) -> None:
    first = register_contract(isolated)
    again = register_contract(isolated)
    assert [(r.subject, r.schema_id, r.version) for r in again] == [
        (r.subject, r.schema_id, r.version) for r in first
    ]
    assert [r.subject for r in first] == [f"{isolated.raw_topic}-key", f"{isolated.raw_topic}-value"]
    with SchemaRegistryClient({"url": isolated.schema_registry_url}) as client:
        for registered in first:
            assert client.get_compatibility(registered.subject) == "FULL_TRANSITIVE"


def test_adding_an_optional_field_with_a_default_is_accepted(stack: LocalStack, isolated: Settings) -> None:
    register_contract(isolated)
    v2 = evolved(
        isolated, lambda f: [*f, {"name": "ip_address", "type": ["null", "string"], "default": None}]
    )
    assert register(isolated, f"{isolated.raw_topic}-value", v2).version == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda fields: [f for f in fields if f["name"] != "user_id"], "user_id"),
        (
            lambda fields: [{**f, "type": "string"} if f["name"] == "company_id" else f for f in fields],
            "company_id",
        ),
    ],
)
def test_incompatible_changes_are_refused_with_the_registrys_reason(
    stack: LocalStack, isolated: Settings, change, message: str
) -> None:
    register_contract(isolated)
    with pytest.raises(SchemaRejectedError, match=rf"incompatible.*{message}"):
        register(isolated, f"{isolated.raw_topic}-value", evolved(isolated, change))


def test_the_cli_shows_the_registrys_refusal(stack: LocalStack, isolated: Settings, tmp_path) -> None:
    register_contract(isolated)
    shutil.copytree(isolated.schemas_dir, tmp_path / "schemas")
    (tmp_path / "schemas" / "audit_event.avsc").write_text(
        evolved(isolated, lambda fields: [f for f in fields if f["name"] != "company_id"])
    )
    env = {
        **os.environ,
        **isolated.to_env(),
        "AUTHTRAIL_SCHEMAS_DIR": str(tmp_path / "schemas"),
        "AUTHTRAIL_LOG_DIR": str(tmp_path / "log"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "scripts", "register-schemas"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "refused" in result.stdout
    assert "company_id" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_topics_are_created_once_with_their_intended_layout(stack: LocalStack, isolated: Settings) -> None:
    admin = admin_client(isolated)
    specs = topic_specs(isolated)
    assert {s.action for s in ensure_topics(admin, specs, 1)} == {"created"}
    assert {s.action for s in ensure_topics(admin, specs, 1)} == {"exists"}
    topics = admin.list_topics(timeout=10).topics
    assert len(topics[isolated.raw_topic].partitions) == isolated.raw_partitions
    assert len(topics[isolated.sink_topic].partitions) == isolated.sink_partitions
    raw = admin.describe_configs([ConfigResource("topic", isolated.raw_topic)])
    config = next(iter(raw.values())).result(timeout=10)
    assert config["message.timestamp.type"].value == "LogAppendTime"
    assert config["retention.ms"].value == "-1"


def test_a_topic_that_exists_with_other_configs_is_reported_and_left_alone(
    stack: LocalStack, isolated: Settings
) -> None:
    # A DLQ topic made by hand, or by a version before dead letters were allowed 8 MiB.
    admin = admin_client(isolated)
    [made] = admin.create_topics(
        [NewTopic(isolated.dlq_topic, num_partitions=1, replication_factor=1)]
    ).values()
    made.result(timeout=30)
    states = {s.name: s.action for s in ensure_topics(admin, topic_specs(isolated), 1)}
    assert f"max.message.bytes 1048588 (intended {MAX_RECORD_BYTES})" in states[isolated.dlq_topic]
    assert "retention.ms 604800000 (intended -1)" in states[isolated.dlq_topic]
    assert states[isolated.sink_dlq_topic] == "created"
    described = admin.describe_configs([ConfigResource("topic", isolated.dlq_topic)])
    assert next(iter(described.values())).result(timeout=10)["max.message.bytes"].value == "1048588"


def test_deploying_the_sink_twice_is_harmless(stack: LocalStack, isolated: Settings) -> None:
    ensure_topics(admin_client(isolated), topic_specs(isolated), 1)
    try:
        first = deploy_sink(isolated)
        second = deploy_sink(isolated)
        assert (first.state, second.state) == ("RUNNING", "RUNNING")
        assert len(second.tasks) == isolated.connector_tasks_max
    finally:
        ConnectorClient(isolated.connect_url, isolated.connector_name).delete()
