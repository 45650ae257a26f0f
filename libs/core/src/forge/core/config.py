"""Settings from `FORGE_*` environment variables into frozen msgspec structs, checked at start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

import msgspec
import msgspec.inspect

from forge.core import settings

T = TypeVar("T", bound=msgspec.Struct)

# Settings every service shares (read from FORGE_<FIELD> unless FORGE_<SERVICE>_<FIELD> is set)
# and what each means: forge.core.settings.
SHARED = frozenset(settings.SHARED)


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
    for name, choices in _choices(cls).items():
        # One of a few words: any case is accepted (FORGE_LOG_LEVEL=INFO always worked).
        if name in values:
            if values[name].lower() not in choices:
                raise ConfigError(
                    f"bad setting for the {service} service: {_names(name, prefix)} must be one"
                    f" of {', '.join(choices)}"
                )
            values[name] = values[name].lower()
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
        return text.rsplit(" - at", 1)[0] + f" ({_names(field, prefix)})"
    return text


def _names(field: str, prefix: str) -> str:
    names = f"{prefix}{field.upper()}"
    if field in SHARED:
        names += f" or FORGE_{field.upper()}"
    return names


def _choices(cls: type[msgspec.Struct]) -> dict[str, tuple[str, ...]]:
    """The fields typed `Literal[...]` of lower-case words, with their words."""
    found: dict[str, tuple[str, ...]] = {}
    info = msgspec.inspect.type_info(cls)
    fields = info.fields if isinstance(info, msgspec.inspect.StructType) else ()
    for field in fields:
        kind = field.type
        if isinstance(kind, msgspec.inspect.Metadata):
            kind = kind.type
        if isinstance(kind, msgspec.inspect.LiteralType) and all(
            isinstance(v, str) and v == v.lower() for v in kind.values
        ):
            found[field.name] = tuple(str(v) for v in kind.values)
    return found
