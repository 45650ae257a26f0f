"""The official SDK client reaches an upstream tool through Forge over SSE and WebSocket, and
legacy sessions keep working when their messages land on another edge replica."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2
import pytest
from httpx2.websockets import WebSocketUpgradeError
from mcp import Client
from mcp.client.sse import sse_client

from forge.cli.mesh import Mesh
from tests.e2e.conftest import INIT
from tests.e2e.mcp_ws import websocket_client


async def events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """(event, data) pairs of an SSE response."""
    event, data = "message", []
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            yield event, "\n".join(data)
            event, data = "message", []


@pytest.mark.parametrize("path", ["/sse", "/servers/{server}/sse"])
async def test_sdk_client_calls_a_tool_over_the_sse_transport(
    mesh: Mesh, admin_token: str, demo: dict[str, Any], path: str
) -> None:
    if "{server}" in path:
        path = path.format(server=await echo_server(mesh, admin_token, "sse"))
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with Client(sse_client(mesh.url + path, headers=headers), mode="legacy") as client:
        result = await client.call_tool("demo-echo", {"text": "over sse"})
        assert result.content[0].text == "over sse"  # type: ignore[union-attr]


@pytest.mark.parametrize("path", ["/ws", "/servers/{server}/ws"])
async def test_sdk_client_calls_a_tool_over_websocket(
    mesh: Mesh, admin_token: str, demo: dict[str, Any], path: str
) -> None:
    if "{server}" in path:
        path = path.format(server=await echo_server(mesh, admin_token, "ws"))
    url = mesh.url.replace("http://", "ws://") + path
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with Client(websocket_client(url, headers), mode="legacy") as client:
        assert client.protocol_version == "2025-11-25"
        result = await client.call_tool("demo-echo", {"text": "over ws"})
        assert result.content[0].text == "over ws"  # type: ignore[union-attr]


async def test_a_websocket_without_a_token_is_refused(mesh: Mesh) -> None:
    url = mesh.url.replace("http://", "ws://") + "/ws"
    with pytest.raises(WebSocketUpgradeError) as raised:
        async with websocket_client(url, {}):
            pass
    assert raised.value.response.status_code == 401


async def echo_server(mesh: Mesh, token: str, label: str) -> str:
    """A virtual server holding only demo-echo."""
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as rest:
        tools = (await rest.get(mesh.url + "/tools")).json()
        echo = next(t for t in tools if t["name"] == "demo-echo")
        created = await rest.post(
            mesh.url + "/servers",
            json={"name": f"echo-{label}-{time.monotonic_ns()}", "associated_tools": [echo["id"]]},
        )
        assert created.status_code == 201, created.text
        return str(created.json()["id"])


async def test_an_sse_session_answers_a_post_that_lands_on_another_replica(
    mesh: Mesh, second_edge: str, admin_token: str, demo: dict[str, Any]
) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(headers=auth, timeout=30) as http:
        async with http.stream("GET", mesh.url + "/sse") as stream:
            received = events(stream)
            kind, endpoint = await anext(received)
            assert kind == "endpoint" and endpoint.startswith("/message?session_id=")
            posted = await http.post(second_edge + endpoint, json=INIT)
            assert posted.status_code == 202
            async with asyncio.timeout(10):
                _, data = await anext(received)
            assert json.loads(data)["result"]["protocolVersion"] == "2025-11-25"
            call = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "demo-echo", "arguments": {"text": "elsewhere"}},
            }
            assert (await http.post(second_edge + endpoint, json=call)).status_code == 202
            async with asyncio.timeout(10):
                _, data = await anext(received)
            answer = json.loads(data)
            assert answer["id"] == 1
            assert answer["result"]["content"][0]["text"] == "elsewhere"


async def test_a_post_to_an_unknown_sse_session_is_not_found(mesh: Mesh, admin_token: str) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(headers=auth) as http:
        response = await http.post(mesh.url + "/message?session_id=bm9wZQ", json=INIT)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == -32009
