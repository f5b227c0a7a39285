"""The ``$Key`` / ``$Value`` variants of Connect's transformations: which part they change."""

from __future__ import annotations

from typing import Any, Literal

from connect.transformer.record import ConnectRecord

Part = Literal["key", "value"]


def operating(record: ConnectRecord, part: Part) -> Any:
    return record.key if part == "key" else record.value


def replaced(record: ConnectRecord, part: Part, new: Any) -> ConnectRecord:
    return record.with_key(new) if part == "key" else record.with_value(new)
