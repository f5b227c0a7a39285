"""Each transform behaves as Kafka Connect's SMT of the same name does on schemaless records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from bson.int64 import Int64

from connect.transformer.record import ConnectRecord
from connect.transformer.transforms.base import TransformConfigError, TransformDataError
from connect.transformer.transforms.chain import TransformChain

P = "org.apache.kafka.connect.transforms."


def record(value, key=None, topic="audit.events.raw", headers=()):
    return ConnectRecord(
        topic=topic,
        partition=3,
        offset=42,
        timestamp=1_700_000_000_123,
        key=key,
        value=value,
        headers=headers,
    )


def chain(**config: str) -> TransformChain:
    props = {"transforms": "t"}
    for name, value in config.items():
        props[name if name.startswith("predicates") else f"transforms.t.{name}".replace("__", ".")] = value
    return TransformChain.from_config(props)


class TestReplaceField:
    def test_renames_and_keeps_everything_else(self):
        out = chain(type=P + "ReplaceField$Value", renames="id:_id,resource_type:event_resource_type").apply(
            record({"id": "e1", "resource_type": "bug", "user_id": 7})
        )
        assert out.value == {"_id": "e1", "event_resource_type": "bug", "user_id": 7}

    def test_include_keeps_only_listed_fields(self):
        out = chain(type=P + "ReplaceField$Value", include="a,b").apply(record({"a": 1, "b": 2, "c": 3}))
        assert out.value == {"a": 1, "b": 2}

    def test_exclude_wins_over_include(self):
        out = chain(type=P + "ReplaceField$Value", include="a,b", exclude="b").apply(record({"a": 1, "b": 2}))
        assert out.value == {"a": 1}

    def test_names_connect_4_no_longer_knows_are_refused(self):
        # Connect 4.1 would ignore them and keep every field: a silent difference, refused here.
        for old in ("blacklist", "whitelist"):
            with pytest.raises(TransformConfigError, match=old):
                chain(type=P + "ReplaceField$Value", **{old: "c"})

    def test_null_value_passes_through(self):
        assert chain(type=P + "ReplaceField$Value", include="a").apply(record(None)).value is None

    def test_key_variant_changes_the_key(self):
        out = chain(type=P + "ReplaceField$Key", renames="u:user").apply(record({"x": 1}, key={"u": 5}))
        assert (out.key, out.value) == ({"user": 5}, {"x": 1})

    def test_rejects_a_non_map_value(self):
        with pytest.raises(TransformDataError, match="Only Map objects"):
            chain(type=P + "ReplaceField$Value", include="a").apply(record("text"))

    @pytest.mark.parametrize("mapping", ["a", "a:", ":b", "a:b:c"])
    def test_rejects_malformed_renames(self, mapping):
        with pytest.raises(TransformConfigError, match="rename"):
            chain(type=P + "ReplaceField$Value", renames=mapping)


class TestInsertField:
    def test_inserts_topic_partition_offset_timestamp_and_static(self):
        out = chain(
            type=P + "InsertField$Value",
            **{
                "topic__field": "t",
                "partition__field": "p",
                "offset__field": "o!",
                "timestamp__field": "ts?",
                "static__field": "src",
                "static__value": "authtrail",
            },
        ).apply(record({"a": 1}))
        assert out.value == {
            "a": 1,
            "t": "audit.events.raw",
            "p": 3,
            "o": 42,
            "ts": 1_700_000_000_123,
            "src": "authtrail",
        }
        assert isinstance(out.value["o"], Int64)
        assert isinstance(out.value["ts"], Int64)  # a Long of epoch millis, not a Date

    def test_no_timestamp_no_field(self):
        rec = ConnectRecord("t", 0, 1, None, None, {"a": 1})
        out = chain(type=P + "InsertField$Value", timestamp__field="ts").apply(rec)
        assert out.value == {"a": 1}


class TestTimestampConverter:
    def test_epoch_seconds_to_timestamp(self):
        out = chain(
            type=P + "TimestampConverter$Value",
            field="timestamp",
            target__type="Timestamp",
            unix__precision="seconds",
        ).apply(record({"timestamp": 1_652_502_000}))
        assert out.value == {"timestamp": datetime(2022, 5, 14, 4, 20, tzinfo=UTC)}

    def test_millis_to_timestamp_keeps_milliseconds(self):
        out = chain(type=P + "TimestampConverter$Value", field="ts", target__type="Timestamp").apply(
            record({"ts": 1_700_000_000_123})
        )
        assert out.value["ts"] == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)

    def test_timestamp_to_unix_truncates_toward_zero(self):
        conv = chain(
            type=P + "TimestampConverter$Value", field="ts", target__type="unix", unix__precision="seconds"
        )
        assert conv.apply(record({"ts": datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC)})).value == {
            "ts": 0
        }

    def test_date_and_time_targets(self):
        base = {"ts": 1_700_000_000_123}
        date = chain(type=P + "TimestampConverter$Value", field="ts", target__type="Date").apply(record(base))
        time = chain(type=P + "TimestampConverter$Value", field="ts", target__type="Time").apply(record(base))
        assert date.value["ts"] == datetime(2023, 11, 14, tzinfo=UTC)
        assert time.value["ts"] == datetime(1970, 1, 1, 22, 13, 20, 123000, tzinfo=UTC)

    def test_missing_field_becomes_null(self):
        out = chain(type=P + "TimestampConverter$Value", field="ts", target__type="Timestamp").apply(
            record({"a": 1})
        )
        assert out.value == {"a": 1, "ts": None}

    @pytest.mark.parametrize("bad", [1.5, True, [1]])
    def test_rejects_non_long_timestamps(self, bad):
        with pytest.raises(TransformDataError):
            chain(type=P + "TimestampConverter$Value", field="ts", target__type="Timestamp").apply(
                record({"ts": bad})
            )

    def test_string_target_is_refused_at_configuration(self):
        with pytest.raises(TransformConfigError, match="string"):
            chain(type=P + "TimestampConverter$Value", field="ts", target__type="string", format="yyyy")


class TestCast:
    @pytest.mark.parametrize(
        ("value", "target", "expected"),
        [
            (5, "int64", 5),
            ("42", "int32", 42),
            (True, "int8", 1),
            (300, "int8", 44),
            (-129, "int8", 127),
            (3.99, "int32", 3),
            (-3.99, "int32", -3),
            (1e20, "int32", 2**31 - 1),
            (float("nan"), "int64", 0),
            (0, "boolean", False),
            (2, "boolean", True),
            ("TRUE", "boolean", True),
            ("yes", "boolean", False),
            (7, "float64", 7.0),
            ("2.5", "float64", 2.5),
            (0.1, "float32", 0.10000000149011612),
            (True, "string", "true"),
            (12, "string", "12"),
            (1e7, "string", "1.0E7"),
            (0.5, "string", "0.5"),
            (1e-4, "string", "1.0E-4"),
            (123.456, "string", "123.456"),
            (b"\x01\x02", "string", "AQI="),
        ],
    )
    def test_casts_like_java(self, value, target, expected):
        out = chain(type=P + "Cast$Value", spec=f"f:{target}").apply(record({"f": value}))
        assert out.value["f"] == expected
        assert type(out.value["f"]) is type(expected) or (
            target == "int64" and isinstance(out.value["f"], Int64)
        )

    def test_int64_results_are_bson_longs(self):
        out = chain(type=P + "Cast$Value", spec="a:int64,b:int32").apply(record({"a": 1, "b": 2}))
        assert isinstance(out.value["a"], Int64)
        assert not isinstance(out.value["b"], Int64)

    def test_a_field_named_in_the_spec_but_absent_becomes_null(self):
        assert chain(type=P + "Cast$Value", spec="a:int64").apply(record({"b": 1})).value == {
            "b": 1,
            "a": None,
        }

    def test_whole_value_cast(self):
        assert chain(type=P + "Cast$Value", spec="string").apply(record(5)).value == "5"

    @pytest.mark.parametrize(
        ("value", "target"), [(" 42", "int32"), ("4x", "int64"), ("999", "int8"), ({"a": 1}, "string")]
    )
    def test_uncastable_values_are_data_errors(self, value, target):
        with pytest.raises(TransformDataError):
            chain(type=P + "Cast$Value", spec=f"f:{target}").apply(record({"f": value}))

    @pytest.mark.parametrize("spec", ["f:int128", "int32,f:int64", ""])
    def test_invalid_specs_are_config_errors(self, spec):
        with pytest.raises(TransformConfigError):
            chain(type=P + "Cast$Value", spec=spec)


class TestValueToKeyAndFilter:
    def test_value_to_key_builds_a_map_key(self):
        out = chain(type=P + "ValueToKey", fields="user_id,missing").apply(record({"user_id": 9, "x": 1}))
        assert out.key == {"user_id": 9, "missing": None}

    def test_filter_without_predicate_drops_everything(self):
        assert chain(type=P + "Filter").apply(record({"a": 1})) is None

    def test_filter_with_header_predicate_drops_only_matching(self):
        flt = chain(
            type=P + "Filter",
            predicate="probe",
            predicates="probe",
            **{"predicates.probe.type": P + "predicates.HasHeaderKey", "predicates.probe.name": "x-probe"},
        )
        assert flt.apply(record({"a": 1}, headers=(("x-probe", b"1"),))) is None
        assert flt.apply(record({"a": 1}, headers=(("other", None),))) is not None

    def test_negate_inverts_the_predicate(self):
        keep_only = chain(
            type=P + "Filter",
            predicate="raw",
            negate="true",
            predicates="raw",
            **{
                "predicates.raw.type": P + "predicates.TopicNameMatches",
                "predicates.raw.pattern": "audit\\..*",
            },
        )
        assert keep_only.apply(record({"a": 1}, topic="audit.events.raw")) is not None
        assert keep_only.apply(record({"a": 1}, topic="xaudit.events")) is None  # full match, not search

    def test_tombstone_predicate(self):
        drop_tombstones = chain(
            type=P + "Filter",
            predicate="t",
            predicates="t",
            **{"predicates.t.type": P + "predicates.RecordIsTombstone"},
        )
        assert drop_tombstones.apply(record(None)) is None
        assert drop_tombstones.apply(record({})) is not None


class TestChainConfiguration:
    def test_unknown_type_is_refused(self):
        with pytest.raises(TransformConfigError, match="not one authtrail implements"):
            chain(type="com.example.Magic")

    def test_undefined_predicate_is_refused(self):
        with pytest.raises(TransformConfigError, match="undefined predicate"):
            chain(type=P + "Filter", predicate="nope")

    def test_stages_run_in_the_listed_order(self):
        config = {
            "transforms": "rename,cast",
            "transforms.rename.type": P + "ReplaceField$Value",
            "transforms.rename.renames": "a:b",
            "transforms.cast.type": P + "Cast$Value",
            "transforms.cast.spec": "b:string",
        }
        assert TransformChain.from_config(config).apply(record({"a": 1})).value == {"b": "1"}
