"""Connect's built-in predicates: ``TopicNameMatches``, ``HasHeaderKey``, ``RecordIsTombstone``."""

from __future__ import annotations

import re

from connect.transformer.record import ConnectRecord
from connect.transformer.transforms.config_def import Config, ConfigDef, ConfigKey


def _regex(pattern: str) -> None:
    ConfigDef.non_empty(pattern)
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from exc


class TopicNameMatches:
    CONFIG_DEF = ConfigDef(
        ConfigKey("pattern", "string", doc="Regex of whole topic names.", validator=_regex)
    )

    def __init__(self, config: Config) -> None:
        self.pattern = re.compile(self.CONFIG_DEF.parse(config)["pattern"])

    def test(self, record: ConnectRecord) -> bool:
        # Java's Matcher.matches(): the whole topic name, not a prefix.
        return self.pattern.fullmatch(record.topic) is not None


class HasHeaderKey:
    CONFIG_DEF = ConfigDef(ConfigKey("name", "string", doc="The header name.", validator=ConfigDef.non_empty))

    def __init__(self, config: Config) -> None:
        self.name = self.CONFIG_DEF.parse(config)["name"]

    def test(self, record: ConnectRecord) -> bool:
        return any(key == self.name for key, _ in record.headers)


class RecordIsTombstone:
    CONFIG_DEF = ConfigDef()

    def __init__(self, config: Config) -> None:
        self.CONFIG_DEF.parse(config)

    def test(self, record: ConnectRecord) -> bool:
        return record.value is None
