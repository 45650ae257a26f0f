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

What a task says reaches the client through the post hooks its tool's call result passes
(`task_hooks`): a gateway's task id names the tool that made it (`<gateway>.<tool>~…`,
decision 0031), whose `tool_post_invoke` and team bindings the answers of `tasks/get`,
`tasks/result` and `tasks/cancel` pass; an id without a tool passes every tool of the gateway's.
Legacy `tasks/list` leaves out status messages (tasks/get tells them, checked).
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
from forge.proto.catalog import LeanToolRecord
from forge.proto.envelope import Envelope, Principal
from forge.proto.mcp import TASK_LIST_DECODER
from forge.router import agent_tasks, task_hooks
from forge.router.catalog import can_see, may
from forge.router.routing import (
    Context,
    Handler,
    ask_bridge,
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


def tag_result(
    result: bytes, gateway_id: str, principal: Principal, tool_id: str | None = None
) -> bytes:
    """A call's result, with a task handle's id made routable, for the caller only, naming the
    gateway's tool that made it (`tool_id`; an agent's id names its one tool)."""
    return tasks.tag(result, gateway_id, principal.subject, tool_id)


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
    owner = tasks.decode(task_id, principal.subject)
    unknown = InvalidParamsError(f"unknown task {task_id!r}", {"taskId": task_id})
    if owner is None:
        raise unknown
    agent = ctx.catalog.agent(owner.gateway_id)
    if agent is not None:
        if owner.tool_id is not None:
            raise unknown
        return await agent_tasks.request(envelope, ctx, agent, task_id, owner.upstream_id, members)
    gateway = ctx.catalog.gateway(owner.gateway_id, principal)
    if gateway is None or not may(principal, gateway, EXECUTE):
        raise unknown
    made_by = _tools(ctx, owner, principal)
    if made_by is None:
        raise unknown
    members["taskId"] = msgspec.Raw(_ENC.encode(owner.upstream_id))
    result = await forward(with_params(envelope, _ENC.encode(members)), ctx, owner.gateway_id)
    result = await _checked(envelope, ctx, made_by, result)
    return tag_result(result, owner.gateway_id, principal, owner.tool_id)


def _tools(ctx: Context, owner: tasks.Tagged, principal: Principal) -> list[LeanToolRecord] | None:
    """The tools whose post hooks a task's answers pass: the one that made it; for an id that
    does not say (made before decision 0031, listed, or from a task notification), every tool
    of its gateway, so that no tool's binding is skipped by leaving the tool out. None: the id
    names a tool that is not the gateway's or that the caller may not call (an unknown task:
    a re-tagged id can only name a tool the caller could have called)."""
    catalog = ctx.catalog
    if owner.tool_id is None:
        return [t for t in catalog.tools_by_id.values() if t.gateway_id == owner.gateway_id]
    tool = catalog.tools_by_id.get(owner.tool_id)
    if tool is None or tool.gateway_id != owner.gateway_id or not may(principal, tool, EXECUTE):
        return None
    return [tool]


async def _checked(
    envelope: Envelope, ctx: Context, made_by: list[LeanToolRecord], answer: bytes
) -> bytes:
    """A gateway's tasks/* answer through `tool_post_invoke` of the tools that made it, as the
    call's result passes it (the tool's catalog name, its team's bindings; task_hooks)."""
    hooks = ctx.hooks
    if not hooks.serves("tool_post_invoke"):
        return answer

    async def post(result: bytes) -> bytes:
        for tool in made_by:
            call = with_params(envelope, _ENC.encode({"name": tool.name, "arguments": {}}))
            result = await hooks.post("tool_post_invoke", call, result, tool.team_id)
        return result

    return await task_hooks.checked(envelope.method, answer, post)


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
        *(ask_bridge(envelope, ctx, agent_id, "a2a.task", listing) for agent_id in agents),
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
            msgspec.Raw(tasks.tag(task_hooks.without_words(bytes(task)), gateway_id, subject))
            for task in found.tasks
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
