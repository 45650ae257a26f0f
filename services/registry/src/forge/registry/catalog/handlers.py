"""Catalog operations: transport-free handlers `(params, ctx) -> result`, and their table.

Every list and get shows the caller only what they can see (`ownership`); an entry they cannot
see answers exactly as an unknown id.
"""

from __future__ import annotations

from typing import Any

import msgspec

from forge.core import claims
from forge.core.errors import ForbiddenError
from forge.core.operations import Operation, bare, operation
from forge.proto.catalog import Snapshot, ToolRecord
from forge.proto.catalog_params import (
    CreateAgentParams,
    CreateGatewayParams,
    CreateServerParams,
    IdParams,
    ToggleAgentParams,
    ToolsPageParams,
    UpdateAgentParams,
    UpdateGatewayParams,
    UpdateServerParams,
)
from forge.proto.plugins import (
    CreatePluginBindingParams,
    ListPluginBindingsParams,
    UpdatePluginBindingParams,
)
from forge.registry.catalog import (
    agents,
    bindings,
    card_refresh,
    contents,
    gateways,
    metrics,
    ownership,
    servers,
)
from forge.registry.catalog.contents import Kind
from forge.registry.catalog.operation import Context
from forge.registry.catalog.store import MISSING_TOOL

__all__ = ["OPERATIONS", "Context"]
# The most bytes of tools one `catalog.tools.page` answer holds.
PAGE_BYTES = 8 * 1024 * 1024


async def list_tools(params: None, ctx: Context) -> list[ToolRecord]:
    return ownership.seen(ctx.principal, await ctx.store.list_tools())


async def get_tool(params: IdParams, ctx: Context) -> ToolRecord:
    tool = await ctx.store.get_tool(params.id)
    return ownership.require_visible(ctx.principal, tool, MISSING_TOOL)


async def get_snapshot(params: None, ctx: Context) -> Snapshot:
    """The whole catalog, sealed credentials included: for the mesh's own services only."""
    if not ctx.principal.is_admin:
        raise ForbiddenError("the catalog snapshot is for Forge's own services")
    return await ctx.store.snapshot()


async def tools_page(params: ToolsPageParams, ctx: Context) -> dict[str, Any]:
    """A page of one gateway's (or agent's) tools (a `ToolsPage`, its records passed through
    as PostgreSQL built them), whoever may see them: for the mesh's own caches, which follow a
    `paged` tools.changed event with it."""
    if not ctx.principal.is_admin:
        raise ForbiddenError("the tools' pages are for Forge's own services")
    # Large definitions make fewer tools a page: an answer stays well within what the bus
    # carries in one message.
    budget = min(PAGE_BYTES, claims.MAX_MESSAGE_BYTES // 4)
    limit = params.limit
    while True:
        tools, after = await ctx.store.tools_page(params.gateway_id, params.after, limit)
        if len(tools) <= budget or limit == 1:
            return {"tools": msgspec.Raw(tools), "next": after}
        limit = max(1, limit // 4)


def _entries(kind: Kind) -> tuple[Operation[Context], Operation[Context]]:
    """The list and get handlers of resources, resource templates or prompts."""

    async def list_all(params: None, ctx: Context) -> list[Any]:
        return ownership.seen(ctx.principal, await ctx.store.list_entries(kind))

    async def get_one(params: IdParams, ctx: Context) -> Any:
        entry = await ctx.store.get_entry(kind, params.id)
        return ownership.require_visible(ctx.principal, entry, kind.missing)

    return bare(list_all), operation(IdParams, get_one)


# (entity, op) → handler: each is served on forge.registry.catalog.<entity>.<op>.
OPERATIONS: dict[tuple[str, str], Operation[Context]] = {
    ("gateways", "create"): operation(CreateGatewayParams, gateways.create_gateway),
    ("gateways", "list"): bare(gateways.list_gateways),
    ("gateways", "get"): operation(IdParams, gateways.get_gateway),
    ("gateways", "update"): operation(UpdateGatewayParams, gateways.update_gateway),
    ("gateways", "delete"): operation(IdParams, gateways.delete_gateway),
    ("gateways", "refresh"): operation(IdParams, gateways.refresh_gateway),
    ("secrets", "reseal"): bare(gateways.reseal_secrets),
    ("tools", "list"): bare(list_tools),
    ("tools", "get"): operation(IdParams, get_tool),
    ("tools", "page"): operation(ToolsPageParams, tools_page),
    ("servers", "create"): operation(CreateServerParams, servers.create_server),
    ("servers", "list"): bare(servers.list_servers),
    ("servers", "get"): operation(IdParams, servers.get_server),
    ("servers", "update"): operation(UpdateServerParams, servers.update_server),
    ("servers", "delete"): operation(IdParams, servers.delete_server),
    ("agents", "create"): operation(CreateAgentParams, agents.create_agent),
    ("agents", "list"): bare(agents.list_agents),
    ("agents", "get"): operation(IdParams, agents.get_agent),
    ("agents", "update"): operation(UpdateAgentParams, agents.update_agent),
    ("agents", "toggle"): operation(ToggleAgentParams, agents.toggle_agent),
    ("agents", "refresh"): operation(IdParams, card_refresh.refresh_now),
    ("agents", "delete"): operation(IdParams, agents.delete_agent),
    ("snapshot", "get"): bare(get_snapshot),
    ("plugin_bindings", "create"): operation(CreatePluginBindingParams, bindings.create_binding),
    ("plugin_bindings", "list"): operation(ListPluginBindingsParams, bindings.list_bindings),
    ("plugin_bindings", "get"): operation(IdParams, bindings.get_binding),
    ("plugin_bindings", "update"): operation(UpdatePluginBindingParams, bindings.update_binding),
    ("plugin_bindings", "delete"): operation(IdParams, bindings.delete_binding),
    ("plugin_bindings", "snapshot"): bare(bindings.snapshot),
}
for _entity, _kind in (
    ("resources", contents.RESOURCES),
    ("resource_templates", contents.TEMPLATES),
    ("prompts", contents.PROMPTS),
):
    OPERATIONS[(_entity, "list")], OPERATIONS[(_entity, "get")] = _entries(_kind)
OPERATIONS.update(metrics.OPERATIONS)  # metrics.summary, metrics.get, metrics.reset
