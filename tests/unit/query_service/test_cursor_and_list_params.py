"""Parameter rules added with cursors, sync, lists, resource_id, the export and one event by id."""

from __future__ import annotations

import pytest

from query_service.params import (
    MAX_COMBINATIONS,
    MAX_LIST_VALUES,
    AuditQuery,
    InvalidParametersError,
    parse_event_id,
    parse_export,
    parse_query,
)

MAX = 1000
CURSOR = "eyJhIjoxfQ." + "A" * 22  # well-formed; whether it verifies is the handler's business


def pairs(query: str) -> list[tuple[str, str]]:
    return [(name, value) for name, _, value in (item.partition("=") for item in query.split("&") if item)]


def problems(query: str, parse=lambda p: parse_query(p, MAX)) -> dict[str, str]:
    with pytest.raises(InvalidParametersError) as error:
        parse(pairs(query))
    return {p.parameter: p.problem for p in error.value.problems}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("event_type=login,create", AuditQuery(event_type=("login", "create"))),
        ("event_type=login,login,create", AuditQuery(event_type=("login", "create"))),  # a repeat is dropped
        (
            "event_resource_type=bug,comment&event_type=create,update",
            AuditQuery(event_type=("create", "update"), event_resource_type=("bug", "comment")),
        ),
        ("resource_id=BUG-123", AuditQuery(resource_id="BUG-123")),
        ('resource_id=a, b/c "d" é', AuditQuery(resource_id='a, b/c "d" é')),
        ("order=newest", AuditQuery(order="newest")),
        (
            "order=newest&per_page=50&event_type=login",
            AuditQuery(order="newest", per_page=50, event_type=("login",)),
        ),
        (f"cursor={CURSOR}", AuditQuery(order="newest", cursor=CURSOR)),
        (f"order=newest&cursor={CURSOR}", AuditQuery(order="newest", cursor=CURSOR)),
        ("order=ingested", AuditQuery(order="ingested")),
        (f"after={CURSOR}&company_id=7", AuditQuery(order="ingested", after=CURSOR, company_id=7)),
        ("page=1", AuditQuery(page=1)),
    ],
)
def test_valid_queries(query: str, expected: AuditQuery) -> None:
    assert parse_query(pairs(query), MAX) == expected


@pytest.mark.parametrize(
    ("query", "parameter", "fragment"),
    [
        ("event_type=login,", "event_type", "each comma-separated value"),
        ("event_type=,login", "event_type", "each comma-separated value"),
        ("event_type=login,,create", "event_type", "each comma-separated value"),
        ("event_type=login,cr%C3%A9%C3%A9", "event_type", "1-64"),
        ("event_type=" + ",".join(f"t{i}" for i in range(MAX_LIST_VALUES + 1)), "event_type", "at most"),
        (
            "event_type=a,b,c,d&event_resource_type=x,y,z",
            "event_resource_type",
            f"at most {MAX_COMBINATIONS}",
        ),
        ("resource_id=", "resource_id", "empty"),
        ("resource_id=" + "x" * 201, "resource_id", "1-200"),
        ("resource_id=a\nb", "resource_id", "control characters"),
        ("order=oldest", "order", "one of: newest, ingested"),
        ("cursor=abc", "cursor", "is not a cursor"),
        ("after=abc", "after", "is not a sync cursor"),
        ("page=2&order=newest", "page", "does not mix"),
        (f"page=1&cursor={CURSOR}", "page", "does not mix"),
        (f"cursor={CURSOR}&after={CURSOR}", "after", "not both"),
        (f"order=ingested&cursor={CURSOR}", "cursor", "continues with after="),
        (f"order=newest&after={CURSOR}", "after", "continues with cursor="),
        ("order=ingested&event_type=login", "event_type", "company_id only"),
        ("order=ingested&user_id=5", "user_id", "company_id only"),
        (f"after={CURSOR}&timestamp_from=5", "timestamp_from", "company_id only"),
        (f"cursor={CURSOR}&cursor={CURSOR}", "cursor", "more than once"),
        ("format=csv", "format", "unknown parameter"),
        ("after_id=x", "after_id", "unknown parameter"),
    ],
)
def test_each_invalid_parameter_is_named_with_its_problem(query: str, parameter: str, fragment: str) -> None:
    found = problems(query)
    assert parameter in found, found
    assert fragment in found[parameter]


def test_page_numbers_stay_as_they_were_unless_a_cursor_parameter_is_given() -> None:
    assert parse_query(pairs("page=3&per_page=20"), MAX).order is None
    assert parse_query(pairs(""), MAX) == AuditQuery()


def test_the_result_window_does_not_apply_to_cursor_walks() -> None:
    assert parse_query(pairs("order=newest&per_page=1000"), MAX).per_page == 1000
    assert "page" in problems("page=101&per_page=1000")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", AuditQuery()),
        ("format=csv", AuditQuery(format="csv")),
        (
            "format=ndjson&company_id=4&event_type=login,create&after_id=4-1-x",
            AuditQuery(company_id=4, event_type=("login", "create"), after_id="4-1-x"),
        ),
        ("resource_id=BUG-1&timestamp_from=5", AuditQuery(resource_id="BUG-1", timestamp_from=5)),
    ],
)
def test_valid_exports(query: str, expected: AuditQuery) -> None:
    assert parse_export(pairs(query)) == expected


@pytest.mark.parametrize(
    ("query", "parameter", "fragment"),
    [
        ("format=xml", "format", "one of: ndjson, csv"),
        ("format=csv&format=csv", "format", "more than once"),
        ("page=1", "page", "unknown parameter"),
        ("order=newest", "order", "unknown parameter"),
        ("cursor=x", "cursor", "unknown parameter"),
        ("after_id=", "after_id", "empty"),
        ("timestamp_to=5", "timestamp_to", "requires timestamp_from"),
    ],
)
def test_invalid_exports(query: str, parameter: str, fragment: str) -> None:
    found = problems(query, parse_export)
    assert parameter in found, found
    assert fragment in found[parameter]


def test_one_event_by_id_takes_an_id_and_nothing_else() -> None:
    assert parse_event_id("42-7-0f9a", []) == "42-7-0f9a"
    assert parse_event_id("a/b c,é", []) == "a/b c,é"
    for bad_id in ("", "x" * 201, "a\x00b", "a\nb"):
        with pytest.raises(InvalidParametersError) as error:
            parse_event_id(bad_id, [])
        assert [p.parameter for p in error.value.problems] == ["id"]
    with pytest.raises(InvalidParametersError) as error:
        parse_event_id("42-7-0f9a", [("company_id", "1")])
    assert [p.parameter for p in error.value.problems] == ["company_id"]
