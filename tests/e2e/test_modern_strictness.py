"""2026-07-28 strictness on every transport: a modern request gets what that era requires
(`resultType`; `ttlMs` and `cacheScope` on cacheable results), its removed methods are not
found, and `server/discover` needs the client's capabilities, over /mcp, /sse and /ws alike;
a legacy request on the same transports is unaffected. The official SDK client in its
default `auto` mode lists tools over every transport."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import mcp_types as types
import pytest
from mcp import Client
from mcp.shared.message import SessionMessage

from forge.cli.mesh import Mesh
from tests.e2e.test_streams import connection

MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": {"name": "strict", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
WITHOUT_CAPABILITIES = {"io.modelcontextprotocol/protocolVersion": MODERN}
LISTS = ("tools/list", "prompts/list", "resources/list", "resources/templates/list")
REMOVED: dict[str, dict[str, Any]] = {
    "initialize": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "strict", "version": "1"},
    },
    "ping": {},
    "logging/setLevel": {"level": "debug"},
    "resources/subscribe": {"uri": "file:///readme"},
    "resources/unsubscribe": {"uri": "file:///readme"},
}
TRANSPORTS = ("mcp", "sse", "ws")
_IDS = itertools.count(1)


class Link:
    """Raw JSON-RPC over one edge transport: (HTTP status or None, the response message)."""

    def __init__(self, mesh: Mesh, token: str, transport: str) -> None:
        self.mesh, self.token, self.transport = mesh, token, transport
        self.streams: Any = None

    async def ask(self, method: str, params: dict[str, Any]) -> tuple[int | None, dict[str, Any]]:
        request_id = next(_IDS)
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        if self.transport == "mcp":
            headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
            if "_meta" in params:
                headers |= {"MCP-Protocol-Version": MODERN, "Mcp-Method": method}
                if "uri" in params and method == "resources/read":
                    headers["Mcp-Name"] = params["uri"]
            async with httpx.AsyncClient(timeout=30) as http:
                answer = await http.post(self.mesh.url + "/mcp", json=body, headers=headers)
            return answer.status_code, answer.json()
        read, write = self.streams
        message = types.JSONRPCRequest(jsonrpc="2.0", id=request_id, method=method, params=params)
        await write.send(SessionMessage(message))
        with anyio.fail_after(30):
            async for incoming in read:
                assert not isinstance(incoming, Exception), incoming
                got = incoming.message.model_dump(by_alias=True, exclude_unset=True)
                if got.get("id") == request_id:
                    return None, got
        raise AssertionError("the transport closed without an answer")


@asynccontextmanager
async def opened(mesh: Mesh, token: str, transport: str) -> AsyncIterator[Link]:
    out = Link(mesh, token, transport)
    if transport == "mcp":
        yield out
        return
    async with connection(mesh, token, transport) as streams:
        out.streams = streams
        yield out


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("method", LISTS)
async def test_a_modern_list_result_carries_result_type_and_cache_hints_on_every_transport(
    mesh: Mesh, admin_token: str, transport: str, demo: dict[str, Any], method: str
) -> None:
    async with opened(mesh, admin_token, transport) as link:
        status, answer = await link.ask(method, {"_meta": META})
        assert status in (None, 200), answer
        result = answer["result"]
        assert result["resultType"] == "complete"
        assert result["ttlMs"] == 0 and result["cacheScope"] == "private"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_modern_discover_and_call_are_complete_on_every_transport(
    mesh: Mesh, admin_token: str, transport: str, demo: dict[str, Any]
) -> None:
    async with opened(mesh, admin_token, transport) as link:
        _, found = await link.ask("server/discover", {"_meta": META})
        assert MODERN in found["result"]["supportedVersions"]
        assert found["result"]["cacheScope"] == "private"
        _, listed = await link.ask("tools/list", {"_meta": META})
        tool = f"{demo['slug']}-echo"  # not any "-echo": A2A agents' tools are a2a-<slug>
        assert tool in {t["name"] for t in listed["result"]["tools"]}
        if link.transport == "mcp":
            return  # /mcp needs Mcp-Name for a call: covered by its own suites
        _, called = await link.ask(
            "tools/call", {"name": tool, "arguments": {"text": "x"}, "_meta": META}
        )
        assert called["result"]["resultType"] == "complete"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_legacy_list_result_on_the_same_transport_is_unchanged(
    mesh: Mesh, admin_token: str, transport: str, demo: dict[str, Any]
) -> None:
    async with opened(mesh, admin_token, transport) as link:
        _, answer = await link.ask("tools/list", {})
        assert "resultType" not in answer["result"] and "ttlMs" not in answer["result"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_server_discover_without_client_capabilities_is_invalid_params(
    mesh: Mesh,
    admin_token: str,
    transport: str,
) -> None:
    async with opened(mesh, admin_token, transport) as link:
        status, answer = await link.ask("server/discover", {"_meta": WITHOUT_CAPABILITIES})
        assert answer["error"]["code"] == -32602
        assert status in (None, 400)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("method", list(REMOVED))
async def test_a_method_removed_in_2026_07_28_is_not_found_for_a_modern_request(
    mesh: Mesh, admin_token: str, transport: str, demo: dict[str, Any], method: str
) -> None:
    async with opened(mesh, admin_token, transport) as link:
        status, answer = await link.ask(method, {**REMOVED[method], "_meta": META})
        assert answer["error"]["code"] == -32601
        assert status in (None, 404)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("method", ["ping", "logging/setLevel"])
async def test_a_removed_method_still_answers_a_legacy_request(
    mesh: Mesh, admin_token: str, transport: str, method: str
) -> None:
    async with opened(mesh, admin_token, transport) as link:
        _, answer = await link.ask(method, REMOVED[method])
        assert answer["result"] == {}


@pytest.mark.parametrize("transport", ["streamable-http", "sse", "ws"])
async def test_the_sdk_client_in_auto_mode_lists_and_calls_on_every_transport(
    mesh: Mesh, admin_token: str, demo: dict[str, Any], transport: str
) -> None:
    async with Client(connection(mesh, admin_token, transport), mode="auto") as client:
        assert client.session.discover_result is not None  # it chose the modern era
        tools = await client.list_tools()
        echo = f"{demo['slug']}-echo"  # not any "-echo": A2A agents' tools are a2a-<slug>
        assert echo in {t.name for t in tools.tools}
        result = await client.call_tool(echo, {"text": "auto"})
        assert result.content[0].text == "auto"  # type: ignore[union-attr]
