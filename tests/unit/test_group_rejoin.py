"""A consumer its group forgot is replaced; one the group still lists is left alone
(authtrail/kafka/rejoin.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from prometheus_client import CollectorRegistry, Counter

from authtrail.kafka.rejoin import GroupRejoin

AFTER_S = 30.0


@dataclass
class FakeConsumer:
    partitions: list[int] = field(default_factory=list)
    member_id: str = "member-1"
    subscribed: bool = False
    closed: bool = False

    def assignment(self) -> list[int]:
        return self.partitions

    def memberid(self) -> str:
        return self.member_id

    def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Watch:
    """A GroupRejoin over fakes, recording every membership question."""

    def __init__(self, listed: bool | None) -> None:
        self.clock = Clock()
        self.listed = listed
        self.asked: list[tuple[str, str]] = []
        self.created: list[FakeConsumer] = []
        self.rejoins = Counter("rejoins", "unit", registry=CollectorRegistry())
        self.rejoin = GroupRejoin(
            "unit", "group-a", self._new, self._subscribe, self._is_member, AFTER_S, self.rejoins, self.clock
        )

    def _new(self) -> Any:
        consumer = FakeConsumer(member_id="")
        self.created.append(consumer)
        return consumer

    @staticmethod
    def _subscribe(consumer: Any) -> None:
        consumer.subscribed = True

    def _is_member(self, group: str, member_id: str) -> bool | None:
        self.asked.append((group, member_id))
        return self.listed

    def check(self, consumer: FakeConsumer) -> Any:
        return self.rejoin.check(cast(Any, consumer))

    def check_after(self, consumer: FakeConsumer, seconds: float) -> Any:
        self.check(consumer)  # starts the no-partitions clock
        self.clock.now += seconds
        return self.check(consumer)


def test_a_consumer_with_partitions_is_kept_without_asking_anyone() -> None:
    watch = Watch(listed=False)
    consumer = FakeConsumer(partitions=[0])
    assert watch.check_after(consumer, AFTER_S * 10) is consumer
    assert watch.asked == []


def test_no_partitions_for_less_than_the_interval_is_normal_and_asks_nothing() -> None:
    watch = Watch(listed=False)
    consumer = FakeConsumer()
    assert watch.check_after(consumer, AFTER_S - 0.1) is consumer
    assert watch.asked == []


def test_a_member_its_group_forgot_is_closed_and_a_fresh_one_subscribes() -> None:
    watch = Watch(listed=False)
    stranded = FakeConsumer()
    fresh = watch.check_after(stranded, AFTER_S)
    assert fresh is not stranded
    assert fresh is watch.created[-1]
    assert fresh.subscribed
    assert stranded.closed
    assert watch.asked == [("group-a", "member-1")]
    assert watch.rejoins._value.get() == 1


def test_a_member_the_group_lists_but_gives_nothing_is_kept_and_asked_once_per_interval() -> None:
    watch = Watch(listed=True)  # more members than partitions
    idle = FakeConsumer()
    assert watch.check_after(idle, AFTER_S) is idle
    watch.clock.now += AFTER_S / 2
    assert watch.check(idle) is idle
    assert len(watch.asked) == 1
    watch.clock.now += AFTER_S / 2
    assert watch.check(idle) is idle
    assert len(watch.asked) == 2
    assert not idle.closed


def test_when_the_coordinator_cannot_say_the_consumer_is_kept() -> None:
    watch = Watch(listed=None)
    consumer = FakeConsumer()
    assert watch.check_after(consumer, AFTER_S) is consumer
    assert not consumer.closed
    assert watch.created == []


def test_a_consumer_without_a_member_id_after_the_interval_is_replaced_without_asking() -> None:
    watch = Watch(listed=True)
    never_joined = FakeConsumer(member_id="")
    assert watch.check_after(never_joined, AFTER_S) is watch.created[-1]
    assert watch.asked == []


def test_partitions_coming_back_reset_the_clock() -> None:
    watch = Watch(listed=False)
    consumer = FakeConsumer()
    watch.check(consumer)
    watch.clock.now += AFTER_S - 1
    consumer.partitions = [3]
    watch.check(consumer)  # assigned again: a rebalance, not a lost group
    consumer.partitions = []
    watch.clock.now += 2
    assert watch.check(consumer) is consumer
    assert watch.asked == []
