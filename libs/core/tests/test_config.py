"""Settings load from FORGE_* variables and fail at start with the variable's name."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
import pytest

from forge.core.config import SHARED, ConfigError, load
from forge.core.settings import LogLevel, doc


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


class ChoiceConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    log_level: LogLevel = "info"
    mode: Annotated[Literal["fast", "safe"], doc("how")] = "fast"


def test_a_word_outside_its_choices_is_refused_naming_the_variable_and_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"FORGE_DEMO_MODE must be one of fast, safe"):
        load(ChoiceConfig, "demo", {"FORGE_DEMO_MODE": "turbo"})


def test_a_shared_word_outside_its_choices_names_both_variables() -> None:
    with pytest.raises(ConfigError, match="FORGE_DEMO_LOG_LEVEL or FORGE_LOG_LEVEL must be one"):
        load(ChoiceConfig, "demo", {"FORGE_LOG_LEVEL": "loud"})


def test_a_word_among_the_choices_is_taken_in_any_case() -> None:
    env = {"FORGE_LOG_LEVEL": "WARNING", "FORGE_DEMO_MODE": "Safe"}
    assert load(ChoiceConfig, "demo", env) == ChoiceConfig(log_level="warning", mode="safe")


def test_state_dir_is_no_shared_setting() -> None:
    # FORGE_STATE_DIR is `forge up`'s own (cli), no service struct has the field.
    assert "state_dir" not in SHARED
