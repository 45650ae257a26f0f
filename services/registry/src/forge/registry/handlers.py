"""Catalog operations: transport-free handlers `(params, ctx) -> result` that publish events."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from forge.core import subjects
from forge.core.bus import Bus
from forge.core.errors import InvalidParamsError
from forge.proto.catalog import (
    Deleted,
    Gateway,
    PromptsChanged,
    ResourcesChanged,
    Server,
    Snapshot,
    ToolRecord,
    ToolsChanged,
)
from forge.proto.envelope import Principal
from forge.registry import contents
from forge.registry.config import RegistryConfig
from forge.registry.contents import Kind, Stored
from forge.registry.discovery import discover
from forge.registry.params import (
    CreateGatewayParams,
    CreateServerParams,
    IdParams,
    check_endpoint,
    check_name,
    check_tags,
    check_transport,
    decode,
    slugify,
)
from forge.registry.store import Store

log = logging.getLogger("forge.registry")
_ENC = msgspec.json.Encoder()


@dataclass(frozen=True)
class Context:
    """What one request's handler may use: the caller, its deadline, the store and the bus."""

    bus: Bus
    store: Store
    config: RegistryConfig
    principal: Principal
    deadline: float


Handler = Callable[[bytes, Context], Awaitable[Any]]


async def _publish(ctx: Context, entity: str, kind: str, body: Any) -> None:
    await ctx.bus.publish(subjects.event(subjects.CATALOG, entity, kind), _ENC.encode(body))


async def _servers_changed(ctx: Context, server_ids: list[str]) -> None:
    for server_id in server_ids:
        await _publish(ctx, "servers", "changed", await ctx.store.get_server(server_id))


async def _contents_changed(ctx: Context, gateway_id: str, stored: Stored) -> None:
    changed = ResourcesChanged(gateway_id, stored.resources, stored.templates)
    await _publish(ctx, "resources", "changed", changed)
    await _publish(ctx, "prompts", "changed", PromptsChanged(gateway_id, stored.prompts))


async def create_gateway(params: bytes, ctx: Context) -> Gateway:
    p = decode(CreateGatewayParams, params)
    if p.timeout_s is not None and p.timeout_s <= 0:
        raise InvalidParamsError("timeout_s must be positive", {"field": "timeout_s"})
    transport = check_transport(p.transport)
    url, command = check_endpoint(transport, p)
    gateway = Gateway(
        id=uuid.uuid4().hex,
        name=check_name(p.name),
        slug=slugify(p.name),
        url=url,
        transport=transport,
        description=p.description,
        tags=check_tags(p.tags),
        timeout_s=p.timeout_s,
        command=command,
        env=p.env,
    )
    gateway, tools, found = await discover(ctx, gateway)
    records = await ctx.store.insert_gateway(gateway, tools, found)
    stored = await ctx.store.get_gateway(gateway.id)
    await _publish(ctx, "gateways", "changed", stored)
    await _publish(ctx, "tools", "changed", ToolsChanged(gateway_id=stored.id, tools=records))
    await _contents_changed(ctx, stored.id, await ctx.store.gateway_contents(stored.id))
    return stored


async def list_gateways(params: bytes, ctx: Context) -> list[Gateway]:
    return await ctx.store.list_gateways()


async def get_gateway(params: bytes, ctx: Context) -> Gateway:
    return await ctx.store.get_gateway(decode(IdParams, params).id)


async def delete_gateway(params: bytes, ctx: Context) -> dict[str, Any]:
    gateway_id = decode(IdParams, params).id
    servers = await ctx.store.delete_gateway(gateway_id)
    await _publish(ctx, "gateways", "deleted", Deleted(id=gateway_id))
    await _publish(ctx, "tools", "changed", ToolsChanged(gateway_id=gateway_id, tools=[]))
    await _contents_changed(ctx, gateway_id, Stored())
    await _servers_changed(ctx, servers)
    return {"id": gateway_id, "deleted": True}


