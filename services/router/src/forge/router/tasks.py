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
from forge.proto.envelope import Envelope, Principal
from forge.proto.mcp import TASK_LIST_DECODER
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
    gateway = None if owner is None else ctx.catalog.gateway(owner[0], principal)
    if owner is None or gateway is None or not may(principal, gateway, EXECUTE):
        raise InvalidParamsError(f"unknown task {task_id!r}", {"taskId": task_id})
    gateway_id, upstream_id = owner
    members["taskId"] = msgspec.Raw(_ENC.encode(upstream_id))
    result = await forward(with_params(envelope, _ENC.encode(members)), ctx, gateway_id)
    return tag_result(result, gateway_id, principal)


async def list_tasks(envelope: Envelope, ctx: Context) -> bytes:
    """Legacy tasks/list: every task-capable gateway's tasks, ids tagged, in one list.

    A gateway that fails to answer is left out rather than failing the whole list. An upstream
    lists the tasks of everyone who called it through Forge: only the caller's are kept (an id
    tagged for another principal would be refused anyway)."""
    check_server(envelope, ctx)
    _check_era(envelope)
    owners = [
        g.id
        for g in ctx.catalog.gateways.values()
        if g.enabled and "tasks" in g.capabilities and may(envelope.principal, g, EXECUTE)
    ]
    listed = await asyncio.gather(
        *(forward(with_params(envelope, b"{}"), ctx, gateway_id) for gateway_id in owners),
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
    for gateway in gateways:
        offered = gateway.capabilities.get("extensions") if gateway.enabled else None
        if isinstance(offered, dict):
            for name in PASSED_EXTENSIONS:
                if name in offered and name not in found:
                    found[name] = offered[name] if isinstance(offered[name], dict) else {}
    return found


METHODS: dict[str, Handler] = {
    "tasks/list": list_tasks,
    **{
        method: task_request
        for method in ("tasks/get", "tasks/result", "tasks/update", "tasks/cancel")
    },
}

__all__ = ["METHODS", "extensions", "tag_result"]
