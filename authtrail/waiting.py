"""Waiting on conditions with bounded timeouts — never on fixed sleeps. The one poll loop of
the project: services, the CLI, tests and benchmarks all wait through it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import httpx

from authtrail.errors import AuthtrailError, DependencyUnavailableError

T = TypeVar("T")


class TimedOutError(AuthtrailError):
    """A condition did not hold within its time."""


def wait_until(condition: Callable[[], T], timeout_s: float, interval_s: float = 0.25) -> T | None:
    """Poll ``condition`` until it returns something truthy (returned), or None at the deadline.

    A dependency that cannot answer for now (:class:`DependencyUnavailableError`) counts as "not
    yet": a broker back from a restart answers "not leader" for a moment, and a wait is exactly
    what fixes that; still unavailable at the deadline, that error is raised. Any other exception
    ends the wait at once (a failure that waiting cannot fix)."""
    deadline = time.monotonic() + timeout_s
    while True:
        unavailable = None
        try:
            if value := condition():
                return value
        except DependencyUnavailableError as exc:
            unavailable = exc
        if time.monotonic() >= deadline:
            if unavailable is not None:
                raise unavailable
            return None
        time.sleep(interval_s)


def wait_for(condition: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.25) -> T:
    """Like :func:`wait_until`, but a timeout is a :class:`TimedOutError` naming ``what``."""
    value = wait_until(condition, timeout_s, interval_s)
    if value is None:
        raise TimedOutError(f"timed out after {timeout_s:.0f}s waiting for {what}")
    return value


def http_ok(url: str, headers: dict[str, str] | None = None, timeout_s: float = 2.0) -> bool:
    """True if ``url`` answers 200 now (for waiting: a server that is not up yet is False)."""
    try:
        return httpx.get(url, headers=headers, timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False
