"""The sample servers answer the official MCP SDK client in each era they claim."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from forge.servers.process import ServerProcess, spawn


@pytest.fixture(scope="module")
def fastecho() -> Iterator[ServerProcess]:
    with spawn("forge.servers.fastecho") as server:
        yield server


@pytest.fixture(scope="module")
def fastecho_legacy() -> Iterator[ServerProcess]:
    with spawn("forge.servers.fastecho", "--era", "legacy") as server:
        yield server


@pytest.fixture(scope="module")
def fastecho_modern() -> Iterator[ServerProcess]:
    with spawn("forge.servers.fastecho", "--era", "modern") as server:
        yield server


@pytest.fixture(scope="module")
def demo() -> Iterator[ServerProcess]:
    with spawn("forge.servers.demo") as server:
        yield server


async def echo_through_sdk(url: str, mode: str) -> tuple[str, str, list[str]]:
    async with httpx2.AsyncClient() as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode) as client:
            tools = await client.list_tools()
            result = await client.call_tool("echo", {"text": f"hi {mode}"})
            text = result.content[0].text  # type: ignore[union-attr]
            return client.protocol_version, text, [t.name for t in tools.tools]


@pytest.mark.parametrize(
    ("mode", "version"),
    [("legacy", "2025-11-25"), ("auto", "2026-07-28"), ("2026-07-28", "2026-07-28")],
)
async def test_fastecho_answers_the_sdk_client_in_both_eras(
    fastecho: ServerProcess, mode: str, version: str
) -> None:
    negotiated, text, tools = await echo_through_sdk(fastecho.url, mode)
    assert (negotiated, text) == (version, f"hi {mode}")
    assert "echo" in tools


async def test_a_legacy_only_fastecho_makes_an_auto_client_fall_back(
    fastecho_legacy: ServerProcess,
) -> None:
    negotiated, text, _ = await echo_through_sdk(fastecho_legacy.url, "auto")
    assert (negotiated, text) == ("2025-11-25", "hi auto")


async def test_a_modern_only_fastecho_serves_a_modern_client(
    fastecho_modern: ServerProcess,
) -> None:
    negotiated, text, _ = await echo_through_sdk(fastecho_modern.url, "2026-07-28")
    assert (negotiated, text) == ("2026-07-28", "hi 2026-07-28")


async def test_a_modern_only_fastecho_refuses_a_handshake_with_the_version_error(
    fastecho_modern: ServerProcess,
) -> None:
    async with httpx2.AsyncClient() as http:
        response = await http.post(
            fastecho_modern.url,
            json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}},
            headers={"Accept": "application/json, text/event-stream"},
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32022


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_the_demo_server_adds_in_both_eras(demo: ServerProcess, mode: str) -> None:
    async with httpx2.AsyncClient() as http:
        transport = streamable_http_client(demo.url, http_client=http)
        async with Client(transport, mode=mode) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            result = await client.call_tool("add", {"a": 2, "b": 3})
    assert {"echo", "add", "slow", "fail"} <= tools
    assert result.structured_content == {"result": 5.0}
