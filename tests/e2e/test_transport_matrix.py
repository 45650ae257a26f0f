"""Every downstream transport reaches every upstream transport: the official SDK client over
Streamable HTTP (both eras), SSE and WebSocket calls an echo tool on an upstream spoken to over
Streamable HTTP, legacy SSE, stdio and WebSocket."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import pytest
from mcp import Client

from forge.cli.demo import start_server
from forge.cli.mesh import Mesh, stop_process
from tests.e2e.test_streams import connection

# Downstream: (the edge transport, the SDK client's mode).
DOWNSTREAMS = {
    "http-legacy": ("streamable-http", "legacy"),
    "http-modern": ("streamable-http", "2026-07-28"),
    "sse": ("sse", "legacy"),
    "ws": ("ws", "legacy"),
}
# Upstream: the gateway name, whose slug prefixes its tools.
UPSTREAMS = {"http": "mx-http", "sse": "mx-sse", "stdio": "mx-stdio", "ws": "mx-ws"}


@pytest.fixture(scope="module")
def upstreams(mesh: Mesh, admin_token: str) -> Iterator[dict[str, str]]:
    """The four upstreams, registered once: upstream kind → the exposed echo tool's name."""
    procs = []
    headers = {"Authorization": f"Bearer {admin_token}"}
    rest = httpx.Client(base_url=mesh.url, headers=headers, timeout=30)
    created_ids: list[str] = []
    try:
        http_proc, http_port = start_server(mesh, "forge.servers.demo")
        procs.append(http_proc)
        sse_proc, sse_port = start_server(mesh, "forge.servers.demo", "--transport", "sse")
        procs.append(sse_proc)
        ws_proc, ws_port = start_server(mesh, "forge.servers.wsecho")
        procs.append(ws_proc)
        stdio = [sys.executable, "-m", "forge.servers.demo", "--transport", "stdio"]
        bodies: list[dict[str, object]] = [
            {"name": UPSTREAMS["http"], "url": f"http://127.0.0.1:{http_port}/mcp"},
            {"name": UPSTREAMS["sse"], "url": f"http://127.0.0.1:{sse_port}/sse"},
            {"name": UPSTREAMS["stdio"], "command": stdio},
            {"name": UPSTREAMS["ws"], "url": f"ws://127.0.0.1:{ws_port}/ws"},
        ]
        transports = ["streamablehttp", "sse", "stdio", "websocket"]
        for body, transport in zip(bodies, transports, strict=True):
            created = rest.post("/gateways", json={**body, "transport": transport})
            assert created.status_code == 201, created.text
            created_ids.append(created.json()["id"])
        yield {kind: f"{name}-echo" for kind, name in UPSTREAMS.items()}
    finally:
        for gateway_id in created_ids:  # the stdio child goes with its gateway
            rest.delete(f"/gateways/{gateway_id}")
        rest.close()
        for proc in procs:
            stop_process(proc)


def _link(mesh: Mesh, token: str, downstream: str) -> tuple[AbstractAsyncContextManager[Any], str]:
    transport, mode = DOWNSTREAMS[downstream]
    return connection(mesh, token, transport), mode


@pytest.mark.parametrize("downstream", list(DOWNSTREAMS))
async def test_each_downstream_transport_reaches_each_upstream_transport(
    mesh: Mesh, admin_token: str, upstreams: dict[str, str], downstream: str
) -> None:
    link, mode = _link(mesh, admin_token, downstream)
    answers = {}
    async with Client(link, mode=mode) as client:
        for kind, tool in upstreams.items():
            result = await client.call_tool(tool, {"text": f"{downstream} to {kind}"})
            answers[kind] = result.content[0].text  # type: ignore[union-attr]
    assert answers == {kind: f"{downstream} to {kind}" for kind in upstreams}
