"""``org.apache.kafka.connect.transforms.ReplaceField$Key|$Value`` (schemaless)."""

from __future__ import annotations

from connect.transformer.record import ConnectRecord
from connect.transformer.transforms._operating import Part, operating, replaced
from connect.transformer.transforms.base import require_map
from connect.transformer.transforms.config_def import REPLACE_NULL_WITH_DEFAULT, Config, ConfigDef, ConfigKey


def parse_renames(mappings: tuple[str, ...]) -> dict[str, str]:
    """``old:new`` pairs (Connect's ``parseRenameMappings``)."""
    renames: dict[str, str] = {}
    for mapping in mappings:
        old, sep, new = mapping.partition(":")
        if not sep or not old or not new or ":" in new:
            raise ValueError(f"Invalid rename mapping: {mapping}")
        renames[old] = new
    return renames


class ReplaceField:
    """Keep fields that pass include/exclude, then rename them."""

    CONFIG_DEF = ConfigDef(
        ConfigKey("exclude", "list", (), "Fields to exclude; this takes precedence over include."),
        ConfigKey("include", "list", (), "Fields to include; if any, only these are kept."),
        ConfigKey("renames", "list", (), "Field renames: foo:bar,abc:xyz.", parse_renames),
        # Not `whitelist`/`blacklist`: gone from Connect 4.1 (KIP-629), which would silently ignore
        # them and keep every field; here they are refused as unknown keys.
        REPLACE_NULL_WITH_DEFAULT,
    )

    def __init__(self, config: Config, part: Part) -> None:
        values = self.CONFIG_DEF.parse(config)
        self.part = part
        self.exclude = set(values["exclude"])
        self.include = set(values["include"])
        self.renames = parse_renames(values["renames"])

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
