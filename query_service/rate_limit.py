"""Per-key request budget: a token bucket per key, in this process.

Each API process keeps its own buckets (no shared state to coordinate), so the effective
limit of a key is the configured rate times the number of API processes; documented.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from authtrail.errors import AuthtrailError


class RateLimitedError(AuthtrailError):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many requests for this key; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    rate_per_s: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def take(self, key_id: str) -> None:
        now = self.clock()

        bucket = self._buckets.setdefault(key_id, _Bucket(self.burst, now))
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate_per_s)
        bucket.updated = now
        if bucket.tokens < 1:
            raise RateLimitedError(max(1, math.ceil((1 - bucket.tokens) / self.rate_per_s)))
        bucket.tokens -= 1
