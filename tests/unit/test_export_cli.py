"""``authtrail export`` resumes from the file it wrote: a torn last line is cut, the last complete
record names the event to continue after, and a CSV header is never written twice."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from query_service.export_format import header, rows
from scripts.export import ExportError, Format, _after_header, complete_length, epoch_seconds, resume_point


def event(event_id: str) -> dict[str, object]:
    return {
        "id": event_id,
        "timestamp": 1,
        "user_id": 2,
        "company_id": 3,
        "event_type": "create",
        "event_resource_type": "bug",
        "resource_id": 'BUG, "1"',
        "event_data": {"body": 'a\nb, "c"'},
        "ingested_at": "2026-05-01T12:00:00.000Z",
        "content_sha256": None,
    }


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("format", [Format.csv, Format.ndjson])
def test_a_torn_last_line_is_cut_and_the_last_complete_event_named(tmp_path: Path, format: Format) -> None:
    complete = header(format.value) + rows(format.value, [event("a,1"), event('b "2"')])
    torn = rows(format.value, [event("c")])[:25]
    path = write(tmp_path / f"x.{format.value}", complete + torn)
    assert resume_point(path, format) == (2, 'b "2"')
    assert path.read_bytes() == complete


@pytest.mark.parametrize("format", [Format.csv, Format.ndjson])
def test_an_empty_or_header_only_file_starts_from_the_beginning(tmp_path: Path, format: Format) -> None:
    assert resume_point(write(tmp_path / "empty", b""), format) == (0, None)
    assert resume_point(write(tmp_path / "header", header(format.value)), format) == (0, None)
    assert resume_point(write(tmp_path / "torn", header(format.value)[:5]), format) == (0, None)


def test_a_file_that_is_not_such_an_export_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="header differs"):
        resume_point(write(tmp_path / "other.csv", b"a,b,c\r\n1,2,3\r\n"), Format.csv)
    with pytest.raises(ExportError, match="does not end with an ndjson event"):
        resume_point(write(tmp_path / "other.ndjson", b"not json\n"), Format.ndjson)


def test_the_last_line_is_found_past_a_block_boundary(tmp_path: Path) -> None:
    big = rows("ndjson", [event(f"e{i}") for i in range(2000)])  # > the 64 KiB tail block
    path = write(tmp_path / "big.ndjson", big + b'{"id": "torn')
    assert complete_length(path) == len(big)
    assert resume_point(path, Format.ndjson) == (2000, "e1999")


def test_the_resumed_response_loses_its_header_however_it_is_chunked() -> None:
    body = header("csv") + rows("csv", [event("a"), event("b")])
    for size in (1, 7, len(header("csv")), len(body)):
        chunks = [body[i : i + size] for i in range(0, len(body), size)]
        assert b"".join(_after_header(iter(chunks))) == body[len(header("csv")) :]
    with pytest.raises(ExportError, match="columns differ"):
        list(_after_header(iter([b"other,columns\r\n1,2\r\n"])))


def test_times_are_epoch_seconds_or_iso_8601() -> None:
    assert epoch_seconds("1652502000") == 1_652_502_000
    assert epoch_seconds("2022-05-14T04:20:00Z") == 1_652_502_000
    assert epoch_seconds("2022-05-14T06:20:00+02:00") == 1_652_502_000
    assert epoch_seconds("2022-05-14T04:20:00") == 1_652_502_000  # no zone: UTC
    assert epoch_seconds("2022-05-14") == 1_652_486_400
    with pytest.raises(typer.BadParameter):
        epoch_seconds("yesterday")
