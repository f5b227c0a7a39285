"""The token bucket: an average rate with bounded bursts, on a clock the test drives."""

from __future__ import annotations

import pytest

from authtrail.token_bucket import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_full_bucket_allows_a_burst_of_its_capacity_then_refuses() -> None:
    clock = Clock()
    bucket = TokenBucket(rate_per_s=10, capacity=3, clock=clock)
    assert [bucket.try_take() for _ in range(3)] == [0, 0, 0]
    assert bucket.try_take() == pytest.approx(0.1)  # one token comes back every 1/10 s


def test_tokens_come_back_at_the_rate_and_never_beyond_the_capacity() -> None:
    clock = Clock()
    bucket = TokenBucket(rate_per_s=2, capacity=4, clock=clock)
    for _ in range(4):
        bucket.try_take()
    clock.now += 1.0
    assert bucket.try_take(2) == 0
    assert bucket.try_take() > 0
    clock.now += 3600
    assert bucket.try_take(4) == 0
    assert bucket.try_take() > 0


def test_take_waits_exactly_as_long_as_needed() -> None:
    clock = Clock()
    bucket = TokenBucket(rate_per_s=100, capacity=1, clock=clock, sleep=clock.sleep)
    started = clock.now
    for _ in range(51):
        bucket.take()
    assert clock.now - started == pytest.approx(0.5)  # the first from the full bucket, 50 at 100/s


def test_the_default_capacity_is_a_tenth_of_a_second_but_at_least_one() -> None:
    assert TokenBucket(1000).capacity == 100
    assert TokenBucket(2).capacity == 1
