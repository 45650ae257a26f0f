"""A2A 0.3 and 1.0 shapes, translated both ways (Forge's A2A endpoint, `/a2a/{agent}/`).

Inside the bridge an A2A request or answer is held in A2A 1.0's JSON (protobuf JSON: roles
`ROLE_USER`, states `TASK_STATE_WORKING`, parts `{text}` / `{data}` / `{raw}` / `{url}`, a send
answered `{task}` or `{message}`, a stream event `{task}` / `{message}` / `{statusUpdate}` /
`{artifactUpdate}`); a 0.3 client's request is read `up` into it, and an answer written `down`
for it; a 0.3 agent is sent the `down` form and its answers read `up`. What neither version
names passes through unchanged.
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

# 0.3 method -> the 1.0 method it is (ListTasks has no 0.3 form).
METHODS_03 = {
    "message/send": "SendMessage",
    "message/stream": "SendStreamingMessage",
    "tasks/get": "GetTask",
    "tasks/cancel": "CancelTask",
    "tasks/resubscribe": "SubscribeToTask",
    "tasks/pushNotificationConfig/set": "CreateTaskPushNotificationConfig",
    "tasks/pushNotificationConfig/get": "GetTaskPushNotificationConfig",
    "tasks/pushNotificationConfig/list": "ListTaskPushNotificationConfigs",
    "tasks/pushNotificationConfig/delete": "DeleteTaskPushNotificationConfig",
    "agent/getAuthenticatedExtendedCard": "GetExtendedAgentCard",
}
METHODS_10 = frozenset(
    {*METHODS_03.values(), "ListTasks"},
)
TO_03 = {v: k for k, v in METHODS_03.items()}

_STATES = {
    "submitted": "TASK_STATE_SUBMITTED",
    "working": "TASK_STATE_WORKING",
    "input-required": "TASK_STATE_INPUT_REQUIRED",
    "completed": "TASK_STATE_COMPLETED",
    "canceled": "TASK_STATE_CANCELED",
    "failed": "TASK_STATE_FAILED",
    "rejected": "TASK_STATE_REJECTED",
    "auth-required": "TASK_STATE_AUTH_REQUIRED",
    "unknown": "TASK_STATE_UNSPECIFIED",
}
_STATES_DOWN = {v: k for k, v in _STATES.items()}
# A 0.3 status update is `final` when the task stops there (it ends, or waits for the client).
_FINAL = frozenset(
    {"completed", "canceled", "failed", "rejected", "input-required", "auth-required"}
)


def canonical(method: str) -> tuple[str, str] | None:
    """(the 1.0 method, the client's version) of a method either version names; None else."""
    if method in METHODS_10:
        return method, "1.0"
    if method in METHODS_03:
        return METHODS_03[method], "0.3"
    return None


def state_up(state: object) -> object:
    return _STATES.get(state, state) if isinstance(state, str) else state


def state_down(state: object) -> object:
    return _STATES_DOWN.get(state, state) if isinstance(state, str) else state


# -- parts, messages, tasks


def part_up(part: Any) -> Any:
    if not isinstance(part, dict) or "kind" not in part:
        return part
    out = {k: v for k, v in part.items() if k not in ("kind", "file")}
    file = part.get("file")
    if part["kind"] == "file" and isinstance(file, dict):
        if "bytes" in file:
            out["raw"] = file["bytes"]
        elif "uri" in file:
            out["url"] = file["uri"]
        if file.get("mimeType"):
            out["mediaType"] = file["mimeType"]
        if file.get("name"):
            out["filename"] = file["name"]
    return out


def part_down(part: Any) -> Any:
    if not isinstance(part, dict) or "kind" in part:
        return part
    meta = {"metadata": part["metadata"]} if "metadata" in part else {}
    if "text" in part:
        return {"kind": "text", "text": part["text"], **meta}
    if "data" in part:
        data = part["data"]
        return {"kind": "data", "data": data if isinstance(data, dict) else {"value": data}, **meta}
    if "raw" in part or "url" in part:
        file: Json = {"bytes": part["raw"]} if "raw" in part else {"uri": part["url"]}
        if part.get("mediaType"):
            file["mimeType"] = part["mediaType"]
        if part.get("filename"):
            file["name"] = part["filename"]
        return {"kind": "file", "file": file, **meta}
    return part


def _parts(holder: Json, part: Any) -> Json:
    parts = holder.get("parts")
    if isinstance(parts, list):
        holder["parts"] = [part(p) for p in parts]
    return holder


def message_up(message: Any) -> Any:
    if not isinstance(message, dict):
        return message
    out = {k: v for k, v in message.items() if k != "kind"}
    role = out.get("role")
    if role in ("user", "agent"):
        out["role"] = f"ROLE_{role.upper()}"
    return _parts(out, part_up)


def message_down(message: Any) -> Any:
    if not isinstance(message, dict):
        return message
    out = {**message, "kind": "message"}
    role = out.get("role")
    if role in ("ROLE_USER", "ROLE_AGENT"):
        out["role"] = role.removeprefix("ROLE_").lower()
    return _parts(out, part_down)


def _status(status: Any, state: Any, message: Any) -> Any:
    if not isinstance(status, dict):
        return status
    out = {**status, "state": state(status.get("state"))}
    if "message" in out:
        out["message"] = message(out["message"])
    return out


def _artifact(artifact: Any, part: Any) -> Any:
    return _parts(dict(artifact), part) if isinstance(artifact, dict) else artifact


def task_up(task: Any) -> Any:
    if not isinstance(task, dict):
        return task
    out = {k: v for k, v in task.items() if k != "kind"}
    out["status"] = _status(out.get("status"), state_up, message_up)
    if isinstance(out.get("artifacts"), list):
        out["artifacts"] = [_artifact(a, part_up) for a in out["artifacts"]]
    if isinstance(out.get("history"), list):
        out["history"] = [message_up(m) for m in out["history"]]
    return out


def task_down(task: Any) -> Any:
    if not isinstance(task, dict):
        return task
    out = {**task, "kind": "task"}
    out["status"] = _status(out.get("status"), state_down, message_down)
    if isinstance(out.get("artifacts"), list):
        out["artifacts"] = [_artifact(a, part_down) for a in out["artifacts"]]
    if isinstance(out.get("history"), list):
        out["history"] = [message_down(m) for m in out["history"]]
    return out


# -- answers: a send's, a stream event's


def event_up(result: Any) -> Any:
    """A 0.3 answer (Task, Message, status or artifact update) as 1.0's one-member form."""
    if not isinstance(result, dict):
        return result
    kind = result.get("kind")
    if kind == "task":
        return {"task": task_up(result)}
    if kind == "message":
        return {"message": message_up(result)}
    if kind == "status-update":
        update = {k: v for k, v in result.items() if k not in ("kind", "final")}
        update["status"] = _status(update.get("status"), state_up, message_up)
        return {"statusUpdate": update}
    if kind == "artifact-update":
        update = {k: v for k, v in result.items() if k != "kind"}
        update["artifact"] = _artifact(update.get("artifact"), part_up)
        return {"artifactUpdate": update}
    return result


def event_down(result: Any) -> Any:
    """1.0's `{task}` / `{message}` / `{statusUpdate}` / `{artifactUpdate}` in 0.3's form."""
    if not isinstance(result, dict):
        return result
    if isinstance(result.get("task"), dict):
        return task_down(result["task"])
    if isinstance(result.get("message"), dict):
        return message_down(result["message"])
    if isinstance(result.get("statusUpdate"), dict):
        update = {**result["statusUpdate"], "kind": "status-update"}
        update["status"] = _status(update.get("status"), state_down, message_down)
        state = update["status"].get("state") if isinstance(update["status"], dict) else None
        update["final"] = state in _FINAL
        return update
    if isinstance(result.get("artifactUpdate"), dict):
        update = {**result["artifactUpdate"], "kind": "artifact-update"}
        update["artifact"] = _artifact(update.get("artifact"), part_down)
        return update
    return result


# -- push-notification configs


def push_config_up(config: Any) -> Any:
    """0.3's `{taskId, pushNotificationConfig: {id, url, token, authentication}}` as 1.0's flat
    TaskPushNotificationConfig."""
    if not isinstance(config, dict) or not isinstance(config.get("pushNotificationConfig"), dict):
        return config
    inner = dict(config["pushNotificationConfig"])
    auth = inner.pop("authentication", None)
    out: Json = {"taskId": config.get("taskId"), **inner}
    if isinstance(auth, dict):
        schemes = auth.get("schemes")
        scheme = schemes[0] if isinstance(schemes, list) and schemes else "Bearer"
        out["authentication"] = {"scheme": scheme, "credentials": auth.get("credentials")}
    return out


def push_config_down(config: Any) -> Any:
    if not isinstance(config, dict):
        return config
    inner = {k: v for k, v in config.items() if k not in ("taskId", "tenant", "authentication")}
    auth = config.get("authentication")
    if isinstance(auth, dict):
        inner["authentication"] = {
            "schemes": [auth.get("scheme") or "Bearer"],
            "credentials": auth.get("credentials"),
        }
    return {"taskId": config.get("taskId"), "pushNotificationConfig": inner}


# -- requests and results by method


def request_up(method: str, params: Json) -> Json:
    """A 0.3 client's params (of the 1.0 `method` they map to) in 1.0's form."""
    if method in ("SendMessage", "SendStreamingMessage"):
        out = {**params, "message": message_up(params.get("message"))}
        config = params.get("configuration")
        if isinstance(config, dict):
            config = dict(config)
            blocking = config.pop("blocking", None)
            if blocking is False:
                config["returnImmediately"] = True
            push = config.pop("pushNotificationConfig", None)
            if isinstance(push, dict):
                config["taskPushNotificationConfig"] = push
            out["configuration"] = config
        return out
    if method == "CreateTaskPushNotificationConfig":
        return dict(push_config_up(params))
    if method in ("GetTaskPushNotificationConfig", "DeleteTaskPushNotificationConfig"):
        return {"taskId": params.get("id"), "id": params.get("pushNotificationConfigId")}
    if method == "ListTaskPushNotificationConfigs":
        return {"taskId": params.get("id")}
    return params


def request_down(method: str, params: Json) -> Json:
    """1.0 params in 0.3's form (for a 0.3 agent)."""
    if method in ("SendMessage", "SendStreamingMessage"):
        out = {**params, "message": message_down(params.get("message"))}
        config = dict(params.get("configuration") or {})
        config["blocking"] = not config.pop("returnImmediately", False)
        push = config.pop("taskPushNotificationConfig", None)
        if isinstance(push, dict):
            config["pushNotificationConfig"] = push
        out["configuration"] = config
        return out
    return params


def result_up(method: str, result: Any) -> Any:
    """A 0.3 agent's result of `method` in 1.0's form."""
    if method in ("SendMessage", "SendStreamingMessage", "SubscribeToTask"):
        return event_up(result)
    if method in ("GetTask", "CancelTask"):
        return task_up(result)
    return result


def result_down(method: str, result: Any) -> Any:
    """A 1.0 result of `method` in 0.3's form (for a 0.3 client)."""
    if method in ("SendMessage", "SendStreamingMessage", "SubscribeToTask"):
        return event_down(result)
    if method in ("GetTask", "CancelTask"):
        return task_down(result)
    if method in ("CreateTaskPushNotificationConfig", "GetTaskPushNotificationConfig"):
        return push_config_down(result)
    if method == "ListTaskPushNotificationConfigs" and isinstance(result, dict):
        return [push_config_down(c) for c in result.get("configs") or ()]
    if method == "DeleteTaskPushNotificationConfig":
        return None
    return result
