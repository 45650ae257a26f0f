"""The guard at the edge: MCP method permissions on every transport, virtual server access,
Origin checks, the 401 challenge, protected-resource metadata, and readiness."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2
import pytest
from edge_harness import (
    SECRET,
    IdentityRegistry,
    client,
    edge_on,
    router,
    rpc_body,
    served,
    stop,
    until,
    user,
)
from httpx2.websockets import WebSocketUpgradeError

from forge.cli.tokens import mint
from forge.core import subjects
from forge.core.bus import Headers, NatsBus
from forge.edge.app import build_edge
from forge.edge.config import EdgeConfig
from forge.proto.access import PERMISSIONS
from forge.proto.identity import Revocation

ALICE = user("alice@example.com", "developer")
VERA = user("vera@example.com", "viewer")
LOCKED = user("locked@example.com", "viewer", permissions=("tools.read", "tools.execute"))
LIST = rpc_body("tools/list")
CALL = rpc_body("tools/call", {"name": "echo"})
MODERN = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": MODERN}


def token(who: Any) -> str:
    return mint(SECRET, who.email)


@pytest.fixture
async def edge(bus: NatsBus) -> AsyncIterator[Any]:
    await IdentityRegistry(bus, [ALICE, VERA, LOCKED]).start()
    await router(bus)
    started = await edge_on(
        bus, public_url="https://forge.example", allowed_origins="https://app.example"
    )
    try:
        yield started
    finally:
        await stop(started)


async def test_a_viewer_lists_tools_but_may_not_call_them_in_either_era(edge: Any) -> None:
    modern = {"Mcp-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": "echo"}
    modern_call = rpc_body("tools/call", {"name": "echo", "_meta": META})
    async with client(edge, token(VERA)) as http:
        assert (await http.post("/mcp", json=LIST)).status_code == 200
        for response in (
            await http.post("/mcp", json=CALL),
            await http.post("/mcp", json=modern_call, headers=modern),
        ):
            assert response.status_code == 403, response.text
            error = response.json()["error"]
            assert error["code"] == -32005
            assert error["message"] == "permission denied: tools/call needs tools.execute"
    async with client(edge, token(ALICE)) as http:
        assert (await http.post("/mcp", json=CALL)).status_code == 200


async def test_virtual_servers_need_servers_use(edge: Any) -> None:
    async with client(edge, token(LOCKED)) as http:
        assert (await http.post("/mcp", json=CALL)).status_code == 200
        response = await http.post("/servers/s-a/mcp", json=LIST)
        assert response.status_code == 403 and response.json()["error"]["code"] == -32005
        assert (await http.get("/servers/s-a/sse")).status_code == 403
    async with client(edge, token(VERA)) as http:
        listed = await http.post("/servers/s-a/mcp", json=LIST)
        assert listed.status_code == 200 and listed.json()["result"]["server_id"] == "s-a"


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("https://forge.example", 200),  # the public URL's own
        ("https://app.example", 200),  # configured
        ("http://localhost:5173", 200),
        ("http://127.0.0.1", 200),
        ("https://[::1]:8443", 200),
        ("https://evil.example", 403),
        ("http://localhost.evil.example", 403),
        ("null", 403),
    ],
)
async def test_the_origin_header_is_checked_on_mcp_endpoints(
    edge: Any, origin: str, status: int
) -> None:
    async with client(edge, token(ALICE), Origin=origin) as http:
        for path in ("/mcp", "/servers/s-a/mcp"):
            response = await http.post(path, json=LIST)
            assert response.status_code == status, (path, response.text)
            if status == 403:
                assert response.json()["error"] == {"code": -32005, "message": "origin not allowed"}
        if status == 403:  # an accepted one would open a stream that never ends
            assert (await http.get("/sse")).status_code == 403


async def test_an_unauthenticated_request_gets_a_challenge_naming_its_metadata(edge: Any) -> None:
    base = "https://forge.example/.well-known/oauth-protected-resource"
    async with client(edge) as http:
        cases = [
            ("POST", "/mcp", f"{base}/mcp"),
            ("POST", "/servers/s-a/mcp", f"{base}/servers/s-a/mcp"),
            ("GET", "/sse", f"{base}/mcp"),
            ("GET", "/servers/s-a/sse", f"{base}/servers/s-a/mcp"),
            ("GET", "/tools", base),
        ]
        for method, path, metadata in cases:
            response = await http.request(method, path, json=LIST)
            assert response.status_code == 401, (path, response.text)
            expected = f'Bearer realm="forge", resource_metadata="{metadata}"'
            assert response.headers["www-authenticate"] == expected
        bad = await http.post("/mcp", json=LIST, headers={"Authorization": "Bearer nope"})
        assert bad.headers["www-authenticate"] == (
            f'Bearer realm="forge", resource_metadata="{base}/mcp", error="invalid_token"'
        )


async def test_protected_resource_metadata_is_public(edge: Any) -> None:
    async with client(edge) as http:
        root = (await http.get("/.well-known/oauth-protected-resource")).json()
        assert (await http.get("/.well-known/oauth-protected-resource/mcp")).json() == root
        server = await http.get("/.well-known/oauth-protected-resource/servers/s-a/mcp")
    assert root == {
        "resource": "https://forge.example/mcp",
        "authorization_servers": ["https://forge.example"],  # the issuer "forge" is no URL
        "bearer_methods_supported": ["header"],
        "scopes_supported": list(PERMISSIONS),
        "resource_name": "Forge",
    }
    assert server.status_code == 200
    assert server.json()["resource"] == "https://forge.example/servers/s-a/mcp"


async def test_an_issuer_url_is_the_authorization_server(bus: NatsBus) -> None:
    await IdentityRegistry(bus, [ALICE]).start()
    edge = await edge_on(bus, jwt_issuer="https://login.example/realms/forge")
    try:
        async with client(edge) as http:
            document = (await http.get("/.well-known/oauth-protected-resource")).json()
        assert document["authorization_servers"] == ["https://login.example/realms/forge"]
        assert document["resource"] == "http://127.0.0.1:4444/mcp"  # host and port by default
    finally:
        await stop(edge)


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    event = ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            yield event, line[6:]


async def test_method_permissions_hold_on_the_sse_transport(edge: Any) -> None:
    async with served(edge) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        headers = {"Authorization": f"Bearer {token(VERA)}"}
        async with http.stream("GET", "/sse", headers=headers) as stream:
            received = sse_events(stream)
            async with asyncio.timeout(10):
                kind, endpoint = await anext(received)
                assert kind == "endpoint"
                posted = await http.post(endpoint, json=CALL, headers=headers)
                assert posted.status_code == 202
                _, answer = await anext(received)
                error = json.loads(answer)["error"]
                assert error["code"] == -32005 and "tools.execute" in error["message"]
                await http.post(
                    endpoint, json=rpc_body("tools/list", request_id=2), headers=headers
                )
                _, listed = await anext(received)
                assert json.loads(listed)["result"]["method"] == "tools/list"
            edge.closing.set()


async def test_websocket_upgrades_are_guarded_and_methods_checked(edge: Any) -> None:
    async with served(edge) as url:
        ws_url = url.replace("http://", "ws://") + "/ws"
        refusals = [
            ({}, 401),
            ({"Authorization": "Bearer nope"}, 401),
            ({"Authorization": f"Bearer {token(ALICE)}", "Origin": "https://evil.example"}, 403),
        ]
        async with httpx2.AsyncClient(timeout=10) as http:
            for headers, status in refusals:
                with pytest.raises(WebSocketUpgradeError) as raised:
                    async with http.websocket(ws_url, subprotocols=["mcp"], headers=headers):
                        pass
                assert raised.value.response.status_code == status
                if status == 401:
                    assert "resource_metadata=" in raised.value.response.headers["www-authenticate"]
            headers = {"Authorization": f"Bearer {token(VERA)}"}
            async with http.websocket(ws_url, subprotocols=["mcp"], headers=headers) as ws:
                await ws.send_text(json.dumps(CALL))
                async with asyncio.timeout(10):
                    refused = json.loads(await ws.receive_text())
                    assert refused["id"] == 1 and refused["error"]["code"] == -32005
                    await ws.send_text(json.dumps(rpc_body("tools/list", request_id=2)))
                    listed = json.loads(await ws.receive_text())
                assert listed["result"]["principal"]["subject"] == VERA.email


async def test_ready_waits_for_the_identity_snapshot(bus: NatsBus) -> None:
    async def healthy(data: bytes, headers: Headers) -> bytes:
        return b'{"result":{"status":"ok"}}'

    for subject in (
        subjects.ROUTER_HEALTH,
        subjects.UPSTREAM_HEALTH,
        subjects.A2A_HEALTH,
        subjects.registry_health(subjects.CATALOG),
    ):
        await bus.serve(subject, healthy)
    config = EdgeConfig(jwt_secret=SECRET, identity_timeout_s=0.2, ready_timeout_s=1)
    edge = build_edge(config, bus)
    await edge.identity.start()
    try:
        async with client(edge, token(ALICE)) as http:
            waiting = await http.get("/ready")
            assert waiting.status_code == 503
            assert waiting.json()["services"]["identity"] != "ok"
            early = await http.post("/mcp", json=LIST)
            assert early.status_code == 503 and early.json()["error"]["code"] == -32000
            await IdentityRegistry(bus, [ALICE]).start()
            async with asyncio.timeout(10):
                await edge.identity.loaded.wait()
            ready = await http.get("/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["services"]["identity"] == "ok"
    finally:
        await stop(edge)


async def test_a_websocket_hears_its_tokens_revocation_on_the_next_request(bus: NatsBus) -> None:
    registry = await IdentityRegistry(bus, [ALICE]).start()
    await router(bus)
    edge = await edge_on(bus)
    jti = uuid.uuid4().hex
    alice = mint(SECRET, ALICE.email, extra={"jti": jti})
    try:
        async with served(edge) as url, httpx2.AsyncClient(timeout=10) as http:
            ws_url = url.replace("http://", "ws://") + "/ws"
            headers = {"Authorization": f"Bearer {alice}"}
            async with http.websocket(ws_url, subprotocols=["mcp"], headers=headers) as ws:
                async with asyncio.timeout(10):
                    await ws.send_text(json.dumps(CALL))
                    assert "result" in json.loads(await ws.receive_text())
                    await registry.publish("revocations", "changed", Revocation(jti=jti))
                    await until(edge, lambda: jti in edge.identity.revoked)
                    await ws.send_text(json.dumps(rpc_body("tools/list", request_id=2)))
                    refused = json.loads(await ws.receive_text())
                assert refused["id"] == 2 and refused["error"]["code"] == -32004
    finally:
        await stop(edge)
