"""Dead-letter records: the original bytes, unchanged, with the reason in headers.

Headers (all UTF-8):
  authtrail.error.reason     stable code (not_avro_value, timestamp_out_of_range, …)
  authtrail.error.detail     a sentence for people
  authtrail.error.stage      decode | validate | transform | shape
  authtrail.error.exception  the error's class
  authtrail.error.path / .rule   for values the stored-document contract refuses: where
                             (e.g. event_data.items[2]) and which rule (connect/storable.py)
  authtrail.source.topic / .partition / .offset / .timestamp   where the record came from
The record's own headers are kept in front of these, so a replay can restore it exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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
MAX_DETAIL = 1000


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
        **({PATH: failure.path, RULE: failure.rule} if failure.rule else {}),
        SOURCE_TOPIC: topic,
        SOURCE_PARTITION: str(partition),
        SOURCE_OFFSET: str(offset),
        SOURCE_TIMESTAMP: "" if timestamp_ms is None else str(timestamp_ms),
    }
    kept: list[tuple[str, str | bytes | None]] = [
        (k, v) for k, v in original if not k.startswith(HEADER_PREFIX)
    ]
    return kept + [(k, v.encode()) for k, v in ours.items()]


def header_map(
    headers: Mapping[str, str | bytes | None] | Sequence[tuple[str, str | bytes | None]] | None,
) -> dict[str, str]:
    """Last value of each header, decoded (what tools and tests read)."""
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or [])
    return {k: v.decode("utf-8", errors="replace") if isinstance(v, bytes) else (v or "") for k, v in pairs}
