"""Verifying a company's log (authtrail/integrity/verification.py): an untouched log passes, and
each way of tampering with it — an event changed, deleted or inserted, the log's leaves
altered or truncated, a checkpoint replaced or signed by another key, history rewritten since
the last verification — fails, naming the event or checkpoint."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authtrail.integrity.checkpoint import SignedCheckpoint, key_id, new_checkpoint, sign
from authtrail.integrity.leaf import leaf_hash
from authtrail.integrity.merkle import CompactRange
from authtrail.integrity.verification import Leaf, Report, StoredEvent, stored_event, verify_log

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
COMPANY = 7


def event(n: int, ingested: datetime = T0) -> dict[str, Any]:
    return {
        "id": f"ev-{n}",
        "timestamp": 1_777_000_000 + n,
        "user_id": 100 + n % 3,
        "company_id": COMPANY,
        "event_type": "update",
        "event_resource_type": "bug",
        "resource_id": f"BUG-{n}",
        "event_data": {"title": f"bug {n}", "n": n},
        "ingested_at": ingested.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "content_sha256": None,
    }


@dataclasses.dataclass
class Log:
    """A company's log as the API would serve it: checkpoints at ``sizes``, leaves, events."""

    events: dict[str, dict[str, Any]]
    leaves: list[Leaf]
    checkpoints: list[SignedCheckpoint]

    def verify(self, **options: Any) -> Report:
        return verify_log(
            COMPANY,
            [KEY.public_key()],
            self.checkpoints,
            self.leaves,
            {event_id: stored_event(body) for event_id, body in self.events.items()},
            **options,
        )


def a_log(count: int = 20, sizes: tuple[int, ...] = (5, 12, 20)) -> Log:
    events = [event(n) for n in range(count)]
    leaves = [Leaf(n, body["id"], leaf_hash(body).hex()) for n, body in enumerate(events)]
    checkpoints: list[SignedCheckpoint] = []
    tree = CompactRange()
    for leaf in leaves:
        tree.append(bytes.fromhex(leaf.leaf_hash))
        if tree.size in sizes:
            previous = checkpoints[-1].checkpoint if checkpoints else None
            made = new_checkpoint(
                COMPANY,
                tree.size,
                tree.root(),
                T0 + timedelta(hours=tree.size),
                previous,
                key_id(KEY.public_key()),
            )
            checkpoints.append(sign(made, KEY))
    return Log({body["id"]: body for body in events}, leaves, checkpoints)


def problems(report: Report) -> list[tuple[str, str]]:
    return [(finding.kind, finding.subject) for finding in report.findings]


def test_an_untouched_log_verifies() -> None:
    report = a_log().verify()
    assert report.ok, report.findings
    assert (report.checkpoints, report.leaves, report.events, report.pending) == (3, 20, 20, 0)


def test_a_changed_field_names_the_event() -> None:
    log = a_log()
    log.events["ev-3"]["event_data"]["title"] = "bug 3 (edited)"
    assert problems(log.verify()) == [("changed", "ev-3")]


def test_any_returned_field_changed_is_detected() -> None:
    for name, value in [("user_id", 999), ("timestamp", 1), ("ingested_at", "2020-01-01T00:00:00.000Z")]:
        log = a_log()
        log.events["ev-9"][name] = value
        assert problems(log.verify()) == [("changed", "ev-9")], name


def test_a_deleted_event_is_named() -> None:
    log = a_log()
    del log.events["ev-4"]
    assert problems(log.verify()) == [("missing", "ev-4")]


def test_an_event_inserted_straight_into_the_store_is_named() -> None:
    log = a_log()
    forged = event(99, ingested=T0)
    log.events[forged["id"]] = forged
    assert problems(log.verify()) == [("unsealed", "ev-99")]


def test_an_event_newer_than_the_latest_checkpoint_is_pending_not_failed() -> None:
    log = a_log()
    fresh = event(50, ingested=T0 + timedelta(hours=20, minutes=1))  # latest checkpoint: T0 + 20 h
    log.events[fresh["id"]] = fresh
    report = log.verify()
    assert report.ok
    assert report.pending == 1


