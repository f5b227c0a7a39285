"""``bench query``'s requests alone (scripts/bench/query.py): each kind's first request is
reported on its own, the timed ones follow; failures are counted either way."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from scripts.bench.query import alone

MIX = {"page": {"page": 1}, "count": {"per_page": 1000}}


def test_the_first_request_of_each_kind_is_untimed_and_reported_apart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])
    calls: list[dict[str, Any]] = []

    async def call(params: dict[str, Any]) -> bool:
        calls.append(params)
        now[0] += 5.0 if len(calls) in (1, 5) else 1.0  # each kind's first takes 5 s, the rest 1 s
        return params != {"per_page": 1000} or len(calls) != 6

    samples = asyncio.run(alone(call, MIX, repeats=3))
    assert calls == [MIX["page"]] * 4 + [MIX["count"]] * 4
    assert samples.first == {"page": 5.0, "count": 5.0}
    assert dict(samples.latencies) == {"page": [1.0] * 3, "count": [1.0] * 3}
    assert dict(samples.errors) == {"count": 1}


def test_no_repeats_sends_nothing() -> None:
    async def call(params: dict[str, Any]) -> bool:
        raise AssertionError("no request expected")

    samples = asyncio.run(alone(call, MIX, repeats=0))
    assert (samples.latencies, samples.first) == ({}, {})
