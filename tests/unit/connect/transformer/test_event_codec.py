"""Decoding raw records (connect/transformer/event_codec.py): the Schema Registry wire format
(magic byte 0, a big-endian 4-byte schema id, the Avro body), trusted only for ids the registry
lists under the expected subject; every way a record can be unreadable has its own reason."""

from __future__ import annotations

import io
import struct
from typing import Any

import fastavro
import pytest

from authtrail.contract import load_contract
from authtrail.settings import load_settings
from connect.transformer.event_codec import AvroDecoder, DecodeError, WriterSchema

SUBJECT = "audit.events.raw-value"
CONTRACT = load_contract(load_settings().schemas_dir)
EVENT = {
    "id": "e1",
    "timestamp": 1_652_502_000,
    "user_id": 42,
    "company_id": 7,
    "event_type": "update",
    "resource_type": "bug",
    "resource_id": "BUG-1",
    "event_data": '{"title":"Crash"}',
}
# EVENT framed with schema id 7, byte by byte: the contract's field order, Avro's encodings.
EVENT_BYTES = (
    b"\x00"  # magic byte
    + b"\x00\x00\x00\x07"  # schema id 7, big-endian
    + b"\x04e1"  # id: a string is its zigzag-varint length (2 -> 4), then UTF-8
    + b"\xe0\xb7\xf9\xa7\x0c"  # timestamp 1_652_502_000: a long is a zigzag varint
    + b"\x54"  # user_id 42
    + b"\x0e"  # company_id 7
    + b"\x0cupdate"
    + b"\x06bug"
    + b"\x0aBUG-1"
    + b'\x22{"title":"Crash"}'
)


def avro(datum: object, schema: Any = CONTRACT.event_schema) -> bytes:
    body = io.BytesIO()
    fastavro.schemaless_writer(body, schema, datum)
    return body.getvalue()


def framed(body: bytes, schema_id: int = 7) -> bytes:
    return struct.pack(">bI", 0, schema_id) + body


class Registry:
    """An in-memory SchemaLookup that counts how often each id is asked for."""

    def __init__(self, *schemas: WriterSchema) -> None:
        self.schemas = {schema.schema_id: schema for schema in schemas}
        self.asked: list[int] = []

    def __call__(self, schema_id: int) -> WriterSchema | None:
        self.asked.append(schema_id)
        return self.schemas.get(schema_id)


def ours(schema_id: int = 7, parsed: object = CONTRACT.event_schema) -> WriterSchema:
    return WriterSchema(schema_id, parsed, frozenset({(SUBJECT, 1)}))


def refusal(data: bytes | None, registry: Registry | None = None) -> DecodeError:
    with pytest.raises(DecodeError) as error:
        AvroDecoder(registry or Registry(ours()), SUBJECT, "value").decode(data)
    return error.value


def test_an_event_encodes_to_exactly_these_bytes_and_decodes_back() -> None:
    assert framed(avro(EVENT)) == EVENT_BYTES
    assert AvroDecoder(Registry(ours()), SUBJECT, "value").decode(EVENT_BYTES) == (EVENT, 7)


def test_the_schema_id_is_read_big_endian() -> None:
    registry = Registry(ours(schema_id=0x01020304))
    _, schema_id = AvroDecoder(registry, SUBJECT, "value").decode(framed(avro(EVENT), 0x01020304))
    assert (schema_id, registry.asked) == (0x01020304, [0x01020304])


def test_a_key_decodes_with_the_key_schema() -> None:
    registry = Registry(WriterSchema(3, CONTRACT.key_schema, frozenset({("audit.events.raw-key", 1)})))
    assert AvroDecoder(registry, "audit.events.raw-key", "key").decode(b"\x00\x00\x00\x00\x03\x54") == (42, 3)


def test_the_registry_is_asked_once_per_trusted_id() -> None:
    registry = Registry(ours())
    decoder = AvroDecoder(registry, SUBJECT, "value")
    for _ in range(3):
        decoder.decode(EVENT_BYTES)
    assert registry.asked == [7]


@pytest.mark.parametrize("data", [None, b""])
def test_no_bytes_at_all_is_a_missing_value(data: bytes | None) -> None:
    assert refusal(data).reason == "missing_value"


@pytest.mark.parametrize(
    "data",
    [
        b"\x01" + EVENT_BYTES[1:],  # magic byte 1
        b"{" + EVENT_BYTES[1:],  # JSON, say
        b"\x00\x00\x00\x07",  # shorter than the header
    ],
)
def test_anything_but_magic_byte_zero_and_a_schema_id_is_not_avro(data: bytes) -> None:
    assert refusal(data).reason == "not_avro_value"


def test_an_unknown_schema_id_is_refused() -> None:
    error = refusal(framed(avro(EVENT), schema_id=99))
    assert error.reason == "unknown_schema_id_value"
    assert "99" in error.detail


def test_an_id_registered_for_another_subject_is_refused_even_if_the_bytes_would_decode() -> None:
    elsewhere = WriterSchema(8, CONTRACT.event_schema, frozenset({("billing.events-value", 2)}))
    error = refusal(framed(avro(EVENT), schema_id=8), Registry(ours(), elsewhere))
    assert error.reason == "wrong_schema_value"
    assert "billing.events-value" in error.detail


def test_an_id_of_our_subject_that_is_not_readable_avro_is_refused() -> None:
    error = refusal(EVENT_BYTES, Registry(ours(parsed=None)))
    assert error.reason == "wrong_schema_value"
    assert "not an Avro schema" in error.detail


def test_an_untrusted_id_is_not_remembered_as_trusted() -> None:
    registry = Registry()
    decoder = AvroDecoder(registry, SUBJECT, "value")
    for _ in range(2):
        with pytest.raises(DecodeError):
            decoder.decode(EVENT_BYTES)
    registry.schemas[7] = ours()  # registered since
    assert decoder.decode(EVENT_BYTES) == (EVENT, 7)


def test_trailing_bytes_after_the_record_are_refused() -> None:
    error = refusal(EVENT_BYTES + b"\x00\x00")
    assert error.reason == "malformed_avro_value"
    assert "2 trailing bytes" in error.detail


@pytest.mark.parametrize("cut", [1, 5, len(EVENT_BYTES) - 6])
def test_a_truncated_body_is_refused(cut: int) -> None:
    assert refusal(EVENT_BYTES[:-cut]).reason == "malformed_avro_value"


def test_a_string_that_is_not_utf8_is_refused_with_its_own_reason() -> None:
    body = avro(EVENT).replace(b"\x04e1", b"\x04\xff\xfe", 1)  # the id's two bytes
    assert refusal(framed(body)).reason == "invalid_utf8_value"


def test_the_reason_names_the_part() -> None:
    with pytest.raises(DecodeError) as error:
        AvroDecoder(Registry(), "audit.events.raw-key", "key").decode(b"\x01")
    assert error.value.reason == "not_avro_key"
