"""``authtrail export``: everything a filter matches, from the query API into a file, resumable.

It downloads ``GET /audit_events/export`` (streamed; the API counts the events first, which
sizes the progress bar) and appends it to the file as it arrives. Resuming is from the file
itself: every record of both formats is exactly one line (JSON escapes line breaks, ids hold no
control characters), so the last complete line is the last event written. ``--resume`` cuts a
torn last line, reads that event's id and asks the API for what follows it (``after_id``); the
API refuses the id if it is not one of the export's events — a file written with other filters
or another key. A run that is cut short (network, API, store) leaves the file ending on a
complete record and exits 1; running it again with ``--resume`` completes it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import httpx
import typer

from authtrail.errors import AuthtrailError
from authtrail.key_store import client_key
from authtrail.logs import configure_logging, get_logger
from authtrail.settings import get_settings
from scripts.console import console, progress

log = get_logger(__name__)
CONNECT_TIMEOUT_S = 10.0
# The API counts the events before the first byte, and a busy store queues requests (up to
# AUTHTRAIL_API_QUERY_QUEUE_TIMEOUT_S): the read timeout covers both.
READ_TIMEOUT_S = 120.0
TAIL_BLOCK = 64 * 1024


class Format(StrEnum):
    csv = "csv"
    ndjson = "ndjson"


class ExportError(AuthtrailError):
    """The export could not be made or finished; the message says what to do."""


def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="The file to write.", dir_okay=False)],
    company: Annotated[int | None, typer.Option(min=1, help="Only this company's events.")] = None,
    user: Annotated[int | None, typer.Option(min=1, help="Only this user's events.")] = None,
    event_type: Annotated[str | None, typer.Option(help="Event types, comma-separated.")] = None,
    resource_type: Annotated[str | None, typer.Option(help="Resource types, comma-separated.")] = None,
    resource_id: Annotated[str | None, typer.Option(help="One resource's history (e.g. BUG-123).")] = None,
    since: Annotated[
        str | None, typer.Option("--from", help="From this time: epoch seconds or ISO 8601 (UTC if no zone).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Up to this time (inclusive); needs --from.")
    ] = None,
    format: Annotated[Format, typer.Option("--format", help="csv or ndjson.")] = Format.csv,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue a file an earlier run did not finish.")
    ] = False,
) -> None:
    """Export the events a filter matches (newest first) to a CSV or NDJSON file."""
    settings = get_settings()
    configure_logging(settings, "export", console_level="WARNING")
    key = client_key(settings)
    if key is None:
        raise ExportError("no API key: set AUTHTRAIL_API_KEY or AUTHTRAIL_API_KEY_FILE")
    params: dict[str, Any] = {
        name: value
        for name, value in (
            ("company_id", company),
            ("user_id", user),
            ("event_type", event_type),
            ("event_resource_type", resource_type),
            ("resource_id", resource_id),
            ("timestamp_from", None if since is None else epoch_seconds(since)),
            ("timestamp_to", None if until is None else epoch_seconds(until)),
        )
        if value is not None
    }
    params["format"] = format.value
    written, last_id = 0, None
    if output.exists():
        if not resume:
            raise ExportError(f"{output} exists: --resume to continue it, or choose another file")
        written, last_id = resume_point(output, format)
    if last_id is not None:
        params["after_id"] = last_id
    started = time.monotonic()
    added = _download(f"{settings.api_url}/audit_events/export", params, key, output, format, written)
    console.print(
        f"{written + added:,} events in {output}"
        + (f" ({added:,} added to {written:,})" if written else "")
        + f", {time.monotonic() - started:.1f} s"
    )


def epoch_seconds(text: str) -> int:
    """``1652502000``, ``2022-05-14`` or ``2022-05-14T04:20:00Z`` → epoch seconds (no zone: UTC)."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is neither epoch seconds nor an ISO 8601 time") from exc
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def resume_point(path: Path, format: Format) -> tuple[int, str | None]:
    """(events already in ``path``, id of the last one), after cutting a torn last line."""
    complete = complete_length(path)
    with path.open("r+b") as file:
        file.truncate(complete)
    records = count_lines(path)
    if format is Format.csv:
        if records == 0:
            return 0, None
        if first_line(path) != csv_header():
            raise ExportError(f"{path} is not a CSV export of authtrail (its header differs)")
        records -= 1
    if records == 0:
        return 0, None
    line = last_line(path, complete)
    try:
        event_id = _id_of(line, format)
    except (ValueError, KeyError, IndexError) as exc:
        raise ExportError(f"{path} does not end with an {format.value} event") from exc
    return records, event_id


