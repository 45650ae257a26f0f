"""An agent that answers by calling tools through Forge: the official MCP SDK client calls the
agent's tool (`a2a-<slug>`) on Forge; the router sends it to the a2a-bridge, which messages the
tool-calling agent (a2a-sdk); the agent calls an upstream's tool through Forge's `/mcp` with the
official MCP SDK client and its own bearer token; fastecho answers, and the result comes all the
way back. The agent acts as itself: a tool its token cannot see is an error of the agent's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from forge.cli.mesh import Mesh
from forge.servers.process import ServerProcess, spawn
from tests.e2e import security_kit as kit
from tests.e2e.conftest import sdk_client
from tests.e2e.security_kit import echo_tool, login, make_user, ok, rest

fastecho = kit.fastecho  # a real upstream, one per module
MODES = ["legacy", "2026-07-28"]


def _toolcaller(mesh: Mesh, token: str, directory: Path) -> Iterator[ServerProcess]:
    token_file = directory / "token"
    token_file.write_text(token + "\n")
    args = ("--mcp-url", mesh.url + "/mcp", "--token-file", str(token_file))
    with spawn("forge.agents.toolcaller", *args, path="/") as agent:
        yield agent


@pytest.fixture(scope="module")
def run() -> str:
    return uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def upstream_tool(mesh: Mesh, admin_token: str, fastecho: str, run: str) -> str:
    """fastecho's `echo`, public, as Forge names it."""
    with rest(mesh, admin_token) as http:
        body = {"name": f"tc-{run}", "url": fastecho, "visibility": "public"}
        ok(http.post("/gateways", json=body))
    return str(echo_tool(mesh, admin_token, f"tc-{run}")["name"])


@pytest.fixture(scope="module")
def bot_token(mesh: Mesh, admin_token: str, run: str) -> str:
    """The agent's own identity in Forge: a developer of no team."""
    email = f"toolbot-{run}@example.com"
    make_user(mesh, admin_token, email, "developer")
    return login(mesh, email).token


@pytest.fixture(scope="module")
def toolcaller_tool(
    mesh: Mesh,
    admin_token: str,
    bot_token: str,
    run: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    for agent in _toolcaller(mesh, bot_token, tmp_path_factory.mktemp("toolcaller")):
        with rest(mesh, admin_token) as http:
            body = {"name": f"toolcaller {run}", "url": agent.url, "visibility": "public"}
            created = ok(http.post("/a2a", json=body), 201)
        assert (created["protocol_version"], created["binding"]) == ("1.0", "jsonrpc")
        yield f"a2a-{created['slug']}"


@pytest.mark.parametrize("mode", MODES)
async def test_an_agent_answers_by_calling_an_upstream_tool_through_forge(
    mesh: Mesh, admin_token: str, upstream_tool: str, toolcaller_tool: str, mode: str
) -> None:
    http, client = sdk_client(mesh.url + "/mcp", admin_token, mode)
    async with http, client:
        assert toolcaller_tool in {t.name for t in (await client.list_tools()).tools}
        asked = f'call {upstream_tool} {{"text": "round trip {mode}"}}'
        result = await client.call_tool(toolcaller_tool, {"message": asked})
        assert result.is_error is False
        assert result.content[0].text == f"round trip {mode}"  # type: ignore[union-attr]
        assert result.structured_content is not None
        assert result.structured_content["tool"] == upstream_tool
        # The same through a data part naming the tool and its arguments.
        data = {"tool": upstream_tool, "arguments": {"text": "as data"}}
        by_data = await client.call_tool(toolcaller_tool, {"message": "", "data": data})
        assert by_data.content[0].text == "as data"  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", MODES)
async def test_the_agent_calls_as_itself_and_a_tool_it_cannot_see_is_its_error(
    mesh: Mesh, admin_token: str, fastecho: str, toolcaller_tool: str, run: str, mode: str
) -> None:
    """The admin sees a private gateway's tool; the agent's token (a plain developer) does not:
    the call reaches Forge as the agent, which answers an unknown tool, a failed task."""
    name = f"tc-private-{run}-{mode.replace('-', '')}"
    with rest(mesh, admin_token) as admin:
        ok(admin.post("/gateways", json={"name": name, "url": fastecho, "visibility": "private"}))
    private_tool = echo_tool(mesh, admin_token, name)["name"]
    http, client = sdk_client(mesh.url + "/mcp", admin_token, mode)
    async with http, client:
        asked = f'call {private_tool} {{"text": "not yours"}}'
        result = await client.call_tool(toolcaller_tool, {"message": asked})
    assert result.is_error is True
    assert (result.meta or {})["forge/a2a"]["state"] == "failed"
    assert "-32602" in result.content[0].text  # type: ignore[union-attr]
