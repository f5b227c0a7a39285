"""Writer schemas from the Schema Registry (connect/transformer/event_codec.py, RegistrySchemas):
a known id is asked for once; "not found" is believed only from a registry that can read its
storage, and only for a while; a registry that cannot answer is unavailable, never a reason to
dead-letter a record."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from confluent_kafka.schema_registry import RegisteredSchema, Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError

from authtrail.errors import DependencyUnavailableError
from connect.transformer.event_codec import UNKNOWN_TTL_S, RegistrySchemas

SUBJECT = "audit.events.raw-value"
AVRO = json.dumps({"type": "record", "name": "E", "fields": [{"name": "id", "type": "string"}]})
NOT_FOUND = SchemaRegistryError(404, 40403, "Schema not found")


class Client:
    """The registry client's calls RegistrySchemas makes, against an in-memory registry that
    may have lost its storage (AxonOps v0.2.1: every read is then a 404)."""

    def __init__(self, schemas: dict[int, str]) -> None:
        self.schemas = schemas
        self.storage_down = False
        self.unreachable = False
        self.calls: list[str] = []

    def _read(self, call: str) -> None:
        self.calls.append(call)
        if self.unreachable:
            raise httpx.ConnectError("connection refused")
        if self.storage_down:
            raise NOT_FOUND

    def get_schema(self, schema_id: int) -> Schema:
        self._read(f"schema {schema_id}")
        if schema_id not in self.schemas:
            raise NOT_FOUND
        return Schema(self.schemas[schema_id], "AVRO")

    def get_schema_versions(self, schema_id: int) -> list[Any]:
        self._read(f"versions {schema_id}")
        schema = Schema(self.schemas[schema_id], "AVRO")
        return [RegisteredSchema(subject=SUBJECT, version=1, schema_id=schema_id, guid=None, schema=schema)]

    def get_versions(self, subject: str) -> list[int]:
        self._read(f"subject {subject}")
        if subject != SUBJECT:
            raise SchemaRegistryError(404, 40401, "Subject not found")
        return [1]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def schemas(client: Client, clock: Clock | None = None) -> RegistrySchemas:
    return RegistrySchemas(client, SUBJECT, clock or Clock())  # type: ignore[arg-type]


def test_a_known_id_is_asked_for_once() -> None:
    client = Client({1: AVRO})
    lookup = schemas(client)
    found = lookup(1)
    assert found is not None
    assert found.subject_versions == {(SUBJECT, 1)}
    assert lookup(1) is found
    assert client.calls == ["schema 1", "versions 1"]


def test_a_registry_that_cannot_read_its_storage_is_unavailable_not_a_missing_schema() -> None:
    # What dead-lettered 20,000 good events in the fault test: PostgreSQL killed under AxonOps.
    client = Client({1: AVRO})
    client.storage_down = True
    with pytest.raises(DependencyUnavailableError, match="cannot read its storage"):
        schemas(client)(1)


def test_an_id_the_healthy_registry_does_not_know_is_unknown_asked_twice_between_two_checks() -> None:
    client = Client({1: AVRO})
    assert schemas(client)(99) is None
    control = f"subject {SUBJECT}"
    assert client.calls == ["schema 99", control, "schema 99", control]


def test_a_registry_coming_back_between_the_404_and_the_check_is_asked_again() -> None:
    # What the first fix missed (CI, PostgreSQL restarting under the registry): the id's lookup
    # failed while storage was down, the check passed a moment later.
    client = Client({1: AVRO})
    client.storage_down = True
    real_get_versions = client.get_versions

    def back_up(subject: str) -> list[int]:
        client.storage_down = False
        return real_get_versions(subject)

    client.get_versions = back_up  # type: ignore[method-assign]
    assert schemas(client)(1) is not None


def test_an_unknown_id_is_asked_again_after_a_while_and_then_found() -> None:
    client, clock = Client({1: AVRO}), Clock()
    lookup = schemas(client, clock)
    assert lookup(2) is None
    client.schemas[2] = AVRO  # registered now (or visible now on this registry node)
    assert lookup(2) is None  # still remembered as unknown…
    clock.now += UNKNOWN_TTL_S + 0.1
    assert lookup(2) is not None  # …for a while only
    client.calls.clear()
    clock.now += 3600
    assert lookup(2) is not None
    assert client.calls == []  # a known id is never asked again


def test_an_unreachable_registry_is_unavailable() -> None:
    client = Client({1: AVRO})
    client.unreachable = True
    with pytest.raises(DependencyUnavailableError):
        schemas(client)(1)


def test_a_registry_error_other_than_not_found_is_unavailable() -> None:
    client = Client({1: AVRO})

    def broken(schema_id: int) -> Schema:
        raise SchemaRegistryError(500, 50001, "storage error")

    client.get_schema = broken  # type: ignore[method-assign]
    with pytest.raises(DependencyUnavailableError, match="storage error"):
        schemas(client)(1)
