"""Signing checkpoints as logs grow (authtrail/integrity/checkpointer.py): one per company that
grew, none for one that did not, chained and verifiable; a crash between storing a checkpoint
and recording it as the latest never forks the chain; a clock that steps back never makes a
chain's time decrease."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from authtrail.integrity.checkpoint import check_follows, verify_signature
from authtrail.integrity.checkpointer import Checkpointer
from authtrail.integrity.errors import CheckpointError
from authtrail.integrity.merkle import CompactRange
from tests.support.seal_model import SealModel

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def tree(size: int) -> CompactRange:
    grown = CompactRange()
    grown.extend(bytes([n % 256]) * 32 for n in range(size))
    return grown


def chain(model: SealModel, company: int) -> list:
    """The company's checkpoints from the first, following ``previous``."""
    found, current = [], None
    while (following := model.checkpoint_following(company, current)) is not None:
        check_follows(found[-1].checkpoint if found else None, following.checkpoint)
        verify_signature(following, KEY.public_key())
        found.append(following)
        current = following.checkpoint.digest()
    return found


def test_each_company_that_grew_gets_one_checkpoint_chained_to_its_last() -> None:
    model, clock = SealModel(), Clock()
    checkpointer = Checkpointer(model, KEY, clock)
    trees = {1: tree(3), 2: tree(1), 3: CompactRange()}
    assert [s.checkpoint.company_id for s in checkpointer.run(trees)] == [1, 2]
    clock.now += timedelta(minutes=1)
    assert checkpointer.run(trees) == [], "nothing new, nothing signed"
    trees[1] = tree(5)
    [signed] = checkpointer.run(trees)
    assert (signed.checkpoint.company_id, signed.checkpoint.tree_size) == (1, 5)
    assert signed.checkpoint.root_hash == tree(5).root().hex()
    assert [s.checkpoint.tree_size for s in chain(model, 1)] == [3, 5]
    assert checkpointer.latest_known()[1] == signed


def test_a_crash_after_storing_a_checkpoint_does_not_fork_the_chain() -> None:
    model, clock = SealModel(), Clock()
    first = Checkpointer(model, KEY, clock)
    first.run({1: tree(2)})
    # The crash: a checkpoint at size 4 stored, the tree record still naming size 2 as latest.
    latest_before = first.latest_known()[1]
    first.run({1: tree(4)})
    restarted = Checkpointer(model, KEY, clock)
    restarted.reset({1: latest_before})
    assert restarted.run({1: tree(4)}) == [], "size 4 is already covered"
    [signed] = restarted.run({1: tree(6)})
    assert [s.checkpoint.tree_size for s in chain(model, 1)] == [2, 4, 6]
    assert signed.checkpoint.previous == chain(model, 1)[1].checkpoint.digest()


def test_chains_are_followed_for_all_companies_at_once_not_one_read_each() -> None:
    """A sealer's first round finds where a thousand companies' chains end: one store read per
    step along the chains, whatever the number of companies."""
    model, clock = SealModel(), Clock()
    Checkpointer(model, KEY, clock).run({company: tree(2) for company in range(1, 1001)})
    hints = {company: None for company in range(1, 1001)}  # a restart that lost every hint
    restarted = Checkpointer(model, KEY, clock)
    restarted.reset(hints)
    model.reads = 0
    signed = restarted.run({company: tree(3) for company in range(1, 1001)})
    assert len(signed) == 1000
    assert model.reads == 2, "one read finds every first checkpoint, one finds none follows"
    assert all(
        s.checkpoint.previous == chain(model, s.checkpoint.company_id)[0].checkpoint.digest() for s in signed
    )


def test_a_clock_stepping_back_never_makes_the_chain_go_back_in_time() -> None:
    model, clock = SealModel(), Clock()
    checkpointer = Checkpointer(model, KEY, clock)
    checkpointer.run({1: tree(1)})
    clock.now -= timedelta(hours=1)
    [signed] = checkpointer.run({1: tree(2)})
    assert signed.checkpoint.time == "2026-05-01T12:00:00.000Z"


def test_a_tree_smaller_than_its_checkpoint_stops_the_sealer() -> None:
    model = SealModel()
    checkpointer = Checkpointer(model, KEY, Clock())
    checkpointer.run({1: tree(4)})
    with pytest.raises(CheckpointError, match="went back"):
        checkpointer.run({1: tree(3)})
