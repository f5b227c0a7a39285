"""Parameters of the query API: one table of specs, parsed strictly into a typed query.

The same specs generate the OpenAPI document, so the docs cannot drift from the parser.
Strict on purpose: an audit API that silently ignores a typo (``userid=``) or an operator
(``user_id[$ne]=``) returns someone's unfiltered activity. Every problem of a request is
reported at once.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from authtrail.errors import AuthtrailError

LONG_MAX = 2**63 - 1
# 9999-12-31T23:59:59Z: past it a timestamp is not a date anyone means.
EPOCH_MAX = 253_402_300_799
NAME_RULE = "1-64 characters of A-Z a-z 0-9 _ . : -"
NAME_PATTERN = r"^[A-Za-z0-9_.:\-]{1,64}$"
_NAME = re.compile(NAME_PATTERN)
# A comma-separated list of names. Each value is one index query (see query.py), so lists are short.
MAX_LIST_VALUES = 10
# event_type × event_resource_type values: each combination is one query per page.
MAX_COMBINATIONS = 10
NAMES_PATTERN = rf"^[A-Za-z0-9_.:\-]{{1,64}}(,[A-Za-z0-9_.:\-]{{1,64}}){{0,{MAX_LIST_VALUES - 1}}}$"
# Event and resource ids: what the transformer stores (validation.py) — any text without control
# characters, up to 200 characters.
MAX_ID_LENGTH = 200
ID_PATTERN = rf"^[^\x00-\x1f]{{1,{MAX_ID_LENGTH}}}$"
_ID = re.compile(ID_PATTERN)
ID_RULE = f"must be 1-{MAX_ID_LENGTH} characters without control characters"
# An opaque cursor: base64url payload "." base64url signature (cursor.py).
CURSOR_PATTERN = r"^[A-Za-z0-9_\-]{1,2048}\.[A-Za-z0-9_\-]{22}$"
_CURSOR = re.compile(CURSOR_PATTERN)
_DIGITS = re.compile(r"[0-9]{1,19}")
# Deepest item page-number pagination may reach; past it, narrow the filters or time range.
MAX_RESULT_WINDOW = 100_000
ORDERS = ("newest", "ingested")
FORMATS = ("ndjson", "csv")
FILTER_NAMES = (
    "timestamp_from",
    "timestamp_to",
    "user_id",
    "company_id",
    "event_type",
    "event_resource_type",
    "resource_id",
)

Order = Literal["newest", "ingested"]
ExportFormat = Literal["ndjson", "csv"]


@dataclass(frozen=True)
class ParamSpec:
    """One query parameter. ``names``: a comma-separated list of names (a string on the wire)."""

    name: str
    kind: Literal["integer", "string", "names"]
    description: str
    minimum: int | None = None
    maximum: int | None = None
    default: int | str | None = None
    pattern: str | None = None
    enum: tuple[str, ...] | None = None
    rule: str = ""  # the problem reported when ``pattern`` does not match


def _filter_specs() -> tuple[ParamSpec, ...]:
    return (
        ParamSpec(
            "timestamp_from",
            "integer",
            "Events at or after this time (epoch seconds).",
            minimum=0,
            maximum=EPOCH_MAX,
        ),
        ParamSpec(
            "timestamp_to",
            "integer",
            "Events at or before this time (epoch seconds). Requires timestamp_from.",
            minimum=0,
            maximum=EPOCH_MAX,
        ),
        ParamSpec("user_id", "integer", "Only this user's events.", minimum=1, maximum=LONG_MAX),
        ParamSpec("company_id", "integer", "Only this company's events.", minimum=1, maximum=LONG_MAX),
        ParamSpec(
            "event_type",
            "names",
            "Only events of these types, comma-separated (create, update, delete, moved, assigned, "
            f"login, …); at most {MAX_LIST_VALUES}.",
            pattern=NAMES_PATTERN,
        ),
        ParamSpec(
            "event_resource_type",
            "names",
            "Only events on these kinds of resource, comma-separated (bug, comment, session, …); at "
            f"most {MAX_LIST_VALUES}, and at most {MAX_COMBINATIONS} event_type × event_resource_type "
            "combinations.",
            pattern=NAMES_PATTERN,
        ),
        ParamSpec(
            "resource_id",
            "string",
            "Only events on this resource (e.g. BUG-123): its whole history.",
            pattern=ID_PATTERN,
            rule=ID_RULE,
        ),
    )


def parameter_specs(max_per_page: int) -> tuple[ParamSpec, ...]:
    """The parameters of ``GET /audit_events``."""
    return (
        ParamSpec(
            "page",
            "integer",
            "Page number, from 1 (page-number pagination; not with order, cursor or after).",
            minimum=1,
            maximum=MAX_RESULT_WINDOW,
            default=1,
        ),
        ParamSpec("per_page", "integer", "Events per page.", minimum=1, maximum=max_per_page, default=10),
        *_filter_specs(),
        ParamSpec(
            "order",
            "string",
            "Cursor pagination: newest (event time, newest first; continue with cursor=) or ingested "
            "(incremental sync, in ingestion order; continue with after=). Not with page.",
            enum=ORDERS,
        ),
        ParamSpec(
            "cursor",
            "string",
            "meta.next_cursor of the previous order=newest page; repeat that request's filters.",
            pattern=CURSOR_PATTERN,
            rule="is not a cursor (copy meta.next_cursor as it is)",
        ),
        ParamSpec(
            "after",
            "string",
            "meta.next_cursor of the previous order=ingested page (a sync cursor; keep it between polls).",
            pattern=CURSOR_PATTERN,
            rule="is not a sync cursor (copy meta.next_cursor as it is)",
        ),
    )


def export_specs() -> tuple[ParamSpec, ...]:
    """The parameters of ``GET /audit_events/export``."""
    return (
        *_filter_specs(),
        ParamSpec("format", "string", "ndjson (one event per line) or csv.", enum=FORMATS, default="ndjson"),
        ParamSpec(
            "after_id",
            "string",
            "Resume: only events after this one in the export's order (the id of the last event "
            "received). It must be one of this export's events.",
            pattern=ID_PATTERN,
            rule=ID_RULE,
        ),
    )


@dataclass(frozen=True)
class Problem:
    parameter: str
    problem: str


class InvalidParametersError(AuthtrailError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.parameter}: {p.problem}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class AuditQuery:
    page: int = 1
    per_page: int = 10
    timestamp_from: int | None = None
    timestamp_to: int | None = None
    user_id: int | None = None
    company_id: int | None = None
    event_type: tuple[str, ...] | None = None
    event_resource_type: tuple[str, ...] | None = None
    resource_id: str | None = None
    # Cursor pagination: set whenever order, cursor or after is given (cursor implies newest,
    # after implies ingested); None is page-number pagination.
    order: Order | None = None
    cursor: str | None = None
    after: str | None = None
    format: ExportFormat = "ndjson"
    after_id: str | None = None

    @property
    def skip(self) -> int:
        return (self.page - 1) * self.per_page

    def filters(self) -> dict[str, Any]:
        """The filters that are set, by name (what a cursor is bound to)."""
        return {name: value for name in FILTER_NAMES if (value := getattr(self, name)) is not None}


def parse_query(items: Sequence[tuple[str, str]], max_per_page: int) -> AuditQuery:
    """A valid ``GET /audit_events`` query, or :class:`InvalidParametersError` naming every bad
    parameter."""
    values, problems, given = _parse(items, parameter_specs(max_per_page))
    cursor_names = [name for name in ("order", "cursor", "after") if name in given]
    if cursor_names:
        problems += _cursor_rules(values, given, cursor_names)
    else:
        page, per_page = values.get("page", 1), values.get("per_page", 10)
        if isinstance(page, int) and isinstance(per_page, int) and page * per_page > MAX_RESULT_WINDOW:
            problems.append(
                Problem(
                    "page",
                    f"page × per_page must not exceed {MAX_RESULT_WINDOW:,}; narrow the filters or the "
                    "time range, or use cursor pagination (order=newest)",
                )
            )
    if problems:
        raise InvalidParametersError(problems)
    if cursor_names and "order" not in values:
        values["order"] = "ingested" if "after" in values else "newest"
    return AuditQuery(**values)


def parse_export(items: Sequence[tuple[str, str]]) -> AuditQuery:
    """A valid ``GET /audit_events/export`` query, or :class:`InvalidParametersError`."""
    values, problems, _ = _parse(items, export_specs())
    if problems:
        raise InvalidParametersError(problems)
    return AuditQuery(**values)


def parse_event_id(event_id: str, items: Sequence[tuple[str, str]]) -> str:
    """The id of ``GET /audit_events/{id}``, which takes no query parameters."""
    check_event_id(
        event_id, [Problem(name, "unknown parameter; this endpoint takes none") for name in dict(items)]
    )
    return event_id


def check_event_id(event_id: str, problems: list[Problem]) -> None:
    """Raise :class:`InvalidParametersError` with ``problems`` and the id's own, if any."""
    if not _ID.fullmatch(event_id):
        problems = [*problems, Problem("id", ID_RULE)]
    if problems:
        raise InvalidParametersError(problems)


