"""``org.apache.kafka.connect.transforms.ValueToKey`` (schemaless)."""

from __future__ import annotations

from connect.transformer.record import ConnectRecord
from connect.transformer.transforms.base import require_map
from connect.transformer.transforms.config_def import REPLACE_NULL_WITH_DEFAULT, Config, ConfigDef, ConfigKey


class ValueToKey:
    """Replace the key with a map of the named value fields (missing ones become null)."""

    CONFIG_DEF = ConfigDef(
        ConfigKey(
            "fields", "list", doc="Value fields to extract as the record key.", validator=ConfigDef.non_empty
        ),
        REPLACE_NULL_WITH_DEFAULT,
    )

    def __init__(self, config: Config) -> None:
        self.fields = self.CONFIG_DEF.parse(config)["fields"]

    def apply(self, record: ConnectRecord) -> ConnectRecord:
        value = require_map(record.value, "copying fields from value to key")
        return record.with_key({name: value.get(name) for name in self.fields})
