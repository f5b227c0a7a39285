"""Exponential back-off between attempts at something that keeps failing: the first delay,
doubling each failure, capped; back to the first after a success. The consume loop and the sink
watch use it; they keep serving their consumers between attempts, which is why this is a
schedule rather than a retrying decorator."""

from __future__ import annotations


class Backoff:
    def __init__(self, first_s: float, max_s: float) -> None:
        self.first_s = first_s
        self.max_s = max_s
        self._next_s = first_s

    def failed(self) -> float:
        """The delay to wait after this failure (and double the next one)."""
        delay = self._next_s
        self._next_s = min(self.max_s, delay * 2)
        return delay

    def succeeded(self) -> None:
        self._next_s = self.first_s
