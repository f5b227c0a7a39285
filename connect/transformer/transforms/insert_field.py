"""``org.apache.kafka.connect.transforms.InsertField$Key|$Value`` (schemaless)."""

from __future__ import annotations

from bson.int64 import Int64

from connect.transformer.record import ConnectRecord
from connect.transformer.transforms._operating import Part, operating, replaced
from connect.transformer.transforms.base import field_name, require_map
from connect.transformer.transforms.config_def import REPLACE_NULL_WITH_DEFAULT, Config, ConfigDef, ConfigKey


class InsertField:
    """Add the record's topic, partition, offset, timestamp and/or a static value.

    Schemaless, Connect inserts the timestamp as epoch milliseconds (a Long), not a Date:
    a TimestampConverter after it makes it a date.
    """

    # A field name may end in ! (required) or ? (optional, the default): that matters to Structs only.
    CONFIG_DEF = ConfigDef(
        ConfigKey("topic.field", "string", None, "Field name for the Kafka topic."),
        ConfigKey("partition.field", "string", None, "Field name for the Kafka partition."),
        ConfigKey("offset.field", "string", None, "Field name for the Kafka offset (sink connectors)."),
        ConfigKey("timestamp.field", "string", None, "Field name for the record timestamp."),
        ConfigKey("static.field", "string", None, "Field name for the static value."),
        ConfigKey("static.value", "string", None, "Static field value, if field name configured."),
        REPLACE_NULL_WITH_DEFAULT,
    )

    def __init__(self, config: Config, part: Part) -> None:
        values = self.CONFIG_DEF.parse(config)
        self.part = part
        self.topic_field = field_name(values["topic.field"])
        self.partition_field = field_name(values["partition.field"])
        self.offset_field = field_name(values["offset.field"])
        self.timestamp_field = field_name(values["timestamp.field"])
        self.static_field = field_name(values["static.field"])
        self.static_value = values["static.value"]

    def apply(self, record: ConnectRecord) -> ConnectRecord:
        value = operating(record, self.part)
        if value is None:
            return record
        updated = dict(require_map(value, "field insertion"))
        if self.topic_field:
            updated[self.topic_field] = record.topic
        if self.partition_field:
            updated[self.partition_field] = record.partition
        if self.offset_field:
            updated[self.offset_field] = Int64(record.offset)
        if self.timestamp_field and record.timestamp is not None:
            updated[self.timestamp_field] = Int64(record.timestamp)
        if self.static_field and self.static_value is not None:
            updated[self.static_field] = self.static_value
        return replaced(record, self.part, updated)
