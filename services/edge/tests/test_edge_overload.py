"""Overload at the edge, on a real nats-server: past its bound on MCP requests in flight the edge
answers 503 with `Retry-After` and a JSON-RPC error (-32015) at once, and a router at its own
bound makes the edge answer the same; both serve normally once the calls in flight are done. The
MCP SDK's client reads that 503 as the JSON-RPC error it carries (code and data), not as a bare
HTTP failure; it does not retry by itself."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import httpx2
import msgspec
import pytest
from edge_harness import SECRET, IdentityRegistry, client, edge_on, rpc_body, served, stop, user
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from forge.cli.tokens import mint
from forge.core import rpc, subjects
from forge.core.bus import RETRY_AFTER_S, NatsBus
from forge.core.errors import OVERLOADED
from forge.edge.state import Edge
from forge.proto.envelope import Envelope

ALICE = user("alice@example.com", "developer")
HOLD = rpc_body("tools/call", {"name": "hold"})
QUICK = rpc_body("tools/call", {"name": "quick"})
MODERN = "2026-07-28"
_PARAMS = msgspec.json.Decoder(dict[str, Any])
INITIALIZED = (
    b'{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},'
    b'"serverInfo":{"name":"holding-router","version":"1"}}'
)


@dataclass
class HoldingRouter:
    """A router whose `hold` tool answers only once released; `quick` answers at once."""

    held: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, envelope: Envelope) -> bytes:
        if envelope.method == "initialize":
            return INITIALIZED
        if envelope.method == "tools/list":  # the SDK client lists before its first call
            return b'{"tools":[{"name":"quick","inputSchema":{"type":"object"}}]}'
        if _PARAMS.decode(envelope.params).get("name") == "hold":
            self.held += 1
            self.changed.set()
            await self.release.wait()
        return b'{"content":[{"type":"text","text":"done"}]}'

    async def holding(self, count: int) -> None:
        while self.held < count:
            self.changed.clear()
            await self.changed.wait()


@pytest.fixture
async def router_bus(nats_url: str) -> AsyncIterator[NatsBus]:
    """The router's own connection, bounded at one envelope in flight."""
    connected = await NatsBus.connect(nats_url, "router", max_inflight=1)
    try:
        yield connected
    finally:
        await connected.close()


async def _edge(bus: NatsBus, router_bus: NatsBus, **settings: Any) -> tuple[Edge, HoldingRouter]:
    await IdentityRegistry(bus, [ALICE]).start()
    router = HoldingRouter()
    await rpc.serve_envelopes(router_bus, subjects.ROUTER_RPC, router.handle, queue=None)
    await router_bus.flush()
    return await edge_on(bus, **settings), router


def _refused(response: Any, request_id: int | None) -> None:
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(RETRY_AFTER_S)
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["id"] == request_id
    assert body["error"]["code"] == OVERLOADED
    assert body["error"]["data"] == {"retry_after_s": RETRY_AFTER_S}


async def test_past_its_bound_the_edge_answers_503_with_retry_after_at_once_and_serves_after(
    bus: NatsBus, router_bus: NatsBus
) -> None:
    router_bus.max_inflight = 100  # only the edge's bound is under test here
    edge, router = await _edge(bus, router_bus, max_inflight=2)
    headers = {"Authorization": f"Bearer {mint(SECRET, ALICE.email)}"}
    try:
        # Over a real socket (uvicorn, as in production), one keep-alive connection for the
        # refused requests and the next one: refusing without reading the body keeps it usable.
        async with (
            served(edge) as url,
            httpx.AsyncClient(base_url=url, headers=headers) as http,
            httpx.AsyncClient(base_url=url, headers=headers) as holding,
            asyncio.timeout(30),
        ):
            held = [
                asyncio.create_task(
                    holding.post("/mcp", json=rpc_body("tools/call", {"name": "hold"}, n))
                )
                for n in (1, 2)
            ]
            await router.holding(2)
            assert edge.mcp_inflight == 2
            # Both eras, refused before the body or the token is read: the id is unknown.
            first = await http.post("/mcp", json=QUICK)
            _refused(first, None)
            modern = {
                "MCP-Protocol-Version": MODERN,
                "Mcp-Method": "tools/call",
                "Mcp-Name": "quick",
            }
            _refused(await http.post("/mcp", json=QUICK, headers=modern), None)
            _refused(await http.post("/servers/s-1/mcp", json=QUICK), None)
            assert not any(task.done() for task in held)
            router.release.set()
            assert [(await task).status_code for task in held] == [200, 200]
            assert edge.mcp_inflight == 0
            answered = await http.post("/mcp", json=QUICK)
            assert answered.status_code == 200
            assert answered.json()["result"]["content"][0]["text"] == "done"
            assert _local_port(answered) == _local_port(first)
    finally:
        router.release.set()
        await stop(edge)


def _local_port(response: httpx.Response) -> int:
    """The client's port of the connection a response came on."""
    port: int = response.extensions["network_stream"].get_extra_info("client_addr")[1]
    return port


async def test_a_router_at_its_bound_makes_the_edge_answer_503_with_retry_after(
    bus: NatsBus, router_bus: NatsBus
) -> None:
    edge, router = await _edge(bus, router_bus)
    try:
        async with client(edge, mint(SECRET, ALICE.email)) as http, asyncio.timeout(30):
            held = asyncio.create_task(http.post("/mcp", json=HOLD))
            await router.holding(1)
            _refused(await http.post("/mcp", json=rpc_body("tools/call", {"name": "quick"}, 7)), 7)
            assert router_bus.refused == 1
            assert not held.done()
            router.release.set()
            assert (await held).status_code == 200
            answered = await http.post("/mcp", json=QUICK)
            assert answered.status_code == 200
    finally:
        router.release.set()
        await stop(edge)


async def test_an_mcp_sdk_client_sees_the_edges_refusal_as_a_retryable_error(
    bus: NatsBus, router_bus: NatsBus
) -> None:
    router_bus.max_inflight = 100
    edge, router = await _edge(bus, router_bus, max_inflight=1)
    headers = {"Authorization": f"Bearer {mint(SECRET, ALICE.email)}"}
    try:
        async with (
            served(edge) as url,
            httpx2.AsyncClient(headers=headers, timeout=30) as http,
            Client(streamable_http_client(url + "/mcp", http_client=http), mode="legacy") as sdk,
            httpx.AsyncClient(base_url=url, headers=headers) as holding,
            asyncio.timeout(30),
        ):
            await sdk.list_tools()  # so that what is refused below is the call itself
            held = asyncio.create_task(holding.post("/mcp", json=HOLD))
            await router.holding(1)
            with pytest.raises(MCPError) as refused:
                await sdk.call_tool("quick", {})
            assert refused.value.error.code == OVERLOADED
            assert refused.value.error.data == {"retry_after_s": RETRY_AFTER_S}
            router.release.set()
            assert (await held).status_code == 200
            result = await sdk.call_tool("quick", {})
            assert result.content[0].text == "done"  # type: ignore[union-attr]
    finally:
        router.release.set()
        await stop(edge)
