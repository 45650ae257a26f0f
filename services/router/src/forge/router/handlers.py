"""MCP method semantics: discovery, handshake, tool calls, and the method table."""

from __future__ import annotations

import time
from collections.abc import Mapping

import msgspec

from forge.core import tracing
from forge.core.errors import (
    ForbiddenError,
    InvalidParamsError,
    MethodNotFoundError,
    ToolNotFoundError,
)
from forge.proto import access, mcp
from forge.proto.agents import Agent
from forge.proto.catalog import LeanToolRecord
from forge.proto.envelope import Envelope, Principal
from forge.router import contents, headers, metrics, tasks
from forge.router.routing import (
    Context,
    Handler,
    check_server,
    fields,
    forward,
    forward_agent,
    rewrite,
    with_params,
)

__all__ = ["CAPABILITIES", "METHODS", "Context", "dispatch"]

VERSION = "0.1.0"
SERVER_INFO = {"name": "forge", "version": VERSION}
# List changes reach clients through the edge's GET stream and subscriptions/listen. Resource
# subscriptions are forwarded to legacy upstreams; their updates reach the subscribed legacy
# sessions' streams through the edge (docs/streams.md).
CAPABILITIES = {
    "tools": {"listChanged": True},
    "resources": {"subscribe": True, "listChanged": True},
    "prompts": {"listChanged": True},
    "completions": {},
    "logging": {},
}
_ENC = msgspec.json.Encoder()
_NAME = msgspec.json.Decoder(str)
EXECUTE = "tools.execute"


def _capabilities(envelope: Envelope, ctx: Context) -> Mapping[str, object]:
    """Forge's own, with the extensions the server's upstreams offer that Forge passes on."""
    found = tasks.extensions(envelope, ctx)
    legacy = tasks.legacy_capability(envelope, ctx)
    if not found and legacy is None:
        return CAPABILITIES
    offered: dict[str, object] = {**CAPABILITIES}
    if found:
        offered["extensions"] = found
    if legacy is not None:
        offered["tasks"] = legacy
    return offered


async def discover(envelope: Envelope, ctx: Context) -> bytes:
    check_server(envelope, ctx)
    return _ENC.encode(
        {
            "supportedVersions": list(mcp.SUPPORTED_VERSIONS),
            "capabilities": _capabilities(envelope, ctx),
            "resultType": "complete",
            "ttlMs": 0,
            "cacheScope": "private",
            "_meta": {"io.modelcontextprotocol/serverInfo": SERVER_INFO},
        }
    )


async def initialize(envelope: Envelope, ctx: Context) -> bytes:
    check_server(envelope, ctx)
    try:
        params = mcp.INITIALIZE_PARAMS_DECODER.decode(envelope.params)
    except msgspec.DecodeError as exc:
        raise InvalidParamsError(f"invalid initialize params: {exc}") from exc
    requested = params.protocolVersion
    version = requested if requested in mcp.LEGACY_VERSIONS else mcp.LEGACY
    return _ENC.encode(
        {
            "protocolVersion": version,
            "capabilities": _capabilities(envelope, ctx),
            "serverInfo": SERVER_INFO,
        }
    )


async def ping(envelope: Envelope, ctx: Context) -> bytes:
    return b"{}"


