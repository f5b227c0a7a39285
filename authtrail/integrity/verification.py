"""Verifying a company's log end to end, from what the API returns and a pinned public key only.

The inputs are the company's signed checkpoints, its log's leaves in order (event id and leaf
hash at each position, ``GET /checkpoints/leaves``) and its events (``GET /audit_events/export``).
Nothing in them is trusted; the pinned key is. The checks, and what each one catches:

1. **Checkpoints**: each signature verifies under a pinned key (*a checkpoint signed by another
   key, or altered*); each names its predecessor's digest, never shrinks the tree, never goes
   back in time, the first names none (*an old checkpoint replaced or removed*).
2. **Leaves → roots**: the served leaf hashes, folded in order, reproduce the root of every
   checkpoint at its size (*the log's own state altered: a leaf replaced, removed, reordered*);
   fewer leaves than the latest checkpoint counts is *the log truncated*. Reproducing every
   checkpoint's root from one list of leaves also shows each checkpoint extends the one before
   (what a consistency proof shows, without one).
3. **Leaves → events**: each sealed event is in the store (*a deleted event*) and hashes to its
   leaf (*a changed event*: any field the API returns).
4. **Events → leaves**: an event in the store that no leaf names, though it was ingested well
   before the latest checkpoint (``grace``), never came through the pipeline (*an event
   inserted straight into the store*). Newer ones may simply not be sealed yet: counted as
   pending, not failed.
5. **A checkpoint verified before** (the caller's saved state): still in the history, unchanged
   (*history rewritten or truncated, the newest checkpoints removed*).

Every problem is reported (a :class:`Finding` names the event id or checkpoint and what is
wrong); nothing stops at the first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from authtrail.integrity.checkpoint import SignedCheckpoint, check_follows, verify_signature
from authtrail.integrity.errors import CheckpointError, LeafError, SignatureError
from authtrail.integrity.leaf import leaf_hash
from authtrail.integrity.merkle import CompactRange

DEFAULT_GRACE = timedelta(minutes=5)
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True, slots=True)
class Leaf:
    index: int
    event_id: str
    leaf_hash: str


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """What verification keeps of an event from the store: its leaf hash (``None`` when it has
    no canonical form: ``problem`` says why) and when it was ingested."""

    leaf_hash: bytes | None
    ingested_at: str | None
    problem: str | None = None


def stored_event(event: Mapping[str, Any]) -> StoredEvent:
    """Hashed as it is read, so a million events need not be kept whole."""
    ingested = event.get("ingested_at")
    ingested_at = ingested if isinstance(ingested, str) else None
    try:
        return StoredEvent(leaf_hash(event), ingested_at)
    except LeafError as exc:
        return StoredEvent(None, ingested_at, str(exc))


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: ``kind`` (changed, missing, unsealed, checkpoint, log, history), the event
    id or checkpoint it is about, and what is wrong."""

    kind: str
    subject: str
    message: str

    def line(self) -> str:
        return f"{self.kind:<10} {self.subject}: {self.message}"


@dataclass
class Report:
    company_id: int
    findings: list[Finding] = field(default_factory=list)
    checkpoints: int = 0
    leaves: int = 0
    events: int = 0
    pending: int = 0
    latest: SignedCheckpoint | None = None

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, kind: str, subject: str, message: str) -> None:
        self.findings.append(Finding(kind, subject, message))


def verify_log(
    company_id: int,
    public_keys: Sequence[Ed25519PublicKey],
    checkpoints: Iterable[SignedCheckpoint],
    leaves: Iterable[Leaf],
    events: Mapping[str, StoredEvent],
    known: SignedCheckpoint | None = None,
    grace: timedelta = DEFAULT_GRACE,
    advance: Callable[[int], None] = lambda n: None,
) -> Report:
    """Every check of the module docstring. ``events``: the company's events by id
    (:func:`stored_event`);
    ``advance(n)`` is called as leaves are checked (a progress bar)."""
    report = Report(company_id)
    chain = sorted(checkpoints, key=lambda signed: signed.checkpoint.tree_size)
    report.checkpoints = len(chain)
    _check_chain(report, chain, public_keys)
    report.latest = chain[-1] if chain else None
    sealed = _check_leaves(report, chain, leaves, events, advance)
    _check_unsealed(report, events, sealed, grace)
    if known is not None:
        _check_known(report, chain, known)
    return report


