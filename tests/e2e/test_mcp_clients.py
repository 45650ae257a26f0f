"""The official MCP SDK client, in both protocol eras, calls a real upstream tool through Forge."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from mcp import MCPError

from forge.cli.mesh import Mesh
from tests.e2e.conftest import sdk_client

MODES = ["legacy", "2026-07-28", "auto"]


@pytest.mark.parametrize("mode", MODES)
async def test_sdk_client_calls_an_upstream_tool_through_forge(
    mesh: Mesh, admin_token: str, demo: dict[str, Any], mode: str
) -> None:
    http, client = sdk_client(mesh.url + "/mcp", admin_token, mode)
    async with http, client:
        expected = "2025-11-25" if mode == "legacy" else "2026-07-28"
        assert client.protocol_version == expected
        tools = await client.list_tools()
        names = {t.name for t in tools.tools}
        assert "demo-echo" in names
        result = await client.call_tool("demo-echo", {"text": f"hello {mode}"})
        assert result.content[0].text == f"hello {mode}"  # type: ignore[union-attr]
        assert result.is_error is False


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_sdk_client_sees_unknown_tool_as_invalid_params(
    mesh: Mesh, admin_token: str, demo: dict[str, Any], mode: str
) -> None:
    http, client = sdk_client(mesh.url + "/mcp", admin_token, mode)
    async with http, client:
        with pytest.raises(MCPError) as raised:
            await client.call_tool("no-such-tool", {})
        assert raised.value.code == -32602


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_upstream_tool_error_reaches_the_client_as_a_tool_error(
    mesh: Mesh, admin_token: str, demo: dict[str, Any], mode: str
) -> None:
    http, client = sdk_client(mesh.url + "/mcp", admin_token, mode)
    async with http, client:
        result = await client.call_tool("demo-fail", {"message": "boom"})
        assert result.is_error is True


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_sdk_client_works_on_a_virtual_server_endpoint(
    mesh: Mesh, admin_token: str, demo: dict[str, Any], mode: str
) -> None:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {admin_token}"}) as rest:
        tools = (await rest.get(mesh.url + "/tools")).json()
        echo = next(t for t in tools if t["name"] == "demo-echo")
        created = await rest.post(
            mesh.url + "/servers",
            json={"name": f"only-echo-{mode}", "associated_tools": [echo["id"]]},
        )
        assert created.status_code == 201, created.text
        server_id = created.json()["id"]
    http, client = sdk_client(f"{mesh.url}/servers/{server_id}/mcp", admin_token, mode)
    async with http, client:
        listed = await client.list_tools()
        assert [t.name for t in listed.tools] == ["demo-echo"]
        result = await client.call_tool("demo-echo", {"text": "scoped"})
        assert result.content[0].text == "scoped"  # type: ignore[union-attr]
        with pytest.raises(MCPError) as raised:
            await client.call_tool("demo-add", {"a": 1, "b": 2})
        assert raised.value.code == -32602
