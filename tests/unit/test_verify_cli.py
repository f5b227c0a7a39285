"""`authtrail verify`'s reading of evidence (scripts/verify.py): JSON parsed with integers exact
(ids beyond 64 bits, which a float would round), floats as json reads them; an offline bundle
read back is verified like the live one."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from scripts.verify import exact_json

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)


def test_integers_beyond_64_bits_stay_exact() -> None:
    assert exact_json('{"id": 18446744073709551617, "n": [-9223372036854775809]}') == {
        "id": 18446744073709551617,
        "n": [-9223372036854775809],
    }


@given(JSON_VALUES)
def test_it_reads_every_json_text_as_json_does(value: object) -> None:
    text = json.dumps(value)
    assert exact_json(text) == json.loads(text)
    assert exact_json(text.encode()) == json.loads(text)