def _check_chain(
    report: Report, chain: list[SignedCheckpoint], public_keys: Sequence[Ed25519PublicKey]
) -> None:
    previous = None
    for signed in chain:
        made = signed.checkpoint
        subject = f"checkpoint {made.tree_size}"
        if made.company_id != report.company_id:
            report.add("checkpoint", subject, f"is company {made.company_id}'s, not {report.company_id}'s")
        try:
            verify_signature(signed, public_keys)
        except SignatureError as exc:
            report.add("checkpoint", subject, str(exc))
        try:
            check_follows(previous, made)
        except CheckpointError as exc:
            report.add("checkpoint", subject, f"breaks the chain: {exc}")
        previous = made


def _check_leaves(
    report: Report,
    chain: list[SignedCheckpoint],
    leaves: Iterable[Leaf],
    events: Mapping[str, StoredEvent],
    advance: Callable[[int], None],
) -> set[str]:
    roots = {signed.checkpoint.tree_size: signed.checkpoint.root_hash for signed in chain}
    checked_sizes: set[int] = set()
    tree = CompactRange()
    sealed: set[str] = set()
    for leaf in leaves:
        if leaf.index != tree.size:
            report.add("log", f"leaf {tree.size}", f"the log skips to leaf {leaf.index}: leaves are missing")
            break
        digest = bytes.fromhex(leaf.leaf_hash)
        tree.append(digest)
        if leaf.event_id in sealed:
            report.add("log", f"leaf {leaf.index}", f"event {leaf.event_id} is sealed twice")
        sealed.add(leaf.event_id)
        _check_event(report, leaf, digest, events.get(leaf.event_id))
        if tree.size in roots:
            checked_sizes.add(tree.size)
            if tree.root().hex() != roots[tree.size]:
                report.add(
                    "log",
                    f"checkpoint {tree.size}",
                    "the log's leaves do not reproduce its signed root: leaves up to it were "
                    "altered, removed or reordered in the store",
                )
        if tree.size % 10_000 == 0:
            advance(10_000)
    advance(tree.size % 10_000)
    report.leaves = tree.size
    latest = chain[-1].checkpoint.tree_size if chain else 0
    if tree.size < latest:
        report.add(
            "log",
            f"checkpoint {latest}",
            f"covers {latest} leaves, the log holds {tree.size}: it was truncated",
        )
    return sealed


def _check_event(report: Report, leaf: Leaf, digest: bytes, event: StoredEvent | None) -> None:
    if event is None:
        report.add("missing", leaf.event_id, f"sealed at leaf {leaf.index}, but not in the store: deleted")
        return
    report.events += 1
    if event.leaf_hash is None:
        report.add("changed", leaf.event_id, f"leaf {leaf.index}: {event.problem}")
        return
    if event.leaf_hash != digest:
        report.add(
            "changed",
            leaf.event_id,
            f"leaf {leaf.index}: the stored event is not what was sealed (content changed)",
        )


def _check_unsealed(
    report: Report, events: Mapping[str, StoredEvent], sealed: set[str], grace: timedelta
) -> None:
    if report.latest is None:
        horizon = None
    else:
        horizon = datetime.strptime(report.latest.checkpoint.time, _TIME_FORMAT).replace(tzinfo=UTC) - grace
    for event_id, event in events.items():
        if event_id in sealed:
            continue
        ingested = _moment(event.ingested_at)
        if horizon is not None and (ingested is None or ingested <= horizon):
            report.add(
                "unsealed",
                event_id,
                f"in the store but in no leaf, though ingested ({event.ingested_at}) before the "
                f"latest checkpoint ({report.latest.checkpoint.time if report.latest else '-'}) minus "
                f"{grace}: it did not come through the pipeline",
            )
        else:
            report.pending += 1


def _check_known(report: Report, chain: list[SignedCheckpoint], known: SignedCheckpoint) -> None:
    size = known.checkpoint.tree_size
    subject = f"checkpoint {size}"
    latest = chain[-1].checkpoint.tree_size if chain else 0
    same_size = next((signed for signed in chain if signed.checkpoint.tree_size == size), None)
    if latest < size:
        report.add(
            "history",
            subject,
            f"was verified before, yet the latest checkpoint is {latest}: history truncated",
        )
    elif same_size is None:
        report.add("history", subject, "was verified before and is gone from the history: history rewritten")
    elif same_size.checkpoint.digest() != known.checkpoint.digest():
        report.add("history", subject, "differs from the one verified before: history rewritten")


def _moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
