"""The tasks extension passed through: `tasks/*` go to the gateway named in the task id.

Task ids carry their gateway (`forge.core.tasks`), so any router replica routes them.
"""

from __future__ import annotations

import asyncio

import msgspec

from forge.core import tasks
from forge.core.errors import InvalidParamsError
from forge.proto.envelope import Envelope
from forge.proto.mcp import TASK_LIST_DECODER
from forge.router.catalog import may
from forge.router.routing import Context, Handler, check_server, fields, forward, with_params

_ENC = msgspec.json.Encoder()
_STR = msgspec.json.Decoder(str)
EXECUTE = "tools.execute"  # what tasks/* need, on the task's gateway's team


def tag_result(result: bytes, gateway_id: str) -> bytes:
    """A call's result, with a task handle's id made routable."""
    return tasks.tag(result, gateway_id)


async def task_request(envelope: Envelope, ctx: Context) -> bytes:
    """tasks/get, tasks/result, tasks/update, tasks/cancel: to the gateway that owns the task."""
    check_server(envelope, ctx)
    members = fields(bytes(envelope.params))
    try:
        task_id = _STR.decode(members["taskId"])
    except (KeyError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidParamsError(f"{envelope.method} needs a string taskId") from exc
    owner = tasks.untag(task_id)
    gateway = None if owner is None else ctx.catalog.gateway(owner[0], envelope.principal)
    if owner is None or gateway is None or not may(envelope.principal, gateway, EXECUTE):
        raise InvalidParamsError(f"unknown task {task_id!r}", {"taskId": task_id})
    gateway_id, upstream_id = owner
    members["taskId"] = msgspec.Raw(_ENC.encode(upstream_id))
    result = await forward(with_params(envelope, _ENC.encode(members)), ctx, gateway_id)
    return tag_result(result, gateway_id)


async def list_tasks(envelope: Envelope, ctx: Context) -> bytes:
    """Legacy tasks/list: every task-capable gateway's tasks, ids tagged, in one list.

    A gateway that fails to answer is left out rather than failing the whole list.
    """
    check_server(envelope, ctx)
    owners = [
        g.id
        for g in ctx.catalog.gateways.values()
        if g.enabled and "tasks" in g.capabilities and may(envelope.principal, g, EXECUTE)
    ]
    listed = await asyncio.gather(
        *(forward(with_params(envelope, b"{}"), ctx, gateway_id) for gateway_id in owners),
        return_exceptions=True,
    )
    merged: list[msgspec.Raw] = []
    for gateway_id, result in zip(owners, listed, strict=True):
        if isinstance(result, BaseException):
            continue
        try:
            found = TASK_LIST_DECODER.decode(result)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
        merged.extend(msgspec.Raw(tasks.tag(bytes(task), gateway_id)) for task in found.tasks)
    return _ENC.encode({"tasks": merged})


METHODS: dict[str, Handler] = {
    "tasks/list": list_tasks,
    **{
        method: task_request
        for method in ("tasks/get", "tasks/result", "tasks/update", "tasks/cancel")
    },
}

__all__ = ["METHODS", "tag_result"]
