"""A token bucket: an average rate with bounded bursts. The emitters pace themselves with it
(blocking), the query API budgets each key's requests with it (refusing)."""

from __future__ import annotations

import time
from collections.abc import Callable


class TokenBucket:
    """``rate_per_s`` tokens a second, at most ``capacity`` held (default: a tenth of a second's
    worth, at least one). Starts full."""

    def __init__(
        self,
        rate_per_s: float,
        capacity: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate_per_s = rate_per_s
        self.capacity = capacity if capacity is not None else max(1.0, rate_per_s / 10)
        self.tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()

    def try_take(self, count: float = 1.0) -> float:
        """Take ``count`` tokens if there are enough and return 0; otherwise take nothing and
        return the seconds until there will be."""
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._updated) * self.rate_per_s)
        self._updated = now
        if self.tokens >= count:
            self.tokens -= count
            return 0.0
        return (count - self.tokens) / self.rate_per_s

    def take(self, count: float = 1.0) -> None:
        """Wait until ``count`` tokens are there, then take them."""
        while (wait_s := self.try_take(count)) > 0:
            self._sleep(wait_s)