async def refresh_gateway(params: bytes, ctx: Context) -> dict[str, Any]:
    gateway = await ctx.store.get_gateway(decode(IdParams, params).id)
    gateway, tools, found = await discover(ctx, gateway)
    replaced = await ctx.store.replace_tools(gateway, tools, found)
    await _publish(ctx, "gateways", "changed", await ctx.store.get_gateway(gateway.id))
    await _publish(ctx, "tools", "changed", ToolsChanged(gateway.id, replaced.tools))
    await _contents_changed(ctx, gateway.id, replaced.contents)
    await _servers_changed(ctx, replaced.servers)
    return {
        "gateway_id": gateway.id,
        "tools": len(replaced.tools),
        "added": replaced.added,
        "removed": replaced.removed,
        "updated": replaced.updated,
        "resources": len(replaced.contents.resources),
        "resource_templates": len(replaced.contents.templates),
        "prompts": len(replaced.contents.prompts),
    }


async def list_tools(params: bytes, ctx: Context) -> list[ToolRecord]:
    return await ctx.store.list_tools()


async def get_tool(params: bytes, ctx: Context) -> ToolRecord:
    return await ctx.store.get_tool(decode(IdParams, params).id)


async def create_server(params: bytes, ctx: Context) -> Server:
    p = decode(CreateServerParams, params)
    refs = list(dict.fromkeys(p.associated_tools))  # once each, in the order given
    known = await ctx.store.resolve_tools(refs)
    for ref in refs:
        if ref not in known:
            raise InvalidParamsError(f"unknown tool in associated_tools: {ref}", {"tool": ref})
    server = Server(
        id=uuid.uuid4().hex,
        name=check_name(p.name),
        description=p.description,
        associated_tools=list(dict.fromkeys(known[ref] for ref in refs)),
        associated_resources=await _associated(
            ctx, (contents.RESOURCES, contents.TEMPLATES), p.associated_resources, "resource"
        ),
        associated_prompts=await _associated(
            ctx, (contents.PROMPTS,), p.associated_prompts, "prompt"
        ),
        tags=check_tags(p.tags),
    )
    stored = await ctx.store.insert_server(server)
    await _publish(ctx, "servers", "changed", stored)
    return stored


async def _associated(
    ctx: Context, kinds: tuple[Kind, ...], given: list[str], what: str
) -> list[str]:
    """The ids of the given refs, once each in order; an unknown ref is invalid params."""
    refs = list(dict.fromkeys(given))
    known = await ctx.store.resolve_entries(kinds, refs)
    for ref in refs:
        if ref not in known:
            raise InvalidParamsError(f"unknown {what} in associated_{what}s: {ref}", {what: ref})
    return list(dict.fromkeys(known[ref] for ref in refs))


async def list_servers(params: bytes, ctx: Context) -> list[Server]:
    return await ctx.store.list_servers()


async def get_server(params: bytes, ctx: Context) -> Server:
    return await ctx.store.get_server(decode(IdParams, params).id)


async def delete_server(params: bytes, ctx: Context) -> dict[str, Any]:
    server_id = decode(IdParams, params).id
    await ctx.store.delete_server(server_id)
    await _publish(ctx, "servers", "deleted", Deleted(id=server_id))
    return {"id": server_id, "deleted": True}


async def get_snapshot(params: bytes, ctx: Context) -> Snapshot:
    return await ctx.store.snapshot()


def _entries(kind: Kind) -> tuple[Handler, Handler]:
    """The list and get handlers of resources, resource templates or prompts."""

    async def list_all(params: bytes, ctx: Context) -> list[Any]:
        return await ctx.store.list_entries(kind)

    async def get_one(params: bytes, ctx: Context) -> Any:
        return await ctx.store.get_entry(kind, decode(IdParams, params).id)

    return list_all, get_one


# (entity, op) → handler: each is served on forge.registry.catalog.<entity>.<op>.
OPERATIONS: dict[tuple[str, str], Handler] = {
    ("gateways", "create"): create_gateway,
    ("gateways", "list"): list_gateways,
    ("gateways", "get"): get_gateway,
    ("gateways", "delete"): delete_gateway,
    ("gateways", "refresh"): refresh_gateway,
    ("tools", "list"): list_tools,
    ("tools", "get"): get_tool,
    ("servers", "create"): create_server,
    ("servers", "list"): list_servers,
    ("servers", "get"): get_server,
    ("servers", "delete"): delete_server,
    ("snapshot", "get"): get_snapshot,
}
for _entity, _kind in (
    ("resources", contents.RESOURCES),
    ("resource_templates", contents.TEMPLATES),
    ("prompts", contents.PROMPTS),
):
    OPERATIONS[(_entity, "list")], OPERATIONS[(_entity, "get")] = _entries(_kind)
