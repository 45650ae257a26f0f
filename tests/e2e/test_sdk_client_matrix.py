"""The official Python SDK client (`mcp`) in each mode over each transport, through Forge to a
real upstream: tools/list and tools/call, resources/list and resources/read, prompts/list and
prompts/get answer what the upstream answers directly, for an upstream of both eras and a
legacy-only one (see client_matrix; the TypeScript clients' twin: test_ts_clients)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from forge.cli.mesh import Mesh
from tests.e2e import client_matrix
from tests.e2e.client_matrix import (
    LEGACY,
    MODERN,
    UPSTREAMS,
    Target,
    differences,
    session_answers,
)
from tests.e2e.mcp_ws import websocket_client

targets = client_matrix.targets

# `auto` is the client's default mode (it probes with server/discover).
MODES = {"legacy": LEGACY, MODERN: MODERN, "auto": MODERN}
# The SDK has Streamable HTTP and SSE; over WebSocket (the SDK ships no client for it in 2.x)
# it runs on the tests' own transport, tests/e2e/mcp_ws.py.
TRANSPORTS = ("streamable-http", "sse", "ws")


@asynccontextmanager
async def _streamable(url: str, headers: dict[str, str]) -> AsyncIterator[Any]:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(url, http_client=http) as streams,
    ):
        yield streams


def link(base: str, token: str, transport: str) -> AbstractAsyncContextManager[Any]:
    headers = {"Authorization": f"Bearer {token}"}
    if transport == "sse":
        return sse_client(base + "/sse", headers=headers)
    if transport == "ws":
        return websocket_client(base.replace("http://", "ws://", 1) + "/ws", headers)
    return _streamable(base + "/mcp", headers)


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("upstream", UPSTREAMS)
async def test_the_sdk_client_lists_calls_reads_and_gets_through_forge(
    mesh: Mesh,
    admin_token: str,
    targets: dict[str, Target],
    upstream: str,
    mode: str,
    transport: str,
) -> None:
    target = targets[upstream]
    async with Client(link(target.base, admin_token, transport), mode=mode) as client:
        assert client.protocol_version == MODES[mode]
        answers = await session_answers(client, target.plan)
    found = differences(answers, target.direct, MODES[mode])
    assert not found, "\n".join(found)
