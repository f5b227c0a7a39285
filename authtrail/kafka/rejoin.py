"""Replacing a consumer that librdkafka left stranded after a broker restart — two ways.

After a broker restart that outlasts the session timeout, librdkafka's consumer normally
rejoins its group on its own. Sometimes it does not: its JoinGroup to the coordinator times
out and is retried forever, the consumer stays subscribed with no partitions, and the stream
stalls while every process looks alive (librdkafka issues #2944, #3082, #3396). Seen in this
project's fault suite with librdkafka 2.16.0 — a broker restart at 1,000 events/s: SESSTMOUT,
``_ASSIGNMENT_LOST``, then ``GroupCoordinator: Timed out … 1 out-queue`` once a minute, never
rejoined, events stalled until the transformer was restarted.

:class:`GroupRejoin` is the watch every consuming service runs once per loop. A consumer that
has had no partitions for ``after_s`` asks the group coordinator (an admin request) whether it
is still a member; if the group does not list it, the consumer is closed and a fresh one
subscribes. Nothing is lost or duplicated in effect: offsets are stored only after a batch's
work was acknowledged, so a fresh member resumes from the group's last commit and at most a
commit interval of records is redone (the store and the sealer are idempotent). A member the
group lists but gives nothing to (more members than partitions) is left alone.

The second way: the consumer rejoins and is given its partitions, but asking the coordinator
for their committed offsets fails as a whole (``NOT_COORDINATOR`` for "0 partition(s)", the
coordinator just moved) and librdkafka never asks again: the partitions stay assigned, their
fetchers never start, the stream stalls with every process alive (librdkafka issue #5586,
open; seen in this project's broker-kill fault test with 2.16.0 — the sink watch's reconciler
held 2,000 dead letters unread). librdkafka's statistics say, per partition, whether its
fetcher runs (``fetch_state``: ``active``, or ``none``/``stopped``/``offset-query``…); an
assigned partition whose fetcher has not been active for ``after_s`` gets the consumer
replaced the same way. (Paused and idle partitions are ``active``; a consumer without
statistics is never judged.)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from prometheus_client import Counter

from authtrail.kafka.clients import batch_consumer_config, group_member_ids
from authtrail.logs import get_logger
from authtrail.settings import Settings

log = get_logger(__name__)
# Closing a stranded consumer may wait on the coordinator it lost; it is never waited on longer.
CLOSE_TIMEOUT_S = 10.0
DESCRIBE_TIMEOUT_S = 5.0
STATISTICS_INTERVAL_MS = 5000

REJOINS_HELP = (
    "Consumers replaced because their group no longer listed them after a time without partitions,"
    " or because their assigned partitions had not started fetching for as long."
)

# (group, member id) → True/False, or None when the coordinator cannot be asked right now.
MembershipCheck = Callable[[str, str], bool | None]


def coordinator_membership(settings: Settings) -> MembershipCheck:
    """Ask the group coordinator whether ``member_id`` is a member of ``group``."""

    def is_member(group: str, member_id: str) -> bool | None:
        try:
            return member_id in group_member_ids(settings, group, DESCRIBE_TIMEOUT_S)
        except (KafkaException, TimeoutError) as exc:
            log.info("group membership unknown", group=group, error=str(exc))
            return None

    return is_member


class FetchStates:
    """Per assigned partition, whether its fetcher runs, from librdkafka's statistics: pass
    :meth:`config` into the consumer's configuration."""

    def __init__(self) -> None:
        self.states: dict[tuple[str, int], str] = {}

    def config(self) -> dict[str, Any]:
        return {"statistics.interval.ms": STATISTICS_INTERVAL_MS, "stats_cb": self.update}

    def update(self, statistics: str) -> None:
        topics = json.loads(statistics).get("topics", {})
        self.states = {
            (topic, int(partition)): fields.get("fetch_state", "active")  # absent: not judged
            for topic, about in topics.items()
            for partition, fields in about.get("partitions", {}).items()
            if partition != "-1"  # librdkafka's internal unassigned partition
        }

    def not_fetching(self, assigned: list[TopicPartition]) -> list[str]:
        """Assigned partitions whose fetcher the last statistics said was not active (ones it
        did not mention are not judged)."""
        return [
            f"{tp.topic}[{tp.partition}]={state}"
            for tp in assigned
            if (state := self.states.get((tp.topic, tp.partition), "active")) != "active"
        ]

    def clear(self) -> None:
        self.states = {}


