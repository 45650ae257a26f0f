"""What an upstream or agent said on a task, through the post hooks a tools/call result passes.

`tasks/*` answers carry the tool's output outside any tools/call: the result (legacy
`tasks/result`, the modern `tasks/get`'s inlined `result`), the status message, and the
questions of `inputRequests`. Each passes `post`, the post hooks the call's result would
(a gateway's tool: `tool_post_invoke`; an agent's: `agent_post_invoke` then `tool_post_invoke`),
with the same team. A refused result is the hook's error, as a blocking call's; a refused
status message is left out (the task's status is still told) and a refused question replaced
by a neutral one; decisions 0028 and 0031.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from forge.core.errors import PluginViolationError

Post = Callable[[bytes], Awaitable[bytes]]
# The answers that may carry the task's words (tasks/cancel: the legacy Task; tasks/update: an
# ack, unless an upstream says more).
CHECKED = frozenset({"tasks/get", "tasks/result", "tasks/cancel", "tasks/update"})
NEUTRAL_QUESTION = "More input is needed to go on."
_ENC = msgspec.json.Encoder()
_ANY = msgspec.json.Decoder(dict[str, Any])


async def checked(method: str, answer: bytes, post: Post) -> bytes:
    """A tasks/* answer with what the upstream said through `post`."""
    if method not in CHECKED:
        return answer
    if method == "tasks/result":  # the tool's result itself
        return await post(answer)
    try:
        task = _ANY.decode(answer)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return answer  # not an object: nothing said (the edge answers it as it is)
    changed = await _checked_task(task, post)
    return answer if changed is None else _ENC.encode(changed)


async def _checked_task(task: dict[str, Any], post: Post) -> dict[str, Any] | None:
    """The task with its result, status message and questions checked; None if it says
    nothing of them."""
    said = task.get("statusMessage")
    asked = task.get("inputRequests")
    if not (isinstance(task.get("result"), dict) or isinstance(said, str) or asked):
        return None
    if isinstance(task.get("result"), dict):
        task["result"] = msgspec.Raw(await post(_ENC.encode(task["result"])))
    kept: str | None = None
    if isinstance(said, str):
        kept = await text(post, said)
        if kept is None:
            del task["statusMessage"]
        else:
            task["statusMessage"] = kept
    if isinstance(asked, dict):
        for question in asked.values():
            params = question.get("params") if isinstance(question, dict) else None
            if not isinstance(params, dict) or not isinstance(params.get("message"), str):
                continue
            if params["message"] == said:  # the status message asks it (an agent's question)
                shown = kept
            else:
                shown = await text(post, params["message"])
            params["message"] = shown if shown is not None else NEUTRAL_QUESTION
    return task


async def text(post: Post, said: str) -> str | None:
    """Words as the post hooks let them through, as the one text of a result; None when a
    hook refuses them."""
    result = _ENC.encode({"content": [{"type": "text", "text": said}], "isError": False})
    try:
        checked_ = _ANY.decode(await post(result))
    except PluginViolationError:
        return None
    content = checked_.get("content")
    first = content[0] if isinstance(content, list) and content else None
    found = first.get("text") if isinstance(first, dict) else None
    return found if isinstance(found, str) else None


def without_words(listed: bytes) -> bytes:
    """One task of a legacy tasks/list without its status message: the list is not checked
    task by task; tasks/get on the task tells it through the hooks."""
    if b'"statusMessage"' not in listed:
        return listed
    try:
        task = _ANY.decode(listed)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return listed
    task.pop("statusMessage", None)
    return _ENC.encode(task)
