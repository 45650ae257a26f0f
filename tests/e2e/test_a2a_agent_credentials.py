"""Agents' credentials through the whole mesh: registered over REST (`/a2a`, ContextForge's flat
fields), sealed by the registry, opened by the a2a-bridge, and seen by a real agent (the A2A 0.3
agent with `--show-auth`) when the official MCP SDK client calls its tool. OAuth client
credentials go to a real local token endpoint; a refused token is replaced once."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from forge.cli.mesh import Mesh
from forge.servers.process import spawn
from forge.testing.oauth_server import OAuthServer
from tests.e2e.conftest import sdk_client
from tests.e2e.security_kit import ok, rest


def _register(mesh: Mesh, token: str, body: dict[str, Any], *secrets: str) -> str:
    with rest(mesh, token) as http:
        response = http.post("/a2a", json=body)
        created = ok(response, 201)
        for secret in secrets:
            assert secret not in response.text
            assert secret not in http.get(f"/a2a/{created['id']}").text
    return f"a2a-{created['slug']}"


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_an_oauth_client_credentials_agent_gets_a_token_from_the_endpoint(
    mesh: Mesh, admin_token: str, mode: str
) -> None:
    with (
        OAuthServer() as oauth,
        spawn("forge.agents.echo03", "--show-auth", "--refuse-first", path="/") as agent,
    ):
        oauth_config = {
            "grant_type": "client_credentials",
            "token_url": oauth.token_url,
            "client_id": "forge",
            "client_secret": "forge-secret",
            "scopes": ["agents"],
        }
        body = {
            "name": f"oauth agent {uuid.uuid4().hex[:6]}",
            "url": agent.url,
            "visibility": "public",
            "auth_type": "oauth",
            "oauth_config": oauth_config,
        }
        tool = _register(mesh, admin_token, body, "forge-secret")
        http, client = sdk_client(mesh.url + "/mcp", admin_token, mode)
        async with http, client:
            first = await client.call_tool(tool, {"message": "one"})
            second = await client.call_tool(tool, {"message": "two"})
        grants = oauth.grants("client_credentials")
    assert first.is_error is False and second.is_error is False
    # The agent refused the first token (401): the bridge got another, then kept it.
    assert len(grants) == 2
    assert all(g.client_id == "forge" and g.form["scope"] == "agents" for g in grants)
    seen = {r.structured_content["authorization"] for r in (first, second)}  # type: ignore[index]
    assert len(seen) == 1 and seen.pop().startswith("Bearer at-")


async def test_a_query_param_agent_gets_its_key_in_the_query(mesh: Mesh, admin_token: str) -> None:
    with spawn("forge.agents.echo03", "--show-auth", path="/") as agent:
        body = {
            "name": f"keyed agent {uuid.uuid4().hex[:6]}",
            "url": agent.url,
            "visibility": "public",
            "auth_type": "query_param",
            "auth_query_param_key": "api_key",
            "auth_query_param_value": "k3y-value",
        }
        tool = _register(mesh, admin_token, body, "k3y-value")
        http, client = sdk_client(mesh.url + "/mcp", admin_token, "2026-07-28")
        async with http, client:
            result = await client.call_tool(tool, {"message": "keyed"})
    assert result.is_error is False
    assert result.structured_content is not None
    assert result.structured_content["query"] == "api_key=k3y-value"
