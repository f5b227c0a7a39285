"""Signing checkpoints as a company's log grows: each company whose tree outgrew its latest
checkpoint gets a new one, chained to it and signed (:mod:`authtrail.integrity.checkpoint`).

Only trees already written to the store are checkpointed (the sealing service calls
:meth:`Checkpointer.run` between batches), so a checkpoint never covers a leaf a crash could
take back.

**One chain per company, even across crashes.** A checkpoint is stored under the id
``<company_id>:<digest of its predecessor>`` (``first`` for the first), so a company can have
only one successor to any checkpoint: if a crash struck after a checkpoint was stored but
before the tree record named it as the latest, the next one signed would follow the same
predecessor — its insert is refused, the chain is followed to its real end, and the next round
signs after that. No fork, whatever the timing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authtrail.integrity.checkpoint import SignedCheckpoint, key_id, new_checkpoint, sign
from authtrail.integrity.errors import CheckpointError
from authtrail.integrity.merkle import CompactRange
from authtrail.integrity.sealing import SealStore

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class Checkpointer:
    def __init__(
        self,
        store: SealStore,
        private_key: Ed25519PrivateKey,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self._private_key = private_key
        self.key_id = key_id(private_key.public_key())
        self._clock = clock
        self._latest: dict[int, SignedCheckpoint | None] = {}
        self._resolved: set[int] = set()

    def reset(self, hints: Mapping[int, SignedCheckpoint | None]) -> None:
        """Start from the latest checkpoint each tree record names (after a recovery)."""
        self._latest = dict(hints)
        self._resolved.clear()

    def _resolve(self, companies: Iterable[int]) -> None:
        """Follow each company's chain to its end in the store (once per company, then kept):
        all companies together, one store read per step along the chains — normally one, which
        finds that the hint is the end."""
        pending = {
            company: self._latest.get(company) for company in companies if company not in self._resolved
        }
        while pending:
            following = self.store.checkpoints_following(
                {
                    company: current.checkpoint.digest() if current else None
                    for company, current in pending.items()
                }
            )
            for company, current in pending.items():
                if company not in following:
                    self._latest[company] = current
                    self._resolved.add(company)
            pending = {company: following[company] for company in pending if company in following}

    def latest_known(self) -> dict[int, SignedCheckpoint]:
        """The latest checkpoint of each company this checkpointer has followed or signed."""
        return {company: signed for company, signed in self._latest.items() if signed is not None}

    def run(self, trees: Mapping[int, CompactRange]) -> list[SignedCheckpoint]:
        """Sign a checkpoint for every company with leaves past its latest one, store them all
        at once; the ones stored."""
        made_now: list[SignedCheckpoint] = []
        self._resolve(company for company, tree in trees.items() if tree.size)
        for company_id, tree in trees.items():
            if tree.size == 0:
                continue
            previous = self._latest[company_id]
            covered = previous.checkpoint.tree_size if previous else 0
            if tree.size < covered:
                raise CheckpointError(
                    f"company {company_id}'s tree has {tree.size} leaves, but it was checkpointed "
                    f"at {covered}: the sealer's state went back"
                )
            if tree.size == covered:
                continue
            made = new_checkpoint(
                company_id,
                tree.size,
                tree.root(),
                self._not_before(previous),
                previous.checkpoint if previous else None,
                self.key_id,
            )
            made_now.append(sign(made, self._private_key))
        signed_now = []
        for signed, stored in zip(made_now, self.store.insert_checkpoints(made_now), strict=True):
            company_id = signed.checkpoint.company_id
            if stored:
                self._latest[company_id] = signed
                signed_now.append(signed)
            else:
                self._resolved.discard(company_id)  # someone followed it already: find the end
        return signed_now

    def _not_before(self, previous: SignedCheckpoint | None) -> datetime:
        """Now — or the predecessor's time if the clock stepped back: a chain's times never
        decrease (verifiers check it)."""
        now = self._clock()
        if previous is None:
            return now
        before = datetime.strptime(previous.checkpoint.time, _TIME_FORMAT).replace(tzinfo=UTC)
        return max(now, before)
