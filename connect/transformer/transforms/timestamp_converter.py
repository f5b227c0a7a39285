"""``org.apache.kafka.connect.transforms.TimestampConverter$Key|$Value`` (schemaless).

Converts between Unix time (with a precision), ``Timestamp``, ``Date`` (midnight UTC) and
``Time`` (time of day on 1970-01-01). Connect's ``string`` type, which takes a Java
``SimpleDateFormat`` pattern, is not implemented here and is refused at configuration.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bson.int64 import Int64

from connect.transformer.record import ConnectRecord
from connect.transformer.transforms._java import trunc_div
from connect.transformer.transforms._operating import Part, operating, replaced
from connect.transformer.transforms.base import TransformDataError, require_map
from connect.transformer.transforms.config_def import REPLACE_NULL_WITH_DEFAULT, Config, ConfigDef, ConfigKey

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TARGETS = ("unix", "Timestamp", "Date", "Time")  # not Connect's "string": see above
PRECISIONS = ("nanoseconds", "microseconds", "milliseconds", "seconds")


class TimestampConverter:
    CONFIG_DEF = ConfigDef(
        ConfigKey("field", "string", "", "The field holding the timestamp, or empty for the whole value."),
        ConfigKey(
            "target.type", "string", doc="unix, Date, Time or Timestamp", validator=ConfigDef.one_of(*TARGETS)
        ),
        # Connect parses string timestamps with it; authtrail refuses those, record by record.
        ConfigKey("format", "string", "", "A SimpleDateFormat pattern, for string timestamps."),
        ConfigKey(
            "unix.precision", "string", "milliseconds", "Of unix timestamps.", ConfigDef.one_of(*PRECISIONS)
        ),
        REPLACE_NULL_WITH_DEFAULT,
    )

    def __init__(self, config: Config, part: Part) -> None:
        values = self.CONFIG_DEF.parse(config)
        self.part = part
        self.field = values["field"]
        self.target = values["target.type"]
        self.precision = values["unix.precision"]

    def apply(self, record: ConnectRecord) -> ConnectRecord:
        value = operating(record, self.part)
        if value is None or not self.field:
            return replaced(record, self.part, self.convert(value))
        updated = dict(require_map(value, "converting timestamp formats"))
        updated[self.field] = self.convert(updated.get(self.field))
        return replaced(record, self.part, updated)

    def convert(self, value: Any) -> Any:
        if value is None:
            return None
        return self._from_millis(self._to_millis(value))

    def _to_millis(self, value: Any) -> int:
        if isinstance(value, datetime):
            return _millis_of(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if self.precision == "seconds":
                return value * 1000
            if self.precision == "microseconds":
                return trunc_div(value, 1000)
            if self.precision == "nanoseconds":
                return trunc_div(value, 1_000_000)
            return value
        if isinstance(value, str):
            raise TransformDataError("TimestampConverter: string timestamps are not supported by authtrail")
        raise TransformDataError(
            f"TimestampConverter does not support {type(value).__name__} objects as timestamps"
        )

    def _from_millis(self, millis: int) -> Any:
        if self.target == "unix":
            factor = {"seconds": -1000, "milliseconds": 1, "microseconds": 1000, "nanoseconds": 1_000_000}
            scale = factor[self.precision]
            return Int64(trunc_div(millis, -scale) if scale < 0 else millis * scale)
        moment = _datetime_of(millis)
        if self.target == "Date":
            return moment.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.target == "Time":
            return EPOCH + (moment - moment.replace(hour=0, minute=0, second=0, microsecond=0))
        return moment


def _millis_of(moment: datetime) -> int:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    delta = aware - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _datetime_of(millis: int) -> datetime:
    try:
        return EPOCH + timedelta(milliseconds=millis)
    except OverflowError as exc:
        raise TransformDataError(f"timestamp {millis} ms is outside the representable range") from exc
