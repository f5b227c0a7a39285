"""Dead-letter records: the original bytes, unchanged, with the reason in headers.

Headers (all UTF-8):
  authtrail.error.reason     stable code (not_avro_value, timestamp_out_of_range, …)
  authtrail.error.detail     a sentence for people
  authtrail.error.stage      decode | validate | transform | shape
  authtrail.error.exception  the error's class
  authtrail.error.path / .rule   for values the stored-document contract refuses: where
                             (e.g. event_data.items[2]) and which rule (connect/transformer/storable.py)
  authtrail.source.topic / .partition / .offset / .timestamp   where the record came from
  authtrail.error.omitted    only on a record too large to dead-letter whole: what was left
                             out (its value, rarely its key too) and how big it was
The record's own headers are kept in front of these, so a replay can restore it exactly.

A dead letter is the record plus these headers, so it can be larger than any record its source
topic took: every authtrail producer may send, and the DLQ topics take, records of up to
``MAX_RECORD_BYTES`` (8 MiB; Kafka's default is ~1 MiB). A record larger still — a producer
allowed itself more and compressed it — is dead-lettered without its value (the source topic
keeps it, forever for the raw topic, at the coordinates the headers give): a dead letter that
cannot be written would stop the transformer at that record for good.

Replaying (``authtrail dlq replay``) sends a dead letter back to its source topic unchanged, so
it goes through the whole pipeline again. It is idempotent end to end: an event already stored
is recognised as a redelivery, so replaying twice stores once; a record that fails again lands
in the DLQ again, with its (new) reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from authtrail.kafka.clients import MAX_RECORD_BYTES, consumer_config, producer_config
from authtrail.kafka.delivery import CheckedProducer, Headers
from authtrail.kafka.records import RawMessage, header_map, read_topic
from authtrail.logs import get_logger
from authtrail.settings import Settings

log = get_logger(__name__)

HEADER_PREFIX = "authtrail."
REASON = "authtrail.error.reason"
DETAIL = "authtrail.error.detail"
STAGE = "authtrail.error.stage"
EXCEPTION = "authtrail.error.exception"
PATH = "authtrail.error.path"
RULE = "authtrail.error.rule"
SOURCE_TOPIC = "authtrail.source.topic"
SOURCE_PARTITION = "authtrail.source.partition"
SOURCE_OFFSET = "authtrail.source.offset"
SOURCE_TIMESTAMP = "authtrail.source.timestamp"
OMITTED = "authtrail.error.omitted"
MAX_DETAIL = 1000
# librdkafka's bound on what a record adds to its key, value and headers (RD_KAFKAP_MESSAGE_V2_MAX_OVERHEAD
# is 35 bytes; a header costs its name and value plus 10), rounded up generously.
RECORD_OVERHEAD = 1024


@dataclass(frozen=True)
class Failure:
    stage: str
    reason: str
    detail: str
    exception: str
    path: str = ""
    rule: str = ""


def dead_letter_headers(
    failure: Failure,
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    original: list[tuple[str, bytes | None]],
) -> list[tuple[str, str | bytes | None]]:
    ours = {
        REASON: failure.reason,
        DETAIL: failure.detail[:MAX_DETAIL],
        STAGE: failure.stage,
        EXCEPTION: failure.exception,
        **({PATH: failure.path[:MAX_DETAIL], RULE: failure.rule} if failure.rule else {}),
        SOURCE_TOPIC: topic,
        SOURCE_PARTITION: str(partition),
        SOURCE_OFFSET: str(offset),
        SOURCE_TIMESTAMP: "" if timestamp_ms is None else str(timestamp_ms),
    }
    kept: list[tuple[str, str | bytes | None]] = [
        (k, v) for k, v in original if not k.startswith(HEADER_PREFIX)
    ]
    return kept + [(k, v.encode()) for k, v in ours.items()]


@dataclass(frozen=True)
class LetterRecord:
    """What to produce to a DLQ topic: key, value and headers, within ``MAX_RECORD_BYTES``."""

    key: bytes | None
    value: bytes | None
    headers: Headers


def dead_letter(
    failure: Failure, record: RawMessage, source: tuple[str, int, int] | None = None
) -> LetterRecord:
    """The dead letter of ``record``: its own bytes with the failure in headers; ``source``
    (topic, partition, offset) when the record came from elsewhere than where it was read."""
    topic, partition, offset = source or (record.topic, record.partition, record.offset)
    headers = dead_letter_headers(
        failure, topic, partition, offset, record.timestamp_ms, list(record.headers)
    )
    letter = LetterRecord(record.key, record.value, headers)
    omitted = []
    parts = sorted([("value", record.value), ("key", record.key)], key=lambda p: len(p[1] or b""))
    for part, data in reversed(parts):  # the larger first
        if data is not None and _size(letter) > MAX_RECORD_BYTES:
            omitted.append(f"{part} ({len(data):,} bytes)")
            letter = replace(letter, value=None) if part == "value" else replace(letter, key=None)
    if omitted:
        note = f"{', '.join(omitted)} left out: too large for a dead letter; see the source coordinates"
        letter = LetterRecord(letter.key, letter.value, [*letter.headers, (OMITTED, note.encode())])
    return letter


def _size(letter: LetterRecord) -> int:
    headers = sum(len(name) + len(value or b"") for name, value in letter.headers)
    return len(letter.key or b"") + len(letter.value or b"") + headers + RECORD_OVERHEAD


@dataclass(frozen=True)
class DeadLetter:
    record: RawMessage

    @property
    def info(self) -> dict[str, str]:
        return header_map(list(self.record.headers))

    @property
    def reason(self) -> str:
        return self.info.get(REASON, "unknown")


def read_dead_letters(settings: Settings) -> list[DeadLetter]:
    """Every record of the DLQ topic, oldest first per partition (read without a group)."""
    config = consumer_config(settings, "authtrail-dlq-reader", "authtrail-dlq")
    return [DeadLetter(record) for record in read_topic(config, settings.dlq_topic)]


def replay_dead_letters(
    settings: Settings, reason: str | None = None, offsets: set[tuple[int, int]] | None = None
) -> Counter[str]:
    """Send selected dead letters back to their source topics — original key, value and headers,
    ours removed — so they go through the whole pipeline again. Returns counts by topic once the
    broker acknowledged every one (:class:`~authtrail.kafka.delivery.DeliveryError` otherwise)."""
    producer = CheckedProducer(producer_config(settings, "authtrail-dlq-replay"))
    sent: Counter[str] = Counter()
    for letter in read_dead_letters(settings):
        if (reason and letter.reason != reason) or (
            offsets and (letter.record.partition, letter.record.offset) not in offsets
        ):
            continue
        source = letter.info.get(SOURCE_TOPIC)
        if not source:
            log.warning(
                "dead letter without a source topic; skipped",
                partition=letter.record.partition,
                offset=letter.record.offset,
            )
            continue
        if OMITTED in letter.info:
            log.warning(
                "dead letter without its record's bytes; skipped: replay it from its source",
                omitted=letter.info[OMITTED],
                source=f"{source}/{letter.info.get(SOURCE_PARTITION)}@{letter.info.get(SOURCE_OFFSET)}",
            )
            continue
        original: list[tuple[str, str | bytes | None]] = [
            (k, v) for k, v in letter.record.headers if not k.startswith(HEADER_PREFIX)
        ]
        producer.produce(source, letter.record.key, letter.record.value, original)
        producer.poll(0)
        sent[source] += 1
    producer.flush(60)
    log.info("dead letters replayed", **sent)
    return sent
