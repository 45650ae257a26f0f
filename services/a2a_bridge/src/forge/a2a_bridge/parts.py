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


class Collector:
    """A streamed answer (`SendStreamingMessage`, `message/stream`) gathered event by event into
    the Answer a blocking send would have given; each event also says what happened, in words,
    for a progress notification.

    Events: a Task or a Message (either version's shape, as `read_result` reads them), 1.0's
    `{"statusUpdate"}` / `{"artifactUpdate"}`, 0.3's `kind: status-update | artifact-update`.
    An artifact update with `append` extends the artifact of that id; otherwise it replaces it.
    """

    def __init__(self) -> None:
        self.message: Answer | None = None
        self.task: Answer | None = None
        self.artifacts: dict[str, Artifact] = {}

    def feed(self, event: object) -> str:
        if not isinstance(event, dict):
            raise NotA2AError("a stream event that is not an object")
        update = event.get("statusUpdate")
        if update is None and event.get("kind") == "status-update":
            update = event
        if isinstance(update, dict):
            return self._status(update)
        update = event.get("artifactUpdate")
        if update is None and event.get("kind") == "artifact-update":
            update = event
        if isinstance(update, dict):
            return self._artifact(update)
        answer = read_result(event)
        if answer.kind == "message":
            self.message = answer
            return "the agent answered"
        self.task = answer
        for artifact in answer.artifacts:
            self.artifacts[artifact.artifact_id or str(len(self.artifacts))] = artifact
        return f"task {answer.state}"

    def _base(self, update: dict[str, Any]) -> Answer:
        if self.task is None:  # an update before its task: the update names it
            task_id = _str(update.get("taskId"))
            if task_id is None:
                raise NotA2AError("a task update without a task id")
            self.task = Answer("task", task_id=task_id, context_id=_str(update.get("contextId")))
        return self.task

    def _status(self, update: dict[str, Any]) -> str:
        task = self._base(update)
        status = update.get("status")
        if not isinstance(status, dict):
            raise NotA2AError("a status update without a status")
        said = status.get("message")
        parts = read_parts(said.get("parts")) if isinstance(said, dict) else []
        state = _state(status.get("state"))
        self.task = Answer(
            "task", task_id=task.task_id, context_id=task.context_id, state=state, status=parts
        )
        text = " ".join(p.text for p in parts if p.kind == "text" and p.text)
        return f"task {state}: {text}" if text else f"task {state}"

    def _artifact(self, update: dict[str, Any]) -> str:
        self._base(update)
        raw = update.get("artifact")
        if not isinstance(raw, dict):
            raise NotA2AError("an artifact update without an artifact")
        key = _str(raw.get("artifactId")) or str(len(self.artifacts))
        artifact = Artifact(read_parts(raw.get("parts")), key, _str(raw.get("name")))
        earlier = self.artifacts.get(key)
        if earlier is not None and update.get("append") is True:
            artifact = Artifact([*earlier.parts, *artifact.parts], key, earlier.name)
        self.artifacts[key] = artifact
        return f"artifact {artifact.name or key}"

    def answer(self) -> Answer:
        if self.message is not None and self.task is None:
            return self.message
        if self.task is None:
            raise NotA2AError("a stream that ended before any task or message")
        task = self.task
        return Answer(
            "task",
            task_id=task.task_id,
            context_id=task.context_id,
            state=task.state or "working",
            status=task.status,
            artifacts=list(self.artifacts.values()),
        )
