"""``bench query``'s requests alone (scripts/bench/query.py): every side sends each request in
every round, the side that goes first rotating (so the sides are measured at the same moments);
each kind's first request is reported on its own, the timed ones follow; failures are counted
either way. Which counts it waits for the store to keep histograms of."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from scripts.bench.query import Call, alone, histogram_shaped

MIX = {"page": {"page": 1}, "count": {"per_page": 1000}}


def recording(name: str, log: list[tuple[str, dict[str, Any]]], now: list[float], fail_at: int = 0) -> Call:
    async def call(params: dict[str, Any]) -> bool:
        log.append((name, params))
        now[0] += 5.0 if len(log) in (1, 2, 7, 8) else 1.0  # each kind's first round: 5 s a request
        return len(log) != fail_at

    return call


def test_the_sides_take_turns_going_first_and_the_first_round_is_reported_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])
    log: list[tuple[str, dict[str, Any]]] = []
    sides = {"api": recording("api", log, now, fail_at=10), "direct": recording("direct", log, now)}
    samples = asyncio.run(alone(sides, MIX, 2))
    assert [name for name, _ in log] == ["api", "direct", "direct", "api", "api", "direct"] * 2
    assert [params for _, params in log] == [MIX["page"]] * 6 + [MIX["count"]] * 6
    for side in ("api", "direct"):
        assert samples[side].first == {"page": 5.0, "count": 5.0}
        assert dict(samples[side].latencies) == {"page": [1.0] * 2, "count": [1.0] * 2}
    assert dict(samples["api"].errors) == {"count": 1}  # the 10th request: api, count, first timed round
    assert dict(samples["direct"].errors) == {}


def test_no_repeats_sends_nothing() -> None:
    async def call(params: dict[str, Any]) -> bool:
        raise AssertionError("no request expected")

    samples = asyncio.run(alone({"api": call}, MIX, repeats=0))
    assert (samples["api"].latencies, samples["api"].first) == ({}, {})


DAY = {"$gte": datetime(2026, 11, 28, tzinfo=UTC), "$lte": datetime(2026, 11, 29, tzinfo=UTC)}


@pytest.mark.parametrize(
    ("conditions", "shaped"),
    [
        ({"timestamp": DAY}, True),
        ({"timestamp": DAY, "event_type": "login"}, True),
        ({"event_type": "login", "timestamp": {"$gt": DAY["$gte"]}}, True),
        ({"timestamp": DAY, "event_type": "login", "company_id": 3}, False),
        ({"event_type": "login"}, False),
        ({"timestamp": {"$gte": 5}}, False),
        ({"timestamp": {**DAY, "$ne": DAY["$gte"]}}, False),
        ({"timestamp": DAY, "ingested_at": DAY}, False),
    ],
)
def test_the_counts_waited_for_are_those_the_store_keeps_histograms_of(
    conditions: dict[str, object], shaped: bool
) -> None:
    assert histogram_shaped(conditions) is shaped
