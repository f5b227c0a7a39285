"""Settings: read once from AUTHTRAIL_* variables, typed, loud about mistakes, secrets masked."""

from __future__ import annotations

from pathlib import Path
from types import UnionType
from typing import Any, Literal, get_args, get_origin

import pytest
from pydantic import SecretStr
from pydantic.fields import FieldInfo

from authtrail.errors import ConfigurationError
from authtrail.settings import Settings, load_settings


def a_value_from_the_environment(field: FieldInfo) -> tuple[str, Any]:
    """Text for a field's variable, and the value it must arrive as: never the default."""
    kind = field.annotation
    if get_origin(kind) is UnionType:  # X | None
        kind = next(a for a in get_args(kind) if a is not type(None))
    default = field.get_default(call_default_factory=True)
    if get_origin(kind) is Literal:
        other = next(choice for choice in get_args(kind) if choice != default)
        return other, other
    if kind is bool:
        return str(not default).lower(), not default
    if kind in (int, float):
        return str((default or 0) + kind(3)), (default or 0) + kind(3)
    if kind in (str, SecretStr):
        return f"from-the-environment-{default}", f"from-the-environment-{default}"
    if kind is Path:
        return f"/from/the/environment/{default}", Path(f"/from/the/environment/{default}")
    if kind == list[Path]:
        return '["/from/the/environment/a.pub"]', [Path("/from/the/environment/a.pub")]
    raise AssertionError(f"no sample for {field.annotation}: add one")


def test_every_field_is_an_authtrail_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each field is read from exactly AUTHTRAIL_<FIELD>: a value set there arrives, for every field."""
    assert Settings.env_names() == {f"AUTHTRAIL_{name.upper()}" for name in Settings.model_fields}
    expected = {}
    for name, field in Settings.model_fields.items():
        text, expected[name] = a_value_from_the_environment(field)
        monkeypatch.setenv(f"AUTHTRAIL_{name.upper()}", text)
    monkeypatch.setenv("RAW_TOPIC", "without-the-prefix")  # not an authtrail variable
    settings = load_settings()
    arrived = {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value for name, value in settings
    }
    assert arrived == expected


def test_environment_values_are_cast_to_their_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHTRAIL_API_PORT", "4100")
    monkeypatch.setenv("AUTHTRAIL_LOG_LEVEL", "debug")
    settings = load_settings()
    assert settings.api_port == 4100
    assert settings.log_level == "DEBUG"


def test_a_malformed_value_fails_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHTRAIL_API_PORT", "four thousand")
    with pytest.raises(ConfigurationError, match="AUTHTRAIL_API_PORT"):
        load_settings()


def test_an_unknown_authtrail_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHTRAIL_API_PROT", "4000")
    with pytest.raises(ConfigurationError, match="AUTHTRAIL_API_PROT"):
        load_settings()


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.api_port = 1


def test_ports_derive_from_the_addresses() -> None:
    settings = load_settings(
        kafka_bootstrap_servers="10.0.0.1:29092,10.0.0.2:29092",
        schema_registry_url="http://registry:18081",
        connect_url="http://connect:18083",
        mongo_uri="mongodb://user:pw@db:27018/?replicaSet=rs0",
    )
    assert (settings.kafka_port, settings.registry_port, settings.connect_port, settings.store_port) == (
        29092,
        18081,
        18083,
        27018,
    )


def test_secrets_are_masked_in_the_public_view() -> None:
    settings = load_settings(mongo_uri="mongodb://admin:hunter2@db:27017/")
    view = settings.public_view()
    assert "hunter2" not in str(view)
    assert view["mongo_uri"] == "**********"


def test_child_process_environment_leaves_unset_values_out() -> None:
    settings = load_settings(api_key=None, heartbeat_file=None, api_key_file=None)
    env = settings.to_env()
    assert "AUTHTRAIL_API_KEY" not in env
    assert "AUTHTRAIL_HEARTBEAT_FILE" not in env
    assert "None" not in env.values()


def test_child_process_environment_round_trips_to_the_same_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(api_key="at_1_secret", api_port=4321)
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    assert load_settings() == settings
