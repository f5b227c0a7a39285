"""The pipeline's topics, created explicitly with their intended partitions and configs.

Never left to broker auto-creation, which would give one partition (no parallelism) and
default retention (audit data deleted after a week).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from authtrail.errors import DependencyUnavailableError
from authtrail.kafka.clients import MAX_RECORD_BYTES, ConfigResource, NewTopic
from authtrail.logs import get_logger
from authtrail.settings import Settings

log = get_logger(__name__)
ADMIN_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicState:
    name: str
    action: str  # "created" | "exists" | "exists with N partitions (intended M), key value (intended v)"
    partitions: int


def topic_specs(settings: Settings) -> list[TopicSpec]:
    def kept(retention_ms: int) -> dict[str, str]:
        return {"retention.ms": str(retention_ms), "cleanup.policy": "delete"}

    dead_letters = {**kept(settings.dlq_retention_ms), "max.message.bytes": str(MAX_RECORD_BYTES)}
    return [
        # LogAppendTime: a raw record's timestamp is when the broker took it in — the ingest
        # time InsertField stamps on every stored event.
        TopicSpec(
            settings.raw_topic,
            settings.raw_partitions,
            {**kept(settings.raw_retention_ms), "message.timestamp.type": "LogAppendTime"},
        ),
        TopicSpec(settings.sink_topic, settings.sink_partitions, kept(settings.sink_retention_ms)),
        # A dead letter is its record plus headers: more than its source topic took.
        TopicSpec(settings.dlq_topic, settings.dlq_partitions, dead_letters),
        TopicSpec(settings.sink_dlq_topic, settings.dlq_partitions, dead_letters),
    ]


def ensure_topics(admin: AdminClient, specs: list[TopicSpec], replication_factor: int) -> list[TopicState]:
    """Create missing topics; report, never alter, existing ones (adding partitions would
    move users to other partitions and break their order)."""
    try:
        existing = admin.list_topics(timeout=ADMIN_TIMEOUT_S).topics
    except KafkaException as exc:
        raise DependencyUnavailableError("kafka", str(exc)) from exc
    missing = [s for s in specs if s.name not in existing]
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(
                    s.name,
                    num_partitions=s.partitions,
                    replication_factor=replication_factor,
                    config=s.config,
                )
                for s in missing
            ],
            operation_timeout=ADMIN_TIMEOUT_S,
        )
        already: list[str] = []
        for name, future in futures.items():
            try:
                future.result(timeout=ADMIN_TIMEOUT_S)
                log.info("topic created", topic=name)
            except KafkaException as exc:
                # Another creator won, or the metadata listed above was stale: it exists.
                if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                    raise DependencyUnavailableError("kafka", f"creating {name}: {exc}") from exc
                already.append(name)
        for name in already:
            existing[name] = admin.list_topics(topic=name, timeout=ADMIN_TIMEOUT_S).topics[name]
        missing = [s for s in missing if s.name not in already]
    drift = _config_drift(admin, [s for s in specs if s not in missing])
    states = []
    for spec in specs:
        if spec in missing:
            states.append(TopicState(spec.name, "created", spec.partitions))
            continue
        actual = len(existing[spec.name].partitions)
        differences = drift.get(spec.name, [])
        if actual != spec.partitions:
            differences.insert(0, f"{actual} partitions (intended {spec.partitions})")
        if differences:
            log.warning("topic differs from its intended layout", topic=spec.name, differences=differences)
        action = f"exists with {', '.join(differences)}" if differences else "exists"
        states.append(TopicState(spec.name, action, actual))
    return states


def _config_drift(admin: AdminClient, specs: list[TopicSpec]) -> dict[str, list[str]]:
    """Per existing topic, each intended config it does not have: "key actual (intended value)".
    Reported, not altered — e.g. a DLQ topic created before its size limit was raised."""
    resources = [ConfigResource("topic", s.name) for s in specs if s.config]
    if not resources:
        return {}
    intended = {s.name: s.config for s in specs}
    drift: dict[str, list[str]] = {}
    try:
        for resource, future in admin.describe_configs(resources, request_timeout=ADMIN_TIMEOUT_S).items():
            actual = future.result(timeout=ADMIN_TIMEOUT_S)
            drift[resource.name] = [
                f"{key} {actual[key].value if key in actual else 'unset'} (intended {value})"
                for key, value in intended[resource.name].items()
                if key not in actual or actual[key].value != value
            ]
    except KafkaException as exc:
        raise DependencyUnavailableError("kafka", f"describing topic configs: {exc}") from exc
    return drift
