"""Produce audit events as a bug-tracker service would: Avro through the registry serializer,
keyed by ``user_id`` (so each user's events keep one partition, in order), acks=all."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from authtrail.contract import load_contract
from authtrail.kafka.clients import producer_config
from authtrail.settings import Settings


@dataclass
class DeliveryCounts:
    sent: int = 0
    acked: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class EventEmitter:
    """Serializes and produces events; counts every delivery report, never drops one silently.

    ``schema_str`` defaults to the contract; tests and the evolution scenario pass a newer
    registered version.
    """

    def __init__(
        self,
        settings: Settings,
        schema_str: str | None = None,
        topic: str | None = None,
        **producer_overrides: Any,
    ) -> None:
        contract = load_contract(settings.schemas_dir)
        self.topic = topic or settings.raw_topic
        self.registry = SchemaRegistryClient({"url": settings.schema_registry_url})
        # Producers look schemas up; only `authtrail register-schemas` registers them.
        serializer_conf = {"auto.register.schemas": False, "use.latest.version": False}
        self.value_serializer = AvroSerializer(
            self.registry, schema_str or contract.event_schema_str, conf=serializer_conf
        )
        self.key_serializer = AvroSerializer(self.registry, contract.key_schema_str, conf=serializer_conf)
        self.producer = Producer(producer_config(settings, "authtrail-emitter", **producer_overrides))
        self.counts = DeliveryCounts()
        self._lock = threading.Lock()
        self._key_ctx = SerializationContext(self.topic, MessageField.KEY)
        self._value_ctx = SerializationContext(self.topic, MessageField.VALUE)

    def serialize(self, event: dict[str, Any]) -> tuple[bytes, bytes]:
        key = self.key_serializer(event["user_id"], self._key_ctx)
        value = self.value_serializer(event, self._value_ctx)
        assert key is not None
        assert value is not None
        return key, value

    def send(self, event: dict[str, Any]) -> None:
        key, value = self.serialize(event)
        self.send_raw(key, value)

    def send_raw(
        self,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, str | bytes | None]] | None = None,
    ) -> None:
        """Produce bytes as they are (pre-serialized events, or deliberately bad records)."""
        while True:
            try:
                self.producer.produce(
                    self.topic, key=key, value=value, headers=headers, on_delivery=self._delivered
                )
                break
            except BufferError:
                self.producer.poll(0.05)
        self.counts.sent += 1
        self.producer.poll(0)

    def flush(self, timeout_s: float = 60.0) -> int:
        """Wait for every delivery report; returns how many are still outstanding."""
        return int(self.producer.flush(timeout_s))

    def close(self) -> None:
        self.flush()
        self.registry.close()

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        with self._lock:
            if error is None:
                self.counts.acked += 1
            else:
                self.counts.failed += 1
                self.counts.errors[error.name()] = self.counts.errors.get(error.name(), 0) + 1
