"""A consumed Kafka record as plain, immutable data: what the transformer, the sink watch and
the dead-letter tools work on, so none of them touches librdkafka's ``Message`` directly."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import Message


@dataclass(frozen=True)
class RawMessage:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()


def raw_message(message: Message) -> RawMessage:
    """A consumed record without error (it always has topic, partition and offset)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    assert topic is not None
    assert partition is not None
    assert offset is not None
    kind, timestamp = message.timestamp()
    key, value = message.key(), message.value()
    headers = message.headers() or []
    pairs = headers.items() if isinstance(headers, dict) else headers
    return RawMessage(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp_ms=timestamp if kind else None,
        key=key.encode() if isinstance(key, str) else key,
        value=value.encode() if isinstance(value, str) else value,
        headers=tuple((k, v.encode() if isinstance(v, str) else v) for k, v in pairs),
    )
