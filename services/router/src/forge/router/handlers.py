"""MCP method semantics: discovery, handshake, tool listing and tool call dispatch."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import msgspec

from forge.core import rpc, subjects
from forge.core.bus import Bus
from forge.core.errors import (
    InvalidParamsError,
    MethodNotFoundError,
    NotFoundError,
    ServiceUnavailableError,
    ToolNotFoundError,
)
from forge.proto import mcp
from forge.proto.envelope import Envelope
from forge.router.catalog import Catalog
from forge.router.hooks import Hooks
from forge.router.metrics import Metrics

VERSION = "0.1.0"
SERVER_INFO = {"name": "forge", "version": VERSION}
CAPABILITIES = {"tools": {"listChanged": False}}
_ENC = msgspec.json.Encoder()
# Fields a modern client requires on cacheable results; the catalog differs per principal.
_MODERN_LIST_TAIL = b',"resultType":"complete","ttlMs":0,"cacheScope":"private"}'
# The upstream-proxy answers before the router's own wait ends, so errors stay specific.
UPSTREAM_MARGIN_S = 0.05


@dataclass
class Context:
    bus: Bus
    catalog: Catalog
    hooks: Hooks
    metrics: Metrics


Handler = Callable[[Envelope, Context], Awaitable[bytes]]


def _modern(envelope: Envelope) -> bool:
    return envelope.protocol is None or envelope.protocol.era == "modern"


def _check_server(envelope: Envelope, ctx: Context) -> None:
    if envelope.server_id is not None and not ctx.catalog.server_exists(envelope.server_id):
        raise NotFoundError(f"virtual server {envelope.server_id!r} does not exist")


async def discover(envelope: Envelope, ctx: Context) -> bytes:
    _check_server(envelope, ctx)
    return _ENC.encode(
        {
            "supportedVersions": list(mcp.SUPPORTED_VERSIONS),
            "capabilities": CAPABILITIES,
            "resultType": "complete",
            "ttlMs": 0,
            "cacheScope": "private",
            "_meta": {"io.modelcontextprotocol/serverInfo": SERVER_INFO},
        }
    )


async def initialize(envelope: Envelope, ctx: Context) -> bytes:
    _check_server(envelope, ctx)
    try:
        params = mcp.INITIALIZE_PARAMS_DECODER.decode(envelope.params)
    except msgspec.DecodeError as exc:
        raise InvalidParamsError(f"invalid initialize params: {exc}") from exc
    requested = params.protocolVersion
    version = requested if requested in mcp.LEGACY_VERSIONS else mcp.LEGACY
    return _ENC.encode(
        {"protocolVersion": version, "capabilities": CAPABILITIES, "serverInfo": SERVER_INFO}
    )


async def ping(envelope: Envelope, ctx: Context) -> bytes:
    return b"{}"


async def list_tools(envelope: Envelope, ctx: Context) -> bytes:
    _check_server(envelope, ctx)
    tools = ctx.catalog.list_tools(envelope.server_id)
    body = b'{"tools":' + _ENC.encode(tools)
    return body + (_MODERN_LIST_TAIL if _modern(envelope) else b"}")


async def call_tool(envelope: Envelope, ctx: Context) -> bytes:
    _check_server(envelope, ctx)
    try:
        params = mcp.CALL_TOOL_PARAMS_DECODER.decode(envelope.params)
    except msgspec.DecodeError as exc:
        raise InvalidParamsError(f"invalid tools/call params: {exc}") from exc
    tool = ctx.catalog.resolve(params.name, envelope.server_id)
    if tool is None:
        raise ToolNotFoundError(f"Unknown tool: {params.name}")
    if ctx.hooks.serves("tool_pre_invoke"):
        envelope = await ctx.hooks.run("tool_pre_invoke", envelope)
    # The upstream knows the tool by its own name; arguments and _meta pass through undecoded.
    upstream_params = b'{"name":' + _ENC.encode(tool.original_name)
    if len(params.arguments):
        upstream_params += b',"arguments":' + bytes(params.arguments)
    if len(params.meta):
        upstream_params += b',"_meta":' + bytes(params.meta)
    forwarded = msgspec.structs.replace(envelope, params=msgspec.Raw(upstream_params + b"}"))
    started = time.perf_counter()
    ok = False
    try:
        try:
            result = await rpc.call(
                ctx.bus,
                subjects.upstream(tool.gateway_id, "rpc"),
                forwarded,
                margin=UPSTREAM_MARGIN_S,
            )
        except ServiceUnavailableError as exc:
            raise ServiceUnavailableError(
                "no upstream-proxy is running to reach this tool"
            ) from exc
        ok = True
    finally:
        ctx.metrics.record(tool.id, time.perf_counter() - started, ok)
    if ctx.hooks.serves("tool_post_invoke"):
        result = await ctx.hooks.run_post("tool_post_invoke", envelope, result)
    return result


METHODS: dict[str, Handler] = {
    "server/discover": discover,
    "initialize": initialize,
    "ping": ping,
    "tools/list": list_tools,
    "tools/call": call_tool,
}


async def dispatch(envelope: Envelope, ctx: Context) -> bytes:
    handler = METHODS.get(envelope.method)
    if handler is None:
        raise MethodNotFoundError(f"Method not found: {envelope.method}")
    return await handler(envelope, ctx)
