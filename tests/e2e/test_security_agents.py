"""Agents and identity through the whole mesh: a user's private agent is a tool only its owner
sees and calls; another team's user does not see it on /mcp or REST, and calling it by name is
an unknown tool (-32602), as for any tool they cannot see."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from mcp import MCPError

from forge.cli.mesh import Mesh
from forge.servers.process import ServerProcess, spawn
from tests.e2e.conftest import sdk_client
from tests.e2e.security_kit import login, make_user, ok, rest


@pytest.fixture(scope="module")
def echo_agent() -> Iterator[ServerProcess]:
    with spawn("forge.agents.echo", path="/") as agent:
        yield agent


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_a_private_agent_is_its_owners_tool_alone(
    mesh: Mesh, admin_token: str, echo_agent: ServerProcess, mode: str
) -> None:
    run = uuid.uuid4().hex[:6]
    emails = {k: f"{k}-{run}@example.com" for k in ("alice", "bob")}
    for email in emails.values():
        make_user(mesh, admin_token, email, "developer")
    alice, bob = login(mesh, emails["alice"]), login(mesh, emails["bob"])
    with rest(mesh, alice.token) as http:
        body = {"name": f"private echo {run}", "url": echo_agent.url, "visibility": "private"}
        agent = ok(http.post("/a2a", json=body), 201)
    tool = f"a2a-{agent['slug']}"
    with rest(mesh, bob.token) as http:
        assert agent["id"] not in {a["id"] for a in ok(http.get("/a2a"))}
    http_b, bob_client = sdk_client(mesh.url + "/mcp", bob.token, mode)
    async with http_b, bob_client:
        assert tool not in {t.name for t in (await bob_client.list_tools()).tools}
        with pytest.raises(MCPError) as unknown:
            await bob_client.call_tool(tool, {"message": "let me in"})
        assert unknown.value.code == -32602
    http_a, alice_client = sdk_client(mesh.url + "/mcp", alice.token, mode)
    async with http_a, alice_client:
        assert tool in {t.name for t in (await alice_client.list_tools()).tools}
        result = await alice_client.call_tool(tool, {"message": "mine"})
        assert result.content[0].text == "mine"  # type: ignore[union-attr]
