"""Validation: each rule Avro cannot express rejects with its own reason; good events pass."""

from __future__ import annotations

import json

import pytest

from authtrail.errors import RecordRejectedError
from connect.transformer.validation import Limits, fingerprint, validate_event

NOW = 1_800_000_000
LIMITS = Limits(
    max_event_data_bytes=1000, max_age_s=86_400 * 365, max_future_s=300, max_stored_document_bytes=256 * 1024
)
GOOD = {
    "id": "7-42-abc",
    "timestamp": NOW - 60,
    "user_id": 42,
    "company_id": 7,
    "event_type": "update",
    "resource_type": "bug",
    "resource_id": "BUG-1",
    "event_data": '{"title": "Crash", "tags": ["a"]}',
}


def reason(event: dict, key: object = 42) -> str:
    with pytest.raises(RecordRejectedError) as error:
        validate_event(event, key, NOW, LIMITS)
    return error.value.reason


def test_a_good_event_passes_with_event_data_parsed() -> None:
    assert validate_event(GOOD, 42, NOW, LIMITS) == {**GOOD, "event_data": {"title": "Crash", "tags": ["a"]}}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"company_id": None}, "missing_field"),
        ({"id": "   "}, "invalid_field"),
        ({"id": "x" * 201}, "invalid_field"),
        ({"resource_id": "BUG\n1"}, "invalid_field"),
        ({"event_type": "created bug"}, "invalid_field"),
        ({"event_type": "é"}, "invalid_field"),
        ({"user_id": 0}, "invalid_field"),
        ({"company_id": -3}, "invalid_field"),
        ({"timestamp": -1}, "timestamp_out_of_range"),
        ({"timestamp": NOW + 301}, "timestamp_out_of_range"),
        ({"timestamp": NOW - 86_400 * 366}, "timestamp_out_of_range"),
        ({"event_data": "{oops"}, "invalid_event_data"),
        ({"event_data": "[1, 2]"}, "invalid_event_data"),
        ({"event_data": '{"x": NaN}'}, "invalid_event_data"),
        ({"event_data": '{"x": Infinity}'}, "invalid_event_data"),
        ({"event_data": '{"x": 99999999999999999999999}'}, "invalid_event_data"),
        ({"event_data": '{"$where": "1"}'}, "invalid_event_data"),
        ({"event_data": '{"a": {"b\\u0000c": 1}}'}, "invalid_event_data"),
        ({"event_data": json.dumps({"body": "x" * 1000})}, "event_data_too_large"),
        ({"event_data": "[" * 40 + "]" * 40}, "invalid_event_data"),
    ],
)
def test_each_rule_has_its_reason(change: dict, expected: str) -> None:
    assert reason({**GOOD, **change}) == expected


def test_deep_nesting_is_refused() -> None:
    deep = json.dumps(json.loads('{"a":' * 40 + "1" + "}" * 40))
    assert reason({**GOOD, "event_data": deep}) == "invalid_event_data"


def test_the_key_must_be_the_acting_user() -> None:
    assert reason(GOOD, key=43) == "key_mismatch"


def test_not_a_record() -> None:
    assert reason(["not", "a", "record"]) == "not_a_record"  # type: ignore[arg-type]


def test_the_fingerprint_is_canonical_and_tells_events_apart() -> None:
    event = validate_event(GOOD, 42, NOW, LIMITS)
    reordered = dict(reversed(list(event.items())))
    assert fingerprint(event) == fingerprint(reordered)
    assert fingerprint(event) != fingerprint({**event, "event_type": "delete"})
    assert len(fingerprint(event)) == 64
