"""Dead-letter headers (connect/dead_letter.py): the record's own headers first and unchanged,
then ours, which replace any ``authtrail.*`` header an earlier trip through the DLQ left — so
a replayed record carries one reason, its latest."""

from __future__ import annotations

from authtrail.kafka.records import header_map
from connect.dead_letter import MAX_DETAIL, Failure, dead_letter_headers

DECODE = Failure("decode", "not_avro_value", "value is not in the wire format", "DecodeError")
REFUSED = Failure(
    "validate",
    "invalid_event_data",
    "event_data.'a.b': a key with a dot (dotted_key)",
    "UnstorableError",
    path="event_data.'a.b'",
    rule="dotted_key",
)
OURS = [
    "authtrail.error.reason",
    "authtrail.error.detail",
    "authtrail.error.stage",
    "authtrail.error.exception",
    "authtrail.source.topic",
    "authtrail.source.partition",
    "authtrail.source.offset",
    "authtrail.source.timestamp",
]


def headers(failure: Failure = DECODE, original=(), timestamp_ms: int | None = 1_700_000_000_123):
    return dead_letter_headers(failure, "audit.events.raw", 3, 42, timestamp_ms, list(original))


def test_the_records_own_headers_come_first_unchanged() -> None:
    original = [("traceparent", b"00-abc-01"), ("empty", None), ("traceparent", b"00-def-01")]
    assert headers(original=original)[:3] == original


def test_ours_follow_as_utf8_bytes() -> None:
    out = headers(original=[("traceparent", b"x")])
    assert [name for name, _ in out[1:]] == OURS
    assert dict(out[1:]) == {
        "authtrail.error.reason": b"not_avro_value",
        "authtrail.error.detail": b"value is not in the wire format",
        "authtrail.error.stage": b"decode",
        "authtrail.error.exception": b"DecodeError",
        "authtrail.source.topic": b"audit.events.raw",
        "authtrail.source.partition": b"3",
        "authtrail.source.offset": b"42",
        "authtrail.source.timestamp": b"1700000000123",
    }


def test_ours_replace_those_of_an_earlier_dead_lettering() -> None:
    earlier = headers(REFUSED, original=[("traceparent", b"x")])
    again = headers(DECODE, original=earlier)
    assert [name for name, _ in again] == ["traceparent", *OURS]
    assert header_map(again)["authtrail.error.reason"] == "not_avro_value"


def test_the_detail_is_cut_to_max_detail() -> None:
    long = Failure("validate", "invalid_field", "é" * (MAX_DETAIL + 500), "InvalidEventError")
    assert dict(headers(long))["authtrail.error.detail"] == ("é" * MAX_DETAIL).encode()


def test_path_and_rule_only_for_a_contract_refusal() -> None:
    refused = dict(headers(REFUSED))
    assert (refused["authtrail.error.path"], refused["authtrail.error.rule"]) == (
        b"event_data.'a.b'",
        b"dotted_key",
    )
    assert not {"authtrail.error.path", "authtrail.error.rule"} & dict(headers(DECODE)).keys()


def test_a_record_without_a_timestamp_has_an_empty_one() -> None:
    assert dict(headers(timestamp_ms=None))["authtrail.source.timestamp"] == b""


class TestHeaderMap:
    def test_the_last_value_of_a_repeated_header_wins(self) -> None:
        assert header_map([("a", b"1"), ("b", b"2"), ("a", b"3")]) == {"a": "3", "b": "2"}

    def test_values_are_decoded_and_a_missing_one_is_empty(self) -> None:
        assert header_map([("s", "text"), ("b", "é".encode()), ("n", None), ("bad", b"\xff")]) == {
            "s": "text",
            "b": "é",
            "n": "",
            "bad": "\ufffd",
        }

    def test_a_mapping_or_nothing_are_read_too(self) -> None:
        assert header_map({"a": b"1"}) == {"a": "1"}
        assert header_map(None) == {}
