"""A long-running service's counters, logged as one status line every ``every_s`` seconds."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any


class PeriodicCounts(Counter[str]):
    """Counts since the last status line; :meth:`take_if_due` hands them over with a rate."""

    def __init__(self, rate_of: str, every_s: float = 10.0) -> None:
        super().__init__()
        self.rate_of = rate_of
        self.every_s = every_s
        self._since = time.monotonic()

    def take_if_due(self, force: bool = False) -> dict[str, Any] | None:
        """The counts and ``rate_per_s`` of ``rate_of`` since the last take, then zero; or None
        when the interval has not passed yet (and ``force`` is not set)."""
        now = time.monotonic()
        if not force and now - self._since < self.every_s:
            return None
        elapsed = max(now - self._since, 1e-9)
        self._since = now
        taken: dict[str, Any] = dict(self)
        taken["rate_per_s"] = round(self[self.rate_of] / elapsed, 1)
        self.clear()
        return taken
