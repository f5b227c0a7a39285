"""One raw record through the transformer (connect/transformer/event_transformer.py): decode,
validate, the production transform chain, the stored shape. A good record becomes the stored
document; each bad one becomes a Failure naming its stage and reason; a registry that cannot
answer is not the record's fault and is raised, never dead-lettered."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import struct
from datetime import UTC, datetime

import bson
import fastavro
import pytest
from bson.int64 import Int64

from authtrail.contract import load_contract
from authtrail.errors import DependencyUnavailableError
from authtrail.kafka.records import RawMessage
from authtrail.settings import load_settings
from connect.dead_letter import Failure
from connect.transformer.event_codec import WriterSchema
from connect.transformer.event_transformer import DROPPED, EventTransformer, Forward, Outcome
from connect.transformer.stored_shape import StoredShape
from connect.transformer.transforms.chain import TransformChain
from connect.transformer.validation import Limits

SETTINGS = load_settings()
CONTRACT = load_contract(SETTINGS.schemas_dir)
RAW_TOPIC = "audit.events.raw"
NOW_S = 1_700_000_000.0  # the transformer's clock; EVENT happened 18 months before
LIMITS = Limits(
    max_event_data_bytes=1024, max_age_s=3650 * 86_400, max_future_s=300, max_stored_document_bytes=256 * 1024
)
KEY_ID, VALUE_ID = 1, 2
EVENT = {
    "id": "e1",
    "timestamp": 1_652_502_000,
    "user_id": 42,
    "company_id": 7,
    "event_type": "update",
    "resource_type": "bug",
    "resource_id": "BUG-1",
    "event_data": '{"title": "Crash", "to": "done"}',
}
TZ = bson.CodecOptions(tz_aware=True, tzinfo=UTC)


def lookup(schema_id: int) -> WriterSchema | None:
    """The registry: the contract's key and value schemas under the raw topic's subjects."""
    return {
        KEY_ID: WriterSchema(KEY_ID, CONTRACT.key_schema, frozenset({(f"{RAW_TOPIC}-key", 1)})),
        VALUE_ID: WriterSchema(VALUE_ID, CONTRACT.event_schema, frozenset({(f"{RAW_TOPIC}-value", 1)})),
    }.get(schema_id)


def framed(datum: object, schema_id: int) -> bytes:
    body = io.BytesIO()
    fastavro.schemaless_writer(
        body, CONTRACT.key_schema if schema_id == KEY_ID else CONTRACT.event_schema, datum
    )
    return struct.pack(">bI", 0, schema_id) + body.getvalue()


def message(value: bytes | None = None, key: bytes | None = None, **event_changes: object) -> RawMessage:
    return RawMessage(
        topic=RAW_TOPIC,
        partition=3,
        offset=1234,
        timestamp_ms=1_700_000_000_123,
        key=framed(42, KEY_ID) if key is None else key,
        value=framed({**EVENT, **event_changes}, VALUE_ID) if value is None else value,
    )


def transformer(
    chain: TransformChain | None = None, clock_s: float = NOW_S, schemas=lookup, limits: Limits = LIMITS
) -> EventTransformer:
    return EventTransformer(
        schemas=schemas,
        raw_topic=RAW_TOPIC,
        chain=chain or TransformChain.from_file(SETTINGS.transforms_file),
        shape=StoredShape(CONTRACT.stored_shape),
        limits=limits,
        clock=lambda: clock_s,
    )


def failure(outcome: Outcome) -> Failure:
    assert isinstance(outcome, Failure), outcome
    return outcome


class TestAGoodRecord:
    def stored(self) -> tuple[Forward, dict]:
        outcome = transformer().process(message())
        assert isinstance(outcome, Forward), outcome
        return outcome, bson.decode(outcome.value, codec_options=TZ)

    def test_becomes_the_stored_document(self):
        _, document = self.stored()
        assert document == {
            "_id": "e1",
            "timestamp": datetime(2022, 5, 14, 4, 20, tzinfo=UTC),
            "user_id": 42,
            "company_id": 7,
            "event_type": "update",
            "event_resource_type": "bug",
            "resource_id": "BUG-1",
            "event_data": {"title": "Crash", "to": "done"},
            "content_sha256": document["content_sha256"],  # checked below
            "kafka_topic": RAW_TOPIC,
            "kafka_partition": 3,
            "kafka_offset": 1234,
            "ingested_at": datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC),
        }
        assert next(iter(document)) == "_id"

    def test_ids_and_the_offset_are_64_bit_and_the_partition_32_bit(self):
        _, document = self.stored()
        assert [type(document[name]) for name in ("user_id", "company_id", "kafka_offset")] == [Int64] * 3
        assert type(document["kafka_partition"]) is int

    def test_its_fingerprint_is_the_sha256_of_the_validated_event_as_canonical_json(self):
        _, document = self.stored()
        validated = {**EVENT, "event_data": {"title": "Crash", "to": "done"}}
        canonical = json.dumps(validated, sort_keys=True, separators=(",", ":")).encode()
        assert document["content_sha256"] == hashlib.sha256(canonical).hexdigest()

    def test_the_sink_key_is_the_user(self):
        forward, _ = self.stored()
        assert forward.key == b'{"user_id":42}'


class TestEachFailureStage:
    def test_a_value_not_in_the_wire_format_fails_decoding(self):
        outcome = failure(transformer().process(message(value=b'{"id": "e1"}')))
        assert (outcome.stage, outcome.reason, outcome.exception) == (
            "decode",
            "not_avro_value",
            "DecodeError",
        )

    def test_a_record_without_a_key_fails_decoding(self):
        outcome = failure(transformer().process(message(key=b"")))
        assert (outcome.stage, outcome.reason) == ("decode", "missing_key")

    def test_an_event_too_old_for_the_clock_fails_validation(self):
        ten_years_later = NOW_S + 10 * 365 * 86_400
        outcome = failure(transformer(clock_s=ten_years_later).process(message()))
        assert (outcome.stage, outcome.reason) == ("validate", "timestamp_out_of_range")
        assert str(int(ten_years_later)) in outcome.detail

    def test_a_key_that_is_not_the_user_fails_validation(self):
        outcome = failure(transformer().process(message(key=framed(43, KEY_ID))))
        assert (outcome.stage, outcome.reason, outcome.path, outcome.rule) == (
            "validate",
            "key_mismatch",
            "",
            "",
        )

    def test_a_value_the_store_contract_refuses_names_its_path_and_rule(self):
        outcome = failure(transformer().process(message(event_data='{"tags": {"a.b": 1}}')))
        assert (outcome.stage, outcome.reason, outcome.exception) == (
            "validate",
            "invalid_event_data",
            "UnstorableError",
        )
        assert (outcome.path, outcome.rule) == ("event_data.tags.'a.b'", "dotted_key")

    def test_a_chain_that_cannot_transform_the_record_fails_the_transform_stage(self):
        cast_text_to_int = TransformChain.from_config(
            {
                "transforms": "c",
                "transforms.c.type": "org.apache.kafka.connect.transforms.Cast$Value",
                "transforms.c.spec": "event_type:int32",
            }
        )
        outcome = failure(transformer(chain=cast_text_to_int).process(message()))
        assert (outcome.stage, outcome.reason, outcome.exception) == (
            "transform",
            "transform_failed",
            "TransformDataError",
        )

    def test_a_chain_whose_output_lacks_stored_fields_fails_the_shape_stage(self):
        outcome = failure(transformer(chain=TransformChain([])).process(message()))
        assert (outcome.stage, outcome.reason) == ("shape", "shape_mismatch")
        assert "event_resource_type" in outcome.detail

    def test_a_stored_document_over_its_limit_is_too_large_and_one_at_it_is_forwarded(self):
        size = len(TestAGoodRecord().stored()[0].value)
        at_limit = transformer(limits=dataclasses.replace(LIMITS, max_stored_document_bytes=size))
        assert isinstance(at_limit.process(message()), Forward)
        over = transformer(limits=dataclasses.replace(LIMITS, max_stored_document_bytes=size - 1))
        outcome = failure(over.process(message()))
        assert (outcome.stage, outcome.reason) == ("shape", "event_too_large")
        assert f"{size:,} bytes" in outcome.detail


class TestTombstones:
    def test_the_production_chain_drops_a_tombstone(self):
        tombstone = RawMessage(RAW_TOPIC, 0, 5, 1_700_000_000_000, framed(42, KEY_ID), None)
        assert transformer().process(tombstone) is DROPPED

    def test_a_tombstone_no_stage_drops_cannot_be_stored(self):
        tombstone = RawMessage(RAW_TOPIC, 0, 5, 1_700_000_000_000, framed(42, KEY_ID), None)
        outcome = failure(transformer(chain=TransformChain([])).process(tombstone))
        assert (outcome.stage, outcome.reason) == ("transform", "tombstone")


def test_a_registry_that_cannot_answer_is_raised_not_dead_lettered():
    def unavailable(schema_id: int) -> WriterSchema | None:
        raise DependencyUnavailableError("schema registry", "connection refused")

    with pytest.raises(DependencyUnavailableError, match="schema registry"):
        transformer(schemas=unavailable).process(message())
