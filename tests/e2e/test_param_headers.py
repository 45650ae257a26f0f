"""A tool with `x-mcp-header` arguments, called through Forge, answers as it answers directly.

The upstream is the official SDK's server (forge.servers.headerecho), which refuses (-32020) a
modern call that lacks the `Mcp-Param-*` headers its schema declares: the call succeeds only if
Forge sends them. A client whose headers contradict its body is refused by Forge as the spec says.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from forge.cli.demo import Demo, register, start_server
from forge.cli.mesh import Mesh
from tests.e2e.conftest import sdk_client

MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
ARGUMENTS = {"region": "eu-west", "text": "hi", "priority": 2}
EXPECTED = "eu-west/2: hi"


@pytest.fixture(scope="module")
def upstream(mesh: Mesh, admin_token: str) -> Iterator[str]:
    """The headerecho server registered as a gateway; yields its direct URL."""
    proc, port = start_server(mesh, "forge.servers.headerecho")
    server = Demo(proc, f"http://127.0.0.1:{port}/mcp")
    try:
        register(mesh, admin_token, "headerecho", server.url)
        yield server.url
    finally:
        server.stop()


async def route_name(mesh: Mesh, token: str) -> str:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as rest:
        tools = (await rest.get(mesh.url + "/tools")).json()
    return next(t["name"] for t in tools if t["name"].endswith("route"))


@pytest.mark.parametrize("mode", ["legacy", MODERN, "auto"])
async def test_the_sdk_client_gets_through_forge_what_it_gets_directly(
    mesh: Mesh, admin_token: str, upstream: str, mode: str
) -> None:
    async with httpx2.AsyncClient(timeout=30) as http:
        async with Client(streamable_http_client(upstream, http_client=http), mode=mode) as direct:
            expected = await direct.call_tool("route", ARGUMENTS)
    assert expected.content[0].text == EXPECTED  # type: ignore[union-attr]
    name = await route_name(mesh, admin_token)
    http, client = sdk_client(mesh.url + "/mcp", admin_token, mode)
    async with http, client:
        listed = {t.name for t in (await client.list_tools()).tools}
        assert name in listed  # a client drops a tool whose annotations it finds invalid
        result = await client.call_tool(name, ARGUMENTS)
    assert result.is_error is False
    assert result.content == expected.content


def raw_call(name: str, **headers: str) -> dict[str, Any]:
    return {
        "headers": {
            "MCP-Protocol-Version": MODERN,
            "Mcp-Method": "tools/call",
            "Mcp-Name": name,
            "Accept": "application/json, text/event-stream",
            **headers,
        },
        "json": {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": name, "arguments": ARGUMENTS, "_meta": META},
        },
    }


@pytest.mark.parametrize("region", ["eu-west", "=?base64?ZXUtd2VzdA==?="], ids=["plain", "base64"])
async def test_a_raw_request_whose_headers_repeat_the_body_is_answered(
    mesh: Mesh, admin_token: str, upstream: str, client: httpx.AsyncClient, region: str
) -> None:
    name = await route_name(mesh, admin_token)
    call = raw_call(name, **{"Mcp-Param-Region": region, "Mcp-Param-Priority": "2"})
    response = await client.post("/mcp", **call)
    assert response.status_code == 200, response.text
    body = (
        response.json() if response.headers["content-type"].startswith("application/json") else None
    )
    assert body is not None, response.text
    assert body["result"]["content"][0]["text"] == EXPECTED


@pytest.mark.parametrize(
    "headers",
    [
        {"Mcp-Param-Region": "us-east", "Mcp-Param-Priority": "2"},
        {"Mcp-Param-Priority": "2"},
        {"Mcp-Param-Region": "eu-west", "Mcp-Param-Priority": "3"},
        {"Mcp-Param-Region": "=?base64?%%%?=", "Mcp-Param-Priority": "2"},
    ],
    ids=["contradicting", "missing", "wrong-integer", "malformed-base64"],
)
async def test_a_header_that_contradicts_the_body_is_refused(
    mesh: Mesh,
    admin_token: str,
    upstream: str,
    client: httpx.AsyncClient,
    headers: dict[str, str],
) -> None:
    name = await route_name(mesh, admin_token)
    response = await client.post("/mcp", **raw_call(name, **headers))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32020
