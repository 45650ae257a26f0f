"""The tasks extension passed through: `tasks/*` go to the gateway named in the task id.

Task ids carry their gateway and their owner (`forge.core.tasks`), so any router replica routes
them, and a task id is the caller's own or unknown. The eras differ:

- 2026-07-28 (`io.modelcontextprotocol/tasks`, SEP-2663): `tasks/get`, `tasks/update` and
  `tasks/cancel` need a client that declared the extension (else -32021, as the SDK's servers
  answer); `tasks/result` and `tasks/list` are gone (-32601).
- 2025-11-25 (the tasks of the spec itself): `tasks/get`, `tasks/result`, `tasks/cancel` and
  `tasks/list` (every task-capable gateway's tasks, merged).

Discovery and the handshake advertise the extension when an upstream the server offers tools
of advertises it (`extensions`).

An A2A agent's tool makes tasks too (decision 0028): a call that asks for one (`wanted`) reaches
the a2a-bridge with `task`, which answers a handle whose id the router tags with the agent, as
a gateway's; `tasks/*` on such an id go to the bridge (`agent_tasks`). The handshake offers
the legacy `tasks` capability, and discovery the extension, when the server's tools include an
agent's; legacy `tasks/list` has the caller's agents' tasks too.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from forge.core import tasks
from forge.core.errors import (
    InvalidParamsError,
    MethodNotFoundError,
    MissingClientCapabilityError,
)
from forge.proto.agents import AgentTaskParams
from forge.proto.envelope import Envelope, Principal
from forge.proto.mcp import TASK_LIST_DECODER
from forge.router import agent_tasks
from forge.router.catalog import can_see, may
from forge.router.routing import (
    Context,
    Handler,
    check_server,
    fields,
    forward,
    modern,
    with_params,
)

_ENC = msgspec.json.Encoder()
_STR = msgspec.json.Decoder(str)
_CAPABILITIES = msgspec.json.Decoder(dict[str, Any])
EXECUTE = "tools.execute"  # what tasks/* need, on the task's gateway's team
EXTENSION = "io.modelcontextprotocol/tasks"
# The extensions Forge passes through: what it knows how to route.
PASSED_EXTENSIONS = (EXTENSION,)
# In the 2026-07-28 era the result is inlined on tasks/get and there is no list (SEP-2663).
REMOVED_IN_MODERN = frozenset({"tasks/result", "tasks/list"})
# The 2025-11-25 `tasks` capability of a server whose tools include an agent's.
LEGACY_CAPABILITY: dict[str, Any] = {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}


def tag_result(result: bytes, gateway_id: str, principal: Principal) -> bytes:
    """A call's result, with a task handle's id made routable, for the caller only."""
    return tasks.tag(result, gateway_id, principal.subject)


def declared(envelope: Envelope) -> bool:
    """Whether the client declared the tasks extension (in its handshake, or on this request:
    the edge puts either in the envelope's protocol)."""
    protocol = envelope.protocol
    if protocol is None:
        return False
    try:
        capabilities = _CAPABILITIES.decode(bytes(protocol.capabilities) or b"{}")
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False
    found = capabilities.get("extensions")
    return isinstance(found, dict) and EXTENSION in found


def wanted(envelope: Envelope) -> bool:
    """Whether a tools/call asks for a task: a legacy one with `params.task`, a modern one from
    a client that declared the extension (SEP-2663: the server then may answer a task)."""
    if modern(envelope):
        return declared(envelope)
    return b'"task"' in bytes(envelope.params) and "task" in fields(bytes(envelope.params))


def _check_era(envelope: Envelope) -> None:
    if not modern(envelope):
        return
    if envelope.method in REMOVED_IN_MODERN:
        raise MethodNotFoundError(f"Method not found: {envelope.method}")
    if not declared(envelope):
        raise MissingClientCapabilityError(
            f"{envelope.method} needs the {EXTENSION} extension, which the client did not declare",
            {"requiredCapabilities": {"extensions": {EXTENSION: {}}}},
        )


async def task_request(envelope: Envelope, ctx: Context) -> bytes:
    """tasks/get, tasks/result, tasks/update, tasks/cancel: to the gateway that owns the task.

    Another user's task id is refused as an unknown one (-32602), whoever holds it."""
    check_server(envelope, ctx)
    _check_era(envelope)
    members = fields(bytes(envelope.params))
    try:
        task_id = _STR.decode(members["taskId"])
    except (KeyError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidParamsError(f"{envelope.method} needs a string taskId") from exc
    principal = envelope.principal
    owner = tasks.untag(task_id, principal.subject)
    if owner is None:
        raise InvalidParamsError(f"unknown task {task_id!r}", {"taskId": task_id})
    agent = ctx.catalog.agent(owner[0])
    if agent is not None:
        return await agent_tasks.request(envelope, ctx, agent, task_id, owner[1], members)
    gateway = ctx.catalog.gateway(owner[0], principal)
    if gateway is None or not may(principal, gateway, EXECUTE):
        raise InvalidParamsError(f"unknown task {task_id!r}", {"taskId": task_id})
    gateway_id, upstream_id = owner
    members["taskId"] = msgspec.Raw(_ENC.encode(upstream_id))
    result = await forward(with_params(envelope, _ENC.encode(members)), ctx, gateway_id)
    return tag_result(result, gateway_id, principal)


async def list_tasks(envelope: Envelope, ctx: Context) -> bytes:
    """Legacy tasks/list: every task-capable gateway's tasks, and the caller's tasks of every
    agent they may call (the a2a-bridge keeps only theirs), ids tagged, in one list.

    A gateway or agent that fails to answer is left out rather than failing the whole list. An
    upstream lists the tasks of everyone who called it through Forge: only the caller's are kept
    (an id tagged for another principal would be refused anyway)."""
    check_server(envelope, ctx)
    _check_era(envelope)
    principal = envelope.principal
    gateways = [
        g.id
        for g in ctx.catalog.gateways.values()
        if g.enabled and "tasks" in g.capabilities and may(principal, g, EXECUTE)
    ]
    agents = agent_tasks.callable_agents(envelope, ctx)
    listing = AgentTaskParams(method="tasks/list")
    owners = gateways + agents
    listed = await asyncio.gather(
        *(forward(with_params(envelope, b"{}"), ctx, gateway_id) for gateway_id in gateways),
        *(agent_tasks.ask_bridge(envelope, ctx, agent_id, listing) for agent_id in agents),
        return_exceptions=True,
    )
    subject = envelope.principal.subject
    merged: list[msgspec.Raw] = []
    for gateway_id, result in zip(owners, listed, strict=True):
        if isinstance(result, BaseException):
            continue
        try:
            found = TASK_LIST_DECODER.decode(result)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
        merged.extend(
            msgspec.Raw(tasks.tag(bytes(task), gateway_id, subject)) for task in found.tasks
        )
    return _ENC.encode({"tasks": merged})


def extensions(envelope: Envelope, ctx: Context) -> dict[str, Any]:
    """The extensions Forge passes through that an upstream of the server's tools (or, without
    a server, of any gateway the caller sees) advertises: `capabilities.extensions`."""
    catalog = ctx.catalog
    if envelope.server_id is not None:
        server = catalog.servers.get(envelope.server_id)
        tool_ids = server.associated_tools if server is not None else []
        sources = {catalog.tools_by_id[i].gateway_id for i in tool_ids if i in catalog.tools_by_id}
        gateways = [catalog.gateways[g] for g in sources if g in catalog.gateways]
    else:
        gateways = [g for g in catalog.gateways.values() if can_see(envelope.principal, g)]
    found: dict[str, Any] = {}
    if agent_tasks.offered(envelope, ctx):
        found[EXTENSION] = {}
    for gateway in gateways:
        offered = gateway.capabilities.get("extensions") if gateway.enabled else None
        if isinstance(offered, dict):
            for name in PASSED_EXTENSIONS:
                if name in offered and name not in found:
                    found[name] = offered[name] if isinstance(offered[name], dict) else {}
    return found


def legacy_capability(envelope: Envelope, ctx: Context) -> dict[str, Any] | None:
    """The 2025-11-25 `tasks` capability, for a legacy client of a server that offers an
    agent's tool (whose calls can be tasks); else None."""
    if modern(envelope) or not agent_tasks.offered(envelope, ctx):
        return None
    return LEGACY_CAPABILITY


METHODS: dict[str, Handler] = {
    "tasks/list": list_tasks,
    **{
        method: task_request
        for method in ("tasks/get", "tasks/result", "tasks/update", "tasks/cancel")
    },
}

__all__ = ["METHODS", "extensions", "legacy_capability", "tag_result", "wanted"]
