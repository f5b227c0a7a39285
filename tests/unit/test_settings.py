"""Settings: read once from AUTHTRAIL_* variables, typed, loud about mistakes, secrets masked."""

from __future__ import annotations

import pytest

from authtrail.errors import ConfigurationError
from authtrail.settings import Settings, load_settings


def test_every_field_is_an_authtrail_variable() -> None:
    names = Settings.env_names()
    assert "AUTHTRAIL_MONGO_URI" in names
    assert "AUTHTRAIL_RAW_TOPIC" in names
    assert all(name.startswith("AUTHTRAIL_") for name in names)


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