def test_newest_events_removed_with_their_leaves_is_truncation() -> None:
    log = a_log()
    for leaf in log.leaves[17:]:
        del log.events[leaf.event_id]
    log.leaves = log.leaves[:17]
    assert ("log", "checkpoint 20") in problems(log.verify())


def test_an_altered_leaf_list_fails_the_checkpoints_it_reaches() -> None:
    log = a_log()
    log.leaves[6], log.leaves[7] = (
        dataclasses.replace(log.leaves[7], index=6),
        dataclasses.replace(log.leaves[6], index=7),
    )
    found = problems(log.verify())
    assert ("log", "checkpoint 12") in found
    assert ("log", "checkpoint 20") in found
    assert ("log", "checkpoint 5") not in found


def test_a_replaced_old_checkpoint_breaks_the_chain() -> None:
    log = a_log()
    old = log.checkpoints[0].checkpoint
    forged = dataclasses.replace(old, root_hash="ab" * 32)
    log.checkpoints[0] = sign(forged, KEY)  # even with the real key: its successor names the original
    found = problems(log.verify())
    assert ("checkpoint", "checkpoint 12") in found
    assert ("log", "checkpoint 5") in found


def test_a_checkpoint_signed_by_another_key_is_named() -> None:
    log = a_log()
    latest = log.checkpoints[-1].checkpoint
    resigned = sign(dataclasses.replace(latest, key_id=key_id(OTHER_KEY.public_key())), OTHER_KEY)
    log.checkpoints[-1] = resigned
    assert ("checkpoint", "checkpoint 20") in problems(log.verify())


def test_a_signature_swapped_for_another_keys_under_the_pinned_key_id_is_named() -> None:
    log = a_log()
    latest = log.checkpoints[-1]
    log.checkpoints[-1] = SignedCheckpoint(
        latest.checkpoint, OTHER_KEY.sign(latest.checkpoint.signed_bytes()).hex()
    )
    assert problems(log.verify()) == [("checkpoint", "checkpoint 20")]


def test_history_rewritten_since_the_last_verification_is_named() -> None:
    known = a_log().checkpoints[-1]
    rewritten = a_log(count=20, sizes=(5, 12, 19, 20))  # same leaves, another history
    assert rewritten.verify(known=known).ok is False
    shorter = a_log(count=12, sizes=(5, 12))
    assert ("history", "checkpoint 20") in problems(shorter.verify(known=known))
    assert a_log().verify(known=known).ok


def test_every_problem_is_reported_not_just_the_first() -> None:
    log = a_log()
    log.events["ev-1"]["resource_id"] = "BUG-X"
    del log.events["ev-2"]
    log.events["ev-15"]["event_type"] = "delete"
    assert problems(log.verify()) == [("changed", "ev-1"), ("missing", "ev-2"), ("changed", "ev-15")]


def test_an_event_without_a_canonical_form_is_reported_as_changed() -> None:
    log = a_log()
    stored = {event_id: stored_event(body) for event_id, body in log.events.items()}
    stored["ev-0"] = StoredEvent(None, None, "event 'ev-0' lacks user_id")
    report = verify_log(COMPANY, [KEY.public_key()], log.checkpoints, log.leaves, stored)
    assert [(f.kind, f.subject) for f in report.findings] == [("changed", "ev-0")]
    assert "lacks user_id" in report.findings[0].message


def test_a_rotated_key_verifies_with_both_keys_pinned_and_names_the_unpinned_one() -> None:
    log = a_log()
    latest = log.checkpoints[-1].checkpoint
    rotated = dataclasses.replace(latest, key_id=key_id(OTHER_KEY.public_key()))
    log.checkpoints[-1] = sign(rotated, OTHER_KEY)  # the newest checkpoint signed by the new key
    stored = {event_id: stored_event(body) for event_id, body in log.events.items()}
    both = verify_log(
        COMPANY, [KEY.public_key(), OTHER_KEY.public_key()], log.checkpoints, log.leaves, stored
    )
    assert both.ok, both.findings
    old_only = verify_log(COMPANY, [KEY.public_key()], log.checkpoints, log.leaves, stored)
    assert [(f.kind, f.subject) for f in old_only.findings] == [("checkpoint", "checkpoint 20")]
    assert "not pinned" in old_only.findings[0].message
