"""Params of the catalog registry's operations (`forge.registry.catalog.<entity>.<op>`), as the
edge and the CLI send them. Only their shape is here: the registry checks names, URLs and
credentials after decoding (forge.registry.catalog.params)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from forge.proto.catalog import TOOLS_PAGE_SIZE, UpstreamAuth
from forge.proto.limits import (
    MAX_HEADERS,
    Aliases,
    Command,
    Description,
    Env,
    HeaderMap,
    Id,
    Ids,
    Name,
    Secret,
    Tags,
    Url,
)


class IdParams(msgspec.Struct, frozen=True):
    id: Id


class ToolsPageParams(msgspec.Struct, frozen=True):
    """`catalog.tools.page` (a cache that missed a chunk of a tools.changed, or follows a
    `paged` one): the gateway's (or agent's) tools in upstream-name order after `after` (the
    `next` of the page before; None: from the first), at most `limit`."""

    gateway_id: Id
    after: str | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=TOOLS_PAGE_SIZE)] = TOOLS_PAGE_SIZE


class HeaderItem(msgspec.Struct, frozen=True):
    key: Name
    value: Secret


HeaderList = Annotated[list[HeaderItem], msgspec.Meta(max_length=MAX_HEADERS)]


class OAuthConfig(msgspec.Struct, frozen=True):
    grant_type: str = "client_credentials"
    token_url: Url | None = None
    authorization_url: Url | None = None
    client_id: Url | None = None  # a URL itself for a client id metadata document
    client_secret: Secret | None = None
    scopes: list[Name] | Secret = msgspec.field(default_factory=list)
    audience: Url | None = None
    resource: Url | None = None


class Credentials(msgspec.Struct, frozen=True, kw_only=True):
    """The credential members of gateway create and update params (either form, not both)."""

    auth: UpstreamAuth | None = None
    auth_type: Name | None = None
    auth_username: Name | None = None
    auth_password: Secret | None = None
    auth_token: Secret | None = None
    auth_headers: HeaderList | HeaderMap | None = None
    auth_header_key: Name | None = None
    auth_header_value: Secret | None = None
    auth_query_param_key: Name | None = None
    auth_query_param_value: Secret | None = None
    oauth_config: OAuthConfig | None = None


class CreateGatewayParams(Credentials, frozen=True, kw_only=True):
    name: Name
    url: Url = ""  # not for stdio, which runs `command` instead
    transport: Name = "streamablehttp"
    command: Command | None = None
    env: Env = msgspec.field(default_factory=dict)  # stdio only
    description: Description | None = None
    tags: Tags = msgspec.field(default_factory=list)
    timeout_s: float | None = None
    visibility: Name | None = None  # the registry's default_visibility when not given
    team_id: Id | None = None  # the caller's personal team when not given


class UpdateGatewayParams(Credentials, frozen=True, kw_only=True):
    """Only what is given changes; credentials given replace the old ones whole."""

    id: Id
    name: Name | None = None
    description: Description | msgspec.UnsetType | None = msgspec.UNSET
    url: Url | None = None
    env: Env | None = None  # stdio only: replaces the sealed environment
    # Neither changes (register a new gateway): given, they must equal the gateway's own, so a
    # gateway never turns into a process to start through an update.
    transport: Name | None = None
    command: Command | None = None
    visibility: Name | None = None
    team_id: Id | None = None
    enabled: bool | None = None
    tags: Tags | None = None


class CreateServerParams(msgspec.Struct, frozen=True):
    name: Name
    description: Description | None = None
    associated_tools: Ids = msgspec.field(default_factory=list)
    associated_resources: Ids = msgspec.field(default_factory=list)
    associated_prompts: Ids = msgspec.field(default_factory=list)
    tags: Tags = msgspec.field(default_factory=list)
    visibility: Name | None = None
    team_id: Id | None = None
    original_names: bool = False  # expose tools and prompts under their upstream's names
    aliases: Aliases = msgspec.field(default_factory=dict)  # tool or prompt (id or name) -> name
    # ContextForge's: A2A agents (ids) whose tools join associated_tools
    associated_a2a_agents: Ids = msgspec.field(default_factory=list)


class UpdateServerParams(msgspec.Struct, frozen=True):
    """Only what is given changes; an associated_* list given replaces that list."""

    id: Id
    name: Name | None = None
    description: Description | msgspec.UnsetType | None = msgspec.UNSET
    associated_tools: Ids | None = None
    associated_resources: Ids | None = None
    associated_prompts: Ids | None = None
    tags: Tags | None = None
    visibility: Name | None = None
    team_id: Id | None = None
    enabled: bool | None = None
    original_names: bool | None = None
    aliases: Aliases | None = None  # replaces the aliases whole
    # replaces the agents' tools the server holds (the other tools stay, unless given too)
    associated_a2a_agents: Ids | None = None


class AgentCredentials(Credentials, frozen=True, kw_only=True):
    """The credentials of an A2A agent: those of gateways, and ContextForge's `auth_value` (the
    bearer token, or the value of `auth_header_key`) for its `/a2a` clients."""

    auth_value: Secret | None = None


class CreateAgentParams(AgentCredentials, frozen=True, kw_only=True):
    """Register an A2A agent by its base URL; its card is fetched from there."""

    name: Name
    url: Url = ""
    endpoint_url: Url | None = None  # ContextForge's name for url
    description: Description | None = None  # the card's when not given
    tags: Tags = msgspec.field(default_factory=list)
    timeout_s: float | None = None
    enabled: bool = True
    visibility: Name | None = None  # the registry's default_visibility when not given
    team_id: Id | None = None  # the caller's personal team when not given


class UpdateAgentParams(AgentCredentials, frozen=True, kw_only=True):
    """Only what is given changes; a new url fetches the card again, credentials given replace
    the old ones whole."""

    id: Id
    name: Name | None = None
    url: Url | None = None
    endpoint_url: Url | None = None
    description: Description | msgspec.UnsetType | None = msgspec.UNSET
    tags: Tags | None = None
    timeout_s: float | msgspec.UnsetType | None = msgspec.UNSET
    enabled: bool | None = None
    visibility: Name | None = None
    team_id: Id | None = None


class ToggleAgentParams(msgspec.Struct, frozen=True):
    """Enable or disable an agent (`activate` not given: the other state)."""

    id: Id
    activate: bool | None = None
