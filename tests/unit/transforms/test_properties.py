"""Connector configs are read like Java reads .properties files."""

from authtrail.settings import load_settings
from connect.transformer.properties import parse_properties
from connect.transformer.transforms.chain import TransformChain


def test_separators_comments_and_continuations():
    text = "# comment\n! also\na=1\nb : 2\nc 3\nlong=x,\\\n   y\ntype=org.x.ReplaceField$Value\nempty=\n"
    assert parse_properties(text) == {
        "a": "1",
        "b": "2",
        "c": "3",
        "long": "x,y",
        "type": "org.x.ReplaceField$Value",
        "empty": "",
    }


def test_escapes():
    assert parse_properties(r"pattern=audit\\..*") == {"pattern": r"audit\..*"}


def test_the_production_chain_loads_with_every_stage_known() -> None:
    chain = TransformChain.from_file(load_settings().transforms_file)
    assert [stage.alias for stage in chain.stages] == [
        "dropTombstones",
        "rename",
        "ids",
        "eventTime",
        "provenance",
        "ingestTime",
        "userKey",
    ]
