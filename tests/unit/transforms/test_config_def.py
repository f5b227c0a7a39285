"""Declared transform configuration (connect/transformer/transforms/config_def.py): values are
parsed with Kafka's ConfigDef rules, and an unknown, malformed or missing key is refused with
an error naming the stage and the key — through the chain, for every transformation."""

from __future__ import annotations

import re

import pytest

from connect.transformer.transforms.base import TransformConfigError
from connect.transformer.transforms.chain import PREDICATES, TRANSFORMATIONS, TransformChain
from connect.transformer.transforms.config_def import Config, ConfigDef, ConfigKey

P = "org.apache.kafka.connect.transforms."
EXAMPLE = ConfigDef(
    ConfigKey("name", "string", doc="required"),
    ConfigKey("fields", "list", (), "a list"),
    ConfigKey("enabled", "boolean", False, "a boolean"),
    ConfigKey("size", "int", 10, "an int"),
    ConfigKey("mode", "string", "fast", "one of two", ConfigDef.one_of("fast", "slow")),
)


def parse(**values: str):
    return EXAMPLE.parse(Config("transforms.example", {k.replace("__", "."): v for k, v in values.items()}))


def refused(key: str, **values: str) -> str:
    """The error message, which must name the stage and the key."""
    with pytest.raises(TransformConfigError, match=re.escape(f"transforms.example.{key}:")) as error:
        parse(**values)
    return str(error.value)


class TestParsingFollowsKafka:
    def test_defaults_fill_what_is_not_given(self):
        assert parse(name="n") == {"name": "n", "fields": (), "enabled": False, "size": 10, "mode": "fast"}

    def test_values_are_trimmed(self):
        parsed = parse(name="  n \t", size=" 7 ", mode=" slow ")
        assert (parsed["name"], parsed["size"], parsed["mode"]) == ("n", 7, "slow")

    def test_only_java_trim_whitespace_is_trimmed(self):
        # String.trim() strips U+0000..U+0020; a no-break space is part of the value.
        assert parse(name="\x00n\u00a0")["name"] == "n\u00a0"

    @pytest.mark.parametrize(
        ("text", "items"),
        [
            ("a,b", ("a", "b")),
            (" a , b\t,c ", ("a", "b", "c")),
            ("", ()),
            ("  ", ()),
            ("a,,b", ("a", "", "b")),  # Java's split keeps empty items
            ("a,", ("a", "")),
        ],
    )
    def test_lists_split_on_commas_and_surrounding_whitespace(self, text, items):
        assert parse(name="n", fields=text)["fields"] == items

    @pytest.mark.parametrize(("text", "value"), [("true", True), ("FALSE", False), (" True ", True)])
    def test_booleans_are_true_or_false_in_any_case(self, text, value):
        assert parse(name="n", enabled=text)["enabled"] is value

    @pytest.mark.parametrize("text", ["yes", "1", "", "t"])
    def test_anything_else_is_not_a_boolean(self, text):
        assert "true or false" in refused("enabled", name="n", enabled=text)

    @pytest.mark.parametrize(
        ("text", "value"), [("42", 42), ("-7", -7), ("+3", 3), ("2147483647", 2**31 - 1)]
    )
    def test_ints_are_32_bit_integers(self, text, value):
        assert parse(name="n", size=text)["size"] == value

    @pytest.mark.parametrize("text", ["4.2", "ten", "", "0x10", "2147483648", "1_000"])
    def test_a_non_integer_where_an_int_is_declared_is_refused(self, text):
        assert repr(text) in refused("size", name="n", size=text)


class TestRefusals:
    def test_a_misspelled_key_is_refused_naming_it_and_the_known_keys(self):
        message = refused("sise", name="n", sise="3")
        assert "unknown configuration" in message
        assert "name, fields, enabled, size, mode" in message

    def test_a_missing_required_key_is_refused_naming_it(self):
        assert "missing required configuration" in refused("name")

    def test_a_value_the_validator_refuses_is_refused_naming_the_key_and_value(self):
        message = refused("mode", name="n", mode="medium")
        assert "'medium'" in message
        assert "fast, slow" in message

    def test_a_key_with_no_declared_keys_at_all_is_refused(self):
        with pytest.raises(TransformConfigError, match=r"transforms\.drop\.field: unknown configuration"):
            ConfigDef().parse(Config("transforms.drop", {"field": "x"}))


# The smallest valid configuration of every type the chain knows (keys without the prefix).
MINIMAL = {
    **{f"{P}{name}$Value": {} for name in ("ReplaceField", "InsertField")},
    **{f"{P}{name}$Key": {} for name in ("ReplaceField", "InsertField")},
    f"{P}TimestampConverter$Value": {"target.type": "Timestamp"},
    f"{P}TimestampConverter$Key": {"target.type": "Timestamp"},
    f"{P}Cast$Value": {"spec": "f:int64"},
    f"{P}Cast$Key": {"spec": "int64"},
    f"{P}ValueToKey": {"fields": "user_id"},
    f"{P}Filter": {},
    f"{P}predicates.TopicNameMatches": {"pattern": "audit\\..*"},
    f"{P}predicates.HasHeaderKey": {"name": "x-probe"},
    f"{P}predicates.RecordIsTombstone": {},
}


