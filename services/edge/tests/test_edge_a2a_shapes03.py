"""A2A 0.3's HTTP+JSON payloads (protobuf JSON) read into the 0.3 JSON-RPC shapes and written
back: fields by either name, every part kind, the wrapped answers, push configs, bad input."""

from __future__ import annotations

from typing import Any

import pytest

from forge.core.errors import InvalidRequestError
from forge.edge import a2a_shapes03 as shapes


def test_a_send_is_read_by_json_or_proto_field_names() -> None:
    parts: list[Any] = [
        {"text": "hi"},
        {"file": {"file_with_uri": "https://x/f.txt", "mime_type": "text/plain", "name": "f"}},
        {"file": {"fileWithBytes": "aGk="}},
        {"data": {"data": {"k": 1}}},
    ]
    body = {
        "request": {"message_id": "m", "context_id": "c", "role": "ROLE_USER", "content": parts},
        "configuration": {
            "accepted_output_modes": ["text/plain"],
            "push_notification": {
                "url": "https://hook",
                "authentication": {"schemes": ["Bearer"], "credentials": "s"},
            },
        },
    }
    params = shapes.send_in(body)
    message = params["message"]
    assert message["kind"] == "message" and message["role"] == "user"
    assert message["messageId"] == "m" and message["contextId"] == "c"
    assert message["parts"] == [
        {"kind": "text", "text": "hi"},
        {"kind": "file", "file": {"uri": "https://x/f.txt", "mimeType": "text/plain", "name": "f"}},
        {"kind": "file", "file": {"bytes": "aGk="}},
        {"kind": "data", "data": {"k": 1}},
    ]
    config = params["configuration"]
    assert config["blocking"] is False  # proto3: an absent bool is false
    assert config["acceptedOutputModes"] == ["text/plain"]
    assert config["pushNotificationConfig"]["authentication"]["schemes"] == ["Bearer"]


def test_answers_are_written_as_protobuf_json() -> None:
    status = {"state": "canceled", "timestamp": "2026-01-01T00:00:00"}
    task = {
        "kind": "task",
        "id": "a:1",
        "contextId": "c",
        "status": status,
        "artifacts": [{"artifactId": "x", "parts": [{"kind": "data", "data": {"k": 1}}]}],
        "history": [{"kind": "message", "messageId": "m", "role": "agent", "parts": []}],
    }
    out = shapes.event_out(task)["task"]
    assert out["status"] == {"state": "TASK_STATE_CANCELLED", "timestamp": "2026-01-01T00:00:00Z"}
    assert out["artifacts"][0]["parts"] == [{"data": {"data": {"k": 1}}}]
    assert out["history"][0] == {"messageId": "m", "role": "ROLE_AGENT", "content": []}
    update = {"kind": "status-update", "taskId": "a:1", "contextId": "c", "status": status}
    assert shapes.event_out(update)["statusUpdate"]["final"] is False
    chunk = {"kind": "artifact-update", "taskId": "a:1", "artifact": {"artifactId": "x"}}
    assert shapes.event_out(chunk)["artifactUpdate"]["artifact"] == {"artifactId": "x", "parts": []}
    text = {"kind": "message", "messageId": "m", "role": "agent", "parts": [{"text": "hi"}]}
    assert shapes.event_out(text) == {
        "message": {"messageId": "m", "role": "ROLE_AGENT", "content": [{"text": "hi"}]}
    }


def test_push_configs_both_ways() -> None:
    body = {
        "parent": "tasks/a:1",
        "config_id": "c1",
        "config": {"push_notification_config": {"url": "https://hook", "token": "t"}},
    }
    params = shapes.create_config_in("a:1", body)
    assert params == {
        "taskId": "a:1",
        "pushNotificationConfig": {"url": "https://hook", "token": "t", "id": "c1"},
    }
    assert shapes.config_out(params) == {
        "name": "tasks/a:1/pushNotificationConfigs/c1",
        "pushNotificationConfig": {"url": "https://hook", "token": "t", "id": "c1"},
    }


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"message": "text"},
        {"message": {"content": "not a list"}},
        {"message": {"content": [{"nothing": 1}]}},
        {"message": {"content": [{"file": "x"}]}},
        {"message": {"role": ["ROLE_USER"], "content": []}},
        {"message": {"content": []}, "configuration": []},
    ],
)
def test_a_bad_send_is_an_invalid_request(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError):
        shapes.send_in(body)


def test_a_config_without_a_url_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequestError):
        shapes.create_config_in("a:1", {"config": {"pushNotificationConfig": {"token": "t"}}})
