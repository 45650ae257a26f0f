"""Task ids of the tasks extension, tagged with their gateway so that any replica can route them.

An upstream's task id `T` reaches the client as `<gateway id>~T`. Both shapes of a task handle
are handled: the 2025-11-25 `{"task": {"taskId": …}}` and the 2026-07-28 top-level `taskId`.
"""

from __future__ import annotations

import msgspec

SEPARATOR = "~"
_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_STR = msgspec.json.Decoder(str)
_ENC = msgspec.json.Encoder()


def _tagged(raw: msgspec.Raw, gateway_id: str) -> msgspec.Raw:
    return msgspec.Raw(_ENC.encode(gateway_id + SEPARATOR + _STR.decode(raw)))


def tag(body: bytes, gateway_id: str) -> bytes:
    """A result or notification params with its task id made routable; anything else as it was."""
    if b'"taskId"' not in body:  # the common case: not about a task, left untouched
        return body
    try:
        members = _FIELDS.decode(body)
        if "taskId" in members:
            members["taskId"] = _tagged(members["taskId"], gateway_id)
        elif "task" in members:
            task = _FIELDS.decode(members["task"])
            if "taskId" not in task:
                return body
            task["taskId"] = _tagged(task["taskId"], gateway_id)
            members["task"] = msgspec.Raw(_ENC.encode(task))
        else:
            return body
    except (msgspec.DecodeError, msgspec.ValidationError):
        return body  # not a task handle after all: pass it on untouched
    return _ENC.encode(members)


def tag_notification(message: bytes, gateway_id: str) -> bytes:
    """A `notifications/tasks…` message with the task id in its params tagged."""
    if b'"notifications/tasks' not in message:
        return message
    try:
        members = _FIELDS.decode(message)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return message
    params = members.get("params")
    if params is None:
        return message
    members["params"] = msgspec.Raw(tag(bytes(params), gateway_id))
    return _ENC.encode(members)


def untag(task_id: str) -> tuple[str, str] | None:
    """(gateway id, upstream task id) of a tagged id, or None if it is not one of ours."""
    gateway_id, _, upstream_id = task_id.partition(SEPARATOR)
    return (gateway_id, upstream_id) if gateway_id and upstream_id else None
