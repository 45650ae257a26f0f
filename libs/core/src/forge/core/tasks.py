"""Task ids of the tasks extension, tagged with their gateway and their owner so that any replica
can route them, and only their owner use them.

An upstream's task id `T`, created by a call of the principal whose subject is `S`, reaches the
client as `<gateway id>~<owner(S)>~T`, where `owner(S)` is the first 16 hex digits of SHA-256 of
`S`: no state anywhere, and another user who holds the id cannot use it (the router refuses a
task id whose owner is not the caller's, as it refuses an unknown one). Both shapes of a task
handle are handled: the 2025-11-25 `{"task": {"taskId": …}}` and the 2026-07-28 top-level
`taskId`.

A task a gateway's tool call made names the tool too (decision 0031): `<gateway id>.<tool
id>~<owner(S)>~T`, so that `tasks/*` answers pass that tool's post hooks and its team's
bindings. An id without the tool (made before, by a legacy `tasks/list`, or in a task
notification during the call) still decodes, its tool unknown.
"""

from __future__ import annotations

import hashlib

import msgspec

SEPARATOR = "~"
TOOL_SEPARATOR = "."  # between the gateway's id and the tool's (both hex: neither holds it)
_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_STR = msgspec.json.Decoder(str)
_ENC = msgspec.json.Encoder()
# What an upstream says on a task, left out of its notifications (no post hook runs there).
UNCHECKED = ("statusMessage", "result", "inputRequests")


def owner(subject: str) -> str:
    """What a task id says of the principal who created it (not their subject itself)."""
    return hashlib.sha256(subject.encode()).hexdigest()[:16]


def _tagged(raw: msgspec.Raw, prefix: str) -> msgspec.Raw:
    return msgspec.Raw(_ENC.encode(prefix + _STR.decode(raw)))


class Tagged(msgspec.Struct, frozen=True):
    """What a task id Forge made says: where it goes, and which tool made it (if it says)."""

    gateway_id: str
    upstream_id: str
    tool_id: str | None = None


def tag(body: bytes, gateway_id: str, subject: str, tool_id: str | None = None) -> bytes:
    """A result or notification params with its task id made routable (to `gateway_id`, for
    the principal `subject` only, naming the tool `tool_id` that made it if given); anything
    else as it was."""
    if b'"taskId"' not in body:  # the common case: not about a task, left untouched
        return body
    route = gateway_id if tool_id is None else gateway_id + TOOL_SEPARATOR + tool_id
    prefix = route + SEPARATOR + owner(subject) + SEPARATOR
    try:
        members = _FIELDS.decode(body)
        if "taskId" in members:
            members["taskId"] = _tagged(members["taskId"], prefix)
        elif "task" in members:
            task = _FIELDS.decode(members["task"])
            if "taskId" not in task:
                return body
            task["taskId"] = _tagged(task["taskId"], prefix)
            members["task"] = msgspec.Raw(_ENC.encode(task))
        else:
            return body
    except (msgspec.DecodeError, msgspec.ValidationError):
        return body  # not a task handle after all: pass it on untouched
    return _ENC.encode(members)


def tag_notification(message: bytes, gateway_id: str, subject: str) -> bytes:
    """A `notifications/tasks…` message with the task id in its params tagged, and without
    what the upstream said on the task (`statusMessage`, `result`, `inputRequests`): it leaves
    the upstream-proxy for the client with no post hook, so the client reads those with
    `tasks/get`, which passes them (decision 0031)."""
    if b'"notifications/tasks' not in message:
        return message
    try:
        members = _FIELDS.decode(message)
        params = members.get("params")
        if params is None:
            return message
        said = _FIELDS.decode(tag(bytes(params), gateway_id, subject))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return message
    for member in UNCHECKED:
        said.pop(member, None)
    members["params"] = msgspec.Raw(_ENC.encode(said))
    return _ENC.encode(members)


def decode(task_id: str, subject: str) -> Tagged | None:
    """What a tagged id says, or None if it is not one of ours or not the principal
    `subject`'s."""
    route, _, rest = task_id.partition(SEPARATOR)
    owned, _, upstream_id = rest.partition(SEPARATOR)
    gateway_id, dot, tool_id = route.partition(TOOL_SEPARATOR)
    if not gateway_id or not upstream_id or owned != owner(subject) or (dot and not tool_id):
        return None
    return Tagged(gateway_id, upstream_id, tool_id or None)


def untag(task_id: str, subject: str) -> tuple[str, str] | None:
    """(gateway id, upstream task id) of a tagged id, or None if it is not one of ours or not
    the principal `subject`'s."""
    found = decode(task_id, subject)
    return None if found is None else (found.gateway_id, found.upstream_id)