def build(type_name: str, **own: str) -> TransformChain:
    """A chain with one stage of ``type_name`` (a predicate is attached to a Filter)."""
    own = {k.replace("__", "."): v for k, v in own.items()}
    if type_name in PREDICATES:
        return TransformChain.from_config(
            {
                "transforms": "t",
                "transforms.t.type": P + "Filter",
                "transforms.t.predicate": "p",
                "predicates": "p",
                "predicates.p.type": type_name,
                **{f"predicates.p.{k}": v for k, v in own.items()},
            }
        )
    return TransformChain.from_config(
        {
            "transforms": "t",
            "transforms.t.type": type_name,
            **{f"transforms.t.{k}": v for k, v in own.items()},
        }
    )


def prefix_of(type_name: str) -> str:
    return "predicates.p" if type_name in PREDICATES else "transforms.t"


class TestEveryTransformDeclaresItsKeys:
    def test_the_examples_cover_every_registered_type(self):
        assert set(MINIMAL) == set(TRANSFORMATIONS) | set(PREDICATES)

    @pytest.mark.parametrize("type_name", sorted(MINIMAL))
    def test_its_minimal_configuration_loads(self, type_name):
        build(type_name, **MINIMAL[type_name])

    @pytest.mark.parametrize("type_name", sorted(MINIMAL))
    def test_a_misspelled_key_is_refused_naming_the_alias_and_the_key(self, type_name):
        with pytest.raises(TransformConfigError, match=re.escape(f"{prefix_of(type_name)}.fieldz: unknown")):
            build(type_name, **MINIMAL[type_name], fieldz="x")

    @pytest.mark.parametrize("type_name", sorted(name for name, keys in MINIMAL.items() if keys))
    def test_a_missing_required_key_is_refused_naming_it(self, type_name):
        (required,) = MINIMAL[type_name]
        with pytest.raises(
            TransformConfigError, match=re.escape(f"{prefix_of(type_name)}.{required}: missing")
        ):
            build(type_name)

    @pytest.mark.parametrize(
        ("type_name", "key", "value"),
        [
            (f"{P}Cast$Value", "spec", "f:int128"),  # an unknown Cast type
            (f"{P}Cast$Value", "spec", "int32,int64"),  # a whole-value cast must be the only one
            (f"{P}Cast$Value", "spec", "f:int8,"),  # an empty item is an empty cast spec, as in Java
            (f"{P}ReplaceField$Value", "renames", "a:b:c"),
            (f"{P}ReplaceField$Value", "replace.null.with.default", "maybe"),
            (f"{P}TimestampConverter$Value", "unix.precision", "minutes"),
            (f"{P}TimestampConverter$Value", "unix.precision", ""),
            (f"{P}TimestampConverter$Value", "target.type", "timestamp"),  # case-sensitive, as in Java
            (f"{P}ValueToKey", "fields", " "),
            (f"{P}predicates.TopicNameMatches", "pattern", "("),
            (f"{P}predicates.HasHeaderKey", "name", ""),
        ],
    )
    def test_a_malformed_value_is_refused_naming_the_key(self, type_name, key, value):
        config = {**MINIMAL[type_name], key: value}
        with pytest.raises(
            TransformConfigError, match=re.escape(f"{prefix_of(type_name)}.{key}: invalid value")
        ):
            build(type_name, **config)

    @pytest.mark.parametrize(
        ("type_name", "key", "value"),
        [
            *(
                (f"{P}{name}$Value", "replace.null.with.default", "false")
                for name in ("ReplaceField", "Cast")
            ),
            (f"{P}InsertField$Value", "replace.null.with.default", "FALSE"),
            (f"{P}ValueToKey", "replace.null.with.default", "true"),
            (f"{P}TimestampConverter$Value", "format", "yyyy-MM-dd"),
        ],
    )
    def test_keys_connect_declares_are_accepted(self, type_name, key, value):
        build(type_name, **{**MINIMAL[type_name], key: value})


class TestTheChainsOwnKeys:
    def test_a_key_of_an_alias_not_listed_is_refused(self):
        config = {
            "transforms": "rename",
            "transforms.rename.type": P + "ReplaceField$Value",
            "transforms.renmae.renames": "id:_id",  # the alias misspelled: Connect would ignore it
        }
        with pytest.raises(TransformConfigError, match=re.escape("transforms.renmae.renames: not a key")):
            TransformChain.from_config(config)

    def test_a_key_outside_transforms_and_predicates_is_refused(self):
        with pytest.raises(TransformConfigError, match=r"^transfroms: not a key"):
            TransformChain.from_config({"transfroms": "t"})

    def test_negate_must_be_a_boolean(self):
        with pytest.raises(TransformConfigError, match=re.escape("transforms.t.negate: invalid value 'yes'")):
            TransformChain.from_config(
                {
                    "transforms": "t",
                    "transforms.t.type": P + "Filter",
                    "transforms.t.predicate": "p",
                    "transforms.t.negate": "yes",
                    "predicates": "p",
                    "predicates.p.type": P + "predicates.RecordIsTombstone",
                }
            )

    def test_negate_belongs_to_the_transform_not_to_the_predicate(self):
        with pytest.raises(TransformConfigError, match=re.escape("predicates.p.negate: unknown")):
            build(P + "predicates.RecordIsTombstone", negate="true")

    def test_a_missing_type_is_refused_naming_the_key(self):
        with pytest.raises(TransformConfigError, match=re.escape("transforms.t.type: missing")):
            TransformChain.from_config({"transforms": "t", "transforms.t.field": "x"})
