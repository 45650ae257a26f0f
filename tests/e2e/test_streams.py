"""In-flight messages through the whole mesh: progress, logs, elicitation, sampling, roots and
cancellation reach the client and back, on every downstream transport."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from forge.cli.mesh import Mesh
from forge.testing import eventually
from tests.e2e.mcp_ws import websocket_client

TRANSPORTS = ["streamable-http", "sse", "ws"]


def connection(mesh: Mesh, token: str, transport: str) -> AbstractAsyncContextManager[Any]:
    headers = {"Authorization": f"Bearer {token}"}
    if transport == "sse":
        return sse_client(mesh.url + "/sse", headers=headers)
    if transport == "ws":
        return websocket_client(mesh.url.replace("http://", "ws://") + "/ws", headers)
    return _streamable(mesh.url + "/mcp", headers)


@asynccontextmanager
async def _streamable(url: str, headers: dict[str, str]) -> AsyncIterator[Any]:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(url, http_client=http) as streams,
    ):
        yield streams


async def elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"answer": f"yes to {params.message}"})


async def sample(
    context: Any, params: types.CreateMessageRequestParams
) -> types.CreateMessageResult:
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text="sampled"),
        model="test-model",
    )


async def roots(context: Any) -> types.ListRootsResult:
    return types.ListRootsResult(roots=[types.Root.model_validate({"uri": "file:///work/project"})])


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_progress_reaches_the_caller_before_the_result(
    mesh: Mesh, admin_token: str, demo: dict[str, Any], mode: str
) -> None:
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async with Client(connection(mesh, admin_token, "streamable-http"), mode=mode) as client:
        result = await client.call_tool(
            "demo-progress", {"steps": 3}, progress_callback=on_progress
        )
    assert result.content[0].text == "done after 3 steps"  # type: ignore[union-attr]
    assert seen == [1, 2, 3]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_elicitation_reaches_the_client_and_its_answer_the_tool(
    mesh: Mesh, admin_token: str, demo: dict[str, Any], transport: str
) -> None:
    link = connection(mesh, admin_token, transport)
    async with Client(link, mode="legacy", elicitation_callback=elicit) as client:
        result = await client.call_tool("demo-ask", {"question": "go"})
    assert result.content[0].text == "yes to go"  # type: ignore[union-attr]


async def test_sampling_and_roots_requests_are_answered_by_the_client(
    mesh: Mesh, admin_token: str, demo: dict[str, Any]
) -> None:
    link = connection(mesh, admin_token, "streamable-http")
    async with Client(
        link, mode="legacy", sampling_callback=sample, list_roots_callback=roots
    ) as client:
        sampled = await client.call_tool("demo-sample", {"prompt": "hi"})
        listed = await client.call_tool("demo-roots", {})
    assert sampled.content[0].text == "sampled"  # type: ignore[union-attr]
    assert "file:///work/project" in listed.content[0].text  # type: ignore[union-attr]


async def test_a_log_message_reaches_the_client(
    mesh: Mesh, admin_token: str, demo: dict[str, Any]
) -> None:
    logged: list[Any] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logged.append(params.data)

    link = connection(mesh, admin_token, "streamable-http")
    async with Client(link, mode="legacy", logging_callback=on_log) as client:
        await client.call_tool("demo-log", {"message": "hello log"})
    assert "hello log" in logged


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_a_cancelled_call_is_cancelled_at_the_upstream(
    mesh: Mesh, admin_token: str, demo: dict[str, Any], mode: str
) -> None:
    async with Client(connection(mesh, admin_token, "streamable-http"), mode=mode) as client:

        async def cancelled_so_far() -> int:
            result = await client.call_tool("demo-cancelled", {})
            return int(result.content[0].text)  # type: ignore[union-attr]

        before = await cancelled_so_far()
        started = asyncio.Event()

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            started.set()

        call = asyncio.create_task(
            client.call_tool("demo-slow", {"seconds": 30}, progress_callback=on_progress)
        )
        async with asyncio.timeout(10):
            await started.wait()
        call.cancel()

        async def counted() -> bool:
            return await cancelled_so_far() != before

        await eventually(counted, what="the upstream counts the cancellation")
