"""Benchmark data in arrival order (connect/transformer/stored_documents.py): event times as a
pipeline stores them — by arrival, a few seconds' delay, one in a hundred up to a day late."""

from __future__ import annotations

import random

from connect.transformer.stored_documents import DELAY_S, LATE_S, arrival_times

NOW = 2_000_000_000.0
SPREAD_S = 30 * 86_400
COUNT = 20_000


def _times(seed: int = 1) -> list[float]:
    return list(arrival_times(NOW, SPREAD_S, COUNT, random.Random(seed)))


def test_every_event_happened_in_the_spread_before_it_arrived() -> None:
    times = _times()
    assert len(times) == COUNT
    arrivals = [NOW - SPREAD_S * (1 - (i + 1) / COUNT) for i in range(COUNT)]
    assert all(arrived - LATE_S <= t <= arrived for t, arrived in zip(times, arrivals, strict=True))
    assert max(times) <= NOW
    assert min(times) >= NOW - SPREAD_S - LATE_S


def test_about_one_in_a_hundred_is_late_and_the_rest_are_in_time_order() -> None:
    times = _times(seed=2)
    gap = SPREAD_S / COUNT  # between two arrivals: far more than a producer's delay
    assert gap > DELAY_S
    on_time = [t for i, t in enumerate(times) if NOW - SPREAD_S * (1 - (i + 1) / COUNT) - t <= DELAY_S]
    assert 0.985 * COUNT <= len(on_time) <= 0.995 * COUNT
    assert on_time == sorted(on_time)


def test_the_same_seed_gives_the_same_times() -> None:
    assert _times(seed=3) == _times(seed=3)
    assert _times(seed=3) != _times(seed=4)
