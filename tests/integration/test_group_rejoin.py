"""Rejoining a lost consumer group, against the real broker's group coordinator.

librdkafka's own failure (a consumer whose JoinGroup never completes after a broker restart)
cannot be produced on demand; a consumer that left its group while its service goes on
polling it is the same state as the coordinator sees it — subscribed to nothing, listed
nowhere — and is what these tests create.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from prometheus_client import CollectorRegistry, Counter

from authtrail.kafka.clients import NewTopic, admin_client, consumer_config, producer_config
from authtrail.kafka.rejoin import FetchStates, GroupRejoin, coordinator_membership
from authtrail.settings import Settings
from authtrail.waiting import wait_for
from scripts.stack.control import LocalStack

pytestmark = pytest.mark.stack
RECORDS = 200


@pytest.fixture
def topic(stack: LocalStack, settings: Settings, unique: str) -> str:
    name = f"rejoin-{unique}"
    admin = admin_client(settings)
    admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)])[name].result(timeout=30)
    return name


def produce(settings: Settings, topic: str, keys: range) -> None:
    producer = Producer(producer_config(settings, "rejoin-test"))
    for key in keys:
        producer.produce(topic, key=str(key).encode(), value=b"x")
    assert producer.flush(30) == 0


@pytest.fixture
def consumers(settings: Settings, unique: str) -> Iterator[Callable[[], Consumer]]:
    made: list[Consumer] = []

    def new() -> Consumer:
        made.append(Consumer(consumer_config(settings, f"rejoin-{unique}", "rejoin-test")))
        return made[-1]

    yield new
    for consumer in made:
        consumer.close()


def subscribing_watch(
    settings: Settings, topic: str, group: str, new: Callable[[], Consumer], rejoins: Counter, **options: Any
) -> GroupRejoin:
    """The watch as a service runs it (the real coordinator asked), every 2 s, over ``topic``."""
    return GroupRejoin(
        "rejoin-test",
        group,
        new,
        lambda c: c.subscribe([topic]),
        coordinator_membership(settings),
        after_s=2.0,
        rejoins=rejoins,
        **options,
    )


@pytest.fixture
def rejoins() -> Counter:
    return Counter("rejoins", "this test's rejoins", registry=CollectorRegistry())


def test_a_consumer_its_group_forgot_is_replaced_and_every_record_is_still_read(
    settings: Settings, topic: str, consumers: Callable[[], Consumer], unique: str, rejoins: Counter
) -> None:
    rejoin = subscribing_watch(settings, topic, f"rejoin-{unique}", consumers, rejoins)
    consumer = consumers()
    consumer.subscribe([topic])
    produce(settings, topic, range(RECORDS // 2))
    seen: set[bytes] = set()

    def read(limit: int) -> bool:
        nonlocal consumer
        consumer = rejoin.check(consumer)
        for message in consumer.consume(num_messages=500, timeout=0.2):
            if message.error() is None:
                seen.add(message.key() or b"")
                consumer.store_offsets(message=message)
        return len(seen) >= limit

    wait_for(lambda: read(RECORDS // 2), 60, "the first half to be read")
    consumer.commit(asynchronous=False)
    stranded = consumer
    stranded.unsubscribe()  # the group forgets it; the service keeps polling it
    produce(settings, topic, range(RECORDS // 2, RECORDS))

    wait_for(lambda: read(RECORDS), 60, "the second half to be read by a fresh member")
    assert consumer is not stranded
    assert rejoins._value.get() == 1
    assert seen == {str(k).encode() for k in range(RECORDS)}


def test_a_member_given_no_partitions_is_listed_by_the_coordinator_and_kept(
    settings: Settings, topic: str, consumers: Callable[[], Consumer], unique: str, rejoins: Counter
) -> None:
    group = f"rejoin-{unique}"
    members = [consumers() for _ in range(3)]  # three members, two partitions: one gets nothing
    for member in members:
        member.subscribe([topic])

    def settled() -> bool:
        for member in members:
            member.consume(num_messages=10, timeout=0.1)
        return sum(len(m.assignment()) for m in members) == 2 and all(m.memberid() for m in members)

    wait_for(settled, 60, "the group to settle")
    idle = next(m for m in members if not m.assignment())
    is_member = coordinator_membership(settings)
    assert is_member(group, idle.memberid() or "") is True
    assert is_member(group, "not-a-member-of-this-group") is False
    now = [0.0]
    replacements: list[Consumer] = []

    def replace() -> Consumer:
        replacements.append(consumers())
        return replacements[-1]

    rejoin = GroupRejoin(
        "rejoin-test", group, replace, lambda c: None, is_member, 30.0, rejoins, lambda: now[0]
    )
    rejoin.check(idle)
    now[0] += 31.0  # past the interval: the coordinator is asked, and lists it
    assert rejoin.check(idle) is idle
    assert replacements == []
    assert rejoins._value.get() == 0


def test_a_healthy_members_partitions_report_fetching_busy_idle_or_paused_so_it_is_kept(
    settings: Settings, topic: str, unique: str, rejoins: Counter
) -> None:
    # The other stranded state (librdkafka #5586: assigned, fetchers never started) cannot be
    # produced on demand; what can be checked against the real client is the other side — a
    # healthy member's statistics say "active" for every assigned partition, one with records,
    # one without, one paused, so the watch never replaces it.
    fetch_states = FetchStates()
    made: list[Consumer] = []

    def new() -> Consumer:
        made.append(
            Consumer(
                {**consumer_config(settings, f"rejoin-{unique}", "rejoin-test"), **fetch_states.config()}
            )
        )
        return made[-1]

    now = [0.0]
    rejoin = subscribing_watch(
        settings, topic, f"rejoin-{unique}", new, rejoins, clock=lambda: now[0], fetch_states=fetch_states
    )
    consumer = new()
    consumer.subscribe([topic])
    produce(settings, topic, range(10))  # keyed: both partitions may get records, or one only
    try:

        def reported() -> bool:
            consumer.consume(num_messages=100, timeout=0.2)
            assigned = consumer.assignment()
            return len(assigned) == 2 and all(
                (tp.topic, tp.partition) in fetch_states.states for tp in assigned
            )

        wait_for(reported, 60, "statistics about both assigned partitions")
        assert fetch_states.not_fetching(consumer.assignment()) == [], fetch_states.states
        consumer.pause([TopicPartition(topic, 0)])
        for _ in range(3):  # past the watch's interval, each time with a fresh report
            wait_for(partial(fresh_report, consumer, fetch_states, fetch_states.states), 30, "a report")
            now[0] += 1.5
            assert rejoin.check(consumer) is consumer
        assert set(fetch_states.states.values()) == {"active"}, fetch_states.states
        assert len(made) == 1
        assert rejoins._value.get() == 0
    finally:
        for member in made:
            member.close()


def fresh_report(consumer: Consumer, fetch_states: FetchStates, last: dict[tuple[str, int], str]) -> bool:
    """Polls ``consumer`` (which serves its statistics); True once a report replaced ``last``."""
    consumer.consume(num_messages=10, timeout=0.2)
    return fetch_states.states is not last
