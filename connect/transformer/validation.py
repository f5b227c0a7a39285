"""Validate a decoded event before it is transformed and stored.

Avro already guarantees types; these are the rules Avro cannot express. Every failure has a
stable ``reason`` (a dead-letter header people can count by) and a human ``detail``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from authtrail.errors import RecordRejectedError
from connect.transformer.storable import check_storable, parse_json_object

NAME = re.compile(r"[A-Za-z0-9_.:\-]{1,64}")
MAX_ID_LENGTH = 200
REQUIRED = (
    "id",
    "timestamp",
    "user_id",
    "company_id",
    "event_type",
    "resource_type",
    "resource_id",
    "event_data",
)
LONG_MAX = 2**63 - 1
_CONTROL = re.compile(r"[\x00-\x1f]")


class InvalidEventError(RecordRejectedError):
    """The record decodes, but breaks a rule Avro cannot express. (Values the stored-document
    contract refuses raise ``storable.UnstorableError``, a sibling with a path and a rule.)"""


@dataclass(frozen=True)
class Limits:
    max_event_data_bytes: int
    max_age_s: int
    max_future_s: int
    max_stored_document_bytes: int


def validate_event(event: Any, key: Any, now_s: float, limits: Limits) -> dict[str, Any]:
    """The event with ``event_data`` parsed into a dict, or :class:`InvalidEventError`."""
    if not isinstance(event, dict):
        raise InvalidEventError("not_a_record", f"expected an AuditEvent record, got {type(event).__name__}")
    missing = [name for name in REQUIRED if event.get(name) is None]
    if missing:
        raise InvalidEventError("missing_field", f"missing or null: {', '.join(missing)}")
    _check_text(event["id"], "id", MAX_ID_LENGTH)
    _check_text(event["resource_id"], "resource_id", MAX_ID_LENGTH)
    for name in ("event_type", "resource_type"):
        if not isinstance(event[name], str) or not NAME.fullmatch(event[name]):
            raise InvalidEventError(
                "invalid_field", f"{name} must be 1-64 of [A-Za-z0-9_.:-], got {event[name]!r}"
            )
    for name in ("user_id", "company_id"):
        if (
            isinstance(event[name], bool)
            or not isinstance(event[name], int)
            or not 0 < event[name] <= LONG_MAX
        ):
            raise InvalidEventError(
                "invalid_field", f"{name} must be a positive 64-bit integer, got {event[name]!r}"
            )
    timestamp = event["timestamp"]
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise InvalidEventError("invalid_field", f"timestamp must be epoch seconds, got {timestamp!r}")
    if timestamp < now_s - limits.max_age_s or timestamp > now_s + limits.max_future_s:
        raise InvalidEventError(
            "timestamp_out_of_range",
            f"timestamp {timestamp} is more than {limits.max_age_s}s in the past or "
            f"{limits.max_future_s}s in the future of {int(now_s)}",
        )
    if key != event["user_id"]:
        raise InvalidEventError(
            "key_mismatch", f"record key {key!r} is not the event's user_id {event['user_id']}"
        )
    # Fields of later contract versions are stored too: they obey the same contract.
    for name, value in event.items():
        if name not in REQUIRED:
            check_storable(value, name, "invalid_field")
    return {**event, "event_data": _parse_event_data(event["event_data"], limits.max_event_data_bytes)}


def fingerprint(event: dict[str, Any]) -> str:
    """SHA-256 of the event's canonical JSON (sorted keys, compact): equal for redeliveries of
    one event, different for a different event that reuses an id."""
    return hashlib.sha256(orjson.dumps(event, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _check_text(value: Any, name: str, max_length: int) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > max_length:
        raise InvalidEventError(
            "invalid_field", f"{name} must be a non-blank string of at most {max_length} characters"
        )
    if _CONTROL.search(value):
        raise InvalidEventError("invalid_field", f"{name} must not contain control characters")


def _parse_event_data(text: Any, max_bytes: int) -> dict[str, Any]:
    if not isinstance(text, str):
        raise InvalidEventError("invalid_event_data", "event_data must be a JSON object text")
    size = len(text.encode(errors="surrogatepass"))
    if size > max_bytes:
        raise InvalidEventError(
            "event_data_too_large", f"event_data is {size} bytes; the limit is {max_bytes}"
        )
    return parse_json_object(text, "event_data", "invalid_event_data")
