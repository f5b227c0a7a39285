"""``org.apache.kafka.connect.transforms.ReplaceField$Key|$Value`` (schemaless)."""

from __future__ import annotations

from connect.transformer.record import ConnectRecord
from connect.transformer.transforms._operating import Part, operating, replaced
from connect.transformer.transforms.base import Config, TransformConfigError, require_map


class ReplaceField:
    """Keep fields that pass include/exclude, then rename them."""

    def __init__(self, config: Config, part: Part) -> None:
        self.part = part
        # `blacklist` / `whitelist` are the deprecated names Connect still accepts.
        self.exclude = set(config.list("exclude") or config.list("blacklist"))
        self.include = set(config.list("include") or config.list("whitelist"))
        self.renames: dict[str, str] = {}
        for mapping in config.list("renames"):
            old, sep, new = mapping.partition(":")
            if not sep or not old or not new or ":" in new:
                raise TransformConfigError(f"ReplaceField: invalid rename mapping {mapping!r}")
            self.renames[old] = new

    def keeps(self, name: str) -> bool:
        return name not in self.exclude and (not self.include or name in self.include)

    def apply(self, record: ConnectRecord) -> ConnectRecord:
        value = operating(record, self.part)
        if value is None:
            return record
        source = require_map(value, "field replacement")
        return replaced(
            record, self.part, {self.renames.get(k, k): v for k, v in source.items() if self.keeps(k)}
        )
