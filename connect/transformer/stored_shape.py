"""The stored document's shape (``schemas/stored_audit_event.json``): checked and encoded here.

Whatever the transform chain is configured to do, a record reaches the sink topic only if
it has every required field with its declared BSON type — a misconfigured chain sends
records to the dead-letter topic instead of writing malformed audit documents. Declared
``long`` fields are written as 64-bit integers even when small (BSON would pick int32).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import bson
from bson.int64 import Int64

from authtrail.errors import AuthtrailError

INT32 = range(-(2**31), 2**31)


class ShapeError(AuthtrailError):
    pass


def _long(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return Int64(value)
    raise ShapeError(f"expected long, got {type(value).__name__}")


def _int(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value in INT32:
        return int(value)
    raise ShapeError(f"expected int (32-bit), got {value!r}")


def _of(kind: type | tuple[type, ...], label: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if isinstance(value, kind) and not (label != "bool" and isinstance(value, bool)):
            return value
        raise ShapeError(f"expected {label}, got {type(value).__name__}")

    return check


COERCE: dict[str, Callable[[Any], Any]] = {
    "long": _long,
    "int": _int,
    "string": _of(str, "string"),
    "date": _of(datetime, "date"),
    "object": _of(dict, "object"),
    "array": _of(list, "array"),
    "double": _of(float, "double"),
    "bool": _of(bool, "bool"),
}


class StoredShape:
    def __init__(self, shape: Mapping[str, Any]) -> None:
        self.required: tuple[str, ...] = tuple(shape.get("required", ()))
        self.fields: dict[str, Callable[[Any], Any]] = {
            name: COERCE[spec["bsonType"]] for name, spec in shape.get("properties", {}).items()
        }

    def encode(self, document: Mapping[str, Any]) -> bytes:
        """BSON of ``document`` with ``_id`` first, or :class:`ShapeError` naming the field."""
        missing = [name for name in self.required if document.get(name) is None]
        if missing:
            raise ShapeError(f"missing or null: {', '.join(missing)}")
        encoded: dict[str, Any] = {"_id": None}
        for name, value in document.items():
            if not name or name.startswith("$") or "." in name or "\x00" in name:
                raise ShapeError(f"field name {name!r} cannot be stored (empty, '$…', '.' or NUL)")
            coerce = self.fields.get(name)
            try:
                encoded[name] = coerce(value) if coerce is not None and value is not None else value
            except ShapeError as exc:
                raise ShapeError(f"{name}: {exc}") from None
        try:
            return bson.encode(encoded)
        except (bson.errors.InvalidDocument, OverflowError) as exc:
            raise ShapeError(f"not encodable as BSON: {exc}") from exc
