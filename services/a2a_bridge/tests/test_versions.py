"""A2A 0.3 and 1.0 shapes translated both ways (versions.py), and Forge's task ids (tasks.py)."""

from __future__ import annotations

from typing import Any

import pytest

from forge.a2a_bridge import tasks, versions
from forge.a2a_bridge.serving import code_of
from forge.core.errors import INTERNAL_ERROR, INVALID_PARAMS, A2aCode

MESSAGE_03: dict[str, Any] = {
    "kind": "message",
    "messageId": "m1",
    "role": "user",
    "contextId": "c1",
    "parts": [
        {"kind": "text", "text": "hi"},
        {"kind": "data", "data": {"n": 1}},
        {"kind": "file", "file": {"bytes": "aGk=", "mimeType": "text/plain", "name": "a.txt"}},
        {"kind": "file", "file": {"uri": "https://x/y"}},
    ],
}
MESSAGE_10: dict[str, Any] = {
    "messageId": "m1",
    "role": "ROLE_USER",
    "contextId": "c1",
    "parts": [
        {"text": "hi"},
        {"data": {"n": 1}},
        {"raw": "aGk=", "mediaType": "text/plain", "filename": "a.txt"},
        {"url": "https://x/y"},
    ],
}
TASK_03: dict[str, Any] = {
    "kind": "task",
    "id": "t1",
    "contextId": "c1",
    "status": {"state": "input-required", "message": {**MESSAGE_03, "role": "agent"}},
    "artifacts": [{"artifactId": "a1", "parts": [{"kind": "text", "text": "out"}]}],
}


