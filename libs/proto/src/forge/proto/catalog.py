"""Catalog entities as the registry serves them and caches hold them."""

from __future__ import annotations

from typing import Any

import msgspec

from forge.proto.agents import Agent
from forge.proto.mcp import Prompt, Resource, ResourceTemplate, Tool

# The canonical upstream transports, keyed by every spelling accepted (ContextForge's included).
TRANSPORTS = {
    "streamablehttp": "streamablehttp",
    "http": "streamablehttp",
    "sse": "sse",
    "websocket": "websocket",
    "ws": "websocket",
    "stdio": "stdio",
}


def canonical_transport(spelling: str) -> str | None:
    """`STREAMABLEHTTP`, `streamable-http`, `http`, ... → `streamablehttp`; None if unknown."""
    return TRANSPORTS.get(spelling.strip().lower().replace("-", "").replace("_", ""))


class UpstreamAuth(msgspec.Struct, frozen=True, omit_defaults=True):
    """How Forge authenticates to one upstream. Held only sealed (forge.core.sealing) in
    `Gateway.auth`; opened by the upstream-proxy alone; never logged, never returned by the API.

    `type` is one of: none, basic, bearer, headers, query_param, oauth_client_credentials,
    oauth_authorization_code (per-user tokens, PKCE), token_exchange (RFC 8693, on behalf of the
    calling user). The mTLS client certificate fields combine with any type (or `type: mtls`).
    """

    type: str = "none"
    username: str | None = None  # basic
    password: str | None = None  # basic
    token: str | None = None  # bearer
    headers: dict[str, str] = msgspec.field(default_factory=dict)  # headers (custom)
    query_param: str | None = None  # query_param: name ...
    query_value: str | None = None  # ... and value
    client_cert_pem: str | None = None  # mTLS client certificate (PEM) ...
    client_key_pem: str | None = None  # ... its private key (PEM)
    ca_pem: str | None = None  # CA bundle that verifies the upstream (PEM), if not the system's
    token_url: str | None = None  # OAuth: token endpoint
    authorize_url: str | None = None  # OAuth authorization code: authorization endpoint
    client_id: str | None = None
    client_secret: str | None = None
    scopes: list[str] = msgspec.field(default_factory=list)
    audience: str | None = None  # token exchange: `audience`; client credentials: optional
    resource: str | None = None  # RFC 8707 resource indicator sent to the token endpoint
    # token exchange: the type of the token requested (RFC 8693 §3)
    requested_token_type: str = "urn:ietf:params:oauth:token-type:access_token"
    # env values of stdio gateways (they may be credentials), sealed with the rest
    env: dict[str, str] = msgspec.field(default_factory=dict)


AUTH_TYPES = (
    "none",
    "basic",
    "bearer",
    "headers",
    "query_param",
    "mtls",
    "oauth_client_credentials",
    "oauth_authorization_code",
    "token_exchange",
)

VISIBILITIES = ("private", "team", "public")


class Gateway(msgspec.Struct, frozen=True):
    """A registered upstream MCP server."""

    id: str
    name: str
    slug: str
    url: str
    transport: str = "streamablehttp"
    description: str | None = None
    enabled: bool = True
    reachable: bool = True
    protocol_version: str | None = None
    capabilities: dict[str, Any] = msgspec.field(default_factory=dict)
    server_info: dict[str, Any] = msgspec.field(default_factory=dict)
    timeout_s: float | None = None
    tags: list[str] = msgspec.field(default_factory=list)
    owner: str | None = None  # the creating user's email
    team_id: str | None = None
    visibility: str = "public"  # private | team | public (forge.proto.access.can_see)
    created_at: str | None = None
    updated_at: str | None = None
    # stdio only: the child's argv, and the only environment it gets besides PATH, HOME, LANG.
    command: list[str] | None = None
    env: dict[str, str] = msgspec.field(default_factory=dict)
    auth_type: str = "none"  # UpstreamAuth.type; the only part of the credentials anyone sees
    auth: str | None = None  # sealed UpstreamAuth (JSON), context = gateway id


class ToolRecord(msgspec.Struct, frozen=True):
    """A tool in the catalog: the upstream's tool plus where it lives and how it is exposed."""

    id: str
    name: str  # exposed name, unique across the catalog
    original_name: str  # the upstream's own name
    gateway_id: str
    tool: Tool
    enabled: bool = True
    owner: str | None = None  # the creating user's email
    team_id: str | None = None
    visibility: str = "public"  # private | team | public (forge.proto.access.can_see)
    created_at: str | None = None
    updated_at: str | None = None


class ResourceRecord(msgspec.Struct, frozen=True):
    """A resource in the catalog: exposed under the upstream's own uri."""

    id: str
    uri: str
    gateway_id: str
    resource: Resource
    enabled: bool = True
    owner: str | None = None  # the creating user's email
    team_id: str | None = None
    visibility: str = "public"  # private | team | public (forge.proto.access.can_see)
    created_at: str | None = None
    updated_at: str | None = None


