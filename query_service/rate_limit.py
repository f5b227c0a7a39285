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
    def __init__(self, retry_after_s: int, message: str | None = None, limit: str = "requests") -> None:
        super().__init__(message or f"too many requests for this key; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s
        self.limit = limit  # which limit refused: "requests" (the token bucket) or RunningLimit.what


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


class RunningLimit:
    """At most ``limit`` long requests (exports) per key at once, in this process.

    A token bucket bounds how often a key asks; an export is one request that may stream for a
    minute, so it also needs a bound on how many run at once.
    """

    def __init__(self, limit: int, what: str, retry_after_s: int = 5) -> None:
        self.limit = limit
        self.what = what
        self.retry_after_s = retry_after_s
        self._running: dict[str, int] = {}

    def enter(self, key_id: str) -> None:
        if self._running.get(key_id, 0) >= self.limit:
            raise RateLimitedError(
                self.retry_after_s,
                f"this key already runs {self.limit} {self.what} at once; retry when one has finished",
                limit=self.what,
            )
        self._running[key_id] = self._running.get(key_id, 0) + 1

    def leave(self, key_id: str) -> None:
        remaining = self._running.get(key_id, 0) - 1
        if remaining > 0:
            self._running[key_id] = remaining
        else:
            self._running.pop(key_id, None)
