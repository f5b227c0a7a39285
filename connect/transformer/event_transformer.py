"""One raw record in, one outcome out: forward to the sink topic, dead-letter, or dropped by a
configured Filter. The consume loop (``service.py``) does the I/O around it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from authtrail.contract import key_subject, load_contract, value_subject
from authtrail.errors import RecordRejectedError
from authtrail.kafka.records import RawMessage
from authtrail.settings import Settings
from connect.dead_letter import Failure
from connect.transformer.event_codec import AvroDecoder, DecodeError, SchemaLookup
from connect.transformer.record import ConnectRecord
from connect.transformer.storable import UnstorableError
from connect.transformer.stored_shape import ShapeError, StoredShape
from connect.transformer.transforms.base import TransformDataError
from connect.transformer.transforms.chain import TransformChain
from connect.transformer.validation import Limits, fingerprint, validate_event


@dataclass(frozen=True)
class Forward:
    key: bytes
    value: bytes


@dataclass(frozen=True)
class Dropped:
    """A configured Filter stage dropped the record on purpose (e.g. a tombstone)."""


DROPPED = Dropped()
Outcome = Forward | Failure | Dropped


class RecordProcessor(Protocol):
    """What the consume loop needs from a transformer (benchmarks swap in a pass-through)."""

    chain: TransformChain

    def process(self, message: RawMessage) -> Outcome: ...


class EventTransformer:
    def __init__(
        self,
        schemas: SchemaLookup,
        raw_topic: str,
        chain: TransformChain,
        shape: StoredShape,
        limits: Limits,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = AvroDecoder(schemas, key_subject(raw_topic), "key")
        self.values = AvroDecoder(schemas, value_subject(raw_topic), "value")
        self.chain = chain
        self.shape = shape
        self.limits = limits
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, schemas: SchemaLookup) -> EventTransformer:
        return cls(
            schemas=schemas,
            raw_topic=settings.raw_topic,
            chain=TransformChain.from_file(settings.transforms_file),
            shape=StoredShape(load_contract(settings.schemas_dir).stored_shape),
            limits=Limits(
                max_event_data_bytes=settings.max_event_data_bytes,
                max_age_s=settings.max_event_age_days * 86_400,
                max_future_s=settings.max_event_future_s,
                max_stored_document_bytes=settings.max_stored_document_bytes,
            ),
        )

    def process(self, message: RawMessage) -> Outcome:
        """Never raises for a bad record; raises ``DependencyUnavailableError`` when the
        registry cannot be asked (the record is then retried, not dead-lettered)."""
        try:
            key, _ = self.keys.decode(message.key)
            event: Any = None if message.value is None else self.values.decode(message.value)[0]
        except DecodeError as exc:
            return Failure("decode", exc.reason, exc.detail, type(exc).__name__)
        return self.transform(event, key, message)

    def transform(self, event: Any, key: Any, message: RawMessage) -> Outcome:
        """What happens to a decoded event (``None`` for a tombstone): validate, fingerprint,
        the transform chain, the stored shape. ``message`` gives the record's coordinates."""
        if event is not None:
            try:
                event = validate_event(event, key, self.clock(), self.limits)
            except UnstorableError as exc:
                return Failure("validate", exc.reason, exc.detail, type(exc).__name__, exc.path, exc.rule)
            except RecordRejectedError as exc:
                return Failure("validate", exc.reason, exc.detail, type(exc).__name__)
            event["content_sha256"] = fingerprint(event)
        record = ConnectRecord(
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            timestamp=message.timestamp_ms,
            key=key,
            value=event,
            headers=message.headers,
        )
        try:
            transformed = self.chain.apply(record)
        except TransformDataError as exc:
            return Failure("transform", "transform_failed", str(exc), type(exc).__name__)
        if transformed is None:
            return DROPPED
        if transformed.value is None:
            return Failure("transform", "tombstone", "a record without a value cannot be stored", "")
        try:
            value = self.shape.encode(transformed.value)
        except ShapeError as exc:
            return Failure("shape", "shape_mismatch", str(exc), type(exc).__name__)
        if len(value) > self.limits.max_stored_document_bytes:
            detail = (
                f"the stored document would be {len(value):,} bytes; "
                f"the limit is {self.limits.max_stored_document_bytes:,}"
            )
            return Failure("shape", "event_too_large", detail, "")
        return Forward(key=encode_key(transformed.key), value=value)


def encode_key(key: Any) -> bytes:
    """The sink topic's key: compact JSON of what the chain made of it (ValueToKey gives
    ``{"user_id": 42}``), so one user's events keep one partition there too."""
    return orjson.dumps(key, option=orjson.OPT_SORT_KEYS, default=str)