def parse_values(
    items: Sequence[tuple[str, str]], specs: Sequence[ParamSpec]
) -> tuple[dict[str, Any], list[Problem]]:
    """Each parameter of ``specs`` given in ``items``, typed, and the problems found (an endpoint
    adds its own rules before raising :class:`InvalidParametersError`)."""
    values, problems, _ = _parse(items, specs)
    return values, problems


def _parse(
    items: Sequence[tuple[str, str]], spec_list: Sequence[ParamSpec]
) -> tuple[dict[str, Any], list[Problem], Counter[str]]:
    specs = {spec.name: spec for spec in spec_list}
    problems: list[Problem] = []
    counts = Counter(name for name, _ in items)
    values: dict[str, Any] = {}
    for name, raw in items:
        spec = specs.get(name)
        if spec is None:
            problems.append(Problem(name, f"unknown parameter; accepted: {', '.join(specs)}"))
        elif counts[name] > 1:
            if name not in {p.parameter for p in problems}:
                problems.append(Problem(name, "given more than once; give it once"))
        elif isinstance(checked := _check(spec, raw), Problem):
            problems.append(checked)
        else:
            values[name] = checked
    if "timestamp_to" in values and "timestamp_from" not in values and "timestamp_from" not in counts:
        problems.append(Problem("timestamp_to", "requires timestamp_from"))
    start, end = values.get("timestamp_from"), values.get("timestamp_to")
    if isinstance(start, int) and isinstance(end, int) and start > end:
        problems.append(Problem("timestamp_from", f"must not be after timestamp_to ({start} > {end})"))
    types, resource_types = values.get("event_type", ()), values.get("event_resource_type", ())
    if len(types) * len(resource_types) > MAX_COMBINATIONS:
        problems.append(
            Problem(
                "event_resource_type",
                f"{len(types)} event types × {len(resource_types)} resource types make "
                f"{len(types) * len(resource_types)} combinations; at most {MAX_COMBINATIONS}",
            )
        )
    return values, problems, counts


