"""What a record the sink could not write means, decided in one place.

Used by the sink DLQ reconciler (records the connector dead-lettered) and by the quarantine
(records sink-watch wrote itself). Verdicts:

* ``already_stored`` — a duplicate key, and the stored document has the same
  ``content_sha256``: a redelivery; nothing to do.
* ``id_conflict`` — a duplicate key, different content: another event reusing an id. The
  stored event stays; the newcomer goes to the human-facing DLQ.
* ``store_refused`` — the store refused the document (a write error other than a duplicate,
  or a whole command refused), with the store's own message.
* ``sink_write_error`` — the connector failed the record without a store error code
  (a conversion or processing error inside Connect).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DUPLICATE_KEY = 11000
# Kafka Connect's DLQ headers carry the connector's exception *message*; the MongoDB driver
# writes the server's error code into it as "code=NNNN". This is the one place authtrail reads
# an error's text: Connect gives nothing structured.
_CODE = re.compile(r"\bcode=(\d+)")


@dataclass(frozen=True)
class Verdict:
    kind: str  # already_stored | id_conflict | store_refused | sink_write_error
    detail: str


def error_code(exception_message: str) -> int | None:
    match = _CODE.search(exception_message)
    return int(match.group(1)) if match else None


def judge(
    code: int | None, message: str, record_id: object, record_sha: str | None, stored_sha: str | bool | None
) -> Verdict:
    """``stored_sha`` is False when no document with the record's id is stored."""
    if code != DUPLICATE_KEY:
        if code is None:
            return Verdict("sink_write_error", message[:500] or "unknown sink write error")
        return Verdict("store_refused", message[:500] or f"the store refused the document (code {code})")
    if stored_sha is False:
        return Verdict("sink_write_error", f"duplicate key but no stored document with _id {record_id!r}")
    if stored_sha == record_sha:
        return Verdict("already_stored", "redelivery of an event stored with identical content")
    return Verdict(
        "id_conflict",
        f"event id {record_id!r} is already stored with different content "
        f"(stored {stored_sha}, rejected {record_sha}); the stored event was kept",
    )
