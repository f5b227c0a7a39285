"""Cursors round-trip exactly, and anything else — an altered bit, another secret, other filters,
another key scope, the other order — is refused with a reason."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from query_service.cursor import VERSION, CursorCodec, CursorError, _b64, binding
from query_service.params import CURSOR_PATTERN
from query_service.query import INGESTED, NEWEST, Position, at_millis

CODEC = CursorCodec(b"k" * 32)
FILTERS = {"company_id": 42, "event_type": ("login", "create")}
BOUND = binding(FILTERS, "company:42")
POSITION = Position(datetime(2026, 5, 1, 12, 0, 0, 123000, tzinfo=UTC), "42-7-0f9a")

positions = st.builds(
    Position,
    st.integers(0, 253_402_300_799_999).map(
        lambda ms: datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    ),
    st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=200),
    st.none() | st.integers(1, 10**9),
)


@given(position=positions, order=st.sampled_from([NEWEST, INGESTED]))
def test_a_cursor_round_trips_its_position_to_the_millisecond(position: Position, order) -> None:
    token = CODEC.encode(order, position, BOUND)
    assert re.fullmatch(CURSOR_PATTERN, token), "the parameter's own pattern accepts every cursor"
    assert CODEC.decode(token, order, BOUND) == position


def test_a_cursor_issued_before_it_carried_ties_still_works() -> None:
    payload = orjson.dumps([VERSION, "newest", at_millis(POSITION.at), POSITION.id, BOUND])
    token = f"{_b64(payload)}.{_b64(CODEC._mac(payload))}"
    assert CODEC.decode(token, NEWEST, BOUND) == POSITION
    assert CODEC.encode(NEWEST, POSITION, BOUND) == token  # unknown ties: the same token as then


@given(data=st.data())
def test_any_altered_character_is_refused(data: st.DataObject) -> None:
    token = CODEC.encode(NEWEST, POSITION, BOUND)
    index = data.draw(st.integers(0, len(token) - 1), label="index")
    replacement = data.draw(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.").filter(
            lambda c: c != token[index]
        ),
        label="replacement",
    )
    altered = token[:index] + replacement + token[index + 1 :]
    with pytest.raises(CursorError):
        CODEC.decode(altered, NEWEST, BOUND)


def test_a_cursor_signed_with_another_secret_is_refused() -> None:
    token = CursorCodec(b"another secret, another deployment").encode(NEWEST, POSITION, BOUND)
    with pytest.raises(CursorError, match="not a cursor this API issued"):
        CODEC.decode(token, NEWEST, BOUND)


@pytest.mark.parametrize(
    ("filters", "scope"),
    [
        ({"company_id": 42, "event_type": ("login",)}, "company:42"),  # other filters
        ({"company_id": 42}, "company:42"),  # a filter dropped
        ({**FILTERS, "timestamp_from": 0}, "company:42"),  # a filter added
        (FILTERS, "operator"),  # another key scope, same filters
        ({"company_id": 43, "event_type": ("login", "create")}, "company:43"),  # another tenant
    ],
)
def test_a_cursor_replayed_with_other_filters_or_scope_is_refused(filters, scope) -> None:
    token = CODEC.encode(NEWEST, POSITION, BOUND)
    with pytest.raises(CursorError, match="other filters or another key"):
        CODEC.decode(token, NEWEST, binding(filters, scope))


def test_a_list_filter_binds_as_a_set() -> None:
    token = CODEC.encode(NEWEST, POSITION, BOUND)
    same = binding({"event_type": ("create", "login"), "company_id": 42}, "company:42")
    assert CODEC.decode(token, NEWEST, same) == POSITION


def test_a_cursor_of_one_order_is_refused_in_the_other() -> None:
    token = CODEC.encode(INGESTED, POSITION, BOUND)
    with pytest.raises(CursorError, match="order=ingested"):
        CODEC.decode(token, NEWEST, BOUND)


@pytest.mark.parametrize("token", ["", ".", "abc", "abc.def", "!!!.???", "a" * 30 + "." + "b" * 22])
def test_garbage_is_refused_not_a_crash(token: str) -> None:
    with pytest.raises(CursorError):
        CODEC.decode(token, NEWEST, BOUND)
