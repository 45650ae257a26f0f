"""A2A agents as MCP tools through the whole mesh: an agent registered over REST (`/a2a`) is a
tool `a2a-<slug>` that the official MCP SDK client lists and calls in both eras; the router sends
the call to the a2a-bridge, which messages the real agent (a2a-sdk's A2A 1.0 echo agent, or the
plain A2A 0.3 one). Bad agents give clear errors and leave the bridge serving."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client, MCPError, types
from mcp.client.streamable_http import streamable_http_client

from forge.cli.mesh import Mesh
from forge.servers.process import ServerProcess, spawn
from tests.e2e.conftest import sdk_client

MODES = ["legacy", "2026-07-28"]


def _spawn(module: str, *args: str) -> Iterator[ServerProcess]:
    with spawn(module, *args, path="/") as agent:
        yield agent


@pytest.fixture(scope="module")
def echo_agent() -> Iterator[ServerProcess]:
    yield from _spawn("forge.agents.echo")


@pytest.fixture(scope="module")
def echo03_agent() -> Iterator[ServerProcess]:
    yield from _spawn("forge.agents.echo03")


def register(mesh: Mesh, token: str, name: str, url: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=mesh.url, headers=headers, timeout=30) as rest:
        for agent in rest.get("/a2a").json():
            if agent["name"] == name:
                rest.delete(f"/a2a/{agent['id']}")
        created = rest.post("/a2a", json={"name": name, "url": url, "visibility": "public"})
        assert created.status_code == 201, created.text
        return created.json()


@pytest.fixture(scope="module")
def echo_tool(mesh: Mesh, admin_token: str, echo_agent: ServerProcess) -> str:
    agent = register(mesh, admin_token, "e2e echo", echo_agent.url)
    assert (agent["protocol_version"], agent["binding"]) == ("1.0", "jsonrpc")
    assert "auth" not in agent
    return f"a2a-{agent['slug']}"


@pytest.fixture(scope="module")
def echo03_tool(mesh: Mesh, admin_token: str, echo03_agent: ServerProcess) -> str:
    agent = register(mesh, admin_token, "e2e echo 03", echo03_agent.url)
    assert agent["protocol_version"] == "0.3"
    return f"a2a-{agent['slug']}"


@pytest.mark.parametrize("mode", MODES)
async def test_the_sdk_client_lists_and_calls_an_a2a_1_0_agent(
    mesh: Mesh, admin_token: str, echo_tool: str, mode: str
) -> None:
    http, client = sdk_client(mesh.url + "/mcp", admin_token, mode)
    async with http, client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools[echo_tool].input_schema["properties"]) >= {"message", "data"}
        result = await client.call_tool(echo_tool, {"message": f"hi {mode}", "data": {"n": 2}})
        assert result.is_error is False
        assert result.content[0].text == f"hi {mode}"  # type: ignore[union-attr]
        assert result.structured_content is not None
        assert result.structured_content["data"] == {"n": 2}
        # A task's ids come back in _meta: the conversation continues in the same context.
        asked = await client.call_tool(echo_tool, {"message": "ask once"})
        meta = (asked.meta or {})["forge/a2a"]
        assert meta["state"] == "input-required"
        more = {"message": "more", "task_id": meta["taskId"], "context_id": meta["contextId"]}
        done = await client.call_tool(echo_tool, more)
        assert (done.meta or {})["forge/a2a"]["state"] == "completed"
        failed = await client.call_tool(echo_tool, {"message": "fail please"})
        assert failed.is_error is True


@pytest.mark.parametrize("mode", MODES)
async def test_a_streaming_agents_updates_reach_the_client_as_progress(
    mesh: Mesh, admin_token: str, echo_tool: str, mode: str
) -> None:
    said: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        said.append(message)

    http, client = sdk_client(mesh.url + "/mcp", admin_token, mode)
    async with http, client:
        result = await client.call_tool(
            echo_tool, {"message": "task streamed"}, progress_callback=on_progress
        )
    assert result.content[0].text == "task streamed"  # type: ignore[union-attr]
    assert said[0] == "task submitted" and said[-1] == "task completed"
    assert "artifact echo" in said


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_answers_the_agents_question_by_elicitation(
    mesh: Mesh, admin_token: str, echo_tool: str, mode: str
) -> None:
    """Legacy: an elicitation request mid-call; 2026-07-28: an input_required round whose
    retry continues the agent's task."""
    asked: list[str] = []

    async def elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"message": "here is more"})

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {admin_token}"}, timeout=30)
    link = streamable_http_client(mesh.url + "/mcp", http_client=http)
    async with http, Client(link, mode=mode, elicitation_callback=elicit) as client:
        result = await client.call_tool(echo_tool, {"message": "ask me something"})
    assert asked == ["what else should I echo?"]
    assert result.content[0].text == "here is more"  # type: ignore[union-attr]
    assert (result.meta or {})["forge/a2a"]["state"] == "completed"


@pytest.mark.parametrize("mode", MODES)
async def test_the_sdk_client_calls_an_a2a_0_3_agent(
    mesh: Mesh, admin_token: str, echo03_tool: str, mode: str
) -> None:
    http, client = sdk_client(mesh.url + "/mcp", admin_token, mode)
    async with http, client:
        assert echo03_tool in {t.name for t in (await client.list_tools()).tools}
        result = await client.call_tool(echo03_tool, {"message": "task old times"})
        assert result.content[0].text == "task old times"  # type: ignore[union-attr]
        assert (result.meta or {})["forge/a2a"]["state"] == "completed"


@pytest.mark.parametrize("mode", MODES)
async def test_bad_agents_get_clear_errors_and_the_bridge_keeps_serving(
    mesh: Mesh, admin_token: str, echo_tool: str, mode: str
) -> None:
    with spawn("forge.agents.echo03", path="/") as doomed:
        gone = register(mesh, admin_token, f"e2e gone {mode}", doomed.url)
    with spawn("forge.agents.echo03", "--broken", path="/") as broken:
        html = register(mesh, admin_token, f"e2e html {mode}", broken.url)
        http, client = sdk_client(mesh.url + "/mcp", admin_token, mode)
        async with http, client:
            with pytest.raises(MCPError) as unreachable:
                await client.call_tool(f"a2a-{gone['slug']}", {"message": "anyone?"})
            assert unreachable.value.code == -32001
            with pytest.raises(MCPError) as not_a2a:
                await client.call_tool(f"a2a-{html['slug']}", {"message": "hello"})
            assert not_a2a.value.code == -32003
            result = await client.call_tool(echo_tool, {"message": "still serving"})
            assert result.content[0].text == "still serving"  # type: ignore[union-attr]
