"""List changes reach clients: a legacy session's GET stream and a modern `subscriptions/listen`."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.subscriptions import ToolsListChanged

from forge.cli.mesh import Mesh
from tests.e2e.test_transports import INIT, events


@asynccontextmanager
async def another_gateway(mesh: Mesh, token: str, demo: dict[str, Any]) -> AsyncIterator[None]:
    """Register the demo server once more under a new name; remove it afterwards."""
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=auth, timeout=30) as http:
        body = {"name": f"again-{time.monotonic_ns()}", "url": demo["url"]}
        created = await http.post(mesh.url + "/gateways", json=body)
        assert created.status_code == 201, created.text
        try:
            yield
        finally:
            await http.delete(f"{mesh.url}/gateways/{created.json()['id']}")


async def test_a_legacy_get_stream_hears_of_a_new_gateways_tools(
    mesh: Mesh, admin_token: str, demo: dict[str, Any]
) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(headers=auth, timeout=30) as http:
        session = (await http.post(mesh.url + "/mcp", json=INIT)).headers["mcp-session-id"]
        headers = {"Mcp-Session-Id": session, "Accept": "text/event-stream"}
        async with http.stream("GET", mesh.url + "/mcp", headers=headers) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            async with another_gateway(mesh, admin_token, demo), asyncio.timeout(10):
                async for _, data in events(stream):
                    if json.loads(data)["method"] == "notifications/tools/list_changed":
                        break


async def test_a_get_stream_needs_a_valid_session(mesh: Mesh, admin_token: str) -> None:
    auth = {"Authorization": f"Bearer {admin_token}", "Mcp-Session-Id": "bm9wZQ"}
    async with httpx.AsyncClient(headers=auth) as http:
        response = await http.get(mesh.url + "/mcp")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == -32009


async def test_a_modern_listen_stream_hears_of_a_new_gateways_tools(
    mesh: Mesh, admin_token: str, demo: dict[str, Any]
) -> None:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {admin_token}"}, timeout=30)
    client = Client(streamable_http_client(mesh.url + "/mcp", http_client=http), mode="2026-07-28")
    async with http, client, client.listen(tools_list_changed=True) as subscription:
        assert subscription.honored.tools_list_changed is True
        assert not subscription.honored.prompts_list_changed
        async with another_gateway(mesh, admin_token, demo), asyncio.timeout(10):
            assert isinstance(await anext(subscription), ToolsListChanged)
