"""A virtual server that exposes original names (and aliases), through the real mesh, with the
official MCP SDK client; the gateway-wide /mcp keeps the prefixed catalog names."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from mcp import MCPError

from forge.cli.mesh import Mesh
from tests.e2e.conftest import sdk_client


async def _server(mesh: Mesh, token: str, body: dict[str, Any]) -> httpx2.Response:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as rest:
        tools = {t["name"]: t["id"] for t in (await rest.get(mesh.url + "/tools")).json()}
        body = {**body, "associated_tools": [tools["demo-echo"], tools["demo-add"]]}
        created = await rest.post(mesh.url + "/servers", json=body)
        if created.status_code == 201:  # round trip: REST gives back what was composed
            fetched = await rest.get(f"{mesh.url}/servers/{created.json()['id']}")
            assert fetched.json()["aliases"] == created.json()["aliases"]
        return created


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_sdk_client_calls_tools_by_original_name_and_alias_on_a_virtual_server(
    mesh: Mesh, admin_token: str, demo: dict[str, Any], mode: str
) -> None:
    body = {"name": f"originals-{mode}", "original_names": True, "aliases": {"demo-add": "plus"}}
    created = await _server(mesh, admin_token, body)
    assert created.status_code == 201, created.text
    assert created.json()["original_names"] is True
    http, client = sdk_client(f"{mesh.url}/servers/{created.json()['id']}/mcp", admin_token, mode)
    async with http, client:
        listed = await client.list_tools()
        assert [t.name for t in listed.tools] == ["echo", "plus"]
        result = await client.call_tool("echo", {"text": f"original {mode}"})
        assert result.content[0].text == f"original {mode}"  # type: ignore[union-attr]
        added = await client.call_tool("plus", {"a": 2, "b": 3})
        assert added.is_error is False
    http, client = sdk_client(mesh.url + "/mcp", admin_token, mode)
    async with http, client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "demo-echo" in names and "echo" not in names and "plus" not in names
        with pytest.raises(MCPError) as raised:
            await client.call_tool("plus", {"a": 2, "b": 3})
        assert raised.value.code == -32602


async def test_a_name_clash_within_a_server_is_refused_over_rest(
    mesh: Mesh, admin_token: str, demo: dict[str, Any]
) -> None:
    body = {"name": "clash", "original_names": True, "aliases": {"demo-echo": "add"}}
    refused = await _server(mesh, admin_token, body)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == -32007
    assert refused.json()["data"]["name"] == "add"
