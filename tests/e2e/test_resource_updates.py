"""Resource subscriptions through Forge: an upstream's `notifications/resources/updated` reaches
the legacy sessions that subscribed to the URI, on their stream, and stops after unsubscribe."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import httpx2
import pytest
from httpx2.websockets import AsyncWebSocketSession as WebSocket
from httpx2.websockets import WebSocketDisconnect

from forge.cli.demo import start_server
from forge.cli.mesh import Mesh, stop_process
from tests.e2e.conftest import INIT
from tests.e2e.test_transports import events

README = "forge://demo/readme"
MARKER = "forge://demo/numbers/2"
UPDATED = "notifications/resources/updated"


@pytest.fixture(scope="module")
def upstreams(mesh: Mesh, admin_token: str) -> Iterator[dict[str, str]]:
    """The legacy demo server over Streamable HTTP and over SSE: kind → a virtual server id
    offering that gateway's `touch` tool, readme resource and numbers template only."""
    http_proc, http_port = start_server(mesh, "forge.servers.demo", "--era", "legacy")
    sse_proc, sse_port = start_server(mesh, "forge.servers.demo", "--transport", "sse")
    bodies = {
        "http": {"transport": "streamablehttp", "url": f"http://127.0.0.1:{http_port}/mcp"},
        "sse": {"transport": "sse", "url": f"http://127.0.0.1:{sse_port}/sse"},
    }
    headers = {"Authorization": f"Bearer {admin_token}"}
    rest = httpx.Client(base_url=mesh.url, headers=headers, timeout=30)
    gateways: list[str] = []
    servers: dict[str, str] = {}
    try:
        for kind, body in bodies.items():
            name = f"updates-{kind}-{time.monotonic_ns()}"
            created = rest.post("/gateways", json={"name": name, **body})
            assert created.status_code == 201, created.text
            gateway = created.json()["id"]
            gateways.append(gateway)
            tool = next(t for t in rest.get("/tools").json() if t["name"] == f"{name}-touch")
            resource = next(
                r
                for r in rest.get("/resources").json()
                if r["uri"] == README and r["gatewayId"] == gateway
            )
            template = next(
                t for t in rest.get("/resources/templates/list").json() if t["gatewayId"] == gateway
            )
            server = rest.post(
                "/servers",
                json={
                    "name": f"{name}-server",
                    "associated_tools": [tool["id"]],
                    "associated_resources": [resource["id"], template["id"]],
                },
            )
            assert server.status_code == 201, server.text
            servers[kind] = server.json()["id"]
        yield servers
    finally:
        for server_id in servers.values():
            rest.delete(f"/servers/{server_id}")
        for gateway_id in gateways:
            rest.delete(f"/gateways/{gateway_id}")
        rest.close()
        stop_process(http_proc)
        stop_process(sse_proc)


class Session:
    """A legacy session through Forge: its requests, and the messages of its stream."""

    def __init__(self, http: httpx.AsyncClient | None, url: str, headers: dict[str, str]) -> None:
        self.http = http
        self.url = url
        self.headers = headers
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.answers_on_stream = False
        self.ws: WebSocket | None = None
        self.early: list[dict[str, Any]] = []
        self.ids = 0

    async def read(self, received: AsyncIterator[tuple[str, str]]) -> None:
        async for kind, data in received:
            if kind == "message":
                self.messages.put_nowait(json.loads(data))

    async def request(self, method: str, params: Any) -> Any:
        self.ids += 1
        body = {"jsonrpc": "2.0", "id": self.ids, "method": method, "params": params}
        if self.ws is not None:
            await self.ws.send_text(json.dumps(body))
        else:
            assert self.http is not None
            posted = await self.http.post(self.url, json=body, headers=self.headers)
        if self.answers_on_stream:
            assert self.ws is not None or posted.status_code == 202, posted.text
            while (answer := await self.messages.get()).get("id") != self.ids:
                self.early.append(answer)  # an update may come before the answer to a touch
        else:
            assert posted.status_code == 200, posted.text
            answer = posted.json()
        assert "result" in answer, answer
        return answer["result"]

    async def read_ws(self, ws: WebSocket) -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                self.messages.put_nowait(json.loads(await ws.receive_text()))

    async def next_update(self) -> str:
        """The uri of the next resource update on the stream."""
        while True:
            message = self.early.pop(0) if self.early else await self.messages.get()
            if message.get("method") == UPDATED:
                return str(message["params"]["uri"])

    async def touch(self, uri: str) -> int:
        tools = await self.request("tools/list", {})
        touch = next(t["name"] for t in tools["tools"] if t["name"].endswith("-touch"))
        result = await self.request("tools/call", {"name": touch, "arguments": {"uri": uri}})
        return int(result["content"][0]["text"])


