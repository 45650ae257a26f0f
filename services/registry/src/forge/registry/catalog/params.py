"""Checks on the catalog operations' params (forge.proto.catalog_params): names and URLs."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from forge.core.errors import InvalidParamsError
from forge.proto.catalog import TRANSPORTS, canonical_transport
from forge.proto.catalog_params import CreateGatewayParams
from forge.proto.limits import MAX_ARGS, MAX_NAME, MAX_URL

MAX_COMMAND = MAX_ARGS  # argv entries of a stdio gateway's command
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def check_name(name: str, field: str = "name") -> str:
    """A display name: 1 to 255 characters, not blank, no control characters."""
    if not name.strip() or len(name) > MAX_NAME:
        raise InvalidParamsError(f"{field} must be 1 to {MAX_NAME} characters", {"field": field})
    if _CONTROL.search(name):
        raise InvalidParamsError(f"{field} must not contain control characters", {"field": field})
    return name


def check_url(url: str, schemes: tuple[str, ...] = ("http", "https"), field: str = "url") -> str:
    """An absolute http(s) URL with a host (ws(s) for a WebSocket gateway)."""
    problem = None
    if len(url) > MAX_URL or _CONTROL.search(url) or " " in url:
        problem = f"{field} must be a URL without spaces or control characters"
    else:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in schemes or not parts.hostname:
            problem = f"{field} must be an absolute {' or '.join(schemes)} URL with a host"
    if problem:
        raise InvalidParamsError(problem, {"field": field})
    return url


def check_transport(transport: str) -> str:
    canonical = canonical_transport(transport)
    if canonical is None:
        supported = ", ".join(sorted(set(TRANSPORTS.values())))
        raise InvalidParamsError(
            f"transport is not supported (supported: {supported})", {"field": "transport"}
        )
    return canonical


def check_env(env: dict[str, str]) -> dict[str, str]:
    for name, value in env.items():
        if not _ENV_NAME.match(name) or "\x00" in value:
            raise InvalidParamsError("env names must be identifiers", {"field": "env"})
    return env


def env_not_for(transport: str) -> InvalidParamsError:
    """Only a process Forge starts reads an environment: stored for any other gateway, it would
    be kept (sealed, shown by name) and never used, so it is refused rather than ignored."""
    return InvalidParamsError(f"env is for stdio gateways, not {transport}", {"field": "env"})


def check_gateway_url(transport: str, url: str) -> str:
    schemes = ("ws", "wss") if transport == "websocket" else ("http", "https")
    return check_url(url, schemes)


def check_endpoint(transport: str, p: CreateGatewayParams) -> tuple[str, list[str] | None]:
    """The url (checked for the transport) and, for stdio, the command; env names checked."""
    check_env(p.env)
    if transport != "stdio":
        if p.env:
            raise env_not_for(transport)
        if p.command is not None:
            raise InvalidParamsError("command is for stdio gateways", {"field": "command"})
        return check_gateway_url(transport, p.url), None
    command = p.command or []
    if not command or len(command) > MAX_COMMAND or any(not a or "\x00" in a for a in command):
        raise InvalidParamsError(
            f"a stdio gateway needs a command of 1 to {MAX_COMMAND} non-empty arguments",
            {"field": "command"},
        )
    return p.url, command


def check_tags(tags: list[str]) -> list[str]:
    for tag in tags:
        check_name(tag, "tags")
    return tags


def slugify(name: str) -> str:
    """Lowercase, every run of other characters turned into one `-`, trimmed."""
    slug = _NOT_ALNUM.sub("-", name.lower()).strip("-")
    if not slug:
        raise InvalidParamsError("name must contain a letter or digit", {"field": "name"})
    return slug
