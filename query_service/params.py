"""``GET /audit_events`` parameters: one table of specs, parsed strictly into a typed query.

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
from typing import Literal

from authtrail.errors import AuthtrailError

LONG_MAX = 2**63 - 1
# 9999-12-31T23:59:59Z: past it a timestamp is not a date anyone means.
EPOCH_MAX = 253_402_300_799
NAME_PATTERN = r"^[A-Za-z0-9_.:\-]{1,64}$"
_NAME = re.compile(NAME_PATTERN)
_DIGITS = re.compile(r"[0-9]{1,19}")
# Deepest item page-number pagination may reach; past it, narrow the filters or time range.
MAX_RESULT_WINDOW = 100_000


@dataclass(frozen=True)
class ParamSpec:
    name: str
    kind: Literal["integer", "string"]
    description: str
    minimum: int | None = None
    maximum: int | None = None
    default: int | None = None


def parameter_specs(max_per_page: int) -> tuple[ParamSpec, ...]:
    return (
        ParamSpec("page", "integer", "Page number, from 1.", minimum=1, maximum=MAX_RESULT_WINDOW, default=1),
        ParamSpec("per_page", "integer", "Events per page.", minimum=1, maximum=max_per_page, default=10),
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
            "string",
            "Only events of this type (create, update, delete, moved, assigned, login, …).",
        ),
        ParamSpec(
            "event_resource_type",
            "string",
            "Only events on this kind of resource (bug, comment, session, …).",
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
    event_type: str | None = None
    event_resource_type: str | None = None

    @property
    def skip(self) -> int:
        return (self.page - 1) * self.per_page


def parse_query(items: Sequence[tuple[str, str]], max_per_page: int) -> AuditQuery:
    """A valid query, or :class:`InvalidParametersError` naming every bad parameter."""
    specs = {spec.name: spec for spec in parameter_specs(max_per_page)}
    problems: list[Problem] = []
    counts = Counter(name for name, _ in items)
    values: dict[str, int | str] = {}
    for name, raw in items:
        spec = specs.get(name)
        if spec is None:
            problems.append(Problem(name, f"unknown parameter; accepted: {', '.join(specs)}"))
        elif counts[name] > 1:
            if name not in {p.parameter for p in problems}:
                problems.append(Problem(name, "given more than once; give it once"))
        elif (problem := _check(spec, raw)) is not None:
            problems.append(Problem(name, problem))
        else:
            values[name] = int(raw) if spec.kind == "integer" else raw
    if "timestamp_to" in values and "timestamp_from" not in values and "timestamp_from" not in counts:
        problems.append(Problem("timestamp_to", "requires timestamp_from"))
    start, end = values.get("timestamp_from"), values.get("timestamp_to")
    if isinstance(start, int) and isinstance(end, int) and start > end:
        problems.append(Problem("timestamp_from", f"must not be after timestamp_to ({start} > {end})"))
    page, per_page = values.get("page", 1), values.get("per_page", 10)
    if isinstance(page, int) and isinstance(per_page, int) and page * per_page > MAX_RESULT_WINDOW:
        problems.append(
            Problem(
                "page",
                f"page × per_page must not exceed {MAX_RESULT_WINDOW:,}; "
                "narrow the filters or the time range",
            )
        )
    if problems:
        raise InvalidParametersError(problems)
    return AuditQuery(**values)  # type: ignore[arg-type]


def _check(spec: ParamSpec, raw: str) -> str | None:
    if raw == "":
        return "must not be empty"
    if spec.kind == "string":
        return None if _NAME.fullmatch(raw) else "must be 1-64 characters of A-Z a-z 0-9 _ . : -"
    if not _DIGITS.fullmatch(raw):
        return "must be a whole number (digits only)"
    number = int(raw)
    if spec.minimum is not None and number < spec.minimum:
        return f"must be at least {spec.minimum}"
    if spec.maximum is not None and number > spec.maximum:
        return f"must be at most {spec.maximum:,}"
    return None
