"""An agent's answer as an MCP CallToolResult: content, structured content, errors, `_meta`.

Text parts become text content; data parts become `structuredContent` (one object as it is,
anything else under `{"data": [...]}`) and a JSON text rendering, so a client that reads only
text sees them too; file parts become embedded resources (bytes) or resource links (a URL). A
Message's parts are the answer; a Task's are its status message (a question when it needs
input, the reason when it failed) and then its artifacts'. A failed, rejected or canceled task
is `isError: true`, as an agent's JSON-RPC error is. `_meta["forge/a2a"]` carries the agent,
task id, context id and state, so a client continues the exchange (`context_id`, `task_id`).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import msgspec

from forge.a2a_bridge.parts import FAILED, Answer, Part

META = "forge/a2a"
_ENC = msgspec.json.Encoder()


def _resource_uri(agent_slug: str, answer: Answer, part: Part, index: int) -> str:
    owner = answer.task_id or answer.message_id or "message"
    return f"a2a://{agent_slug}/{owner}/{part.name or f'file-{index}'}"


def _file(agent_slug: str, answer: Answer, part: Part, index: int) -> dict[str, Any]:
    media = part.media_type or "application/octet-stream"
    uri = _resource_uri(agent_slug, answer, part, index)
    if part.raw is None and part.uri is not None:
        link: dict[str, Any] = {"type": "resource_link", "uri": part.uri, "mimeType": media}
        link["name"] = part.name or part.uri
        return link
    raw = part.raw or ""
    if media.startswith("text/"):
        try:
            text = base64.b64decode(raw, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            pass
        else:
            return {"type": "resource", "resource": {"uri": uri, "mimeType": media, "text": text}}
    return {"type": "resource", "resource": {"uri": uri, "mimeType": media, "blob": raw}}


def _content(agent_slug: str, answer: Answer, parts: list[Part]) -> tuple[list[Any], list[Any]]:
    content: list[Any] = []
    data: list[Any] = []
    for index, part in enumerate(parts):
        if part.kind == "text":
            content.append({"type": "text", "text": part.text or ""})
        elif part.kind == "data":
            data.append(part.data)
            content.append({"type": "text", "text": _ENC.encode(part.data).decode()})
        else:
            content.append(_file(agent_slug, answer, part, index))
    return content, data


def meta(agent_id: str, answer: Answer) -> dict[str, Any]:
    found: dict[str, Any] = {"agentId": agent_id, "kind": answer.kind}
    for key, value in (
        ("taskId", answer.task_id),
        ("contextId", answer.context_id),
        ("state", answer.state),
    ):
        if value is not None:
            found[key] = value
    return {META: found}


def call_result(agent_id: str, agent_slug: str, answer: Answer) -> dict[str, Any]:
    """The CallToolResult of one answer (an MCP result of either era; the edge completes it)."""
    parts = answer.parts if answer.kind == "message" else answer.status.copy()
    if answer.kind == "task":
        for artifact in answer.artifacts:
            parts.extend(artifact.parts)
    content, data = _content(agent_slug, answer, parts)
    failed = answer.state in FAILED
    if not content:
        if answer.kind == "task":
            said = f"the agent's task {answer.task_id} is {answer.state}"
        else:
            said = "the agent answered with an empty message"
        content.append({"type": "text", "text": said})
    result: dict[str, Any] = {"content": content, "isError": failed}
    if data and not failed:
        only = data[0] if len(data) == 1 else None
        result["structuredContent"] = only if isinstance(only, dict) else {"data": data}
    result["_meta"] = meta(agent_id, answer)
    return result


def error_result(agent_id: str, code: object, message: str) -> dict[str, Any]:
    """An agent's JSON-RPC (or HTTP+JSON) error: a tool error the model can read and act on."""
    text = f"the agent answered with an error ({code}): {message}"
    return {
        "content": [{"type": "text", "text": text}],
        "isError": True,
        "_meta": {META: {"agentId": agent_id, "error": {"code": code, "message": message}}},
    }


def declined(agent_id: str, task_id: str, context_id: str | None) -> dict[str, Any]:
    """A modern client declined (or cancelled) the agent's question: the task still waits."""
    text = f"the agent's question was not answered; its task {task_id} waits for input"
    found: dict[str, Any] = {"agentId": agent_id, "kind": "task", "taskId": task_id}
    found["state"] = "input-required"
    if context_id is not None:
        found["contextId"] = context_id
    return {"content": [{"type": "text", "text": text}], "isError": False, "_meta": {META: found}}
