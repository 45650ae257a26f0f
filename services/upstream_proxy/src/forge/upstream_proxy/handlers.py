"""Handlers: forward one MCP request to a gateway, and discover a gateway's tools."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import msgspec

from forge.core.errors import (
    DeadlineExceededError,
    InvalidParamsError,
    UpstreamBadResponseError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from forge.proto.catalog import Gateway
from forge.proto.envelope import Envelope
from forge.proto.mcp import LIST_TOOLS_RESULT_DECODER, Tool
from forge.upstream_proxy.eras import complete_result
from forge.upstream_proxy.gateways import Gateways
from forge.upstream_proxy.sessions import Pool, UpstreamSession

# Answer this long before the envelope's deadline: the router stops waiting 0.05 s before it,
# and our reply still has to cross NATS to get there.
REPLY_MARGIN_S = 0.1
# A misbehaving upstream that hands out cursors forever must not keep discovery busy forever.
MAX_TOOL_PAGES = 100
TRANSPORTS = frozenset({"streamablehttp", "streamable-http", "http"})


class DiscoverParams(msgspec.Struct, frozen=True):
    gateway: Gateway


class DiscoverResult(msgspec.Struct, frozen=True):
    protocol_version: str
    capabilities: dict[str, Any]
    server_info: dict[str, Any]
    tools: list[Tool]


_DISCOVER_PARAMS = msgspec.json.Decoder(DiscoverParams)
_ENC = msgspec.json.Encoder()


@dataclass
class Context:
    gateways: Gateways
    pool: Pool


def _budget(envelope: Envelope, gateway: Gateway) -> float:
    budget = envelope.deadline - time.time() - REPLY_MARGIN_S
    if gateway.timeout_s is not None:
        budget = min(budget, gateway.timeout_s)
    if budget <= 0:
        raise DeadlineExceededError(f"no time left to call gateway {gateway.name!r}")
    return budget


def _check_transport(gateway: Gateway) -> None:
    if gateway.transport.lower() not in TRANSPORTS:
        raise UpstreamUnavailableError(
            f"gateway {gateway.name!r} uses transport {gateway.transport!r}, "
            "which this upstream-proxy does not speak yet"
        )


async def call(envelope: Envelope, gateway_id: str, ctx: Context) -> bytes:
    """Send `envelope.method` with its params to the gateway; return the result bytes."""
    gateway = ctx.gateways.get(gateway_id) or await ctx.gateways.fetch(
        gateway_id, envelope.deadline
    )
    _check_transport(gateway)
    session = ctx.pool.get(gateway)
    try:
        async with asyncio.timeout(_budget(envelope, gateway)):
            result = await session.request(envelope.method, bytes(envelope.params))
    except TimeoutError as exc:
        raise UpstreamTimeoutError(f"gateway {gateway.name!r} did not answer in time") from exc
    # A modern client validates results strictly; a legacy upstream omits the modern fields.
    client_modern = envelope.protocol is None or envelope.protocol.era == "modern"
    if client_modern and session.era == "legacy":
        result = complete_result(envelope.method, result)
    return result


async def discover(envelope: Envelope, ctx: Context) -> bytes:
    """Handshake with a gateway (perhaps not in the catalog yet) and list all of its tools."""
    try:
        gateway = _DISCOVER_PARAMS.decode(envelope.params).gateway
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidParamsError(f"discover needs {{'gateway': Gateway}}: {exc}") from exc
    _check_transport(gateway)
    known = ctx.gateways.get(gateway.id)
    pooled = known is not None and known.url == gateway.url
    # A gateway the catalog does not hold yet gets a session of its own, closed afterwards,
    # so probing an address never leaves a pooled session behind.
    session = ctx.pool.get(gateway) if pooled else UpstreamSession(gateway, ctx.pool.config)
    try:
        async with asyncio.timeout(_budget(envelope, gateway)):
            tools = await _list_tools(session)
    except TimeoutError as exc:
        raise UpstreamTimeoutError(f"gateway {gateway.name!r} did not answer in time") from exc
    finally:
        if not pooled:
            ctx.pool.retire(session)  # closing (a DELETE perhaps) must not delay the answer
    result = DiscoverResult(
        protocol_version=session.protocol_version or "",
        capabilities=session.capabilities,
        server_info=session.server_info,
        tools=tools,
    )
    return _ENC.encode(result)


async def _list_tools(session: UpstreamSession) -> list[Tool]:
    tools: list[Tool] = []
    cursor: str | None = None
    for _ in range(MAX_TOOL_PAGES):
        params = b"{}" if cursor is None else _ENC.encode({"cursor": cursor})
        data = await session.request("tools/list", params)
        try:
            page = LIST_TOOLS_RESULT_DECODER.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UpstreamBadResponseError(
                f"gateway {session.label} sent a malformed tools/list result"
            ) from exc
        tools.extend(page.tools)
        if not page.nextCursor or page.nextCursor == cursor:
            return tools
        cursor = page.nextCursor
    raise UpstreamBadResponseError(f"gateway {session.label} kept paging tools/list")
