"""The tool-calling agent answers an A2A message by calling the MCP tool it names, on a real MCP
server (fastecho) with the official MCP SDK client, and says clearly what went wrong otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from forge.servers.process import ServerProcess, spawn

V1 = {"A2A-Version": "1.0"}


@pytest.fixture(scope="module")
def fastecho() -> Iterator[ServerProcess]:
    with spawn("forge.servers.fastecho", "--era", "both") as server:
        yield server


@pytest.fixture(scope="module")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("toolcaller") / "token"
    path.write_text("not-needed-by-fastecho\n")
    return path


@pytest.fixture(scope="module")
def toolcaller(fastecho: ServerProcess, token_file: Path) -> Iterator[ServerProcess]:
    args = ("--mcp-url", fastecho.url, "--token-file", str(token_file))
    with spawn("forge.agents.toolcaller", *args, path="/") as agent:
        yield agent


async def send(url: str, text: str, data: Any = None) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"text": text}]
    if data is not None:
        parts.append({"data": data})
    message = {"messageId": "m1", "role": "ROLE_USER", "parts": parts}
    body = {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": message}}
    async with httpx2.AsyncClient(timeout=30) as http:
        response = await http.post(url, json=body, headers=V1)
    assert response.status_code == 200
    result: dict[str, Any] = response.json()["result"]
    return result


def failure(result: dict[str, Any]) -> tuple[str, str]:
    status = result["task"]["status"]
    return status["state"], status["message"]["parts"][0]["text"]


async def test_a_call_message_is_answered_with_the_tools_result(toolcaller: ServerProcess) -> None:
    result = await send(toolcaller.url, 'call echo {"text": "through the tool"}')
    parts = result["message"]["parts"]
    assert parts[0] == {"text": "through the tool"}
    assert parts[1]["data"] == {"tool": "echo", "isError": False, "structuredContent": None}


async def test_a_data_part_names_the_tool_and_its_arguments(toolcaller: ServerProcess) -> None:
    asked = {"tool": "echo", "arguments": {"text": "from data"}}
    result = await send(toolcaller.url, "", asked)
    assert result["message"]["parts"][0] == {"text": "from data"}


async def test_tools_lists_what_the_endpoint_offers(toolcaller: ServerProcess) -> None:
    result = await send(toolcaller.url, "tools")
    assert "echo" in result["message"]["parts"][1]["data"]["tools"]


async def test_an_unknown_tool_is_a_failed_task_naming_the_mcp_error(
    toolcaller: ServerProcess,
) -> None:
    state, said = failure(await send(toolcaller.url, "call no_such_tool {}"))
    assert state == "TASK_STATE_FAILED"
    assert "-32602" in said


@pytest.mark.parametrize("text", ["hello", "call echo [1, 2]", "call echo {not json"])
async def test_a_message_that_names_no_tool_is_rejected_with_how_to_ask(
    toolcaller: ServerProcess, text: str
) -> None:
    state, said = failure(await send(toolcaller.url, text))
    assert state == "TASK_STATE_REJECTED"
    assert "call <tool>" in said


async def test_an_endpoint_that_cannot_be_reached_is_a_failed_task(token_file: Path) -> None:
    with spawn("forge.servers.fastecho") as gone:
        url = gone.url
    args = ("--mcp-url", url, "--token-file", str(token_file))
    with spawn("forge.agents.toolcaller", *args, path="/") as agent:
        state, said = failure(await send(agent.url, 'call echo {"text": "x"}'))
    assert state == "TASK_STATE_FAILED"
    assert "cannot be reached" in said
