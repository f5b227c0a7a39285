"""What every transformation and predicate shares: its protocol and errors, in Connect's terms."""

from __future__ import annotations

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
