"""Catalog entities as the registry serves them and caches hold them."""

from __future__ import annotations

from typing import Any

import msgspec

from forge.proto.mcp import Prompt, Resource, ResourceTemplate, Tool


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
    created_at: str | None = None
    updated_at: str | None = None


class ToolRecord(msgspec.Struct, frozen=True):
    """A tool in the catalog: the upstream's tool plus where it lives and how it is exposed."""

    id: str
    name: str  # exposed name, unique across the catalog
    original_name: str  # the upstream's own name
    gateway_id: str
    tool: Tool
    enabled: bool = True
    created_at: str | None = None
    updated_at: str | None = None


class DiscoverResult(msgspec.Struct, frozen=True):
    """What the upstream-proxy learnt from an upstream: handshake, then every list, all pages."""

    protocol_version: str
    capabilities: dict[str, Any] = msgspec.field(default_factory=dict)
    server_info: dict[str, Any] = msgspec.field(default_factory=dict)
    tools: list[Tool] = msgspec.field(default_factory=list)
    resources: list[Resource] = msgspec.field(default_factory=list)
    resource_templates: list[ResourceTemplate] = msgspec.field(default_factory=list)
    prompts: list[Prompt] = msgspec.field(default_factory=list)


class Server(msgspec.Struct, frozen=True):
    """A virtual server: a named composition of catalog tools with its own endpoint."""

    id: str
    name: str
    description: str | None = None
    associated_tools: list[str] = msgspec.field(default_factory=list)  # tool ids
    enabled: bool = True
    tags: list[str] = msgspec.field(default_factory=list)
    created_at: str | None = None
    updated_at: str | None = None


class Snapshot(msgspec.Struct, frozen=True):
    """The whole catalog at one instant: what a cache loads at start."""

    gateways: list[Gateway]
    tools: list[ToolRecord]
    servers: list[Server]


class ToolsChanged(msgspec.Struct, frozen=True):
    """Event body: the full current tool set of one gateway."""

    gateway_id: str
    tools: list[ToolRecord]


class Deleted(msgspec.Struct, frozen=True):
    """Event body: an entity that no longer exists."""

    id: str
