"""A WebSocket message over FORGE_EDGE_MAX_BODY_BYTES: JSON-RPC error -32008, then close 1009."""

from __future__ import annotations

import asyncio
import json

import httpx2
import pytest
from edge_harness import SECRET, IdentityRegistry, edge_on, router, rpc_body, served, stop, user
from httpx2.websockets import WebSocketDisconnect

from forge.cli.tokens import mint
from forge.core.bus import NatsBus
from forge.core.errors import PAYLOAD_TOO_LARGE
from forge.edge.transports.ws import MESSAGE_TOO_BIG

ALICE = user("alice@example.com", "developer")
LIMIT = 64 * 1024


async def test_a_message_over_the_limit_is_refused_and_the_socket_closed(bus: NatsBus) -> None:
    await IdentityRegistry(bus, [ALICE]).start()
    await router(bus)
    edge = await edge_on(bus, max_body_bytes=LIMIT)
    headers = {"Authorization": f"Bearer {mint(SECRET, ALICE.email)}"}
    try:
        async with served(edge) as url, httpx2.AsyncClient(timeout=10) as http:
            ws_url = url.replace("http://", "ws://") + "/ws"
            async with http.websocket(ws_url, subprotocols=["mcp"], headers=headers) as ws:
                async with asyncio.timeout(10):
                    # At the limit: served as usual.
                    fits = rpc_body("tools/list", {"pad": ""})
                    fits["params"]["pad"] = "x" * (LIMIT - len(json.dumps(fits)))
                    assert len(json.dumps(fits)) == LIMIT
                    await ws.send_text(json.dumps(fits))
                    assert "result" in json.loads(await ws.receive_text())
                    # One byte over: refused without reading it.
                    fits["params"]["pad"] += "x"
                    await ws.send_text(json.dumps(fits))
                    refused = json.loads(await ws.receive_text())
                    assert refused["id"] is None
                    assert refused["error"]["code"] == PAYLOAD_TOO_LARGE
                    with pytest.raises(WebSocketDisconnect) as closed:
                        await ws.receive_text()
                assert closed.value.code == MESSAGE_TOO_BIG
    finally:
        await stop(edge)
