"""Catalog operations: transport-free handlers `(params, ctx) -> result` that publish events."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from forge.core import rpc, subjects
from forge.core.bus import Bus
from forge.core.errors import InvalidParamsError, UpstreamBadResponseError
from forge.proto.catalog import Deleted, Gateway, Server, Snapshot, ToolRecord, ToolsChanged
from forge.proto.envelope import Envelope, Principal
from forge.registry.config import RegistryConfig
from forge.registry.params import (
    CreateGatewayParams,
    CreateServerParams,
    DiscoverResult,
    IdParams,
    check_name,
    check_tags,
    check_transport,
    check_url,
    decode,
    slugify,
)
from forge.registry.store import NewTool, Store

log = logging.getLogger("forge.registry")
_ENC = msgspec.json.Encoder()
_DISCOVER = msgspec.json.Decoder(DiscoverResult)


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


async def _discover(ctx: Context, gateway: Gateway) -> tuple[Gateway, list[NewTool]]:
    """Ask the upstream-proxy what the upstream offers; its errors propagate unchanged."""
    envelope = Envelope(
        id=uuid.uuid4().hex,
        method="upstream.discover",
        params=msgspec.Raw(_ENC.encode({"gateway": gateway})),
        principal=ctx.principal,
        deadline=min(ctx.deadline, time.time() + ctx.config.upstream_discover_timeout_s),
    )
    data = await rpc.call(ctx.bus, subjects.upstream(gateway.id, "discover"), envelope)
    try:
        found = _DISCOVER.decode(data)
    except msgspec.DecodeError as exc:
        raise UpstreamBadResponseError("the upstream-proxy sent a malformed discovery") from exc
    discovered = msgspec.structs.replace(
        gateway,
        protocol_version=found.protocol_version,
        capabilities=found.capabilities,
        server_info=found.server_info,
    )
    tools: dict[str, NewTool] = {}
    sep = ctx.config.tool_name_separator
    for tool in found.tools:
        if tool.name in tools:  # a sloppy upstream: keep its first definition
            log.warning("upstream listed a tool twice", extra={"gateway_id": gateway.id})
            continue
        tools[tool.name] = NewTool(uuid.uuid4().hex, f"{gateway.slug}{sep}{tool.name}", tool)
    return discovered, list(tools.values())


async def create_gateway(params: bytes, ctx: Context) -> Gateway:
    p = decode(CreateGatewayParams, params)
    if p.timeout_s is not None and p.timeout_s <= 0:
        raise InvalidParamsError("timeout_s must be positive", {"field": "timeout_s"})
    gateway = Gateway(
        id=uuid.uuid4().hex,
        name=check_name(p.name),
        slug=slugify(p.name),
        url=check_url(p.url),
        transport=check_transport(p.transport),
        description=p.description,
        tags=check_tags(p.tags),
        timeout_s=p.timeout_s,
    )
    gateway, tools = await _discover(ctx, gateway)
    records = await ctx.store.insert_gateway(gateway, tools)
    stored = await ctx.store.get_gateway(gateway.id)
    await _publish(ctx, "gateways", "changed", stored)
    await _publish(ctx, "tools", "changed", ToolsChanged(gateway_id=stored.id, tools=records))
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
    await _servers_changed(ctx, servers)
    return {"id": gateway_id, "deleted": True}


async def refresh_gateway(params: bytes, ctx: Context) -> dict[str, Any]:
    gateway = await ctx.store.get_gateway(decode(IdParams, params).id)
    gateway, tools = await _discover(ctx, gateway)
    replaced = await ctx.store.replace_tools(gateway, tools)
    await _publish(ctx, "gateways", "changed", await ctx.store.get_gateway(gateway.id))
    await _publish(ctx, "tools", "changed", ToolsChanged(gateway.id, replaced.tools))
    await _servers_changed(ctx, replaced.servers)
    return {
        "gateway_id": gateway.id,
        "tools": len(replaced.tools),
        "added": replaced.added,
        "removed": replaced.removed,
        "updated": replaced.updated,
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
        tags=check_tags(p.tags),
    )
    stored = await ctx.store.insert_server(server)
    await _publish(ctx, "servers", "changed", stored)
    return stored


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
