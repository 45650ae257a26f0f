"""Big calls (issue 9, item 9): requests and results above NATS's 1 MiB payload limit cross the
mesh intact on every transport; requests above the body limit get 413 (WebSocket: close 1009);
an upstream with 10,000 tools registers and lists whole."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import httpx2
import pytest
from httpx2.websockets import WebSocketDisconnect
from mcp import Client

from forge.cli.demo import Demo, start_server
from forge.cli.mesh import Mesh
from forge.testing import eventually_sync
from tests.e2e.conftest import INIT
from tests.e2e.mcp_ws import websocket_client
from tests.e2e.security_kit import ok, rest
from tests.e2e.test_bad_input import META, MODERN, modern_call
from tests.e2e.test_streams import connection
from tests.e2e.test_transport_matrix import DOWNSTREAMS
from tests.e2e.test_transports import events

MIB = 1024 * 1024
LIMIT = 4 * MIB  # FORGE_EDGE_MAX_BODY_BYTES's default, which the e2e mesh keeps
TOO_LARGE = -32008
RESULT_TOO_LARGE = -32014
MESSAGE_TOO_BIG = 1009  # the WebSocket close code of a frame over the limit


def text_of(size: int) -> str:
    """`size` characters that change everywhere, so a lost or repeated piece shows."""
    return os.urandom(size // 2 + 1).hex()[:size]


@pytest.fixture(scope="module")
def echo(mesh: Mesh, admin_token: str) -> Iterator[str]:
    """A fastecho upstream (echo, blob) registered publicly; its tools' name prefix."""
    proc, port = start_server(mesh, "forge.servers.fastecho", "--era", "both")
    server = Demo(proc, f"http://127.0.0.1:{port}/mcp")
    name = f"size-{uuid.uuid4().hex[:6]}"
    with rest(mesh, admin_token) as http:
        body = {"name": name, "url": server.url, "transport": "streamablehttp"}
        gateway = ok(http.post("/gateways", json={**body, "visibility": "public"}))
    try:
        yield gateway["slug"]
    finally:
        with rest(mesh, admin_token) as http:
            http.delete(f"/gateways/{gateway['id']}")
        server.stop()


SIZES = {"1.5MiB": MIB * 3 // 2, "3.5MiB": MIB * 7 // 2}


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("downstream", ["http-legacy", "http-modern", "ws"])
async def test_a_large_argument_is_echoed_back_intact(
    mesh: Mesh, admin_token: str, echo: str, downstream: str, size: str
) -> None:
    transport, mode = DOWNSTREAMS[downstream]
    link: AbstractAsyncContextManager[Any]
    if transport == "ws":  # the client's own frame limit is 64 KiB unless told otherwise
        url = mesh.url.replace("http://", "ws://") + "/ws"
        headers = {"Authorization": f"Bearer {admin_token}"}
        link = websocket_client(url, headers, max_message_size=LIMIT + MIB)
    else:
        link = connection(mesh, admin_token, transport)
    text = text_of(SIZES[size])
    async with Client(link, mode=mode) as client:
        result = await client.call_tool(f"{echo}-echo", {"text": text})
    assert not result.is_error
    assert result.content[0].text == text  # type: ignore[union-attr]


@pytest.mark.parametrize("size", list(SIZES))
async def test_a_large_argument_is_echoed_back_intact_over_sse(
    mesh: Mesh, admin_token: str, echo: str, size: str
) -> None:
    # By hand: the SDK's SSE client reads no event over 1 MiB.
    text = text_of(SIZES[size])
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": f"{echo}-echo", "arguments": {"text": text}},
    }
    auth = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(headers=auth, timeout=30) as http:
        async with http.stream("GET", mesh.url + "/sse") as stream:
            received = events(stream)
            kind, endpoint = await anext(received)
            assert kind == "endpoint"
            async with asyncio.timeout(20):
                assert (await http.post(mesh.url + endpoint, json=INIT)).status_code == 202
                await anext(received)
                initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
                await http.post(mesh.url + endpoint, json=initialized)
                assert (await http.post(mesh.url + endpoint, json=call)).status_code == 202
                _, data = await anext(received)
    answer = json.loads(data)
    assert answer["id"] == 1
    assert answer["result"]["content"][0]["text"] == text


def _oversized_call(name: str) -> bytes:
    return json.dumps(modern_call(name, {"text": "x" * (5 * MIB)})["json"]).encode()


@pytest.mark.parametrize("era", ["modern", "legacy"])
async def test_a_request_over_the_body_limit_is_413_over_streamable_http(
    mesh: Mesh, admin_token: str, echo: str, era: str
) -> None:
    name = f"{echo}-echo"
    headers = {"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"}
    if era == "modern":
        headers |= {"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": name}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        if era == "legacy":
            opened = await http.post(mesh.url + "/mcp", json=INIT)
            headers = {"Mcp-Session-Id": opened.headers["mcp-session-id"]}
        response = await http.post(
            mesh.url + "/mcp", content=_oversized_call(name), headers=headers
        )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == TOO_LARGE


