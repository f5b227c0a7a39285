"""``org.apache.kafka.connect.transforms.Filter``: drops every record it is applied to.

Used with a predicate, it drops exactly the records the predicate selects.
"""

from __future__ import annotations

from connect.transformer.record import ConnectRecord
from connect.transformer.transforms.config_def import Config, ConfigDef


class Filter:
    CONFIG_DEF = ConfigDef()  # no keys of its own: any key is a mistake

    def __init__(self, config: Config) -> None:
        self.CONFIG_DEF.parse(config)

    def apply(self, record: ConnectRecord) -> None:
        del record
