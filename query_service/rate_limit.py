"""Per-key request budget: a token bucket per key, in this process.

Each API process keeps its own buckets (no shared state to coordinate), so the effective
limit of a key is the configured rate times the number of API processes; documented.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from authtrail.errors import AuthtrailError
from authtrail.token_bucket import TokenBucket


class RateLimitedError(AuthtrailError):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many requests for this key; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class RateLimiter:
    """A token bucket per key id: ``rate_per_s`` requests a second, bursts up to ``burst``."""

    def __init__(self, rate_per_s: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, key_id: str) -> None:
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = TokenBucket(self.rate_per_s, self.burst, clock=self.clock)
        if (wait_s := bucket.try_take()) > 0:
            raise RateLimitedError(max(1, math.ceil(wait_s)))