def test_messages_and_tasks_round_trip() -> None:
    assert versions.message_up(MESSAGE_03) == MESSAGE_10
    assert versions.message_down(MESSAGE_10) == MESSAGE_03
    up = versions.task_up(TASK_03)
    assert up["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    assert up["status"]["message"]["role"] == "ROLE_AGENT"
    assert up["artifacts"][0]["parts"] == [{"text": "out"}]
    assert "kind" not in up
    assert versions.task_down(up) == TASK_03


def test_answers_and_events_take_each_versions_form() -> None:
    assert versions.event_up(TASK_03) == {"task": versions.task_up(TASK_03)}
    assert versions.event_up(MESSAGE_03) == {"message": MESSAGE_10}
    update = {"kind": "status-update", "taskId": "t1", "contextId": "c1", "final": True}
    update["status"] = {"state": "completed"}
    up = versions.event_up(update)
    assert up == {
        "statusUpdate": {
            "taskId": "t1",
            "contextId": "c1",
            "status": {"state": "TASK_STATE_COMPLETED"},
        }
    }
    assert versions.event_down(up) == update  # `final`: the task stops there
    working = versions.event_down(
        {"statusUpdate": {"taskId": "t", "status": {"state": "TASK_STATE_WORKING"}}}
    )
    assert working["final"] is False
    artifact = {
        "artifactUpdate": {"taskId": "t", "artifact": {"parts": [{"text": "x"}]}, "append": True}
    }
    down = versions.event_down(artifact)
    assert down["kind"] == "artifact-update" and down["artifact"]["parts"] == [
        {"kind": "text", "text": "x"}
    ]
    assert versions.event_up(down) == artifact


def test_requests_translate_blocking_and_push_configs() -> None:
    sent = {"message": MESSAGE_03, "configuration": {"blocking": False, "historyLength": 2}}
    up = versions.request_up("SendMessage", sent)
    assert up["configuration"] == {"returnImmediately": True, "historyLength": 2}
    assert versions.request_down("SendMessage", up)["configuration"] == {
        "blocking": False,
        "historyLength": 2,
    }
    assert versions.request_down("SendMessage", {"message": MESSAGE_10})["configuration"] == {
        "blocking": True
    }
    config_03 = {
        "taskId": "t1",
        "pushNotificationConfig": {
            "id": "p1",
            "url": "https://hook",
            "token": "tok",
            "authentication": {"schemes": ["Bearer"], "credentials": "sekrit"},
        },
    }
    flat = versions.request_up("CreateTaskPushNotificationConfig", config_03)
    assert flat == {
        "taskId": "t1",
        "id": "p1",
        "url": "https://hook",
        "token": "tok",
        "authentication": {"scheme": "Bearer", "credentials": "sekrit"},
    }
    assert versions.result_down("GetTaskPushNotificationConfig", flat) == config_03
    got = versions.request_up(
        "GetTaskPushNotificationConfig", {"id": "t1", "pushNotificationConfigId": "p1"}
    )
    assert got == {"taskId": "t1", "id": "p1"}
    listed = versions.result_down("ListTaskPushNotificationConfigs", {"configs": [flat]})
    assert listed == [config_03]


@pytest.mark.parametrize(
    ("method", "known"),
    [
        ("SendMessage", ("SendMessage", "1.0")),
        ("ListTasks", ("ListTasks", "1.0")),
        ("message/stream", ("SendStreamingMessage", "0.3")),
        ("tasks/resubscribe", ("SubscribeToTask", "0.3")),
        ("tasks/pushNotificationConfig/set", ("CreateTaskPushNotificationConfig", "0.3")),
        ("tools/call", None),
        ("", None),
    ],
)
def test_methods_name_their_version(method: str, known: tuple[str, str] | None) -> None:
    assert versions.canonical(method) == known


def test_task_ids_are_tagged_with_the_agent_and_checked_back() -> None:
    assert tasks.tag("agent1", "t:1") == "agent1:t:1"
    assert tasks.untag("agent1", "agent1:t:1") == "t:1"
    for bad in ("agent2:t1", "t1", "agent1:", None, 5, "agent1"):
        with pytest.raises(tasks.TaskNotFoundError):
            tasks.untag("agent1", bad)
    answer = {"task": versions.task_up(TASK_03)}
    answer["task"]["status"]["message"]["taskId"] = "t1"
    assert tasks.task_ids(answer) == ["t1"]
    tagged = tasks.tag_result(answer, "agent1")
    assert tagged["task"]["id"] == "agent1:t1"
    assert tagged["task"]["status"]["message"]["taskId"] == "agent1:t1"
    update = tasks.tag_result({"statusUpdate": {"taskId": "t2", "status": {}}}, "agent1")
    assert update["statusUpdate"]["taskId"] == "agent1:t2"
    listed = tasks.tag_result({"tasks": [{"id": "t3", "status": {}}]}, "agent1")
    assert listed["tasks"][0]["id"] == "agent1:t3"
    assert tasks.task_ids({"message": {"messageId": "m"}}) == []


@pytest.mark.parametrize(
    ("code", "method", "expected"),
    [
        (A2aCode.TASK_NOT_CANCELABLE, "CancelTask", A2aCode.TASK_NOT_CANCELABLE),
        ("NOT_FOUND", "GetTask", A2aCode.TASK_NOT_FOUND),
        ("NOT_FOUND", "SendMessage", A2aCode.TASK_NOT_FOUND),
        ("FAILED_PRECONDITION", "CancelTask", A2aCode.TASK_NOT_CANCELABLE),
        ("FAILED_PRECONDITION", "ListTasks", A2aCode.UNSUPPORTED_OPERATION),
        ("UNIMPLEMENTED", "ListTasks", A2aCode.UNSUPPORTED_OPERATION),
        ("INVALID_ARGUMENT", "SendMessage", INVALID_PARAMS),
        ("INTERNAL", "SendMessage", INTERNAL_ERROR),
        (None, "GetTask", INTERNAL_ERROR),
        (True, "GetTask", INTERNAL_ERROR),
    ],
)
def test_an_http_json_agents_status_is_the_a2a_error_it_stands_for(
    code: object, method: str, expected: int
) -> None:
    assert code_of(code, method) == expected
