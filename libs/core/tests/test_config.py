"""Settings load from FORGE_* variables and fail at start with the variable's name."""

from __future__ import annotations

import msgspec
import pytest

from forge.core.config import ConfigError, load


class DemoConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    nats_url: str = "nats://127.0.0.1:4222"
    port: int = 8000
    catalog_database_url: str = ""


def test_defaults_apply_when_nothing_is_set() -> None:
    assert load(DemoConfig, "demo", {}) == DemoConfig()


def test_a_service_variable_overrides_the_shared_one() -> None:
    env = {"FORGE_NATS_URL": "nats://shared", "FORGE_DEMO_NATS_URL": "nats://own"}
    assert load(DemoConfig, "demo", env).nats_url == "nats://own"


def test_a_shared_variable_applies_to_every_service() -> None:
    env = {"FORGE_CATALOG_DATABASE_URL": "postgresql://db"}
    assert load(DemoConfig, "demo", env).catalog_database_url == "postgresql://db"


def test_numbers_are_converted_from_strings() -> None:
    assert load(DemoConfig, "demo", {"FORGE_DEMO_PORT": "9000"}).port == 9000


def test_a_misspelt_setting_is_refused_with_its_name() -> None:
    with pytest.raises(ConfigError, match="FORGE_DEMO_PROT"):
        load(DemoConfig, "demo", {"FORGE_DEMO_PROT": "1"})


def test_a_value_of_the_wrong_type_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="FORGE_DEMO_PORT"):
        load(DemoConfig, "demo", {"FORGE_DEMO_PORT": "eighty"})