def _cursor_rules(values: dict[str, Any], given: Counter[str], cursor_names: list[str]) -> list[Problem]:
    problems = []
    if "page" in given:
        problems.append(
            Problem(
                "page",
                f"page-number pagination does not mix with {', '.join(cursor_names)}; drop one or the other",
            )
        )
    if "cursor" in given and "after" in given:
        problems.append(
            Problem("after", "cursor continues order=newest, after continues order=ingested: not both")
        )
    order = values.get("order")
    if order == "ingested" and "cursor" in given:
        problems.append(Problem("cursor", "order=ingested continues with after=, not cursor="))
    if order == "newest" and "after" in given:
        problems.append(Problem("after", "order=newest continues with cursor=, not after="))
    if order == "ingested" or ("after" in given and order is None):
        problems += [
            Problem(name, "order=ingested filters by company_id only (its index); filter the rest yourself")
            for name in FILTER_NAMES
            if name != "company_id" and name in given
        ]
    return problems


def _check(spec: ParamSpec, raw: str) -> Any:
    """The typed value of a valid ``raw``, else the :class:`Problem` with it."""
    if raw == "":
        return Problem(spec.name, "must not be empty")
    if spec.kind == "names":
        values = raw.split(",")
        if len(values) > MAX_LIST_VALUES:
            return Problem(spec.name, f"at most {MAX_LIST_VALUES} comma-separated values")
        if not all(_NAME.fullmatch(value) for value in values):
            return Problem(spec.name, f"each comma-separated value must be {NAME_RULE}")
        return tuple(dict.fromkeys(values))  # a repeated value changes nothing: dropped
    if spec.kind == "string":
        if spec.enum is not None:
            return raw if raw in spec.enum else Problem(spec.name, f"must be one of: {', '.join(spec.enum)}")
        assert spec.pattern is not None
        return raw if re.fullmatch(spec.pattern, raw) else Problem(spec.name, spec.rule)
    if not _DIGITS.fullmatch(raw):
        return Problem(spec.name, "must be a whole number (digits only)")
    number = int(raw)
    if spec.minimum is not None and number < spec.minimum:
        return Problem(spec.name, f"must be at least {spec.minimum}")
    if spec.maximum is not None and number > spec.maximum:
        return Problem(spec.name, f"must be at most {spec.maximum:,}")
    return number
