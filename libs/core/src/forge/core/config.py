"""Settings from `FORGE_*` environment variables into frozen msgspec structs, checked at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

import msgspec

T = TypeVar("T", bound=msgspec.Struct)

# Settings every service shares: read from FORGE_<FIELD> unless FORGE_<SERVICE>_<FIELD> is set.
SHARED = frozenset(
    {
        "nats_url",
        "log_level",
        "request_timeout_s",
        "jwt_secret",
        "jwt_audience",
        "jwt_issuer",
        "session_secret",
        "catalog_database_url",
        "tool_name_separator",
        "state_dir",
        "identity_database_url",
        "secret_keys",
        "upstream_allowed_networks",
        "public_url",
        # The commands Forge may start, and how (registry, upstream-proxy, forge translate).
        "stdio_allowed_commands",
        "stdio_user",
        "stdio_max_memory_mb",
        "stdio_max_processes",
        "stdio_max_open_files",
        "stdio_max_cpu_s",
    }
)


class ConfigError(Exception):
    """A setting is missing, misspelt or has a value of the wrong type."""


def load(cls: type[T], service: str, env: Mapping[str, str] | None = None) -> T:
    """Build `cls` from the environment; unknown `FORGE_<SERVICE>_*` names are refused."""
    env = os.environ if env is None else env
    prefix = f"FORGE_{service.upper()}_"
    fields = set(cls.__struct_fields__)
    values: dict[str, str] = {}
    for name in fields:
        own = prefix + name.upper()
        if own in env:
            values[name] = env[own]
        elif name in SHARED and f"FORGE_{name.upper()}" in env:
            values[name] = env[f"FORGE_{name.upper()}"]
    unknown = sorted(
        key for key in env if key.startswith(prefix) and key[len(prefix) :].lower() not in fields
    )
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)} for the {service} service")
    try:
        return msgspec.convert(values, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(
            f"bad setting for the {service} service: {_name_env(exc, prefix)}"
        ) from exc


def _name_env(exc: msgspec.ValidationError, prefix: str) -> str:
    # msgspec says "... - at `$.port`"; name the environment variable instead.
    text = str(exc)
    if "`$." in text:
        field = text.rsplit("`$.", 1)[1].rstrip("`")
        names = f"{prefix}{field.upper()}"
        if field in SHARED:
            names += f" or FORGE_{field.upper()}"
        return text.rsplit(" - at", 1)[0] + f" ({names})"
    return text