async def test_a_request_over_the_body_limit_is_413_over_sse(
    mesh: Mesh, admin_token: str, echo: str
) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(headers=auth, timeout=30) as http:
        async with http.stream("GET", mesh.url + "/sse") as stream:
            kind, endpoint = await anext(events(stream))
            assert kind == "endpoint"
            response = await http.post(
                mesh.url + endpoint,
                content=_oversized_call(f"{echo}-echo"),
                headers={"Content-Type": "application/json"},
            )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == TOO_LARGE


@pytest.mark.parametrize("size", [LIMIT + 64 * 1024, 5 * MIB], ids=["just-over", "5MiB"])
async def test_a_message_over_the_body_limit_closes_a_websocket_with_1009(
    mesh: Mesh, admin_token: str, echo: str, size: int
) -> None:
    url = mesh.url.replace("http://", "ws://") + "/ws"
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        http.websocket(url, subprotocols=["mcp"]) as ws,
    ):
        await ws.send_text(json.dumps(INIT))
        assert "result" in json.loads(await ws.receive_text())
        call = modern_call(f"{echo}-echo", {"text": "x" * size})["json"]
        await ws.send_text(json.dumps(call))
        refusals = []
        with pytest.raises(WebSocketDisconnect) as closed:
            async with asyncio.timeout(10):
                while True:  # the edge says why first when it read the frame (-32008, id null)
                    refusals.append(json.loads(await ws.receive_text()))
    assert closed.value.code == MESSAGE_TOO_BIG
    assert refusals or size >= LIMIT + MIB  # farther over, the server drops the frame unread
    assert all(r["error"]["code"] == TOO_LARGE and r["id"] is None for r in refusals)


async def _call_blob(mesh: Mesh, token: str, name: str, size: int) -> httpx.Response:
    call = modern_call(name, {"size": size})
    headers = {"Authorization": f"Bearer {token}", **call["headers"]}
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(mesh.url + "/mcp", json=call["json"], headers=headers)


async def test_a_ten_mib_result_under_the_result_limit_arrives_whole(
    mesh: Mesh, admin_token: str, echo: str
) -> None:
    response = await _call_blob(mesh, admin_token, f"{echo}-blob", 10 * MIB)
    assert response.status_code == 200
    result = response.json()["result"]
    assert result["content"][0]["text"] == "x" * (10 * MIB)


async def test_a_result_over_the_result_limit_is_a_clear_error(
    mesh: Mesh, admin_token: str, echo: str
) -> None:
    # FORGE_UPSTREAM_PROXY_MAX_RESULT_BYTES is 16 MiB by default.
    response = await _call_blob(mesh, admin_token, f"{echo}-blob", 17 * MIB)
    assert response.status_code == 200
    assert response.json()["error"]["code"] == RESULT_TOO_LARGE


def _listed(mesh: Mesh, token: str, prefix: str, want: int) -> set[str]:
    """Every tool named `prefix…`, walking tools/list page by page (polling until `want`)."""
    headers = {
        "Authorization": f"Bearer {token}",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "tools/list",
    }
    with httpx.Client(base_url=mesh.url, headers=headers, timeout=30) as http:

        def walk() -> tuple[set[str], int] | None:
            found: set[str] = set()
            cursor = None
            pages = 0
            while True:
                params: dict[str, Any] = {"_meta": META}
                if cursor is not None:
                    params["cursor"] = cursor
                body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": params}
                result = ok(http.post("/mcp", json=body))["result"]
                pages += 1
                found |= {t["name"] for t in result["tools"] if t["name"].startswith(prefix)}
                cursor = result.get("nextCursor")
                if not cursor:
                    break
            return (found, pages) if len(found) >= want else None

        found, pages = eventually_sync(
            walk, within_s=15, every_s=0.2, what=f"{want} tools named {prefix}… are listed"
        )
        assert pages > 1  # a list this long comes in pages
        return found


def test_an_upstream_with_ten_thousand_tools_registers_and_lists_whole(
    mesh: Mesh, admin_token: str
) -> None:
    proc, port = start_server(mesh, "forge.servers.fastecho", "--tools", "10000")
    server = Demo(proc, f"http://127.0.0.1:{port}/mcp")
    name = f"many-{uuid.uuid4().hex[:6]}"
    gateway = None
    try:
        with rest(mesh, admin_token) as http:
            body = {"name": name, "url": server.url, "transport": "streamablehttp"}
            gateway = ok(http.post("/gateways", json={**body, "visibility": "public"}))
        wanted = {f"{gateway['slug']}-tool_{n:05d}" for n in range(1, 10_001)}
        found = _listed(mesh, admin_token, f"{gateway['slug']}-tool_", len(wanted))
        assert found == wanted
    finally:
        if gateway is not None:
            with rest(mesh, admin_token) as http:
                http.delete(f"/gateways/{gateway['id']}")
        server.stop()
