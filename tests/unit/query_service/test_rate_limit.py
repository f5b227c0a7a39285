"""Per-key request budget (query_service/rate_limit.py): a token bucket per key, on a clock the
test moves by hand — nothing here waits."""

from __future__ import annotations

import pytest

from query_service.rate_limit import RateLimitedError, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(rate_per_s: float, burst: float) -> tuple[RateLimiter, Clock]:
    clock = Clock()
    return RateLimiter(rate_per_s, burst, clock=clock), clock


def allowed(limiter: RateLimiter, key_id: str, attempts: int) -> int:
    """How many of ``attempts`` requests at this instant get through."""
    passed = 0
    for _ in range(attempts):
        try:
            limiter.take(key_id)
            passed += 1
        except RateLimitedError:
            pass
    return passed


def test_a_new_key_gets_its_whole_burst_at_once_and_no_more() -> None:
    limits, _ = limiter(rate_per_s=1, burst=5)
    assert allowed(limits, "k", 20) == 5


def test_tokens_come_back_at_the_rate() -> None:
    limits, clock = limiter(rate_per_s=2, burst=5)
    allowed(limits, "k", 5)
    clock.now += 1.5  # three tokens
    assert allowed(limits, "k", 10) == 3


def test_an_idle_key_saves_up_no_more_than_the_burst() -> None:
    limits, clock = limiter(rate_per_s=10, burst=5)
    allowed(limits, "k", 5)
    clock.now += 3600
    assert allowed(limits, "k", 100) == 5


def test_each_key_has_its_own_bucket() -> None:
    limits, _ = limiter(rate_per_s=1, burst=2)
    assert allowed(limits, "a", 10) == 2
    assert allowed(limits, "b", 10) == 2  # a's exhaustion costs b nothing


@pytest.mark.parametrize(
    ("rate_per_s", "elapsed_s", "retry_after_s"),
    [
        (0.25, 0.0, 4),  # a whole token away: 4 s
        (0.25, 1.0, 3),  # three quarters away: 3 s
        (0.3, 0.0, 4),  # 3.33 s, rounded up
        (100.0, 0.0, 1),  # 10 ms, but never less than a second
    ],
)
def test_a_refusal_says_when_to_retry_in_whole_seconds_rounded_up(
    rate_per_s: float, elapsed_s: float, retry_after_s: int
) -> None:
    limits, clock = limiter(rate_per_s=rate_per_s, burst=1)
    limits.take("k")
    clock.now += elapsed_s
    with pytest.raises(RateLimitedError) as refused:
        limits.take("k")
    assert refused.value.retry_after_s == retry_after_s


def test_a_refused_request_costs_nothing() -> None:
    limits, clock = limiter(rate_per_s=1, burst=1)
    limits.take("k")
    assert allowed(limits, "k", 50) == 0
    clock.now += 1
    assert allowed(limits, "k", 1) == 1