class TemplateRecord(msgspec.Struct, frozen=True):
    """A resource template in the catalog: exposed under the upstream's own uriTemplate."""

    id: str
    uri_template: str
    gateway_id: str
    template: ResourceTemplate
    enabled: bool = True
    owner: str | None = None  # the creating user's email
    team_id: str | None = None
    visibility: str = "public"  # private | team | public (forge.proto.access.can_see)
    created_at: str | None = None
    updated_at: str | None = None


class PromptRecord(msgspec.Struct, frozen=True):
    """A prompt in the catalog: the upstream's prompt under a catalog-unique exposed name."""

    id: str
    name: str  # exposed name: <gateway slug><separator><upstream prompt name>
    original_name: str
    gateway_id: str
    prompt: Prompt
    enabled: bool = True
    owner: str | None = None  # the creating user's email
    team_id: str | None = None
    visibility: str = "public"  # private | team | public (forge.proto.access.can_see)
    created_at: str | None = None
    updated_at: str | None = None


# The one bound of a gateway's catalog: each of its lists (tools, resources, templates, prompts)
# ends at this many entries (an upstream handing out cursors forever stops there; decision 0034).
MAX_LIST_ENTRIES = 1_000_000
# The most entries one streamed discovery page carries (`DiscoverPage`), whatever the
# upstream's own page size: no message holds a whole large list.
DISCOVER_PAGE_ENTRIES = 1_000
# A `tools.changed` event carries the gateway's tools up to this many; a larger set is
# announced in chunks of TOOLS_CHUNK tools (`ToolsChanged.chunk`).
INLINE_TOOLS = 1_000
TOOLS_CHUNK = 1_000
# The most tools one `catalog.tools.page` answer holds (fewer when their definitions are large).
TOOLS_PAGE_SIZE = 10_000


class DiscoverCounts(msgspec.Struct, frozen=True):
    """How much a streamed discovery sent: the reply's check that every page arrived."""

    pages: int
    tools: int = 0
    resources: int = 0
    resource_templates: int = 0
    prompts: int = 0


class DiscoverResult(msgspec.Struct, frozen=True):
    """What the upstream-proxy learnt from an upstream: handshake, then every list, all pages.

    A streamed discovery (`DiscoverParams.streamed`) has its lists sent as `DiscoverPage`s
    before this reply, which then holds none of them and counts them in `streamed`."""

    protocol_version: str
    capabilities: dict[str, Any] = msgspec.field(default_factory=dict)
    server_info: dict[str, Any] = msgspec.field(default_factory=dict)
    tools: list[Tool] = msgspec.field(default_factory=list)
    resources: list[Resource] = msgspec.field(default_factory=list)
    resource_templates: list[ResourceTemplate] = msgspec.field(default_factory=list)
    prompts: list[Prompt] = msgspec.field(default_factory=list)
    streamed: DiscoverCounts | None = None


class DiscoverPage(msgspec.Struct, frozen=True, omit_defaults=True):
    """One piece of a streamed discovery, a request on `forge.discover.<request id>` (in order,
    `seq` from 0; the next is sent once this one is answered `{}`): at most
    DISCOVER_PAGE_ENTRIES entries of the lists, in the upstream's order."""

    seq: int
    tools: list[Tool] = msgspec.field(default_factory=list)
    resources: list[Resource] = msgspec.field(default_factory=list)
    resource_templates: list[ResourceTemplate] = msgspec.field(default_factory=list)
    prompts: list[Prompt] = msgspec.field(default_factory=list)


class Server(msgspec.Struct, frozen=True):
    """A virtual server: a named composition of catalog entries with its own endpoint."""

    id: str
    name: str
    description: str | None = None
    associated_tools: list[str] = msgspec.field(default_factory=list)  # tool ids
    # ids of resources and of resource templates (ids are unique across both tables)
    associated_resources: list[str] = msgspec.field(default_factory=list)
    associated_prompts: list[str] = msgspec.field(default_factory=list)  # prompt ids
    enabled: bool = True
    tags: list[str] = msgspec.field(default_factory=list)
    owner: str | None = None  # the creating user's email
    team_id: str | None = None
    visibility: str = "public"  # private | team | public (forge.proto.access.can_see)
    created_at: str | None = None
    updated_at: str | None = None
    # How the server's endpoint names its tools and prompts: by default their catalog names
    # (`<gateway slug>-<name>`, unique gateway-wide); with original_names, the upstream's own
    # names; an alias (by tool or prompt id) wins over both. Unique per kind within the server.
    original_names: bool = False
    aliases: dict[str, str] = msgspec.field(default_factory=dict)

    def exposed(self, entry_id: str, catalog_name: str, original_name: str) -> str:
        """The name this server's endpoint gives a tool or prompt it holds."""
        alias = self.aliases.get(entry_id)
        if alias is not None:
            return alias
        return original_name if self.original_names else catalog_name


