"""How an export is written: NDJSON (one AuditEvent per line) or CSV (fixed columns).

CSV follows RFC 4180 as Python's ``csv`` module writes it: comma-separated, ``\\r\\n`` line ends,
a field quoted (``"``, with ``"`` doubled) when it holds a comma, a quote or a line break. The
columns are the AuditEvent fields in this fixed order; ``event_data`` is its JSON text, an absent
value an empty field. Values are written as stored, never rewritten: an audit export must equal
the log (``docs/security.md`` on opening one in a spreadsheet). No record spans two lines in
either format (JSON escapes line breaks; ids hold no control characters), which is what lets the
CLI resume after the last complete line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from authtrail.audit_event import AUDIT_EVENT_FIELDS
from query_service.serialize import dumps

CSV_COLUMNS = AUDIT_EVENT_FIELDS
MEDIA_TYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}

ExportFormat = Literal["ndjson", "csv"]


def header(format: ExportFormat) -> bytes:
    return _csv([list(CSV_COLUMNS)]) if format == "csv" else b""


def rows(format: ExportFormat, events: Iterable[dict[str, Any]]) -> bytes:
    """AuditEvents (``serialize.audit_event``) in the export's format."""
    if format == "ndjson":
        return b"".join(dumps(event) + b"\n" for event in events)
    return _csv([_cell(event, column) for column in CSV_COLUMNS] for event in events)


def filename(format: ExportFormat, scope: str, now: datetime) -> str:
    return f"audit_events-{scope.replace(':', '-')}-{now:%Y%m%dT%H%M%SZ}.{format}"


def _cell(event: dict[str, Any], column: str) -> str:
    value = event.get(column)
    if value is None:
        return ""
    if column == "event_data":
        return dumps(value).decode()
    return str(value)


def _csv(records: Iterable[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(records)
    return buffer.getvalue().encode()
