"""The tasks extension passed through: `tasks/*` go to the gateway named in the task id.

Task ids carry their gateway (`forge.core.tasks`), so any router replica routes them.
"""

from __future__ import annotations

import msgspec

from forge.core import tasks
from forge.core.errors import InvalidParamsError
from forge.proto.envelope import Envelope
from forge.router.context import Context, Handler, check_server, fields, forward, with_params

_ENC = msgspec.json.Encoder()
_STR = msgspec.json.Decoder(str)


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
    if owner is None or owner[0] not in ctx.catalog.gateways:
        raise InvalidParamsError(f"unknown task {task_id!r}", {"taskId": task_id})
    gateway_id, upstream_id = owner
    members["taskId"] = msgspec.Raw(_ENC.encode(upstream_id))
    result = await forward(with_params(envelope, _ENC.encode(members)), ctx, gateway_id)
    return tag_result(result, gateway_id)


METHODS: dict[str, Handler] = {
    method: task_request for method in ("tasks/get", "tasks/result", "tasks/update", "tasks/cancel")
}

__all__ = ["METHODS", "tag_result"]
