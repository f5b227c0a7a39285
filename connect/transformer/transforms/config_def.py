"""Declared configuration, as Kafka's ``ConfigDef``: each key's name, type, default, doc and
validator, parsed with Java's rules. Unlike Connect, which ignores keys it does not know, an
unknown key is refused: a misspelled key in ``transforms.properties`` would change nothing."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from connect.transformer.transforms._java import parse_int
from connect.transformer.transforms.base import TransformConfigError

REQUIRED: Any = object()  # ConfigDef.NO_DEFAULT_VALUE
_JAVA_TRIMMED = "".join(map(chr, range(0x21)))  # String.trim(): U+0000..U+0020, no other whitespace
_COMMA_WITH_WHITESPACE = re.compile(r"[ \t\n\x0b\f\r]*,[ \t\n\x0b\f\r]*")  # Java's \s*,\s*
Type = Literal["string", "list", "boolean", "int"]  # the ConfigDef.Type values transforms use


def parse_value(type_: Type, text: str) -> Any:
    """``ConfigDef.parseType``: trimmed; a list keeps empty items (as Java splits); a boolean is
    true/false in any case; an int is Java's 32-bit ``Integer.parseInt``."""
    trimmed = text.strip(_JAVA_TRIMMED)
    if type_ == "list":
        return tuple(_COMMA_WITH_WHITESPACE.split(trimmed)) if trimmed else ()
    if type_ == "boolean":
        if trimmed.lower() not in ("true", "false"):
            raise ValueError("Expected value to be either true or false")
        return trimmed.lower() == "true"
    return parse_int(trimmed, 32) if type_ == "int" else trimmed


@dataclass(frozen=True)
class ConfigKey:
    """``validator`` raises ``ValueError`` saying what is wrong with a parsed, non-null value."""

    name: str
    type: Type
    default: Any = REQUIRED
    doc: str = ""
    validator: Callable[[Any], object] | None = None


@dataclass(frozen=True)
class Config:
    """A stage's own keys as written; ``prefix`` (``transforms.<alias>``) says where."""

    prefix: str
    values: Mapping[str, str]

    def error(self, key: str, problem: str) -> TransformConfigError:
        return TransformConfigError(f"{self.prefix}.{key}: {problem}")


class ConfigDef:
    """The keys a transformation accepts (Kafka's ``ConfigDef``). Unlike Connect, which logs and
    ignores an unknown key, an unknown key is an error: a typo must not silently change nothing."""

    def __init__(self, *keys: ConfigKey) -> None:
        self.keys = {key.name: key for key in keys}

    def parse(self, config: Config) -> dict[str, Any]:
        given = dict(config.values)
        if unknown := sorted(given.keys() - self.keys.keys()):
            raise config.error(unknown[0], f"unknown configuration (known: {', '.join(self.keys) or 'none'})")
        parsed: dict[str, Any] = {}
        for key in self.keys.values():
            text = given.get(key.name)
            if text is None and key.default is REQUIRED:
                raise config.error(key.name, "missing required configuration, which has no default value")
            try:
                value = key.default if text is None else parse_value(key.type, text)
                if key.validator is not None and value is not None:
                    key.validator(value)
            except ValueError as exc:
                raise config.error(key.name, f"invalid value {text!r}: {exc}") from exc
            parsed[key.name] = value
        return parsed

    @staticmethod
    def non_empty(value: Collection[Any]) -> None:
        """``ConfigDef.NonEmptyString``, Connect's ``NonEmptyListValidator``."""
        if not value:
            raise ValueError("must not be empty")

    @staticmethod
    def one_of(*allowed: str) -> Callable[[str], None]:
        """``ConfigDef.ValidString.in``: case-sensitive."""

        def check(value: str) -> None:
            if value not in allowed:
                raise ValueError(f"String must be one of: {', '.join(allowed)}")

        return check


# Connect declares it on ReplaceField, InsertField, Cast, TimestampConverter and ValueToKey
# (KIP-1040); it only concerns Struct fields with defaults, so schemaless records ignore it.
REPLACE_NULL_WITH_DEFAULT = ConfigKey(
    "replace.null.with.default", "boolean", True, "Null Struct fields take defaults"
)
