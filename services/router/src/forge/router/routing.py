"""Routing one request: what every handler shares (its context, the server check, result tails)
and forwarding to the upstream-proxy (or, for an A2A agent's tool, to the a2a-bridge)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import msgspec

from forge.core import rpc, subjects
from forge.core.bus import Bus
from forge.core.errors import InvalidParamsError, NotFoundError, ServiceUnavailableError
from forge.proto.agents import AgentCallParams
from forge.proto.envelope import Envelope
from forge.router.catalog import Catalog
from forge.router.hooks import Hooks
from forge.router.metrics import Metrics

# Fields a modern client requires on cacheable results; the catalog differs per principal.
MODERN_LIST_TAIL = b',"resultType":"complete","ttlMs":0,"cacheScope":"private"}'
MODERN_TAIL = b',"resultType":"complete"}'
# The upstream-proxy answers before the router's own wait ends, so errors stay specific.
UPSTREAM_MARGIN_S = 0.05
DEFAULT_PAGE_SIZE = 100
_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ARGUMENTS = msgspec.json.Decoder(dict[str, object])
_META = msgspec.json.Decoder(dict[str, object])
_STATE = msgspec.json.Decoder(str | None)
_ENC = msgspec.json.Encoder()


# A gateway's answer from this very process, or None for one it does not call itself (the edge's
# local upstream, FORGE_EDGE_UPSTREAM=local: docs/decisions/0035-edge-local-upstream-calls.md).
LocalUpstream = Callable[[Envelope, str], Awaitable[bytes | None]]


@dataclass
class Context:
    bus: Bus
    catalog: Catalog
    hooks: Hooks
    metrics: Metrics
    page_size: int = field(default=DEFAULT_PAGE_SIZE)
    upstream: LocalUpstream | None = None


Handler = Callable[[Envelope, Context], Awaitable[bytes]]


def modern(envelope: Envelope) -> bool:
    return envelope.protocol is None or envelope.protocol.era == "modern"


def check_server(envelope: Envelope, ctx: Context) -> None:
    """A server the principal cannot see, or may not use, answers as one that does not exist."""
    if envelope.server_id is None:
        if envelope.principal.server_scope is not None:
            raise NotFoundError("this token is bound to one virtual server: use its endpoint")
        return
    if not ctx.catalog.server_exists(envelope.server_id, envelope.principal):
        raise NotFoundError(f"virtual server {envelope.server_id!r} does not exist")


def empty_result(envelope: Envelope) -> bytes:
    """`{}`, with the `resultType` a modern client requires."""
    return b"{" + MODERN_TAIL[1:] if modern(envelope) else b"{}"


def fields(params: bytes, what: str = "params") -> dict[str, msgspec.Raw]:
    """A JSON object's members, left undecoded."""
    try:
        return _FIELDS.decode(params or b"{}")
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidParamsError(f"{what} must be a JSON object") from exc


def rewrite(params: bytes, key: str, value: object) -> bytes:
    """The params with one member replaced; every other member passes through as it came."""
    members = fields(params)
    members[key] = msgspec.Raw(_ENC.encode(value))
    return _ENC.encode(members)


async def forward(envelope: Envelope, ctx: Context, gateway_id: str) -> bytes:
    """Send the envelope (method and params as they are) to the gateway's upstream-proxy (or
    to this process's local upstream, when it calls that gateway itself)."""
    if ctx.upstream is not None:
        result = await ctx.upstream(envelope, gateway_id)
        if result is not None:
            return result
    try:
        return await rpc.call(
            ctx.bus, subjects.upstream(gateway_id, "rpc"), envelope, margin=UPSTREAM_MARGIN_S
        )
    except ServiceUnavailableError as exc:
        raise ServiceUnavailableError("no upstream-proxy is running to reach this gateway") from exc


async def forward_agent(
    envelope: Envelope, ctx: Context, agent_id: str, *, task: bool = False
) -> bytes:
    """Send a tools/call of an A2A agent's tool to the a2a-bridge (`forge.a2a.<agent>.call`):
    the tool's arguments, the caller's era and progress token, a modern client's retry of an
    input_required round (inputResponses, requestState), and whether the client asked for a
    task (`task`, router.tasks), as `AgentCallParams`."""
    members = fields(bytes(envelope.params))
    try:
        arguments = _ARGUMENTS.decode(members.get("arguments") or b"{}")
        meta = _META.decode(members.get("_meta") or b"{}")
        responses = members.get("inputResponses")
        answers = None if responses is None else _ARGUMENTS.decode(responses)
        state = members.get("requestState")
        request_state = None if state is None else _STATE.decode(state)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidParamsError(
            "tools/call arguments, _meta and inputResponses must be JSON objects, requestState"
            " a string"
        ) from exc
    token = meta.get("progressToken")
    params = AgentCallParams(
        arguments=arguments,
        era="modern" if modern(envelope) else "legacy",
        progress_token=token if isinstance(token, str | int) else None,
        input_responses=answers,
        request_state=request_state,
        task=task,
    )
    return await ask_bridge(envelope, ctx, agent_id, "a2a.call", params)


async def ask_bridge(
    envelope: Envelope, ctx: Context, agent_id: str, method: str, params: msgspec.Struct
) -> bytes:
    """One request to the a2a-bridge about an agent (`forge.a2a.<agent>.call`): `a2a.call` (a
    tool call, `AgentCallParams`) or `a2a.task` (an MCP tasks/* request, `AgentTaskParams`)."""
    sent = msgspec.structs.replace(envelope, method=method, params=msgspec.Raw(_ENC.encode(params)))
    try:
        return await rpc.call(
            ctx.bus, subjects.a2a(agent_id, "call"), sent, margin=UPSTREAM_MARGIN_S
        )
    except ServiceUnavailableError as exc:
        raise ServiceUnavailableError("no a2a-bridge is running to reach this agent") from exc


def with_params(envelope: Envelope, params: bytes) -> Envelope:
    return msgspec.structs.replace(envelope, params=msgspec.Raw(params))
