"""``org.apache.kafka.connect.transforms.Filter``: drops every record it is applied to.

Used with a predicate, it drops exactly the records the predicate selects.
"""

from __future__ import annotations

from connect.transformer.record import ConnectRecord
from connect.transformer.transforms.base import Config


class Filter:
    def __init__(self, config: Config) -> None:
        del config

    def apply(self, record: ConnectRecord) -> None:
        del record
