"""A2A answers of both versions, read into one neutral form (`Answer`), field by field.

A2A 1.0 (protobuf JSON: parts `{"text"}`, `{"data"}`, `{"raw", "mediaType", "filename"}`,
`{"url", ...}`; states `TASK_STATE_COMPLETED`; `SendMessage` answers `{"task"}` or
`{"message"}`) and A2A 0.3 (parts with `kind`; files as `{"file": {"bytes"|"uri", "mimeType",
"name"}}`; states `completed`, `input-required`; results with `kind: task|message`) meet here,
so the translation to MCP (forge.a2a_bridge.results) sees one shape. Anything that is neither is
`NotA2AError`: the caller says so as the agent's bad answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Task states, as A2A 0.3 spells them (1.0's TASK_STATE_INPUT_REQUIRED is read as input-required).
FAILED = frozenset({"failed", "rejected", "canceled"})
INTERRUPTED = frozenset({"input-required", "auth-required"})


class NotA2AError(ValueError):
    """The JSON is not an A2A Message or Task (the text says what was wrong, for the log)."""


@dataclass(frozen=True)
class Part:
    kind: str  # text | data | file
    text: str | None = None
    data: Any = None
    raw: str | None = None  # a file's bytes, base64
    uri: str | None = None  # a file by reference
    media_type: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Artifact:
    parts: list[Part]
    artifact_id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Answer:
    """What the agent answered: a Message (`task_id` perhaps None) or a Task."""

    kind: str  # message | task
    parts: list[Part] = field(default_factory=list)  # a Message's own parts
    task_id: str | None = None
    context_id: str | None = None
    state: str | None = None  # a Task's, as 0.3 spells it
    status: list[Part] = field(default_factory=list)  # the Task's status message's parts
    artifacts: list[Artifact] = field(default_factory=list)
    message_id: str | None = None


def _state(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise NotA2AError("a task status without a state")
    if value.startswith("TASK_STATE_"):
        return value[len("TASK_STATE_") :].lower().replace("_", "-")
    return value


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def read_part(part: object) -> Part:
    if not isinstance(part, dict):
        raise NotA2AError("a part that is not an object")
    kind = part.get("kind")
    media = _str(part.get("mediaType")) or _str(part.get("mimeType"))
    if "text" in part and kind in (None, "text"):
        if not isinstance(part["text"], str):
            raise NotA2AError("a text part whose text is not a string")
        return Part("text", text=part["text"], media_type=media)
    if "data" in part and kind in (None, "data"):
        return Part("data", data=part["data"], media_type=media)
    if kind is None and ("raw" in part or "url" in part):  # 1.0
        raw, uri, name = _str(part.get("raw")), _str(part.get("url")), _str(part.get("filename"))
        return Part("file", raw=raw, uri=uri, media_type=media, name=name)
    if kind == "file" and isinstance(part.get("file"), dict):  # 0.3
        file = part["file"]
        media = _str(file.get("mimeType")) or _str(file.get("mediaType"))
        raw, uri, name = _str(file.get("bytes")), _str(file.get("uri")), _str(file.get("name"))
        return Part("file", raw=raw, uri=uri, media_type=media, name=name)
    raise NotA2AError("a part that is neither text, data nor a file")


def read_parts(parts: object) -> list[Part]:
    if parts is None:
        return []
    if not isinstance(parts, list):
        raise NotA2AError("parts that are not a list")
    return [read_part(p) for p in parts]


def read_message(message: dict[str, Any]) -> Answer:
    return Answer(
        "message",
        parts=read_parts(message.get("parts")),
        task_id=_str(message.get("taskId")),
        context_id=_str(message.get("contextId")),
        message_id=_str(message.get("messageId")),
    )


def read_task(task: dict[str, Any]) -> Answer:
    status = task.get("status")
    task_id = _str(task.get("id"))
    if not isinstance(status, dict) or task_id is None:
        raise NotA2AError("a task without an id or a status")
    said = status.get("message")
    artifacts = task.get("artifacts") or []
    if not isinstance(artifacts, list) or not all(isinstance(a, dict) for a in artifacts):
        raise NotA2AError("artifacts that are not a list of objects")
    return Answer(
        "task",
        task_id=task_id,
        context_id=_str(task.get("contextId")),
        state=_state(status.get("state")),
        status=read_parts(said.get("parts")) if isinstance(said, dict) else [],
        artifacts=[
            Artifact(read_parts(a.get("parts")), _str(a.get("artifactId")), _str(a.get("name")))
            for a in artifacts
        ],
    )


def read_result(result: object) -> Answer:
    """A `SendMessage` / `message/send` result of either version."""
    if not isinstance(result, dict):
        raise NotA2AError("a result that is not an object")
    if isinstance(result.get("task"), dict):  # 1.0: SendMessageResponse
        return read_task(result["task"])
    if isinstance(result.get("message"), dict):
        return read_message(result["message"])
    kind = result.get("kind")
    if kind == "task":  # 0.3
        return read_task(result)
    if kind == "message":
        return read_message(result)
    raise NotA2AError("a result that is neither a Task nor a Message")
