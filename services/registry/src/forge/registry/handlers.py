"""Catalog operations: transport-free handlers `(params, ctx) -> result`, and their table.

Every list and get shows the caller only what they can see (forge.registry.ownership); an entry
they cannot see answers exactly as an unknown id.
"""

from __future__ import annotations

from typing import Any

from forge.core.errors import ForbiddenError
from forge.proto.catalog import Snapshot, ToolRecord
from forge.registry import bindings, contents, gateways, ownership, servers
from forge.registry.contents import Kind
from forge.registry.context import Context, Handler
from forge.registry.params import IdParams, decode
from forge.registry.store import MISSING_TOOL

__all__ = ["OPERATIONS", "Context", "Handler"]


async def list_tools(params: bytes, ctx: Context) -> list[ToolRecord]:
    return ownership.seen(ctx.principal, await ctx.store.list_tools())


async def get_tool(params: bytes, ctx: Context) -> ToolRecord:
    tool = await ctx.store.get_tool(decode(IdParams, params).id)
    return ownership.require_visible(ctx.principal, tool, MISSING_TOOL)


async def get_snapshot(params: bytes, ctx: Context) -> Snapshot:
    """The whole catalog, sealed credentials included: for the mesh's own services only."""
    if not ctx.principal.is_admin:
        raise ForbiddenError("the catalog snapshot is for Forge's own services")
    return await ctx.store.snapshot()


def _entries(kind: Kind) -> tuple[Handler, Handler]:
    """The list and get handlers of resources, resource templates or prompts."""

    async def list_all(params: bytes, ctx: Context) -> list[Any]:
        return ownership.seen(ctx.principal, await ctx.store.list_entries(kind))

    async def get_one(params: bytes, ctx: Context) -> Any:
        entry = await ctx.store.get_entry(kind, decode(IdParams, params).id)
        return ownership.require_visible(ctx.principal, entry, kind.missing)

    return list_all, get_one


# (entity, op) → handler: each is served on forge.registry.catalog.<entity>.<op>.
OPERATIONS: dict[tuple[str, str], Handler] = {
    ("gateways", "create"): gateways.create_gateway,
    ("gateways", "list"): gateways.list_gateways,
    ("gateways", "get"): gateways.get_gateway,
    ("gateways", "update"): gateways.update_gateway,
    ("gateways", "delete"): gateways.delete_gateway,
    ("gateways", "refresh"): gateways.refresh_gateway,
    ("secrets", "reseal"): gateways.reseal_secrets,
    ("tools", "list"): list_tools,
    ("tools", "get"): get_tool,
    ("servers", "create"): servers.create_server,
    ("servers", "list"): servers.list_servers,
    ("servers", "get"): servers.get_server,
    ("servers", "update"): servers.update_server,
    ("servers", "delete"): servers.delete_server,
    ("snapshot", "get"): get_snapshot,
    ("plugin_bindings", "create"): bindings.create_binding,
    ("plugin_bindings", "list"): bindings.list_bindings,
    ("plugin_bindings", "get"): bindings.get_binding,
    ("plugin_bindings", "update"): bindings.update_binding,
    ("plugin_bindings", "delete"): bindings.delete_binding,
    ("plugin_bindings", "snapshot"): bindings.snapshot,
}
for _entity, _kind in (
    ("resources", contents.RESOURCES),
    ("resource_templates", contents.TEMPLATES),
    ("prompts", contents.PROMPTS),
):
    OPERATIONS[(_entity, "list")], OPERATIONS[(_entity, "get")] = _entries(_kind)
