"""Export rendering: NDJSON lines are the listing's events; CSV has the documented columns in a
fixed order, quotes what must be quoted, and reads back through Python's csv module to exactly
the events — whatever their strings hold. Every record is one line (what resuming relies on)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from query_service.export_format import CSV_COLUMNS, MEDIA_TYPES, filename, header, rows

HOSTILE = [
    'say "hi", then leave',
    "line one\nline two\r\nline three\rfour",
    "<script>alert(document.cookie)</script>",
    '=HYPERLINK("http://evil","x"),+1,-1,@SUM(A1)',
    "ünïcödé ✓ 漢字 🐛 \u2028\u2029 \u202e",
    "tab\there;semi;colon",
    "",
    "\\",
]


def event(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "42-7-0f9a",
        "timestamp": 1_777_636_800,
        "user_id": 7,
        "company_id": 42,
        "event_type": "update",
        "event_resource_type": "bug",
        "resource_id": "BUG-123",
        "event_data": {"title": HOSTILE[0], "body": HOSTILE[1], "nested": {"list": HOSTILE[2:]}},
        "ingested_at": "2026-05-01T12:00:00.123Z",
        "content_sha256": "ab" * 32,
        **overrides,
    }


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(), newline="")))


INTEGERS = {"timestamp", "user_id", "company_id"}


def as_event(row: list[str]) -> dict[str, Any]:
    """A CSV row read back as the event it documents: digits are numbers, event_data is JSON,
    an empty cell is an absent value."""
    cells = dict(zip(CSV_COLUMNS, row, strict=True))
    return {
        name: None
        if text == "" and name != "resource_id"
        else json.loads(text)
        if name == "event_data"
        else int(text)
        if name in INTEGERS
        else text
        for name, text in cells.items()
    }


def test_the_columns_are_the_documented_ones_in_order() -> None:
    assert CSV_COLUMNS == (
        "id",
        "timestamp",
        "user_id",
        "company_id",
        "event_type",
        "event_resource_type",
        "resource_id",
        "event_data",
        "ingested_at",
        "content_sha256",
    )
    assert header("csv") == (",".join(CSV_COLUMNS) + "\r\n").encode()
    assert header("ndjson") == b""


def test_hostile_strings_round_trip_through_pythons_csv_module() -> None:
    events = [
        event(id=f"e{i}", resource_id=text, event_data={"text": text}) for i, text in enumerate(HOSTILE)
    ]
    events.append(event(content_sha256=None, ingested_at=None, event_data={}))
    table = read_csv(header("csv") + rows("csv", events))
    assert table[0] == list(CSV_COLUMNS)
    assert len(table) == 1 + len(events)
    assert [as_event(row) for row in table[1:]] == events


def test_fields_with_commas_or_quotes_are_quoted_and_quotes_doubled() -> None:
    line = rows("csv", [event(resource_id='a,"b"', event_data={})]).decode()
    assert '"a,""b"""' in line
    assert line.endswith("\r\n")


texts = st.text(st.characters(blacklist_categories=["Cs"]), max_size=30)


@given(
    data=st.dictionaries(
        st.text(max_size=8), st.one_of(texts, st.integers(-(2**63), 2**63 - 1), st.none()), max_size=5
    ),
    rid=texts,
)
def test_every_record_is_one_line_and_reads_back(data: dict[str, Any], rid: str) -> None:
    """Control characters cannot be in stored ids; event_data is JSON, which escapes line breaks."""
    rid = "".join(c for c in rid if c >= " ") or "r"
    record = event(resource_id=rid, event_data=data)
    for format in ("csv", "ndjson"):
        rendered = rows(format, [record])
        assert rendered.count(b"\n") == 1, format
        assert rendered.endswith(b"\n"), format
    assert [as_event(row) for row in read_csv(rows("csv", [record]))] == [record]
    assert json.loads(rows("ndjson", [record])) == record


def test_ndjson_is_one_event_per_line() -> None:
    events = [event(id="a"), event(id="b", event_data={"x": HOSTILE[1]})]
    lines = rows("ndjson", events).decode().split("\n")
    assert lines[-1] == ""
    assert [json.loads(line) for line in lines[:-1]] == events


def test_media_types_and_file_names() -> None:
    assert MEDIA_TYPES == {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
    now = datetime(2026, 5, 1, 12, 0, 5, tzinfo=UTC)
    assert filename("csv", "company:42", now) == "audit_events-company-42-20260501T120005Z.csv"
    assert filename("ndjson", "operator", now) == "audit_events-operator-20260501T120005Z.ndjson"