def complete_length(path: Path) -> int:
    """Bytes up to and including the last line end: what complete records the file holds."""
    with path.open("rb") as file:
        return _last_newline(file, path.stat().st_size) + 1


def last_line(path: Path, end: int) -> bytes:
    """The last line of the first ``end`` bytes (which end with a line end), without it."""
    with path.open("rb") as file:
        start = _last_newline(file, end - 1) + 1
        file.seek(start)
        return file.read(end - start).rstrip(b"\r\n")


def _last_newline(file: BinaryIO, end: int) -> int:
    """Offset of the last line end before ``end``, read backwards a block at a time; -1 if none."""
    while end > 0:
        start = max(0, end - TAIL_BLOCK)
        file.seek(start)
        newline = file.read(end - start).rfind(b"\n")
        if newline >= 0:
            return start + newline
        end = start
    return -1


def count_lines(path: Path) -> int:
    with path.open("rb") as file:
        return sum(block.count(b"\n") for block in iter(lambda: file.read(1 << 20), b""))


def first_line(path: Path) -> bytes:
    with path.open("rb") as file:
        return file.readline()


def csv_header() -> bytes:
    from query_service.export_format import header  # the API's own rendering of the columns

    return header("csv")


def _id_of(line: bytes, format: Format) -> str:
    if format is Format.ndjson:
        return str(json.loads(line)["id"])
    import csv

    (row,) = list(csv.reader([line.decode()]))
    return row[0]


def _download(url: str, params: dict[str, Any], key: str, output: Path, format: Format, written: int) -> int:
    """Stream the export into ``output``; the events added. A cut leaves complete records only."""
    # A CSV file that already has its header gets the rest of the rows only.
    has_header = format is Format.csv and output.exists() and output.stat().st_size > 0
    header_pending = format is Format.csv and not has_header
    timeout = httpx.Timeout(CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S)
    added = 0
    try:
        with httpx.stream(
            "GET", url, params=params, headers={"Authorization": f"Bearer {key}"}, timeout=timeout
        ) as response:
            if response.status_code != 200:
                response.read()
                raise ExportError(_refusal(response))
            total = written + int(response.headers.get("x-total-count", "0"))
            with output.open("ab") as file, progress("exporting", total, completed=written) as advance:
                chunks = response.iter_bytes()
                if has_header:
                    chunks = _after_header(chunks)
                for chunk in chunks:
                    file.write(chunk)
                    events = chunk.count(b"\n")
                    if header_pending and events:
                        events, header_pending = events - 1, False
                    added += events
                    advance(events)
    except httpx.HTTPError as exc:
        _cut_to_complete(output)
        log.warning("export interrupted", error=repr(exc))
        raise ExportError(
            f"the export was interrupted ({type(exc).__name__}); {output} ends on a complete event: "
            "run the same command with --resume to finish it"
        ) from exc
    return added


def _after_header(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The response without its header row (the file being resumed has it already)."""
    head = b""
    for chunk in chunks:
        head += chunk
        end = head.find(b"\n")
        if end >= 0:
            if head[: end + 1] != csv_header():
                raise ExportError("the API's CSV columns differ from the file's: export to a new file")
            if rest := head[end + 1 :]:
                yield rest
            break
    yield from chunks


def _cut_to_complete(output: Path) -> None:
    if output.exists():
        with output.open("r+b") as file:
            file.truncate(complete_length(output))


def _refusal(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"the API answered {response.status_code}: {response.text[:200]}"
    details = "; ".join(f"{d['parameter']}: {d['problem']}" for d in body.get("details", []))
    return f"the API answered {response.status_code} {body.get('error')}: {body.get('message')}" + (
        f" ({details})" if details else ""
    )
