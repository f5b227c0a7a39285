"""The back-off schedule and the one poll-until-a-condition loop."""

from __future__ import annotations

import pytest

from authtrail.backoff import Backoff
from authtrail.errors import DependencyUnavailableError
from authtrail.waiting import TimedOutError, wait_for, wait_until


def test_back_off_doubles_from_the_first_delay_up_to_the_cap_and_resets_after_a_success() -> None:
    backoff = Backoff(first_s=0.5, max_s=3)
    assert [backoff.failed() for _ in range(5)] == [0.5, 1, 2, 3, 3]
    backoff.succeeded()
    assert backoff.failed() == 0.5


def test_waiting_returns_the_first_truthy_value() -> None:
    answers = iter([None, 0, "", "ready"])
    assert wait_until(lambda: next(answers), timeout_s=5, interval_s=0) == "ready"


def test_waiting_gives_up_at_the_deadline() -> None:
    assert wait_until(lambda: False, timeout_s=0, interval_s=0) is None
    with pytest.raises(TimedOutError, match="waiting for the moon"):
        wait_for(lambda: False, 0, "the moon", interval_s=0)


def test_an_error_in_the_condition_ends_the_wait_at_once() -> None:
    calls = []

    def broken() -> bool:
        calls.append(1)
        raise ValueError("cannot get better by waiting")

    with pytest.raises(ValueError, match="by waiting"):
        wait_until(broken, timeout_s=60, interval_s=0)
    assert len(calls) == 1


def test_a_dependency_unavailable_for_a_moment_is_waited_through() -> None:
    answers = iter([DependencyUnavailableError("kafka", "not leader for partition"), None, "caught up"])

    def condition() -> str | None:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert wait_for(condition, timeout_s=5, what="the lag", interval_s=0) == "caught up"


def test_a_dependency_still_unavailable_at_the_deadline_is_the_error() -> None:
    def condition() -> bool:
        raise DependencyUnavailableError("kafka", "not leader for partition")

    with pytest.raises(DependencyUnavailableError, match="not leader"):
        wait_until(condition, timeout_s=0, interval_s=0)
