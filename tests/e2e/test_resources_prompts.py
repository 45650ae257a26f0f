"""The official MCP SDK client reads resources and gets prompts of an upstream through Forge."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from mcp import MCPError

from forge.cli.mesh import Mesh
from tests.e2e.conftest import sdk_client

MODES = ["legacy", "2026-07-28"]
README = "forge://demo/readme"


@pytest.mark.parametrize("mode", MODES)
async def test_sdk_client_lists_and_reads_upstream_resources_through_forge(
    mesh: Mesh, admin_token: str, demo: dict[str, Any], mode: str
) -> None:
    http, client = sdk_client(mesh.url + "/mcp", admin_token, mode)
    async with http, client:
        listed = await client.list_resources()
        assert README in {str(r.uri) for r in listed.resources}
        read = await client.read_resource(README)
        assert "forge-demo" in read.contents[0].text  # type: ignore[union-attr]
        templates = await client.list_resource_templates()
        assert "forge://demo/numbers/{n}" in {t.uri_template for t in templates.resource_templates}
        numbers = await client.read_resource("forge://demo/numbers/3")
        assert numbers.contents[0].text == "[1, 2, 3]"  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", MODES)
async def test_sdk_client_gets_an_upstream_prompt_by_its_exposed_name(
    mesh: Mesh, admin_token: str, demo: dict[str, Any], mode: str
) -> None:
    http, client = sdk_client(mesh.url + "/mcp", admin_token, mode)
    async with http, client:
        listed = await client.list_prompts()
        assert {"demo-greeting", "demo-summarize"} <= {p.name for p in listed.prompts}
        prompt = await client.get_prompt("demo-greeting", {"name": "Ada"})
        assert "Ada" in prompt.messages[0].content.text  # type: ignore[union-attr]


@pytest.mark.parametrize(("mode", "code"), [("legacy", -32002), ("2026-07-28", -32602)])
async def test_unknown_resource_and_prompt_are_refused_with_the_eras_codes(
    mesh: Mesh, admin_token: str, demo: dict[str, Any], mode: str, code: int
) -> None:
    http, client = sdk_client(mesh.url + "/mcp", admin_token, mode)
    async with http, client:
        with pytest.raises(MCPError) as raised:
            await client.read_resource("forge://nowhere/at-all")
        assert raised.value.code == code
        with pytest.raises(MCPError) as raised:
            await client.get_prompt("no-such-prompt", {})
        assert raised.value.code == -32602


async def test_resources_and_prompts_are_listed_over_rest_with_contextforge_fields(
    demo: dict[str, Any], client: httpx.AsyncClient
) -> None:
    resources = (await client.get("/resources")).json()
    # Other tests register the demo server under other names: pick this gateway's copy.
    readme = next(r for r in resources if r["uri"] == README and r["gatewayId"] == demo["id"])
    assert readme["mimeType"] == "text/plain"
    fetched = await client.get(f"/v1/resources/{readme['id']}")
    assert fetched.status_code == 200
    # One entry's view is the listed one plus its metrics (ContextForge's, issue 13).
    shown = fetched.json()
    assert shown.pop("metrics")["totalExecutions"] >= 0
    assert shown == readme
    prompts = (await client.get("/v1/prompts")).json()
    greeting = next(p for p in prompts if p["name"] == "demo-greeting")
    assert greeting["originalName"] == "greeting"
    assert [a["name"] for a in greeting["arguments"]] == ["name"]
    one = (await client.get(f"/prompts/{greeting['id']}")).json()
    assert one.pop("metrics")["totalExecutions"] >= 0
    assert one == greeting
    assert (await client.get("/prompts/no-such-id")).status_code == 404
