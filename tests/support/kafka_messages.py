"""A consumed Kafka record as the services see it (librdkafka's ``Message`` surface), for unit tests."""

from __future__ import annotations


class FakeMessage:
    def __init__(
        self, topic: str, partition: int, offset: int, value: bytes, timestamp_ms: int = 1_700_000_000_000
    ) -> None:
        self._topic, self._partition, self._offset = topic, partition, offset
        self._value, self._timestamp_ms = value, timestamp_ms

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (1, self._timestamp_ms)

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return self._value

    def headers(self) -> None:
        return None
