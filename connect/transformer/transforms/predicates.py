"""Connect's built-in predicates: ``TopicNameMatches``, ``HasHeaderKey``, ``RecordIsTombstone``."""

from __future__ import annotations

import re

from connect.transformer.record import ConnectRecord
from connect.transformer.transforms.base import Config, TransformConfigError


class TopicNameMatches:
    def __init__(self, config: Config) -> None:
        pattern = config.required("pattern")
        try:
            self.pattern = re.compile(pattern)
        except re.error as exc:
            raise TransformConfigError(f"TopicNameMatches: invalid pattern {pattern!r}: {exc}") from exc

    def test(self, record: ConnectRecord) -> bool:
        # Java's Matcher.matches(): the whole topic name, not a prefix.
        return self.pattern.fullmatch(record.topic) is not None


class HasHeaderKey:
    def __init__(self, config: Config) -> None:
        self.name = config.required("name")

    def test(self, record: ConnectRecord) -> bool:
        return any(key == self.name for key, _ in record.headers)


class RecordIsTombstone:
    def __init__(self, config: Config) -> None:
        del config

    def test(self, record: ConnectRecord) -> bool:
        return record.value is None
