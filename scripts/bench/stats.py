"""Percentiles, rates and ratios, in the units the tables show; the order of side-by-side rounds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def percentiles_ms(seconds: Sequence[float]) -> dict[str, Any]:
    """p50/p95/p99/max (and count) of durations given in seconds, in milliseconds."""
    if not seconds:
        return {"count": 0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(seconds)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {
        "count": len(ordered),
        "p50": at(0.50),
        "p95": at(0.95),
        "p99": at(0.99),
        "max": round(ordered[-1] * 1000, 1),
    }


def per_second(count: int, seconds: float) -> float:
    """Rounded to 0.1 — or to 0.01 below 1/s, where 0.1 would read as nothing."""
    if seconds <= 0:
        return 0.0
    rate = count / seconds
    return round(rate, 1 if rate >= 1 else 2)


def ratio(numerator: float, denominator: float) -> float | None:
    """To 0.01; None where the denominator is nothing."""
    return round(numerator / denominator, 2) if denominator else None


def rotated(items: Sequence[T], turn: int) -> list[T]:
    """``items`` rotated ``turn`` places: round ``turn``'s order, so in side-by-side rounds none
    always goes first or always follows another."""
    shift = turn % len(items)
    return [*items[shift:], *items[:shift]]
