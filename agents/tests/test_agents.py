"""The sample agents answer A2A requests of the version they claim, in every shape they offer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from forge.servers.process import ServerProcess, spawn

V1 = {"A2A-Version": "1.0"}


@pytest.fixture(scope="module")
def echo() -> Iterator[ServerProcess]:
    with spawn("forge.agents.echo", path="/") as agent:
        yield agent


@pytest.fixture(scope="module")
def echo03() -> Iterator[ServerProcess]:
    with spawn("forge.agents.echo03", path="/") as agent:
        yield agent


async def rpc(url: str, method: str, params: dict[str, Any], headers: Any = None) -> Any:
    async with httpx2.AsyncClient() as http:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        response = await http.post(url, json=body, headers=headers or {})
        assert response.status_code == 200
        return response.json()


def v1_message(text: str, **extra: Any) -> dict[str, Any]:
    message = {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": text}], **extra}
    return {"message": message}


def v03_message(text: str, **extra: Any) -> dict[str, Any]:
    parts = [{"kind": "text", "text": text}]
    message = {"kind": "message", "messageId": "m1", "role": "user", "parts": parts, **extra}
    return {"message": message}


async def test_the_echo_agent_card_declares_a2a_1_0_jsonrpc_and_http_json(
    echo: ServerProcess,
) -> None:
    async with httpx2.AsyncClient() as http:
        card = (await http.get(f"{echo.url}.well-known/agent-card.json")).json()
    bindings = {(i["protocolBinding"], i["protocolVersion"]) for i in card["supportedInterfaces"]}
    assert bindings == {("JSONRPC", "1.0"), ("HTTP+JSON", "1.0")}
    assert card["capabilities"]["streaming"] is True


async def test_the_echo_agent_answers_send_message_with_text_and_data(echo: ServerProcess) -> None:
    params = v1_message("hello")
    params["message"]["parts"].append({"data": {"n": 1}})
    reply = await rpc(echo.url, "SendMessage", params, V1)
    parts = reply["result"]["message"]["parts"]
    assert parts[0] == {"text": "hello"}
    assert parts[1]["data"]["echo"] == "hello"
    assert parts[1]["data"]["data"] == {"n": 1}


async def test_the_echo_agent_asks_for_input_then_completes_the_task(echo: ServerProcess) -> None:
    first = (await rpc(echo.url, "SendMessage", v1_message("ask me"), V1))["result"]["task"]
    assert first["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    more = v1_message("more", taskId=first["id"], contextId=first["contextId"])
    second = (await rpc(echo.url, "SendMessage", more, V1))["result"]["task"]
    assert (second["id"], second["status"]["state"]) == (first["id"], "TASK_STATE_COMPLETED")


@pytest.mark.parametrize(
    ("text", "state"), [("task hi", "completed"), ("file hi", "completed"), ("fail hi", "failed")]
)
async def test_the_0_3_agent_answers_message_send_with_a_task(
    echo03: ServerProcess, text: str, state: str
) -> None:
    task = (await rpc(echo03.url, "message/send", v03_message(text)))["result"]
    assert (task["kind"], task["status"]["state"]) == ("task", state)
    again = (await rpc(echo03.url, "tasks/get", {"id": task["id"]}))["result"]
    assert again["id"] == task["id"]


async def test_the_0_3_agent_refuses_1_0_methods_and_unknown_tasks(echo03: ServerProcess) -> None:
    assert (await rpc(echo03.url, "SendMessage", v1_message("x"), V1))["error"]["code"] == -32601
    missing = await rpc(echo03.url, "tasks/get", {"id": "nope"})
    assert missing["error"]["code"] == -32001
