"""``org.apache.kafka.connect.transforms.ValueToKey`` (schemaless)."""

from __future__ import annotations

from connect.transformer.record import ConnectRecord
from connect.transformer.transforms.base import Config, TransformConfigError, require_map


class ValueToKey:
    """Replace the key with a map of the named value fields (missing ones become null)."""

    def __init__(self, config: Config) -> None:
        self.fields = config.list("fields")
        if not self.fields:
            raise TransformConfigError("ValueToKey: 'fields' must name at least one field")

    def apply(self, record: ConnectRecord) -> ConnectRecord:
        value = require_map(record.value, "copying fields from value to key")
        return record.with_key({name: value.get(name) for name in self.fields})
