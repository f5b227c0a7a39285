"""Connector configs are read like Java reads .properties files."""

from connect.properties import parse_properties


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
