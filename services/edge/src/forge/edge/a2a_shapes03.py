"""A2A 0.3's HTTP+JSON payloads (the protobuf JSON of 0.3's `a2a.v1` messages) read into, and
written from, A2A 0.3's JSON-RPC shapes, which the a2a-bridge speaks with a 0.3 client.

The two differ in form only: protobuf JSON has no `kind`, says roles `ROLE_USER` and states
`TASK_STATE_CANCELLED`, names a message's parts `content`, nests a file part's `fileWithUri` /
`fileWithBytes` and a data part's `data` one level down, wraps a send's answer and each streamed
event (`{task}`, `{message}`, `{statusUpdate}`, `{artifactUpdate}`) and names a push config
`tasks/{id}/pushNotificationConfigs/{config}`. Requests are read as protobuf's JSON parser reads
them: a field by its JSON name or its proto name (`messageId` or `message_id`).
"""

from __future__ import annotations

import re
from typing import Any

from forge.core.errors import InvalidRequestError

Json = dict[str, Any]

_ROLES_UP = {"ROLE_USER": "user", "ROLE_AGENT": "agent", 1: "user", 2: "agent"}
_ROLES_DOWN = {"user": "ROLE_USER", "agent": "ROLE_AGENT"}
_STATES = {
    "submitted": "TASK_STATE_SUBMITTED",
    "working": "TASK_STATE_WORKING",
    "input-required": "TASK_STATE_INPUT_REQUIRED",
    "completed": "TASK_STATE_COMPLETED",
    "canceled": "TASK_STATE_CANCELLED",
    "failed": "TASK_STATE_FAILED",
    "rejected": "TASK_STATE_REJECTED",
    "auth-required": "TASK_STATE_AUTH_REQUIRED",
    "unknown": "TASK_STATE_UNSPECIFIED",
}
_ZONED = re.compile(r"(Z|[+-]\d\d:\d\d)$")


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def field(obj: Json, name: str, default: Any = None) -> Any:
    """A field by its JSON name (`messageId`) or its proto name (`message_id`)."""
    if name in obj:
        return obj[name]
    return obj.get(_snake(name), default)


def _object(value: Any, what: str) -> Json:
    if not isinstance(value, dict):
        raise InvalidRequestError(f"{what} must be a JSON object")
    return value


def _put(out: Json, name: str, value: Any) -> None:
    if value not in (None, "", [], {}):
        out[name] = value


# -- requests: protobuf JSON -> 0.3 JSON-RPC


def part_in(part: Any) -> Json:
    p = _object(part, "a part")
    out: Json
    if "text" in p:
        out = {"kind": "text", "text": p["text"]}
    elif "file" in p:
        f = _object(p["file"], "a file part's `file`")
        file: Json = {}
        _put(file, "uri", field(f, "fileWithUri"))
        _put(file, "bytes", field(f, "fileWithBytes"))
        _put(file, "mimeType", field(f, "mimeType"))
        _put(file, "name", field(f, "name"))
        out = {"kind": "file", "file": file}
    elif "data" in p:
        data = p["data"]
        data = data.get("data", data) if isinstance(data, dict) else data
        out = {"kind": "data", "data": data}
    else:
        raise InvalidRequestError("a part must hold `text`, `file` or `data`")
    _put(out, "metadata", p.get("metadata"))
    return out


def message_in(message: Any) -> Json:
    m = _object(message, "`message`")
    parts = field(m, "content", m.get("parts"))
    if not isinstance(parts, list):
        raise InvalidRequestError("a message needs its parts (`content`)")
    role = m.get("role", "ROLE_USER")
    if not isinstance(role, (str, int)):
        raise InvalidRequestError("a message's `role` must be ROLE_USER or ROLE_AGENT")
    out: Json = {
        "kind": "message",
        "messageId": field(m, "messageId") or "",
        "role": _ROLES_UP.get(role, role),
        "parts": [part_in(p) for p in parts],
    }
    for name in ("contextId", "taskId", "metadata", "extensions"):
        _put(out, name, field(m, name))
    return out


def push_config_in(config: Any) -> Json:
    """A PushNotificationConfig (`{id, url, token, authentication}`) in 0.3 JSON."""
    c = _object(config, "a push-notification config")
    out: Json = {}
    for name in ("id", "url", "token"):
        _put(out, name, c.get(name))
    auth = c.get("authentication")
    if isinstance(auth, dict):
        schemes = auth.get("schemes")
        out["authentication"] = {
            "schemes": [str(x) for x in schemes] if isinstance(schemes, list) else [],
            "credentials": auth.get("credentials"),
        }
    return out


def send_in(body: Json) -> Json:
    """`message:send` / `message:stream`'s SendMessageRequest as `message/send` params."""
    message = body.get("message", body.get("request"))
    if message is None:
        raise InvalidRequestError("a send needs a `message`")
    out: Json = {"message": message_in(message)}
    config = body.get("configuration")
    if config is not None:
        c = _object(config, "`configuration`")
        conf: Json = {"blocking": bool(c.get("blocking", False))}  # proto3: absent is false
        _put(conf, "acceptedOutputModes", field(c, "acceptedOutputModes"))
        _put(conf, "historyLength", field(c, "historyLength"))
        push = field(c, "pushNotification")
        if push is not None:
            conf["pushNotificationConfig"] = push_config_in(push)
        out["configuration"] = conf
    _put(out, "metadata", body.get("metadata"))
    return out


