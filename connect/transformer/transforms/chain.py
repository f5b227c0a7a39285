"""A chain of transformations configured exactly like a Kafka Connect connector's ``transforms``.

    transforms=rename,eventTime
    transforms.rename.type=org.apache.kafka.connect.transforms.ReplaceField$Value
    transforms.rename.renames=resource_type:event_resource_type
    transforms.eventTime.predicate=notTombstone
    predicates=notTombstone
    predicates.notTombstone.type=org.apache.kafka.connect.transforms.predicates.RecordIsTombstone

The same text is valid in a real connector's config, which is how the equivalence tests
compare this chain with Connect's own SMTs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from connect.transformer.properties import load_properties
from connect.transformer.record import ConnectRecord
from connect.transformer.transforms.base import Predicate, Transformation, TransformConfigError
from connect.transformer.transforms.cast import Cast
from connect.transformer.transforms.config_def import Config, ConfigDef, ConfigKey
from connect.transformer.transforms.filter import Filter
from connect.transformer.transforms.insert_field import InsertField
from connect.transformer.transforms.predicates import HasHeaderKey, RecordIsTombstone, TopicNameMatches
from connect.transformer.transforms.replace_field import ReplaceField
from connect.transformer.transforms.timestamp_converter import TimestampConverter
from connect.transformer.transforms.value_to_key import ValueToKey

T = TypeVar("T")
_PKG = "org.apache.kafka.connect.transforms."
TRANSFORMATIONS: dict[str, Callable[[Config], Transformation]] = {
    f"{_PKG}ReplaceField$Value": lambda c: ReplaceField(c, "value"),
    f"{_PKG}ReplaceField$Key": lambda c: ReplaceField(c, "key"),
    f"{_PKG}InsertField$Value": lambda c: InsertField(c, "value"),
    f"{_PKG}InsertField$Key": lambda c: InsertField(c, "key"),
    f"{_PKG}TimestampConverter$Value": lambda c: TimestampConverter(c, "value"),
    f"{_PKG}TimestampConverter$Key": lambda c: TimestampConverter(c, "key"),
    f"{_PKG}Cast$Value": lambda c: Cast(c, "value"),
    f"{_PKG}Cast$Key": lambda c: Cast(c, "key"),
    f"{_PKG}ValueToKey": ValueToKey,
    f"{_PKG}Filter": Filter,
}
PREDICATES: dict[str, Callable[[Config], Predicate]] = {
    f"{_PKG}predicates.TopicNameMatches": TopicNameMatches,
    f"{_PKG}predicates.HasHeaderKey": HasHeaderKey,
    f"{_PKG}predicates.RecordIsTombstone": RecordIsTombstone,
}

# The keys Connect reads itself for each stage, before the transformation or predicate sees the rest.
_TYPE = ConfigKey(
    "type", "string", doc="The transformation or predicate class.", validator=ConfigDef.non_empty
)
STAGE_KEYS = ConfigDef(
    _TYPE,
    ConfigKey("predicate", "string", "", "Alias of the predicate that decides when the stage applies."),
    ConfigKey("negate", "boolean", False, "Apply the stage when the predicate is false instead."),
)
PREDICATE_KEYS = ConfigDef(_TYPE)


@dataclass(frozen=True)
class Stage:
    alias: str
    transformation: Transformation
    predicate: Predicate | None
    negate: bool

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        # Connect's TransformationStage: transform when negate XOR predicate(record).
        if self.predicate is not None and not (self.negate ^ self.predicate.test(record)):
            return record
        return self.transformation.apply(record)


class TransformChain:
    def __init__(self, stages: list[Stage]) -> None:
        self.stages = stages

    def apply(self, record: ConnectRecord) -> ConnectRecord | None:
        """The transformed record, or None when a stage (a Filter) dropped it."""
        current: ConnectRecord | None = record
        for stage in self.stages:
            if current is None:
                return None
            current = stage.apply(current)
        return current

    @classmethod
    def from_file(cls, path: Path) -> TransformChain:
        return cls.from_config(load_properties(path))

    @classmethod
    def from_config(cls, config: Mapping[str, str]) -> TransformChain:
        transforms, predicates = _aliases(config, "transforms"), _aliases(config, "predicates")
        listed = tuple(f"transforms.{a}." for a in transforms) + tuple(f"predicates.{a}." for a in predicates)
        # A key of a misspelled alias would otherwise configure nothing, silently.
        if stray := [k for k in config if k not in ("transforms", "predicates") and not k.startswith(listed)]:
            raise TransformConfigError(f"{stray[0]}: not a key of a listed transform or predicate")
        by_alias = {a: _build(PREDICATES, PREDICATE_KEYS, f"predicates.{a}", config)[0] for a in predicates}
        stages = []
        for alias in transforms:
            transformation, stage = _build(TRANSFORMATIONS, STAGE_KEYS, f"transforms.{alias}", config)
            predicate, negate = stage["predicate"], stage["negate"]
            if predicate and predicate not in by_alias:
                raise TransformConfigError(
                    f"transforms.{alias}.predicate names an undefined predicate {predicate!r}"
                )
            if negate and not predicate:
                raise TransformConfigError(f"transforms.{alias}.negate needs a predicate")
            stages.append(Stage(alias, transformation, by_alias.get(predicate), negate))
        return cls(stages)


def _aliases(config: Mapping[str, str], key: str) -> list[str]:
    return [alias.strip() for alias in config.get(key, "").split(",") if alias.strip()]


def _build(
    registry: Mapping[str, Callable[[Config], T]],
    chain_keys: ConfigDef,
    prefix: str,
    config: Mapping[str, str],
) -> tuple[T, dict[str, Any]]:
    """What ``prefix`` configures, and the chain's own keys of it (``chain_keys``: its type, …);
    the other keys go to the transformation or predicate, which refuses any it does not declare."""
    own = {k[len(prefix) + 1 :]: v for k, v in config.items() if k.startswith(f"{prefix}.")}
    stage = chain_keys.parse(Config(prefix, {k: own.pop(k) for k in chain_keys.keys if k in own}))
    factory = registry.get(stage["type"])
    if factory is None:
        raise TransformConfigError(f"{prefix}.type={stage['type']} is not one authtrail implements")
    return factory(Config(prefix, own)), stage
