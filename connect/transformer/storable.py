"""The stored-document contract: what authtrail stores, decided before the sink, the same way
whatever the store.

MongoDB (the container deployment), FerretDB on PostgreSQL (the local stack) and the
MongoDB-compatible services people deploy on do not accept the same documents. A document
one store refuses must never reach the sink (FerretDB refuses a whole insert command for one
NUL, which used to stall the connector), and the two deployments must never disagree on what
is a valid event. So every value that will be stored is checked here against the rules all
of them accept, and the first value that breaks one is named by its path and rule:

============================  =================================================================
rule                          why
============================  =================================================================
``nul_character``             U+0000 in a string or key: BSON keys cannot hold it; PostgreSQL
                              (jsonb) refuses it in strings
``lone_surrogate``            a UTF-16 surrogate without its pair is not Unicode text (not
                              encodable as UTF-8, hence not as BSON)
``nested_array``              an array directly inside an array: FerretDB refuses it
``dotted_key``                ``.`` in a key: FerretDB refuses it; MongoDB cannot query it by path
``dollar_key``                a key starting with ``$``: reads as an operator; FerretDB refuses it
``empty_key``                 ``""`` as a key: no dotted path can address it
``duplicate_key``             one object naming a key twice: which value is meant depends on the
                              parser (RFC 8259 §4; I-JSON forbids it)
``too_deep``                  nesting beyond ``MAX_DEPTH`` levels
``integer_out_of_range``      an integer outside signed 64 bits: BSON has no wider integer
``non_finite_number``         NaN or ±Infinity (JSON has no such numbers; ``1e999`` parses to one)
============================  =================================================================

One value is normalised instead of refused: ``-0.0`` is stored as ``0.0`` (equal by IEEE 754;
PostgreSQL's numeric has no negative zero, so FerretDB could not give it back).
"""

from __future__ import annotations

import json
import math
from typing import Any

from authtrail.errors import RecordRejectedError

MAX_DEPTH = 32
INT64 = range(-(2**63), 2**63)


class UnstorableError(RecordRejectedError):
    """A value no supported store can hold as it is; ``path`` says where, ``rule`` which rule."""

    def __init__(self, reason: str, path: str, rule: str, detail: str) -> None:
        super().__init__(reason, f"{path}: {detail} ({rule})")
        self.path = path
        self.rule = rule


def parse_json_object(text: str, path: str, reason: str) -> dict[str, Any]:
    """Parse JSON text into a dict under the contract: duplicate keys refused, ``-0.0`` made
    ``0.0``, big integers kept exact (then range-checked by :func:`check_storable`).

    The stdlib parser on purpose: it keeps big integers exact where orjson would silently
    turn them into floats, and lets us see duplicate keys.
    """

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        document = dict(items)
        if len(document) != len(items):
            seen: set[str] = set()
            twice = next(key for key, _ in items if key in seen or seen.add(key))  # type: ignore[func-returns-value]
            raise UnstorableError(reason, path, "duplicate_key", f"key {twice!r} appears more than once")
        return document

    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_float=_float, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise UnstorableError(reason, path, "too_deep", f"nests deeper than {MAX_DEPTH} levels") from exc
    except ValueError as exc:
        raise RecordRejectedError(reason, f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise RecordRejectedError(reason, f"{path} must be a JSON object, not {type(data).__name__}")
    check_storable(data, path, reason)
    return data


def check_storable(value: Any, path: str, reason: str, depth: int = 0) -> None:
    """Raise :class:`UnstorableError` (with ``reason``) at the first value breaking a rule."""
    if isinstance(value, str):
        _check_text(value, path, reason, "string")
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if value not in INT64:
            raise UnstorableError(reason, path, "integer_out_of_range", f"{value} does not fit in 64 bits")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise UnstorableError(reason, path, "non_finite_number", f"{value} is not a finite number")
    elif isinstance(value, dict):
        _check_depth(depth, path, reason)
        for key, item in value.items():
            _check_key(key, path, reason)
            check_storable(item, f"{path}.{key}", reason, depth + 1)
    elif isinstance(value, list):
        _check_depth(depth, path, reason)
        for index, item in enumerate(value):
            if isinstance(item, list):
                raise UnstorableError(
                    reason, f"{path}[{index}]", "nested_array", "an array directly inside an array"
                )
            check_storable(item, f"{path}[{index}]", reason, depth + 1)


def _check_key(key: str, path: str, reason: str) -> None:
    where = f"{path}.{key!r}"
    if key == "":
        raise UnstorableError(reason, where, "empty_key", "an empty key")
    if key.startswith("$"):
        raise UnstorableError(reason, where, "dollar_key", "a key starting with '$'")
    if "." in key:
        raise UnstorableError(reason, where, "dotted_key", "a key containing '.'")
    _check_text(key, where, reason, "key")


def _check_text(text: str, path: str, reason: str, what: str) -> None:
    if "\x00" in text:
        raise UnstorableError(reason, path, "nul_character", f"a {what} containing U+0000")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise UnstorableError(
                reason, path, "lone_surrogate", f"a {what} with an unpaired surrogate at {exc.start}"
            ) from None


def _check_depth(depth: int, path: str, reason: str) -> None:
    if depth >= MAX_DEPTH:
        raise UnstorableError(reason, path, "too_deep", f"nests deeper than {MAX_DEPTH} levels")


def _float(text: str) -> float:
    return float(text) or 0.0  # -0.0 is falsy: stored as 0.0, what every store gives back


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
