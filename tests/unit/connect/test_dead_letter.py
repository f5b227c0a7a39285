"""Dead-letter headers (connect/dead_letter.py): the record's own headers first and unchanged,
then ours, which replace any ``authtrail.*`` header an earlier trip through the DLQ left — so
a replayed record carries one reason, its latest."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka import Producer
from hypothesis import given, settings
from hypothesis import strategies as st

from authtrail.kafka.clients import MAX_RECORD_BYTES, producer_config
from authtrail.kafka.records import RawMessage, header_map
from authtrail.settings import load_settings
from connect.dead_letter import (
    MAX_DETAIL,
    OMITTED,
    RECORD_OVERHEAD,
    Failure,
    dead_letter,
    dead_letter_headers,
)

DECODE = Failure("decode", "not_avro_value", "value is not in the wire format", "DecodeError")
REFUSED = Failure(
    "validate",
    "invalid_event_data",
    "event_data.'a.b': a key with a dot (dotted_key)",
    "UnstorableError",
    path="event_data.'a.b'",
    rule="dotted_key",
)
# The most a failure adds: a detail and a path as long as they may be.
LONG_REFUSAL = Failure(
    "validate", "invalid_event_data", "d" * 5000, "UnstorableError", path="p" * 5000, rule="dotted_key"
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


@pytest.fixture(scope="module")
def producer() -> Iterator[Producer]:
    """A producer configured as authtrail's are; nothing is sent: produce() only queues."""
    settings = load_settings(kafka_bootstrap_servers="127.0.0.1:9")
    producer = Producer(producer_config(settings, "test-dead-letter-size"))
    yield producer
    producer.purge()
    producer.flush(0)


class TestALetterOfAnySizeCanBeWritten:
    """A dead letter is its record plus headers. librdkafka refuses, in ``produce()`` itself, a
    record over its ``message.max.bytes`` — and a transformer that cannot write a dead letter
    stops at that record for good. Checked against librdkafka's own rule: each letter is handed
    to a real producer configured as authtrail's are."""

    @staticmethod
    def record(key: bytes | None = b"42", value: bytes | None = b"v") -> RawMessage:
        return RawMessage("audit.events.raw", 3, 42, 1_700_000_000_123, key, value, (("traceparent", b"00"),))

    def test_a_record_librdkafka_just_took_by_default_is_dead_lettered_whole(self, producer) -> None:
        raw = self.record(value=b"x" * (1_000_000 - 100))  # librdkafka's default message.max.bytes
        letter = dead_letter(LONG_REFUSAL, raw)
        assert (letter.key, letter.value) == (raw.key, raw.value)
        assert OMITTED not in header_map(letter.headers)
        producer.produce("dlq", letter.key, letter.value, headers=letter.headers)

    def test_a_record_too_large_to_carry_is_dead_lettered_without_its_value(self, producer) -> None:
        raw = self.record(value=b"x" * MAX_RECORD_BYTES)
        letter = dead_letter(LONG_REFUSAL, raw)
        assert (letter.key, letter.value) == (raw.key, None)
        info = header_map(letter.headers)
        assert info[OMITTED].startswith(f"value ({MAX_RECORD_BYTES:,} bytes) left out")
        assert (info["authtrail.source.partition"], info["authtrail.source.offset"]) == ("3", "42")
        assert info["authtrail.error.reason"] == LONG_REFUSAL.reason
        producer.produce("dlq", letter.key, letter.value, headers=letter.headers)

    def test_a_key_too_large_goes_and_the_value_stays(self) -> None:
        letter = dead_letter(LONG_REFUSAL, self.record(key=b"k" * MAX_RECORD_BYTES, value=b"v"))
        assert (letter.key, letter.value) == (None, b"v")
        assert header_map(letter.headers)[OMITTED].startswith("key (")

    @settings(max_examples=60, deadline=None)
    @given(
        key_size=st.one_of(
            st.none(), st.integers(0, 64), st.integers(MAX_RECORD_BYTES - 4096, MAX_RECORD_BYTES + 8)
        ),
        value_size=st.one_of(
            st.none(),
            st.integers(0, 1024),
            st.integers(MAX_RECORD_BYTES - 4096, MAX_RECORD_BYTES + 4096),
            st.integers(MAX_RECORD_BYTES // 2 - 2048, MAX_RECORD_BYTES // 2 + 2048),
        ),
    )
    def test_whatever_the_sizes_librdkafka_takes_the_letter_and_only_what_did_not_fit_is_left_out(
        self, producer, key_size: int | None, value_size: int | None
    ) -> None:
        key = None if key_size is None else b"k" * key_size
        value = None if value_size is None else b"v" * value_size
        letter = dead_letter(LONG_REFUSAL, self.record(key, value))
        producer.produce("dlq", letter.key, letter.value, headers=letter.headers)
        kept = [part for part in (letter.key, letter.value) if part is not None]
        assert sum(map(len, kept)) <= MAX_RECORD_BYTES
        omitted = header_map(letter.headers).get(OMITTED, "")
        assert ("value (" in omitted) == (value is not None and letter.value is None)
        assert ("key (" in omitted) == (key is not None and letter.key is None)
        if omitted:  # nothing was left out that could have stayed
            headers = sum(len(name) + len(data or b"") for name, data in letter.headers)
            assert (key_size or 0) + (value_size or 0) + headers + RECORD_OVERHEAD > MAX_RECORD_BYTES
        producer.purge()
