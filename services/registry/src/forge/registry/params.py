"""Request params of the catalog operations: typed decoding and the checks on names and URLs."""

from __future__ import annotations

import re
from typing import Any, TypeVar
from urllib.parse import urlsplit

import msgspec

from forge.core.errors import InvalidParamsError
from forge.proto.catalog import TRANSPORTS, UpstreamAuth, canonical_transport

T = TypeVar("T")
MAX_NAME = 255
MAX_URL = 2048
MAX_COMMAND = 64  # argv entries of a stdio gateway's command
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


class IdParams(msgspec.Struct, frozen=True):
    id: str


class HeaderItem(msgspec.Struct, frozen=True):
    key: str
    value: str


class OAuthConfig(msgspec.Struct, frozen=True):
    grant_type: str = "client_credentials"
    token_url: str | None = None
    authorization_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scopes: list[str] | str = msgspec.field(default_factory=list)
    audience: str | None = None
    resource: str | None = None


class Credentials(msgspec.Struct, frozen=True, kw_only=True):
    """The credential members of gateway create and update params (either form, not both)."""

    auth: UpstreamAuth | None = None
    auth_type: str | None = None
    auth_username: str | None = None
    auth_password: str | None = None
    auth_token: str | None = None
    auth_headers: list[HeaderItem] | dict[str, str] | None = None
    auth_header_key: str | None = None
    auth_header_value: str | None = None
    auth_query_param_key: str | None = None
    auth_query_param_value: str | None = None
    oauth_config: OAuthConfig | None = None


class CreateGatewayParams(Credentials, frozen=True, kw_only=True):
    name: str
    url: str = ""  # not for stdio, which runs `command` instead
    transport: str = "streamablehttp"
    command: list[str] | None = None
    env: dict[str, str] = msgspec.field(default_factory=dict)
    description: str | None = None
    tags: list[str] = msgspec.field(default_factory=list)
    timeout_s: float | None = None
    visibility: str | None = None  # the registry's default_visibility when not given
    team_id: str | None = None  # the caller's personal team when not given


class UpdateGatewayParams(Credentials, frozen=True, kw_only=True):
    """Only what is given changes; credentials given replace the old ones whole."""

    id: str
    name: str | None = None
    description: str | msgspec.UnsetType | None = msgspec.UNSET
    url: str | None = None
    env: dict[str, str] | None = None  # stdio: replaces the sealed environment
    # Neither changes (register a new gateway): given, they must equal the gateway's own, so a
    # gateway never turns into a process to start through an update.
    transport: str | None = None
    command: list[str] | None = None
    visibility: str | None = None
    team_id: str | None = None
    enabled: bool | None = None
    tags: list[str] | None = None


class CreateServerParams(msgspec.Struct, frozen=True):
    name: str
    description: str | None = None
    associated_tools: list[str] = msgspec.field(default_factory=list)
    associated_resources: list[str] = msgspec.field(default_factory=list)
    associated_prompts: list[str] = msgspec.field(default_factory=list)
    tags: list[str] = msgspec.field(default_factory=list)
    visibility: str | None = None
    team_id: str | None = None


class UpdateServerParams(msgspec.Struct, frozen=True):
    """Only what is given changes; an associated_* list given replaces that list."""

    id: str
    name: str | None = None
    description: str | msgspec.UnsetType | None = msgspec.UNSET
    associated_tools: list[str] | None = None
    associated_resources: list[str] | None = None
    associated_prompts: list[str] | None = None
    tags: list[str] | None = None
    visibility: str | None = None
    team_id: str | None = None
    enabled: bool | None = None


_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def decode(cls: type[T], data: bytes) -> T:
    """Decode params into `cls`, or raise InvalidParamsError saying which field is wrong."""
    decoder = _DECODERS.get(cls)
    if decoder is None:
        decoder = _DECODERS[cls] = msgspec.json.Decoder(cls)
    try:
        value: T = decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise InvalidParamsError(f"invalid params: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise InvalidParamsError("params are not valid JSON") from exc
    return value


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


def check_gateway_url(transport: str, url: str) -> str:
    schemes = ("ws", "wss") if transport == "websocket" else ("http", "https")
    return check_url(url, schemes)


def check_endpoint(transport: str, p: CreateGatewayParams) -> tuple[str, list[str] | None]:
    """The url (checked for the transport) and, for stdio, the command; env names checked."""
    check_env(p.env)
    if transport != "stdio":
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
