"""Multi round-trip requests (2026-07-28) through the whole mesh: a modern client answers a
legacy upstream's elicitation, sampling and roots requests as input_required rounds, and a modern
upstream's own rounds pass through."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mcp import Client, MCPError

from forge.cli.demo import start_server
from forge.cli.mesh import Mesh, stop_process
from tests.e2e.test_streams import connection, elicit, roots, sample

MODERN = "2026-07-28"
# A legacy upstream over each transport whose server-to-client requests arrive differently:
# on the POST's event stream, on the SSE transport's stream, on a child's stdout.
LEGACY = {"http": "mrtr-http", "sse": "mrtr-sse", "stdio": "mrtr-stdio"}


@pytest.fixture(scope="module")
def legacy(mesh: Mesh, admin_token: str) -> Iterator[dict[str, str]]:
    """The demo server as a 2025-11-25-only upstream, per transport: kind → gateway name."""
    http_proc, http_port = start_server(mesh, "forge.servers.demo", "--era", "legacy")
    sse_proc, sse_port = start_server(mesh, "forge.servers.demo", "--transport", "sse")
    stdio = [sys.executable, "-m", "forge.servers.demo", "--transport", "stdio"]
    bodies: list[dict[str, object]] = [
        {"transport": "streamablehttp", "url": f"http://127.0.0.1:{http_port}/mcp"},
        {"transport": "sse", "url": f"http://127.0.0.1:{sse_port}/sse"},
        {"transport": "stdio", "command": stdio},
    ]
    headers = {"Authorization": f"Bearer {admin_token}"}
    rest = httpx.Client(base_url=mesh.url, headers=headers, timeout=30)
    created: list[str] = []
    try:
        for name, body in zip(LEGACY.values(), bodies, strict=True):
            response = rest.post("/gateways", json={"name": name, **body})
            assert response.status_code == 201, response.text
            created.append(response.json()["id"])
        yield LEGACY
    finally:
        for gateway_id in created:
            rest.delete(f"/gateways/{gateway_id}")
        rest.close()
        stop_process(http_proc)
        stop_process(sse_proc)


@pytest.mark.parametrize("kind", list(LEGACY))
async def test_a_modern_client_answers_a_legacy_upstreams_elicitation_as_an_input_round(
    mesh: Mesh, admin_token: str, legacy: dict[str, str], kind: str
) -> None:
    link = connection(mesh, admin_token, "streamable-http")
    async with Client(link, mode=MODERN, elicitation_callback=elicit) as client:
        result = await client.call_tool(f"{legacy[kind]}-ask", {"question": "go"})
    assert result.content[0].text == "yes to go"  # type: ignore[union-attr]


async def test_a_modern_client_answers_a_legacy_upstreams_sampling_and_roots_requests(
    mesh: Mesh, admin_token: str, legacy: dict[str, str]
) -> None:
    link = connection(mesh, admin_token, "streamable-http")
    async with Client(
        link, mode=MODERN, sampling_callback=sample, list_roots_callback=roots
    ) as client:
        sampled = await client.call_tool(f"{legacy['http']}-sample", {"prompt": "hi"})
        listed = await client.call_tool(f"{legacy['http']}-roots", {})
    assert sampled.content[0].text == "sampled"  # type: ignore[union-attr]
    assert "file:///work/project" in listed.content[0].text  # type: ignore[union-attr]


async def test_a_modern_client_answers_a_modern_upstreams_elicitation_through_forge(
    mesh: Mesh, admin_token: str, demo: dict[str, Any]
) -> None:
    link = connection(mesh, admin_token, "streamable-http")
    async with Client(link, mode=MODERN, elicitation_callback=elicit) as client:
        result = await client.call_tool("demo-ask", {"question": "modern"})
    assert result.content[0].text == "yes to modern"  # type: ignore[union-attr]


@pytest.mark.parametrize("gateway", ["demo", "mrtr-http"])
async def test_the_retry_carries_the_request_state_of_the_input_required_result(
    mesh: Mesh, admin_token: str, demo: dict[str, Any], legacy: dict[str, str], gateway: str
) -> None:
    tool = f"{gateway}-ask"
    async with httpx.AsyncClient(base_url=mesh.url, timeout=30) as http:
        first = await modern_call(http, admin_token, tool, {"question": "raw"})
        assert first["result"]["resultType"] == "input_required", first
        state = first["result"]["requestState"]
        [(key, asked)] = first["result"]["inputRequests"].items()
        assert asked["method"] == "elicitation/create"
        if gateway != "demo":
            assert state.startswith("forge1.forge.upstream.resume.")
        answer = {"action": "accept", "content": {"answer": "raw answer"}}
        retry = {"inputResponses": {key: answer}, "requestState": state}
        final = await modern_call(http, admin_token, tool, {"question": "raw"}, retry)
    assert final["result"]["resultType"] == "complete", final
    assert final["result"]["content"][0]["text"] == "raw answer"


@pytest.mark.parametrize(
    "state", ["garbage", "forge1.forge.upstream.resume." + "0" * 32 + "." + "1" * 32]
)
async def test_an_unknown_request_state_is_refused_as_invalid_params(
    mesh: Mesh, admin_token: str, legacy: dict[str, str], state: str
) -> None:
    link = connection(mesh, admin_token, "streamable-http")
    async with Client(link, mode=MODERN, elicitation_callback=elicit) as client:
        with pytest.raises(MCPError) as raised:
            await client.call_tool(
                f"{legacy['http']}-ask",
                {"question": "stale"},
                input_responses={},
                request_state=state,
            )
    assert raised.value.code == -32602
    assert "requestState" in raised.value.message


async def test_a_client_without_the_capability_gets_the_upstreams_refusal_not_a_round(
    mesh: Mesh, admin_token: str, legacy: dict[str, str]
) -> None:
    link = connection(mesh, admin_token, "streamable-http")
    async with Client(link, mode=MODERN) as client:
        with pytest.raises(MCPError) as raised:
            await client.call_tool(f"{legacy['http']}-ask", {"question": "nobody"})
    assert raised.value.code == -32021


async def modern_call(
    http: httpx.AsyncClient,
    token: str,
    tool: str,
    arguments: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One 2026-07-28 tools/call by hand: the JSON-RPC response, from JSON or the event stream."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
    }
    params = {"name": tool, "arguments": arguments, "_meta": meta, **(extra or {})}
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "tools/call",
        "Mcp-Name": tool,
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
    response = await http.post("/mcp", json=body, headers=headers)
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        answer: dict[str, Any] = json.loads(data[-1])
        return answer
    answered: dict[str, Any] = response.json()
    return answered
