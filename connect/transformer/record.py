"""The record a transform chain works on: Kafka Connect's ``SinkRecord``, schemaless."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class ConnectRecord:
    """A Kafka record as Connect's transformations see it (values are plain Python data).

    Widths Connect distinguishes are kept where they reach the store: ``bson.Int64`` for
    int64/``Long`` values, plain ``int`` for the narrower ones, ``datetime`` for ``Date``.
    """

    topic: str
    partition: int
    offset: int
    timestamp: int | None  # epoch milliseconds, as Kafka carries it
    key: Any
    value: Any
    headers: tuple[tuple[str, bytes | None], ...] = field(default=())

    def with_value(self, value: Any) -> ConnectRecord:
        return replace(self, value=value)

    def with_key(self, key: Any) -> ConnectRecord:
        return replace(self, key=key)