def create_config_in(task_id: str, body: Json) -> Json:
    """A CreateTaskPushNotificationConfigRequest (`{parent, configId, config}`; the bare
    TaskPushNotificationConfig or PushNotificationConfig is read too) as
    `tasks/pushNotificationConfig/set` params."""
    config = body.get("config", body)
    config = _object(config, "`config`")
    inner = field(config, "pushNotificationConfig", config)
    out = push_config_in(inner)
    config_id = field(body, "configId")
    if config_id and "id" not in out:
        out["id"] = config_id
    if "url" not in out:
        raise InvalidRequestError("a push-notification config needs a `url`")
    return {"taskId": task_id, "pushNotificationConfig": out}


# -- answers: 0.3 JSON-RPC -> protobuf JSON


def _timestamp(value: Any) -> Any:
    # protobuf's Timestamp needs a zone; an agent's naive time is read as UTC.
    if isinstance(value, str) and value and not _ZONED.search(value):
        return value + "Z"
    return value


def part_out(part: Any) -> Any:
    if not isinstance(part, dict):
        return part
    kind = part.get("kind")
    out: Json
    if kind == "file" or "file" in part:
        f: Json = part["file"] if isinstance(part.get("file"), dict) else {}
        file: Json = {}
        _put(file, "fileWithUri", f.get("uri"))
        _put(file, "fileWithBytes", f.get("bytes"))
        _put(file, "mimeType", f.get("mimeType"))
        _put(file, "name", f.get("name"))
        out = {"file": file}
    elif kind == "data" or "data" in part:
        data = part.get("data")
        out = {"data": {"data": data if isinstance(data, dict) else {"data": data}}}
    else:
        out = {"text": part.get("text", "")}
    _put(out, "metadata", part.get("metadata"))
    return out


def message_out(message: Any) -> Any:
    if not isinstance(message, dict):
        return message
    out: Json = {
        "messageId": message.get("messageId", ""),
        "role": _ROLES_DOWN.get(message.get("role", ""), "ROLE_UNSPECIFIED"),
        "content": [part_out(p) for p in message.get("parts") or ()],
    }
    for name in ("contextId", "taskId", "metadata", "extensions"):
        _put(out, name, message.get(name))
    return out


def status_out(status: Any) -> Any:
    if not isinstance(status, dict):
        return status
    state = status.get("state")
    out: Json = {"state": _STATES.get(str(state), "TASK_STATE_UNSPECIFIED")}
    if isinstance(status.get("message"), dict):
        out["message"] = message_out(status["message"])
    _put(out, "timestamp", _timestamp(status.get("timestamp")))
    return out


def artifact_out(artifact: Any) -> Any:
    if not isinstance(artifact, dict):
        return artifact
    out: Json = {"artifactId": artifact.get("artifactId", "")}
    for name in ("name", "description", "metadata", "extensions"):
        _put(out, name, artifact.get(name))
    out["parts"] = [part_out(p) for p in artifact.get("parts") or ()]
    return out


def task_out(task: Any) -> Any:
    if not isinstance(task, dict):
        return task
    out: Json = {"id": task.get("id", ""), "contextId": task.get("contextId", "")}
    out["status"] = status_out(task.get("status") or {})
    _put(out, "artifacts", [artifact_out(a) for a in task.get("artifacts") or ()])
    _put(out, "history", [message_out(m) for m in task.get("history") or ()])
    _put(out, "metadata", task.get("metadata"))
    return out


def event_out(event: Any) -> Any:
    """A send's answer or a streamed event (Task, Message, status or artifact update) as 0.3's
    SendMessageResponse / StreamResponse."""
    if not isinstance(event, dict):
        return event
    kind = event.get("kind")
    if kind == "message":
        return {"message": message_out(event)}
    if kind == "status-update":
        update: Json = {"taskId": event.get("taskId", ""), "contextId": event.get("contextId", "")}
        update["status"] = status_out(event.get("status") or {})
        update["final"] = bool(event.get("final", False))
        _put(update, "metadata", event.get("metadata"))
        return {"statusUpdate": update}
    if kind == "artifact-update":
        chunk: Json = {"taskId": event.get("taskId", ""), "contextId": event.get("contextId", "")}
        chunk["artifact"] = artifact_out(event.get("artifact") or {})
        chunk["append"] = bool(event.get("append", False))
        chunk["lastChunk"] = bool(event.get("lastChunk", False))
        _put(chunk, "metadata", event.get("metadata"))
        return {"artifactUpdate": chunk}
    return {"task": task_out(event)}


def config_out(config: Any) -> Any:
    """0.3 JSON's `{taskId, pushNotificationConfig}` as the TaskPushNotificationConfig message
    (`{name: tasks/{id}/pushNotificationConfigs/{config}, pushNotificationConfig}`)."""
    if not isinstance(config, dict):
        return config
    inner = config.get("pushNotificationConfig")
    inner = dict(inner) if isinstance(inner, dict) else {}
    name = f"tasks/{config.get('taskId', '')}/pushNotificationConfigs/{inner.get('id', '')}"
    return {"name": name, "pushNotificationConfig": inner}
