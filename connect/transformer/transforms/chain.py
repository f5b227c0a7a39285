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
from typing import TypeVar

from connect.transformer.properties import load_properties
from connect.transformer.record import ConnectRecord
from connect.transformer.transforms.base import Config, Predicate, Transformation, TransformConfigError
from connect.transformer.transforms.cast import Cast
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
        predicates = {
            alias: _build(PREDICATES, "predicates", alias, config) for alias in _aliases(config, "predicates")
        }
        stages = []
        for alias in _aliases(config, "transforms"):
            prefix = f"transforms.{alias}."
            own = {k[len(prefix) :]: v for k, v in config.items() if k.startswith(prefix)}
            predicate_alias = (own.get("predicate") or "").strip()
            negate = Config(alias, own).boolean("negate", False)
            if predicate_alias and predicate_alias not in predicates:
                raise TransformConfigError(
                    f"transform {alias!r} names an undefined predicate {predicate_alias!r}"
                )
            if negate and not predicate_alias:
                raise TransformConfigError(f"transform {alias!r}: 'negate' needs a 'predicate'")
            stages.append(
                Stage(
                    alias=alias,
                    transformation=_build(TRANSFORMATIONS, "transforms", alias, config),
                    predicate=predicates.get(predicate_alias) if predicate_alias else None,
                    negate=negate,
                )
            )
        return cls(stages)


def _aliases(config: Mapping[str, str], key: str) -> list[str]:
    return [alias.strip() for alias in config.get(key, "").split(",") if alias.strip()]


def _build(
    registry: Mapping[str, Callable[[Config], T]], kind: str, alias: str, config: Mapping[str, str]
) -> T:
    prefix = f"{kind}.{alias}."
    own = {k[len(prefix) :]: v for k, v in config.items() if k.startswith(prefix)}
    type_name = own.pop("type", "").strip()
    if not type_name:
        raise TransformConfigError(f"{kind}.{alias}.type is missing")
    factory = registry.get(type_name)
    if factory is None:
        raise TransformConfigError(f"{kind}.{alias}.type={type_name} is not one authtrail implements")
    own.pop("predicate", None)
    own.pop("negate", None)
    return factory(Config(type_name.rsplit(".", 1)[-1], own))
