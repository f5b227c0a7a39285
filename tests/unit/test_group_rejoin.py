"""A consumer its group forgot is replaced; one the group still lists is left alone; one whose
assigned partitions never start fetching is replaced (authtrail/kafka/rejoin.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, cast

from confluent_kafka import TopicPartition
from prometheus_client import CollectorRegistry, Counter

from authtrail.kafka.rejoin import GroupRejoin

AFTER_S = 30.0


@dataclass
class FakeConsumer:
    partitions: list[TopicPartition] = field(default_factory=list)
    member_id: str = "member-1"
    subscribed: bool = False
    closed: bool = False

    def assignment(self) -> list[TopicPartition]:
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
    consumer = FakeConsumer(partitions=[TopicPartition("t", 0)])
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
    consumer.partitions = [TopicPartition("t", 3)]
    watch.check(consumer)  # assigned again: a rebalance, not a lost group
    consumer.partitions = []
    watch.clock.now += 2
    assert watch.check(consumer) is consumer
    assert watch.asked == []


# --- assigned, but never fetching (librdkafka #5586) -------------------------------------------
def statistics(states: dict[tuple[str, int], str]) -> str:
    """A librdkafka statistics report (the fields read), with its internal partition -1."""
    topics: dict[str, Any] = {}
    for (topic, partition), state in states.items():
        partitions = topics.setdefault(topic, {"partitions": {"-1": {"fetch_state": "none"}}})["partitions"]
        partitions[str(partition)] = {"fetch_state": state, "app_offset": -1001}
    return json.dumps({"name": "rdkafka#consumer-1", "topics": topics})


T0, T1 = TopicPartition("t", 0), TopicPartition("t", 1)


def test_an_assigned_partition_that_never_starts_fetching_gets_the_consumer_replaced() -> None:
    watch = Watch(listed=True)
    consumer = FakeConsumer(partitions=[T0, T1])
    watch.rejoin.fetch_states.update(statistics({("t", 0): "active", ("t", 1): "none"}))
    assert watch.check_after(consumer, AFTER_S - 0.1) is consumer
    watch.clock.now += 0.1
    fresh = watch.check(consumer)
    assert fresh is watch.created[-1]
    assert fresh.subscribed
    assert consumer.closed
    assert watch.rejoins._value.get() == 1
    assert watch.asked == []  # the group lists it: membership is not the question here
    assert watch.rejoin.fetch_states.states == {}  # the old consumer's report says nothing of the new


def test_a_fetcher_that_starts_within_the_interval_keeps_the_consumer_and_resets_the_clock() -> None:
    watch = Watch(listed=False)
    consumer = FakeConsumer(partitions=[T0])
    states = watch.rejoin.fetch_states
    states.update(statistics({("t", 0): "offset-query"}))
    watch.check(consumer)
    watch.clock.now += AFTER_S - 1
    states.update(statistics({("t", 0): "active"}))
    assert watch.check(consumer) is consumer
    states.update(statistics({("t", 0): "stopped"}))
    watch.clock.now += 2
    assert watch.check(consumer) is consumer
    assert watch.created == []


def test_idle_paused_and_unreported_partitions_are_never_judged() -> None:
    watch = Watch(listed=False)
    consumer = FakeConsumer(partitions=[T0, T1])
    # A partition without records fetches all the same ("active"), and so does a paused one;
    # one the statistics do not mention (or a consumer without statistics) is not judged.
    watch.rejoin.fetch_states.update(statistics({("t", 0): "active", ("other", 1): "none"}))
    assert watch.check_after(consumer, AFTER_S * 10) is consumer
    assert watch.created == []


def test_losing_every_partition_is_the_other_question() -> None:
    watch = Watch(listed=False)
    consumer = FakeConsumer(partitions=[T0])
    watch.rejoin.fetch_states.update(statistics({("t", 0): "none"}))
    watch.check(consumer)
    consumer.partitions = []  # revoked: now it is about the group, asked after its own interval
    watch.clock.now += AFTER_S
    assert watch.check(consumer) is consumer
    watch.clock.now += AFTER_S
    assert watch.check(consumer) is watch.created[-1]
    assert watch.asked == [("group-a", "member-1")]
