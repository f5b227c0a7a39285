"""Canonical JSON (authtrail/integrity/canonical_json.py) against RFC 8785: its Appendix B
number samples, cyberphone/json-canonicalization's test data (the RFC author's), and our one
deviation, exact integers."""

from __future__ import annotations

import enum
import json
import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authtrail.integrity.canonical_json import _encode, canonical_json, es_number
from authtrail.integrity.errors import CanonicalJsonError

APPENDIX_B = [  # IEEE 754 bits → ECMAScript text
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "expected"), APPENDIX_B)
def test_rfc8785_appendix_b_numbers(bits: str, expected: str) -> None:
    (number,) = struct.unpack(">d", bytes.fromhex(bits))
    assert es_number(number) == expected
    assert canonical_json(number) == expected.encode()


def test_cyberphone_values() -> None:
    text = (
        '{"numbers": [1E30, 4.50, 333333333.33333329, 2e-3, 0.000000000000000000000000001],'
        ' "escaping": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"escaping":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/","literals":[null,true,false],'
        '"numbers":[1e+30,4.5,333333333.3333333,0.002,1e-27]}'
    )
    assert canonical_json(json.loads(text)) == expected.encode()


def test_cyberphone_weird_keys_sort_by_utf16_code_units() -> None:
    value = {
        "\u20ac": "Euro Sign",
        "1": "One",
        "\u0080": "Control\u007f",
        "\U0001f602": "Smiley",
        "\u00f6": "Latin Small Letter O With Diaeresis",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "</script>": "Browser Challenge",
    }
    expected = (
        '{"1":"One","</script>":"Browser Challenge","\u0080":"Control\u007f",'
        '"ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign","\U0001f602":"Smiley",'
        '"\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    )
    assert canonical_json(value) == expected.encode()


def test_every_control_character_is_escaped_and_nothing_else() -> None:
    text = "".join(chr(code) for code in range(0x80))
    encoded = canonical_json(text).decode()
    assert encoded.startswith('"\\u0000\\u0001')
    assert "\\b\\t\\n\\u000b\\f\\r" in encoded
    assert encoded.endswith('\\u001f !\\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\\\]^_`'
                            'abcdefghijklmnopqrstuvwxyz{|}~\x7f"')  # fmt: skip


def test_integers_are_exact_where_rfc8785_would_round() -> None:
    assert canonical_json(2**63 - 1) == b"9223372036854775807"
    assert canonical_json(-(2**63)) == b"-9223372036854775808"
    assert canonical_json(9007199254740993) == b"9007199254740993"
    assert canonical_json(float(9007199254740993)) == b"9007199254740992"


def test_a_float_and_an_integer_of_the_same_value_are_the_same_json_number() -> None:
    assert canonical_json({"a": 1.0, "b": -0.0, "c": 100.0}) == b'{"a":1,"b":0,"c":100}'


def test_structures_and_literals() -> None:
    assert canonical_json({"b": [1, {"d": None, "c": True}], "a": (False,)}) == (
        b'{"a":[false],"b":[1,{"c":true,"d":null}]}'
    )
    assert canonical_json({}) == b"{}"
    assert canonical_json([]) == b"[]"


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        (math.nan, "no JSON form"),
        ({"x": [math.inf]}, r"\$\.x\[0\]"),
        ({1: "a"}, "not a string"),
        ({"when": object()}, "object is not a JSON value"),
        (b"bytes", "bytes is not a JSON value"),
        ("\ud800", "unpaired"),
        ({"\udfff": 1}, "unpaired"),
    ],
)
def test_values_without_a_canonical_form_are_refused(value: object, complaint: str) -> None:
    with pytest.raises(CanonicalJsonError, match=complaint):
        canonical_json(value)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_number_reads_back_as_the_same_double(number: float) -> None:
    text = es_number(number)
    assert float(text) == number
    assert "e" not in text or text[text.index("e") + 1] in "+-"


finite_floats = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    # Integers past 64 bits too: orjson refuses them, and the fast path must fall back exactly.
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | finite_floats | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_the_fast_path_gives_the_full_encoders_bytes(value: object) -> None:
    """Plain values go through orjson (or :mod:`json` where orjson refuses); they must agree
    with the full encoder."""
    try:
        fast = canonical_json(value)
    except CanonicalJsonError:  # lone surrogates
        with pytest.raises(UnicodeEncodeError):
            _encode(value).decode("utf-8")
        return
    assert fast == _encode(value)


@given(json_values)
def test_without_floats_or_astral_keys_it_is_sorted_compact_json(value: object) -> None:
    """What a verifier in any language can rely on for the common case: sorted keys, compact
    separators, UTF-8 — byte for byte what Python's json module writes."""
    if _has_float_or_astral_key(value):
        return  # ECMAScript numbers; keys sorted by UTF-16 units here, by code points there
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert _encode(value) == expected


def test_subclasses_of_json_types_take_the_full_encoder() -> None:
    class Level(enum.IntEnum):
        HIGH = 3

    assert canonical_json({"level": Level.HIGH, "pair": (1, 2)}) == b'{"level":3,"pair":[1,2]}'


def _has_float_or_astral_key(value: object) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(
            any(ord(c) > 0xFFFF for c in key) or _has_float_or_astral_key(item) for key, item in value.items()
        )
    if isinstance(value, list):
        return any(_has_float_or_astral_key(item) for item in value)
    return False
