"""The tasks extension passed through: task ids carry their gateway, so any replica routes them.

An upstream's task id `T` reaches the client as `<gateway id>~T`; `tasks/*` requests are split on
the first `~` and sent to that gateway with `T`. Both shapes of the handle are handled: the
2025-11-25 `{"task": {"taskId": …}}` and the 2026-07-28 `{"resultType": "task", "taskId": …}`.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from forge.core.errors import InvalidParamsError
from forge.proto.envelope import Envelope
from forge.router.context import Context, Handler, check_server, fields, forward, with_params

SEPARATOR = "~"
_ENC = msgspec.json.Encoder()
_STR = msgspec.json.Decoder(str)


def _prefix(gateway_id: str, raw: msgspec.Raw) -> msgspec.Raw:
    return msgspec.Raw(_ENC.encode(gateway_id + SEPARATOR + _STR.decode(raw)))


def _rewrite_ids(result: bytes, change: Callable[[msgspec.Raw], msgspec.Raw]) -> bytes:
    """The result with its task id (top level or under `task`) changed by `change(raw)`."""
    if b'"taskId"' not in result:  # the common case: not a task handle, left as it came
        return result
    try:
        members = fields(result, "result")
        if "taskId" in members:
            members["taskId"] = change(members["taskId"])
        elif "task" in members:
            task = fields(bytes(members["task"]), "task")
            if "taskId" in task:
                task["taskId"] = change(task["taskId"])
                members["task"] = msgspec.Raw(_ENC.encode(task))
        else:
            return result
    except (InvalidParamsError, msgspec.DecodeError, msgspec.ValidationError):
        return result  # not a task handle after all: pass it on untouched
    return _ENC.encode(members)


def tag_result(result: bytes, gateway_id: str) -> bytes:
    """A call's result, with a task handle's id made routable."""
    return _rewrite_ids(result, lambda raw: _prefix(gateway_id, raw))


async def task_request(envelope: Envelope, ctx: Context) -> bytes:
    """tasks/get, tasks/result, tasks/update, tasks/cancel: to the gateway that owns the task."""
    check_server(envelope, ctx)
    members = fields(bytes(envelope.params))
    try:
        task_id = _STR.decode(members["taskId"])
    except (KeyError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidParamsError(f"{envelope.method} needs a string taskId") from exc
    gateway_id, _, upstream_id = task_id.partition(SEPARATOR)
    if not upstream_id or gateway_id not in ctx.catalog.gateways:
        raise InvalidParamsError(f"unknown task {task_id!r}", {"taskId": task_id})
    members["taskId"] = msgspec.Raw(_ENC.encode(upstream_id))
    result = await forward(with_params(envelope, _ENC.encode(members)), ctx, gateway_id)
    return tag_result(result, gateway_id)


METHODS: dict[str, Handler] = {
    method: task_request for method in ("tasks/get", "tasks/result", "tasks/update", "tasks/cancel")
}

__all__ = ["METHODS", "tag_result"]
