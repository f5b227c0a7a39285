"""What every transformation and predicate shares: configuration and errors, in Connect's terms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from authtrail.errors import AuthtrailError
from connect.transformer.record import ConnectRecord


class TransformConfigError(AuthtrailError):
    """A transformation's configuration is invalid (Connect: ``ConfigException``)."""


class TransformDataError(AuthtrailError):
    """A record cannot be transformed (Connect: ``DataException``)."""


class Transformation(Protocol):
    def apply(self, record: ConnectRecord) -> ConnectRecord | None: ...


class Predicate(Protocol):
    def test(self, record: ConnectRecord) -> bool: ...


class Config:
    """A transformation's own keys (``transforms.<alias>.`` already stripped)."""

    def __init__(self, type_name: str, values: Mapping[str, str]) -> None:
        self.type_name = type_name
        self.values = dict(values)

    def string(self, key: str, default: str | None = None) -> str | None:
        value = self.values.get(key, default)
        return value.strip() if isinstance(value, str) else value

    def required(self, key: str) -> str:
        value = self.string(key)
        if not value:
            raise TransformConfigError(f"{self.type_name}: missing required configuration {key!r}")
        return value

    def list(self, key: str) -> list[str]:
        """Connect's LIST type: comma-separated, items trimmed, empty items dropped."""
        raw = self.values.get(key, "")
        return [item.strip() for item in raw.split(",") if item.strip()]

    def boolean(self, key: str, default: bool) -> bool:
        raw = self.string(key)
        if raw is None or raw == "":
            return default
        if raw.lower() not in ("true", "false"):
            raise TransformConfigError(f"{self.type_name}: {key} must be true or false, not {raw!r}")
        return raw.lower() == "true"


def require_map(value: Any, purpose: str) -> dict[str, Any]:
    """Connect's ``Requirements.requireMap`` for schemaless records."""
    if not isinstance(value, dict):
        raise TransformDataError(
            f"Only Map objects supported in absence of schema for [{purpose}], found: {type(value).__name__}"
        )
    return value


def field_name(spec: str | None) -> str | None:
    """InsertField's field spec: a trailing ``!`` (required) or ``?`` (optional) is not part of the name."""
    if spec is None or spec == "":
        return None
    return spec[:-1] if spec[-1] in "!?" else spec


def describe(value: Any) -> str:
    return type(value).__name__


JsonLike = Mapping[str, Any]
