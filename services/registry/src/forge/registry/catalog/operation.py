"""What every catalog operation shares: its context, and the change events it publishes."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec

from forge.core import subjects
from forge.core.bus import Bus
from forge.core.errors import ServiceUnavailableError
from forge.core.netguard import NetGuard
from forge.proto.catalog import (
    INLINE_TOOLS,
    TOOLS_CHUNK,
    PromptsChanged,
    ResourcesChanged,
    ToolRecord,
    ToolsChanged,
)
from forge.proto.envelope import Principal
from forge.registry.catalog.contents import Stored
from forge.registry.catalog.store import Store
from forge.registry.config import RegistryConfig

_ENC = msgspec.json.Encoder()


@dataclass(frozen=True)
class Context:
    """What one request's handler may use: the caller, its deadline, the store and the bus."""

    bus: Bus
    store: Store
    config: RegistryConfig
    principal: Principal
    deadline: float


@functools.cache
def _guard(allowed: str) -> NetGuard:
    return NetGuard(allowed)


def net_guard(ctx: Context) -> NetGuard:
    """The SSRF guard of the operator's FORGE_UPSTREAM_ALLOWED_NETWORKS."""
    try:
        return _guard(ctx.config.upstream_allowed_networks)
    except ValueError as exc:
        raise ServiceUnavailableError(f"FORGE_UPSTREAM_ALLOWED_NETWORKS: {exc}") from exc


async def publish(ctx: Context, entity: str, kind: str, body: Any) -> None:
    await ctx.bus.publish(subjects.event(subjects.CATALOG, entity, kind), _ENC.encode(body))


async def servers_changed(ctx: Context, server_ids: list[str]) -> None:
    for server_id in server_ids:
        await publish(ctx, "servers", "changed", await ctx.store.get_server(server_id))


async def contents_changed(ctx: Context, gateway_id: str, stored: Stored) -> None:
    changed = ResourcesChanged(gateway_id, stored.resources, stored.templates)
    await publish(ctx, "resources", "changed", changed)
    await publish(ctx, "prompts", "changed", PromptsChanged(gateway_id, stored.prompts))


async def offers_changed(ctx: Context, gateway_id: str) -> None:
    """Announce everything the gateway offers, as stored now."""
    count = await ctx.store.count_tools(gateway_id)
    records = await ctx.store.gateway_tools(gateway_id) if count <= INLINE_TOOLS else None
    await tools_changed(ctx, gateway_id, records, count)
    await contents_changed(ctx, gateway_id, await ctx.store.gateway_contents(gateway_id))


async def tools_changed(
    ctx: Context, gateway_id: str, records: list[ToolRecord] | None, count: int
) -> None:
    """Announce the gateway's tools: `records` (all of them) in one event while they are at
    most INLINE_TOOLS, else in chunks of TOOLS_CHUNK read from the database (one snapshot),
    passed through as PostgreSQL writes them: no message holds a large set, nothing here
    holds more than a chunk."""
    if records is not None and len(records) <= INLINE_TOOLS:
        await publish(ctx, "tools", "changed", ToolsChanged(gateway_id=gateway_id, tools=records))
        return
    change = uuid.uuid4().hex
    subject = subjects.event(subjects.CATALOG, "tools", "changed")
    chunk = 0
    async for tools, final in ctx.store.tool_chunks(gateway_id, TOOLS_CHUNK):
        body = {
            "gateway_id": gateway_id,
            "tools": msgspec.Raw(tools),
            "change": change,
            "chunk": chunk,
            "final": final,
            "count": count,
        }
        await ctx.bus.publish(subject, _ENC.encode(body))
        chunk += 1
