"""The stored-document contract (connect/transformer/storable.py): each value no supported store can hold
is refused with its path and rule; everything else is accepted and comes out as it went in."""

from __future__ import annotations

import json
import math

import bson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from authtrail.errors import RecordRejectedError
from connect.transformer.storable import MAX_DEPTH, UnstorableError, check_storable, parse_json_object


def refusal(text: str) -> tuple[str, str]:
    with pytest.raises(UnstorableError) as error:
        parse_json_object(text, "event_data", "invalid_event_data")
    assert error.value.reason == "invalid_event_data"
    return error.value.path, error.value.rule


@pytest.mark.parametrize(
    ("text", "path", "rule"),
    [
        ('{"s": "a\\u0000b"}', "event_data.s", "nul_character"),
        ('{"o": {"k\\u0000": 1}}', "event_data.o.'k\\x00'", "nul_character"),
        ('{"m": [[1]]}', "event_data.m[0]", "nested_array"),
        ('{"m": [1, []]}', "event_data.m[1]", "nested_array"),
        ('{"a.b": 1}', "event_data.'a.b'", "dotted_key"),
        ('{"x": {"$gt": 1}}', "event_data.x.'$gt'", "dollar_key"),
        ('{"": 1}', "event_data.''", "empty_key"),
        ('{"a": 1, "a": 2}', "event_data", "duplicate_key"),
        ('{"s": "\\ud800"}', "event_data.s", "lone_surrogate"),
        ('{"\\udc00": 1}', "event_data.'\\udc00'", "lone_surrogate"),
        ('{"n": 9223372036854775808}', "event_data.n", "integer_out_of_range"),
        ('{"n": -9223372036854775809}', "event_data.n", "integer_out_of_range"),
        ('{"f": 1e999}', "event_data.f", "non_finite_number"),
        ('{"list": [{"deep": [{"s": "\\u0000"}]}]}', "event_data.list[0].deep[0].s", "nul_character"),
    ],
)
def test_each_refused_shape_names_its_path_and_rule(text: str, path: str, rule: str) -> None:
    assert refusal(text) == (path, rule)


def test_nesting_is_bounded() -> None:
    at_limit = '{"a":' * (MAX_DEPTH - 1) + "1" + "}" * (MAX_DEPTH - 1)
    parse_json_object("{" + at_limit[1:], "event_data", "invalid_event_data")
    assert refusal('{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1))[1] == "too_deep"
    arrays_of_objects = '{"a":' + '[{"b":' * MAX_DEPTH + "1" + "}]" * MAX_DEPTH + "}"
    assert refusal(arrays_of_objects)[1] == "too_deep"
    assert refusal('{"a":' + "[" * 5000 + "]" * 5000 + "}")[1] in ("too_deep", "nested_array")


def test_not_json_or_not_an_object_is_refused_with_the_reason() -> None:
    for text in ("{oops", "[1, 2]", '{"x": NaN}', '{"x": Infinity}'):
        with pytest.raises(RecordRejectedError) as error:
            parse_json_object(text, "event_data", "invalid_event_data")
        assert error.value.reason == "invalid_event_data"


@pytest.mark.parametrize(
    "text",
    [
        '{"a$": 1, " ": 2, "ключ😀": 3, "k": "\\u0001\\u001f\\u2028\\ufeff\\uffff"}',
        '{"n": 9223372036854775807, "m": -9223372036854775808, "f": 5e-324, "g": 1.7976931348623157e308}',
        '{"o": {}, "a": [], "b": true, "z": null, "objs": [{"a": [1, {"b": [2]}]}]}',
        '{"s": "\\\\u0000 is only text here"}',
    ],
)
def test_shapes_every_store_takes_are_accepted_unchanged(text: str) -> None:
    parsed = parse_json_object(text, "event_data", "invalid_event_data")
    assert parsed == json.loads(text)
    assert bson.decode(bson.encode(parsed)) == parsed


def test_negative_zero_is_stored_as_zero() -> None:
    parsed = parse_json_object('{"f": -0.0, "g": [-0.0], "i": -0}', "event_data", "invalid_event_data")
    assert parsed == {"f": 0.0, "g": [0.0], "i": 0}
    assert math.copysign(1, parsed["f"]) == 1.0
    assert math.copysign(1, parsed["g"][0]) == 1.0


def test_other_fields_are_held_to_the_same_contract() -> None:
    with pytest.raises(UnstorableError) as error:
        check_storable({"ip": "10.0.0.1\x00"}, "extra", "invalid_field")
    assert (error.value.reason, error.value.path, error.value.rule) == (
        "invalid_field",
        "extra.ip",
        "nul_character",
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=5), json_values, max_size=5))
def test_whatever_is_accepted_is_encodable_and_round_trips(document: dict) -> None:
    try:
        text = json.dumps(document)
    except ValueError:
        return
    try:
        parsed = parse_json_object(text, "event_data", "invalid_event_data")
    except RecordRejectedError:
        return
    assert bson.decode(bson.encode(parsed)) == parsed
    assert json.loads(json.dumps(parsed)) == parsed
