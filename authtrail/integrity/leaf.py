"""The leaf of an audit event: the exact bytes its place in the company's Merkle tree commits to.

A verifier holds only what the API returns, so the leaf is built from that and nothing else:
the event object of ``GET /audit_events`` (``authtrail/audit_event.py`` ``audit_event``),
after JSON parsing. Every field the API returns is sealed, so a change to any of them in the
store shows — including ``ingested_at`` and ``content_sha256``, which the pipeline added.

**The format**, enough to write an independent verifier:

1. Take exactly these members of the event object (all must be present; any other member is
   ignored): ``id``, ``timestamp``, ``user_id``, ``company_id``, ``event_type``,
   ``event_resource_type``, ``resource_id``, ``event_data``, ``ingested_at``,
   ``content_sha256`` — with their values as the API returned them: ``timestamp`` an
   integer of epoch seconds, ``ingested_at`` an ISO 8601 UTC string with milliseconds
   (``2026-05-01T12:00:00.123Z``), ids as integers, ``event_data`` an object, any of them
   possibly ``null``.
2. Encode that object as canonical JSON — RFC 8785 (JCS), except that integers are written
   exactly (see :mod:`authtrail.integrity.canonical_json`): no whitespace, members sorted by
   UTF-16 code units at every level, UTF-8. The integers must therefore be parsed exactly
   (an id above 2^53 must not pass through a double).
3. ``leaf_hash = SHA-256(0x00 || leaf_bytes)`` (RFC 6962's leaf hash).

For the common case — no floats in ``event_data``, no keys outside the Basic Multilingual
Plane — step 2 gives the same bytes as Python's ``json.dumps(obj, sort_keys=True,
separators=(",", ":"), ensure_ascii=False).encode()`` (the tests hold the two to each other);
floats and such keys are where a verifier needs a real RFC 8785 encoder.

Why JSON of the API's view rather than the stored BSON: BSON is an internal format (and the
local stack's FerretDB stores something else again); the API's JSON is the one
representation a company sees, and the one that outlives a change of store.
"""

from __future__ import annotations

from collections.abc import Mapping

from authtrail.audit_event import AUDIT_EVENT_FIELDS
from authtrail.integrity.canonical_json import canonical_json
from authtrail.integrity.errors import CanonicalJsonError, LeafError
from authtrail.integrity.merkle import hash_leaf

# Every field the API returns (the leaf is the API's view of the event).
LEAF_FIELDS = AUDIT_EVENT_FIELDS


def leaf_bytes(event: Mapping[str, object]) -> bytes:
    """The canonical JSON of the event's sealed fields (see the module docstring)."""
    missing = [field for field in LEAF_FIELDS if field not in event]
    if missing:
        raise LeafError(f"event {event.get('id')!r} lacks {', '.join(missing)}")
    try:
        return canonical_json({field: event[field] for field in LEAF_FIELDS})
    except CanonicalJsonError as exc:
        raise LeafError(f"event {event.get('id')!r} has no canonical form: {exc}") from exc


def leaf_hash(event: Mapping[str, object]) -> bytes:
    """``SHA-256(0x00 || leaf_bytes(event))``: the event's hash in the tree."""
    return hash_leaf(leaf_bytes(event))
