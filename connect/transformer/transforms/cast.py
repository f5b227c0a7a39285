"""``org.apache.kafka.connect.transforms.Cast$Key|$Value`` (schemaless)."""

from __future__ import annotations

import base64
from typing import Any

from bson.int64 import Int64

from connect.transformer.record import ConnectRecord
from connect.transformer.transforms import _java
from connect.transformer.transforms._operating import Part, operating, replaced
from connect.transformer.transforms.base import TransformDataError, require_map
from connect.transformer.transforms.config_def import REPLACE_NULL_WITH_DEFAULT, Config, ConfigDef, ConfigKey

TYPES = ("int8", "int16", "int32", "int64", "float32", "float64", "boolean", "string")
_WHOLE_VALUE = object()


def parse_casts(specs: tuple[str, ...]) -> dict[object, str]:
    """``field:type`` pairs, or one ``type`` for the whole value (Connect's ``parseFieldTypes``)."""
    if not specs:
        raise ValueError("Must specify at least one field to cast.")
    casts: dict[object, str] = {}
    for spec in specs:
        name, sep, type_name = spec.rpartition(":")
        target = type_name.strip().lower()
        if target not in TYPES:
            raise ValueError(f"Invalid type found in casting spec: {type_name.strip()}")
        casts[name.strip() if sep else _WHOLE_VALUE] = target
    if _WHOLE_VALUE in casts and len(specs) > 1:
        raise ValueError(
            "Cast transformations that specify a type to cast the entire value to may only "
            "specify a single cast in their spec"
        )
    return casts


class Cast:
    """Cast named fields (``field:type,…``) or the whole value (``type``) to another type.

    Like Connect, a field named in the spec but absent from the value is set to null.
    """

    CONFIG_DEF = ConfigDef(
        ConfigKey("spec", "list", doc="field:type,… or one type for the whole value", validator=parse_casts),
        REPLACE_NULL_WITH_DEFAULT,
    )

    def __init__(self, config: Config, part: Part) -> None:
        self.part = part
        self.casts = parse_casts(self.CONFIG_DEF.parse(config)["spec"])

    def apply(self, record: ConnectRecord) -> ConnectRecord:
        value = operating(record, self.part)
        if value is None:
            return record
        if _WHOLE_VALUE in self.casts:
            return replaced(record, self.part, cast_value(value, self.casts[_WHOLE_VALUE]))
        updated = dict(require_map(value, "cast types"))
        for name, target in self.casts.items():
            assert isinstance(name, str)
            updated[name] = cast_value(updated.get(name), target)
        return replaced(record, self.part, updated)


def cast_value(value: Any, target: str) -> Any:
    if value is None:
        return None
    if isinstance(value, dict | list) or not isinstance(value, bool | int | float | str | bytes):
        raise TransformDataError(f"Cast transformation does not support casting from {type(value).__name__}")
    try:
        return _CASTS[target](value)
    except ValueError as exc:
        raise TransformDataError(f"Value ({value!s:.80}) was out of range for requested data type") from exc


def _integral(bits: int) -> Any:
    def cast(value: Any) -> int:
        if isinstance(value, bool):
            number = int(value)
        elif isinstance(value, int):
            number = _java.wrap(value, bits)
        elif isinstance(value, float):
            number = _java.double_to_integral(value, bits)
        elif isinstance(value, str):
            number = _java.parse_int(value, bits)
        else:
            raise TransformDataError(f"Unexpected type in Cast transformation: {type(value).__name__}")
        return Int64(number) if bits == 64 else number

    return cast


def _float(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return _java.parse_double(value)
    raise TransformDataError(f"Unexpected type in Cast transformation: {type(value).__name__}")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, float):
        return _java.double_to_integral(value, 64) != 0
    if isinstance(value, str):
        return value.lower() == "true"  # Boolean.parseBoolean never fails
    raise TransformDataError(f"Unexpected type in Cast transformation: {type(value).__name__}")


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _java.double_to_string(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


_CASTS: dict[str, Any] = {
    **{name: _integral(bits) for name, bits in _java.INT_BITS.items()},
    "float32": lambda value: _java.to_float32(_float(value)),
    "float64": _float,
    "boolean": _boolean,
    "string": _string,
}