async def call_tool(envelope: Envelope, ctx: Context) -> bytes:
    check_server(envelope, ctx)
    # Decoded once, members left raw: the name routes; every other member (arguments, _meta,
    # inputResponses, requestState, task, ...) passes through undecoded.
    members = fields(bytes(envelope.params))
    name = _name(members)
    found = ctx.catalog.resolve(name, envelope.server_id, envelope.principal)
    tool = _callable(found, name, envelope.principal)
    headers.check(envelope, tool, members)
    if tracing.enabled():
        tracing.annotate(_traced(tool))
    answered: bytes | None = None
    if name != tool.name:
        # Called by a virtual server's own name (original or alias): plugins and their
        # conditions see the catalog name on every endpoint.
        name = tool.name
        members["name"] = msgspec.Raw(_ENC.encode(name))
        envelope = with_params(envelope, _ENC.encode(members))
    if ctx.hooks.serves("tool_pre_invoke"):
        changed, answered = await ctx.hooks.pre("tool_pre_invoke", envelope, tool.team_id)
        if changed is not envelope:
            envelope = changed
            members = fields(bytes(envelope.params))  # as the pre hooks left them
            renamed = _name(members)
            if renamed != name:  # a plugin may reroute, never to a tool the caller cannot see
                found = ctx.catalog.resolve(renamed, envelope.server_id, envelope.principal)
                tool = _callable(found, renamed, envelope.principal)
    if answered is not None:
        result = answered  # a plugin answered in the call's place (a cached result)
    else:
        members["name"] = msgspec.Raw(_ENC.encode(tool.original_name))
        forwarded = with_params(envelope, _ENC.encode(members))
        agent = ctx.catalog.agent(tool.gateway_id)
        started = time.perf_counter()
        ok, called = False, True
        try:
            if agent is not None:  # an A2A agent's tool: the a2a-bridge sends the message
                result, called = await _call_agent(forwarded, ctx, tool, agent)
            else:
                forwarded = headers.for_upstream(forwarded, tool, members)
                result = await forward(forwarded, ctx, tool.gateway_id)
                result = tasks.tag_result(result, tool.gateway_id, envelope.principal, tool.id)
            ok = not metrics.failed(result)
        finally:
            if called:  # an agent_pre_invoke answer is no call, as a tool_pre_invoke one
                ctx.metrics.call(
                    "tools",
                    tool.id,
                    envelope.server_id,
                    tool.gateway_id,
                    time.perf_counter() - started,
                    ok,
                    agent=agent is not None,
                )
    if ctx.hooks.serves("tool_post_invoke"):
        result = await ctx.hooks.post("tool_post_invoke", envelope, result, tool.team_id)
    return result


async def _call_agent(
    envelope: Envelope, ctx: Context, tool: LeanToolRecord, agent: Agent
) -> tuple[bytes, bool]:
    """An agent's tool call, inside the tool hooks: the agent hooks around the bridge's call;
    the result, and whether the agent was called (not when a pre hook answered).

    Their payload is the call's params with `agent` (the agent's name, what `agents`
    conditions match) and `name` (the tool's catalog name); a pre hook may change the
    arguments or answer in the call's place, a post hook the result."""
    answered = None
    if ctx.hooks.serves("agent_pre_invoke"):
        params = rewrite(rewrite(bytes(envelope.params), "name", tool.name), "agent", agent.name)
        envelope, answered = await ctx.hooks.pre(
            "agent_pre_invoke", with_params(envelope, params), tool.team_id
        )
    if answered is not None:
        result = answered
    else:
        task = tasks.wanted(envelope)
        result = await forward_agent(envelope, ctx, agent.id, task=task)
        if task:  # a task handle's id names the agent and the caller (router.tasks)
            result = tasks.tag_result(result, agent.id, envelope.principal)
    if ctx.hooks.serves("agent_post_invoke"):
        result = await ctx.hooks.post("agent_post_invoke", envelope, result, tool.team_id)
    return result, answered is None


def _traced(tool: LeanToolRecord) -> dict[str, str]:
    """The router's span attributes for a tool call (docs/observability.md, Spans)."""
    found = {"mcp.tool.name": tool.name, "forge.tool.id": tool.id}
    found["forge.gateway.id"] = tool.gateway_id
    if tool.team_id is not None:
        found["forge.team.id"] = tool.team_id
    return found


def _callable(tool: LeanToolRecord | None, name: str, principal: Principal) -> LeanToolRecord:
    """The tool, if the caller sees it (else unknown) and holds tools.execute on its team (else
    403: they see it, so refusing tells them nothing new)."""
    if tool is None:
        raise ToolNotFoundError(f"Unknown tool: {name}")
    if not access.permits(principal, EXECUTE, tool.team_id):
        raise ForbiddenError(
            f"permission denied: tools/call needs {EXECUTE} on this tool's team",
            {"permission": EXECUTE},
        )
    return tool


def _name(members: dict[str, msgspec.Raw]) -> str:
    try:
        return _NAME.decode(members["name"])
    except (KeyError, msgspec.DecodeError) as exc:
        raise InvalidParamsError("tools/call needs a string name") from exc


METHODS: dict[str, Handler] = {
    "server/discover": discover,
    "initialize": initialize,
    "ping": ping,
    "tools/call": call_tool,
    **contents.METHODS,
    **tasks.METHODS,
}


async def dispatch(envelope: Envelope, ctx: Context) -> bytes:
    handler = METHODS.get(envelope.method)
    protocol = envelope.protocol
    if protocol is not None and protocol.era == "modern" and envelope.method in mcp.REMOVED_METHODS:
        handler = None  # gone from that era: a modern client must not depend on it
    if handler is None:
        raise MethodNotFoundError(f"Method not found: {envelope.method}")
    return await handler(envelope, ctx)