class Snapshot(msgspec.Struct, frozen=True):
    """The whole catalog at one instant: what a cache loads at start."""

    gateways: list[Gateway]
    tools: list[ToolRecord]
    servers: list[Server]
    resources: list[ResourceRecord] = msgspec.field(default_factory=list)
    resource_templates: list[TemplateRecord] = msgspec.field(default_factory=list)
    prompts: list[PromptRecord] = msgspec.field(default_factory=list)
    # A2A agents (forge.proto.agents); each enabled one also has its tool among `tools`.
    agents: list[Agent] = msgspec.field(default_factory=list)


class LeanSnapshot(msgspec.Struct, frozen=True):
    """`Snapshot` as a lean cache decodes it (its tools `LeanToolRecord`s)."""

    gateways: list[Gateway]
    tools: list[LeanToolRecord]
    servers: list[Server]
    resources: list[ResourceRecord] = msgspec.field(default_factory=list)
    resource_templates: list[TemplateRecord] = msgspec.field(default_factory=list)
    prompts: list[PromptRecord] = msgspec.field(default_factory=list)
    agents: list[Agent] = msgspec.field(default_factory=list)


class ToolsChanged(msgspec.Struct, frozen=True, omit_defaults=True):
    """Event body: the full current tool set of one gateway, in one message while it has at
    most INLINE_TOOLS tools. A larger set comes in chunks: events of one `change` numbered by
    `chunk` from 0, each of at most TOOLS_CHUNK tools, the last one `final`; a cache swaps the
    set in at the final chunk, and reads it with `catalog.tools.page` instead when a chunk went
    missing. `paged`: the event holds none of the tools, a cache reads them that way."""

    gateway_id: str
    tools: list[ToolRecord]
    change: str | None = None
    chunk: int | None = None
    final: bool = False
    paged: bool = False
    count: int | None = None  # how many tools the gateway has (given when chunked or paged)


# What a lean cache reads where a tool lists no input schema (MCP requires one).
_OBJECT_SCHEMA = b'{"type":"object"}'
_NULL = msgspec.Raw(b"null")


class LeanTool(msgspec.Struct, frozen=True, omit_defaults=True):
    """A `Tool` as a cache that forwards it holds it (decision 0034): the same JSON, its
    schemas kept as the undecoded bytes they arrived as (`msgspec.Raw`, encoded back as they
    are), decoded only by a hop that reads them. Raw values refer to the message they were
    decoded from: the records of one message keep its buffer."""

    name: str
    inputSchema: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(_OBJECT_SCHEMA))
    title: str | None = None
    description: str | None = None
    outputSchema: msgspec.Raw = _NULL  # JSON null: none given
    annotations: dict[str, Any] | None = None
    icons: list[dict[str, Any]] | None = None
    execution: dict[str, Any] | None = None
    _meta: dict[str, Any] | None = msgspec.field(default=None, name="_meta")


class LeanToolRecord(msgspec.Struct, frozen=True):
    """A `ToolRecord` with a `LeanTool`: what the router's catalog cache holds."""

    id: str
    name: str
    original_name: str
    gateway_id: str
    tool: LeanTool
    enabled: bool = True
    owner: str | None = None
    team_id: str | None = None
    visibility: str = "public"
    created_at: str | None = None
    updated_at: str | None = None


class LeanToolsChanged(msgspec.Struct, frozen=True):
    """`ToolsChanged` as a lean cache decodes it."""

    gateway_id: str
    tools: list[LeanToolRecord]
    change: str | None = None
    chunk: int | None = None
    final: bool = False
    paged: bool = False
    count: int | None = None


class LeanToolsPage(msgspec.Struct, frozen=True):
    """`ToolsPage` as a lean cache decodes it."""

    tools: list[LeanToolRecord]
    next: str | None = None


class ToolsPage(msgspec.Struct, frozen=True):
    """`catalog.tools.page`: one gateway's tools in upstream-name order after
    `ToolsPageParams.after`; `next` is where to continue (an upstream name), None at the end."""

    tools: list[ToolRecord]
    next: str | None = None


class ResourcesChanged(msgspec.Struct, frozen=True):
    """Event body: the full current resources and resource templates of one gateway."""

    gateway_id: str
    resources: list[ResourceRecord]
    resource_templates: list[TemplateRecord]


class PromptsChanged(msgspec.Struct, frozen=True):
    """Event body: the full current prompt set of one gateway."""

    gateway_id: str
    prompts: list[PromptRecord]


class Deleted(msgspec.Struct, frozen=True):
    """Event body: an entity that no longer exists."""

    id: str