@dataclass
class GroupRejoin:
    """Replaces a consumer its group has forgotten, or whose assigned partitions never start
    fetching; call :meth:`check` once per loop.
    ``rejoins`` is the service's own counter (``authtrail_<service>_group_rejoins_total``)."""

    client: str
    group: str
    new_consumer: Callable[[], Consumer]
    subscribe: Callable[[Consumer], None]
    is_member: MembershipCheck
    after_s: float
    rejoins: Counter
    clock: Callable[[], float] = time.monotonic
    # What the consumers ``new_consumer`` makes report (their configs include its ``config()``).
    fetch_states: FetchStates = field(default_factory=FetchStates)
    _unassigned_since: float | None = field(default=None, init=False)
    _not_fetching_since: float | None = field(default=None, init=False)

    @classmethod
    def for_service(
        cls,
        settings: Settings,
        client: str,
        group: str,
        new_consumer: Callable[[], Consumer],
        subscribe: Callable[[Consumer], None],
        rejoins: Counter,
        fetch_states: FetchStates,
    ) -> GroupRejoin:
        return cls(
            client,
            group,
            new_consumer,
            subscribe,
            coordinator_membership(settings),
            settings.kafka_consumer_rejoin_after_s,
            rejoins,
            fetch_states=fetch_states,
        )

    def check(self, consumer: Consumer) -> Consumer:
        """``consumer``, or a freshly subscribed one if its group forgot it or its assigned
        partitions never started fetching."""
        now = self.clock()
        assigned = consumer.assignment()
        if assigned:
            self._unassigned_since = None
            return self._unless_not_fetching(consumer, assigned, now)
        self._not_fetching_since = None
        if self._unassigned_since is None:
            self._unassigned_since = now
        if now - self._unassigned_since < self.after_s:
            return consumer
        member_id = consumer.memberid() or ""
        listed = self.is_member(self.group, member_id) if member_id else False
        self._unassigned_since = now  # asked at most once per interval
        if listed is not False:  # a member given nothing, or the coordinator cannot say
            return consumer
        log.warning(
            "consumer group lost; rejoining with a new consumer",
            client=self.client,
            group=self.group,
            member_id=member_id or None,
            unassigned_s=round(self.after_s, 1),
        )
        return self._replace(consumer)

    def _unless_not_fetching(
        self, consumer: Consumer, assigned: list[TopicPartition], now: float
    ) -> Consumer:
        not_fetching = self.fetch_states.not_fetching(assigned)
        if not not_fetching:
            self._not_fetching_since = None
            return consumer
        if self._not_fetching_since is None:
            self._not_fetching_since = now
        if now - self._not_fetching_since < self.after_s:
            return consumer
        log.warning(
            "assigned partitions never started fetching; rejoining with a new consumer",
            client=self.client,
            group=self.group,
            partitions=not_fetching,
            for_s=round(now - self._not_fetching_since, 1),
        )
        return self._replace(consumer)

    def _replace(self, consumer: Consumer) -> Consumer:
        self.rejoins.inc()
        self._not_fetching_since = None
        _close_in_background(consumer)
        self.fetch_states.clear()
        fresh = self.new_consumer()
        self.subscribe(fresh)
        return fresh


def rejoining_batch_consumer(
    settings: Settings,
    service: str,
    group: str,
    batch_size: int,
    subscribe: Callable[[Consumer], None],
    rejoins: Counter,
) -> tuple[Consumer, GroupRejoin]:
    """A long-running service's first consumer, and the watch that replaces it if its group
    forgets it (``subscribe`` subscribes a consumer the way the service does)."""

    fetch_states = FetchStates()

    def new_consumer() -> Consumer:
        config = batch_consumer_config(settings, group, f"authtrail-{service}", batch_size)
        return Consumer({**config, **fetch_states.config()})

    rejoin = GroupRejoin.for_service(settings, service, group, new_consumer, subscribe, rejoins, fetch_states)
    return new_consumer(), rejoin


def _close_in_background(consumer: Consumer) -> None:
    """Close without letting a coordinator the consumer lost hold the service up."""
    closer = threading.Thread(target=consumer.close, name="close-stranded-consumer", daemon=True)
    closer.start()
    closer.join(CLOSE_TIMEOUT_S)
    if closer.is_alive():
        log.warning("stranded consumer did not close in time; left to close in the background")
