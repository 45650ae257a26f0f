"""Translation of A2A answers into MCP CallToolResults, on payloads real agents sent (a2a-sdk
1.3's echo agent in A2A 1.0 and 0.3, and the plain 0.3 agent), and of credentials into headers."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from forge.a2a_bridge.credentials import Credentials
from forge.a2a_bridge.parts import Collector, NotA2AError, read_result
from forge.a2a_bridge.results import call_result, error_result
from forge.core.errors import UpstreamUnavailableError
from forge.core.sealing import Keyring, new_key_spec
from forge.proto.agents import Agent
from forge.proto.catalog import UpstreamAuth

# SendMessage results as a2a-sdk 1.3 answered them (A2A 1.0, protobuf JSON).
V1_MESSAGE = {
    "message": {
        "messageId": "e29ed2ca",
        "contextId": "bcdb63e6",
        "role": "ROLE_AGENT",
        "parts": [
            {"text": "hello"},
            {"data": {"echo": "hello", "data": {"a": 1.0}, "context_id": "bcdb63e6"}},
        ],
    }
}
V1_FAILED = {
    "task": {
        "id": "ff85f09e",
        "contextId": "14529280",
        "status": {
            "state": "TASK_STATE_FAILED",
            "message": {
                "messageId": "01e01d68",
                "role": "ROLE_AGENT",
                "parts": [{"text": "the echo agent was asked to fail: fail hi"}],
            },
            "timestamp": "2026-12-06T07:05:55.331039Z",
        },
        "history": [{"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "fail hi"}]}],
    }
}
V1_RAW_FILE = {
    "task": {
        "id": "t-raw",
        "contextId": "c-raw",
        "status": {"state": "TASK_STATE_COMPLETED"},
        "artifacts": [
            {
                "artifactId": "a1",
                "parts": [{"raw": "iVBORw0K", "mediaType": "image/png", "filename": "dot.png"}],
            },
            {"artifactId": "a2", "parts": [{"url": "https://example.com/r.pdf", "filename": "r"}]},
        ],
    }
}
# message/send results of A2A 0.3 (kind-tagged), as a2a-sdk's 0.3 compatibility sent them.
V03_FILE_TASK = {
    "artifacts": [
        {
            "artifactId": "96bff17e",
            "name": "echo",
            "parts": [
                {
                    "file": {"bytes": "ZmlsZSBoaQ==", "mimeType": "text/plain", "name": "echo.txt"},
                    "kind": "file",
                }
            ],
        }
    ],
    "contextId": "e65a751b",
    "id": "60aae6df",
    "kind": "task",
    "status": {"state": "completed", "timestamp": "2026-12-06T07:05:55.319543Z"},
}
V03_INPUT_REQUIRED = {
    "kind": "task",
    "id": "t-ask",
    "contextId": "c-ask",
    "status": {
        "state": "input-required",
        "message": {
            "kind": "message",
            "messageId": "q1",
            "role": "agent",
            "parts": [{"kind": "text", "text": "what else should I echo?"}],
        },
    },
}


def test_a_1_0_message_gives_text_structured_content_and_its_context() -> None:
    result = call_result("agent-1", "echo", read_result(V1_MESSAGE))
    assert result["content"][0] == {"type": "text", "text": "hello"}
    assert result["structuredContent"] == {
        "echo": "hello",
        "data": {"a": 1.0},
        "context_id": "bcdb63e6",
    }
    assert result["isError"] is False
    assert result["_meta"]["forge/a2a"] == {
        "agentId": "agent-1",
        "kind": "message",
        "contextId": "bcdb63e6",
    }


def test_a_1_0_failed_task_is_a_tool_error_with_its_status_message() -> None:
    result = call_result("agent-1", "echo", read_result(V1_FAILED))
    assert result["isError"] is True
    assert result["content"] == [
        {"type": "text", "text": "the echo agent was asked to fail: fail hi"}
    ]
    meta = result["_meta"]["forge/a2a"]
    assert (meta["taskId"], meta["contextId"], meta["state"]) == ("ff85f09e", "14529280", "failed")


def test_1_0_raw_and_url_files_become_a_blob_resource_and_a_link() -> None:
    blob, link = call_result("agent-1", "echo", read_result(V1_RAW_FILE))["content"]
    assert blob == {
        "type": "resource",
        "resource": {
            "uri": "a2a://echo/t-raw/dot.png",
            "mimeType": "image/png",
            "blob": "iVBORw0K",
        },
    }
    assert (link["type"], link["uri"], link["name"]) == (
        "resource_link",
        "https://example.com/r.pdf",
        "r",
    )


def test_a_0_3_text_file_becomes_an_embedded_text_resource() -> None:
    [content] = call_result("agent-1", "echo", read_result(V03_FILE_TASK))["content"]
    assert content["resource"] == {
        "uri": "a2a://echo/60aae6df/echo.txt",
        "mimeType": "text/plain",
        "text": "file hi",
    }


def test_a_0_3_input_required_task_asks_its_question_and_is_no_error() -> None:
    result = call_result("agent-1", "echo", read_result(V03_INPUT_REQUIRED))
    assert (result["isError"], result["content"][0]["text"]) == (False, "what else should I echo?")
    assert result["_meta"]["forge/a2a"]["state"] == "input-required"


def test_several_data_parts_are_structured_content_under_data() -> None:
    parts = [{"kind": "data", "data": [1]}, {"kind": "data", "data": {"b": 2}}]
    answer = {"kind": "message", "parts": parts}
    structured = call_result("a", "s", read_result(answer))["structuredContent"]
    assert structured == {"data": [[1], {"b": 2}]}


def test_an_empty_task_still_says_where_it_stands() -> None:
    answer = {"kind": "task", "id": "t", "status": {"state": "working"}}
    assert call_result("a", "s", read_result(answer))["content"] == [
        {"type": "text", "text": "the agent's task t is working"}
    ]


@pytest.mark.parametrize(
    "result",
    [
        None,
        "text",
        {"jsonrpc": "2.0"},
        {"kind": "task", "status": {"state": "completed"}},  # no id
        {"kind": "task", "id": "t"},  # no status
        {"kind": "message", "parts": "nope"},
        {"kind": "message", "parts": [{"kind": "video"}]},
        {"task": {"id": "t", "status": {"state": "x"}, "artifacts": [3]}},
    ],
)
def test_what_is_neither_task_nor_message_is_refused(result: Any) -> None:
    with pytest.raises(NotA2AError):
        read_result(result)


def test_an_agent_error_is_a_tool_error_naming_its_code() -> None:
    result = error_result("a", -32001, "task not found")
    assert result["isError"] is True
    assert result["_meta"]["forge/a2a"]["error"] == {"code": -32001, "message": "task not found"}


def _sealed(keyring: Keyring, agent_id: str, auth: UpstreamAuth) -> str:
    return keyring.seal(msgspec.json.encode(auth), agent_id.encode())


def test_sealed_credentials_open_into_headers_and_query() -> None:
    keyring = Keyring.parse(new_key_spec())
    credentials = Credentials(keyring)
    bearer = Agent(id="a1", name="a", slug="a", url="http://x/", auth_type="bearer")
    bearer = msgspec.structs.replace(
        bearer, auth=_sealed(keyring, "a1", UpstreamAuth(type="bearer", token="s3cret"))
    )
    assert credentials.access(bearer).headers == {"Authorization": "Bearer s3cret"}
    query = Agent(id="a2", name="q", slug="q", url="http://x/?v=1", auth_type="query_param")
    auth = UpstreamAuth(type="query_param", query_param="key", query_value="k")
    query = msgspec.structs.replace(query, auth=_sealed(keyring, "a2", auth))
    assert credentials.access(query).url == "http://x/?v=1&key=k"


def test_credentials_sealed_for_another_agent_do_not_open() -> None:
    keyring = Keyring.parse(new_key_spec())
    sealed = _sealed(keyring, "other", UpstreamAuth(type="bearer", token="s3cret"))
    moved = Agent(id="a1", name="a", slug="a", url="http://x/", auth_type="bearer", auth=sealed)
    with pytest.raises(UpstreamUnavailableError) as refused:
        Credentials(keyring).access(moved)
    assert "s3cret" not in refused.value.message


# SendStreamingMessage events as a2a-sdk 1.3 sent them (A2A 1.0), and message/stream's (0.3).
V1_STREAM = [
    {"task": {"id": "8c5f", "contextId": "0370", "status": {"state": "TASK_STATE_SUBMITTED"}}},
    {
        "artifactUpdate": {
            "taskId": "8c5f",
            "contextId": "0370",
            "artifact": {
                "artifactId": "446c",
                "name": "echo",
                "parts": [{"text": "task hi"}, {"data": {"echo": "task hi"}}],
            },
        }
    },
    {
        "statusUpdate": {
            "taskId": "8c5f",
            "contextId": "0370",
            "status": {"state": "TASK_STATE_COMPLETED", "timestamp": "2026-12-06T07:14:58Z"},
        }
    },
]
V03_STREAM = [
    {"kind": "task", "id": "f8f7", "contextId": "fee6", "status": {"state": "submitted"}},
    {
        "kind": "artifact-update",
        "taskId": "f8f7",
        "contextId": "fee6",
        "append": False,
        "lastChunk": False,
        "artifact": {
            "artifactId": "f82a",
            "name": "echo",
            "parts": [{"kind": "text", "text": "a"}],
        },
    },
    {
        "kind": "artifact-update",
        "taskId": "f8f7",
        "append": True,
        "artifact": {"artifactId": "f82a", "parts": [{"kind": "text", "text": "b"}]},
    },
    {"kind": "status-update", "taskId": "f8f7", "final": True, "status": {"state": "completed"}},
]


def test_a_1_0_stream_gathers_into_the_blocking_answer() -> None:
    collector = Collector()
    said = [collector.feed(event) for event in V1_STREAM]
    assert said == ["task submitted", "artifact echo", "task completed"]
    result = call_result("a", "echo", collector.answer())
    assert result["content"][0] == {"type": "text", "text": "task hi"}
    assert result["structuredContent"] == {"echo": "task hi"}
    assert result["_meta"]["forge/a2a"]["state"] == "completed"


def test_a_0_3_stream_appends_artifact_chunks() -> None:
    collector = Collector()
    for event in V03_STREAM:
        collector.feed(event)
    answer = collector.answer()
    assert [p.text for p in answer.artifacts[0].parts] == ["a", "b"]
    assert (answer.task_id, answer.context_id, answer.state) == ("f8f7", "fee6", "completed")


def test_a_stream_of_one_message_is_that_message() -> None:
    collector = Collector()
    collector.feed({"message": {"messageId": "m", "parts": [{"text": "hi"}]}})
    assert collector.answer().parts[0].text == "hi"


def test_a_stream_with_nothing_usable_is_refused() -> None:
    with pytest.raises(NotA2AError):
        Collector().answer()
    with pytest.raises(NotA2AError):
        Collector().feed({"statusUpdate": {"status": {"state": "TASK_STATE_WORKING"}}})