@contextlib.asynccontextmanager
async def legacy_session(mesh: Mesh, token: str, server: str, kind: str) -> AsyncIterator[Session]:
    """A session whose stream is open: a Streamable HTTP GET stream, or the SSE transport's."""
    auth = {"Authorization": f"Bearer {token}"}
    if kind == "ws":
        async with legacy_ws(mesh, auth, server) as session:
            yield session
        return
    async with httpx.AsyncClient(headers=auth, timeout=30) as http:
        base = f"{mesh.url}/servers/{server}"
        if kind == "get-stream":
            opened = await http.post(base + "/mcp", json=INIT)
            headers = {"Mcp-Session-Id": opened.headers["mcp-session-id"]}
            session = Session(http, base + "/mcp", headers)
            get = http.stream("GET", base + "/mcp", headers=headers)
        else:
            session = Session(http, "", {})
            session.answers_on_stream = True
            get = http.stream("GET", base + "/sse")
        async with get as stream:
            assert stream.status_code == 200
            received = events(stream)
            if kind == "sse":
                kind_, endpoint = await anext(received)
                assert kind_ == "endpoint"
                session.url = mesh.url + endpoint
            reader = asyncio.create_task(session.read(received))
            try:
                if kind == "sse":
                    await session.request("initialize", INIT["params"])
                yield session
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader


@contextlib.asynccontextmanager
async def legacy_ws(mesh: Mesh, auth: dict[str, str], server: str) -> AsyncIterator[Session]:
    url = mesh.url.replace("http://", "ws://") + f"/servers/{server}/ws"
    async with (
        httpx2.AsyncClient(headers=auth, timeout=30) as http,
        http.websocket(url, subprotocols=["mcp"]) as ws,
    ):
        session = Session(None, "", {})
        session.ws, session.answers_on_stream = ws, True
        reader = asyncio.create_task(session.read_ws(ws))
        try:
            await session.request("initialize", INIT["params"])
            yield session
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


@pytest.mark.parametrize(
    ("kind", "upstream"), [("get-stream", "http"), ("sse", "sse"), ("ws", "http")]
)
async def test_a_subscribed_legacy_session_hears_of_updates_until_it_unsubscribes(
    mesh: Mesh, admin_token: str, upstreams: dict[str, str], kind: str, upstream: str
) -> None:
    async with (
        legacy_session(mesh, admin_token, upstreams[upstream], kind) as session,
        asyncio.timeout(20),
    ):
        await session.request("resources/subscribe", {"uri": README})
        assert await session.touch(README) == 1  # Forge's upstream session subscribed
        assert await session.next_update() == README
        await session.request("resources/unsubscribe", {"uri": README})
        await session.request("resources/subscribe", {"uri": MARKER})
        # The upstream still sends readme's updates (other sessions may watch it); Forge keeps
        # them from this session, so the marker's update is the next one it hears.
        assert await session.touch(README) == 1
        assert await session.touch(MARKER) == 1
        assert await session.next_update() == MARKER
