"""Params of the catalog registry's operations (`forge.registry.catalog.<entity>.<op>`), as the
edge and the CLI send them. Only their shape is here: the registry checks names, URLs and
credentials after decoding (forge.registry.catalog.params)."""

from __future__ import annotations

import msgspec

from forge.proto.catalog import UpstreamAuth


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
