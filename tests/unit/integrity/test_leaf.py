"""The leaf of an event (authtrail/integrity/leaf.py): pinned bytes and hash for one event, the
documented recipe reproduces them without project code, and every field the API returns —
at any depth of ``event_data`` — changes the leaf."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from authtrail.audit_event import audit_event
from authtrail.integrity.errors import LeafError
from authtrail.integrity.leaf import LEAF_FIELDS, leaf_bytes, leaf_hash
from query_service.serialize import dumps

EVENT: dict[str, Any] = {
    "id": "42-7-6f1c2d9e-0b7a-4c1e-9a51-3d2f8e4b5a60",
    "timestamp": 1767225600,
    "user_id": 7,
    "company_id": 42,
    "event_type": "update",
    "event_resource_type": "bug",
    "resource_id": "PROJ-123",
    "event_data": {
        "title": "Crash on start – “quoted”",
        "from": "open",
        "to": "closed",
        "votes": 3,
        "ratio": 0.25,
        "tags": ["ui", "é"],
    },
    "ingested_at": "2026-01-01T00:00:01.234Z",
    "content_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
}
GOLDEN_BYTES = (
    '{"company_id":42,"content_sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",'
    '"event_data":{"from":"open","ratio":0.25,"tags":["ui","é"],"title":"Crash on start – “quoted”",'
    '"to":"closed","votes":3},"event_resource_type":"bug","event_type":"update",'
    '"id":"42-7-6f1c2d9e-0b7a-4c1e-9a51-3d2f8e4b5a60","ingested_at":"2026-01-01T00:00:01.234Z",'
    '"resource_id":"PROJ-123","timestamp":1767225600,"user_id":7}'
).encode()
GOLDEN_HASH = "ff2d71e3b68681aee47ac058a12338d8762eb4307b5e4eb534ef7b640ec1e0c4"


def test_the_leaf_of_an_event_is_pinned() -> None:
    assert leaf_bytes(EVENT) == GOLDEN_BYTES
    assert leaf_hash(EVENT).hex() == GOLDEN_HASH


def test_an_independent_verifier_reproduces_it_from_the_documented_recipe() -> None:
    """No project code: pick the fields, sorted compact JSON, SHA-256 of 0x00 || bytes."""
    wire = json.loads(json.dumps(EVENT))  # as a verifier receives it
    picked = {name: wire[name] for name in LEAF_FIELDS}
    encoded = json.dumps(picked, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert encoded == GOLDEN_BYTES
    assert hashlib.sha256(b"\x00" + encoded).hexdigest() == GOLDEN_HASH


def test_the_sealed_fields_are_the_documented_ones() -> None:
    """A field added to the API's view of an event changes every leaf: it must be a decision
    (a new leaf format version), never a side effect."""
    assert LEAF_FIELDS == (
        "id",
        "timestamp",
        "user_id",
        "company_id",
        "event_type",
        "event_resource_type",
        "resource_id",
        "event_data",
        "ingested_at",
        "content_sha256",
    )


def test_the_api_rendering_of_a_stored_document_is_a_leaf() -> None:
    document = {
        "_id": EVENT["id"],
        "timestamp": datetime.fromtimestamp(1767225600, UTC),
        "user_id": 7,
        "company_id": 42,
        "event_type": "update",
        "event_resource_type": "bug",
        "resource_id": "PROJ-123",
        "event_data": EVENT["event_data"],
        "ingested_at": datetime(2026, 1, 1, 0, 0, 1, 234000, tzinfo=UTC),
        "content_sha256": EVENT["content_sha256"],
    }
    served = orjson.loads(dumps(audit_event(document)))
    assert leaf_bytes(served) == GOLDEN_BYTES


def test_members_outside_the_sealed_fields_are_ignored() -> None:
    assert leaf_bytes({**EVENT, "leaf_index": 12, "proof": []}) == GOLDEN_BYTES


def test_a_missing_field_is_named() -> None:
    partial = {name: value for name, value in EVENT.items() if name not in ("ingested_at", "user_id")}
    with pytest.raises(LeafError, match="lacks user_id, ingested_at"):
        leaf_bytes(partial)


def test_a_value_without_canonical_form_is_refused() -> None:
    with pytest.raises(LeafError, match="no canonical form"):
        leaf_bytes({**EVENT, "event_data": {"x": float("nan")}})


CHANGES: dict[str, Any] = {
    "id": "42-7-6f1c2d9e-0b7a-4c1e-9a51-3d2f8e4b5a61",
    "timestamp": 1767225601,
    "user_id": 8,
    "company_id": 43,
    "event_type": "delete",
    "event_resource_type": "comment",
    "resource_id": "PROJ-124",
    "event_data": {**EVENT["event_data"], "votes": 4},
    "ingested_at": "2026-01-01T00:00:01.235Z",
    "content_sha256": "0" * 64,
}


@pytest.mark.parametrize("field", LEAF_FIELDS)
def test_every_field_changes_the_leaf(field: str) -> None:
    assert set(CHANGES) == set(LEAF_FIELDS)
    assert leaf_hash({**EVENT, field: CHANGES[field]}) != leaf_hash(EVENT)
    assert leaf_hash({**EVENT, field: None}) != leaf_hash(EVENT)


@pytest.mark.parametrize(
    "event_data",
    [
        {**EVENT["event_data"], "tags": ["é", "ui"]},  # order of an array
        {**EVENT["event_data"], "votes": "3"},  # a number turned string
        {**EVENT["event_data"], "extra": None},  # a member added
        {name: value for name, value in EVENT["event_data"].items() if name != "to"},  # removed
        {**EVENT["event_data"], "title": "Crash on start – “quoted” "},  # whitespace
    ],
)
def test_changes_inside_event_data_change_the_leaf(event_data: dict[str, object]) -> None:
    assert leaf_hash({**EVENT, "event_data": event_data}) != leaf_hash(EVENT)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=12,
)


@given(
    st.dictionaries(st.text(max_size=4), json_values, max_size=4),
    st.dictionaries(st.text(max_size=4), json_values, max_size=4),
)
def test_different_event_data_never_share_a_leaf(first: dict[str, object], second: dict[str, object]) -> None:
    def text(data: dict[str, object]) -> str:
        return json.dumps(data, sort_keys=True)

    same_leaf = leaf_hash({**EVENT, "event_data": first}) == leaf_hash({**EVENT, "event_data": second})
    assert same_leaf == (text(first) == text(second))
