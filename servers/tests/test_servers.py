"""The sample servers answer the official MCP SDK client in each era they claim."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import aiohttp
import httpx2
import pytest
from mcp import Client, StdioServerParameters, types
from mcp.client.sse import sse_client
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


@pytest.fixture(scope="module")
def demo_sse() -> Iterator[ServerProcess]:
    with spawn("forge.servers.demo", "--transport", "sse", path="/sse") as server:
        yield server


DEMO_STDIO = StdioServerParameters(
    command=sys.executable, args=["-m", "forge.servers.demo", "--transport", "stdio"]
)
# The `env` tool exists only when asked for: it reveals the server's environment.
DEMO_STDIO_ENV = StdioServerParameters(
    command=sys.executable,
    args=["-m", "forge.servers.demo", "--transport", "stdio", "--env-tool"],
)


async def test_the_demo_server_runs_over_stdio() -> None:
    async with Client(DEMO_STDIO, mode="legacy") as client:
        result = await client.call_tool("add", {"a": 1, "b": 2})
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        tools = {t.name for t in (await client.list_tools()).tools}
    assert result.structured_content == {"result": 3.0}
    assert prompts == {"greeting", "summarize"}
    assert "env" not in tools  # it would hand the server's environment to every user


async def test_the_demo_server_runs_over_legacy_sse(demo_sse: ServerProcess) -> None:
    async with Client(sse_client(demo_sse.url), mode="legacy") as client:
        result = await client.call_tool("echo", {"text": "over sse"})
    assert result.content[0].text == "over sse"  # type: ignore[union-attr]


async def test_the_demo_in_flight_tools_use_the_clients_callbacks() -> None:
    progress: list[float] = []
    logs: list[object] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async def on_elicit(context: object, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"answer": "green"})

    async def on_sample(
        context: object, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        text = types.TextContent(type="text", text="sampled")
        return types.CreateMessageResult(role="assistant", content=text, model="test")

    async def on_roots(context: object) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri="file:///work")])  # type: ignore[arg-type]

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params.data)

    client = Client(
        DEMO_STDIO_ENV,
        mode="legacy",
        elicitation_callback=on_elicit,  # type: ignore[arg-type]
        sampling_callback=on_sample,  # type: ignore[arg-type]
        list_roots_callback=on_roots,  # type: ignore[arg-type]
        logging_callback=on_log,
    )
    async with client:
        await client.call_tool(
            "progress",
            {"steps": 2},
            progress_callback=on_progress,  # type: ignore[arg-type]
        )
        asked = await client.call_tool("ask", {"question": "Colour?"})
        sampled = await client.call_tool("sample", {"prompt": "hi"})
        rooted = await client.call_tool("roots", {})
        await client.call_tool("log", {"message": "noted"})
        env = await client.call_tool("env", {"name": "NO_SUCH_VARIABLE"})
    assert progress == [1, 2]
    assert asked.content[0].text == "green"  # type: ignore[union-attr]
    assert sampled.content[0].text == "sampled"  # type: ignore[union-attr]
    assert rooted.structured_content == {"result": ["file:///work"]}
    assert logs == ["noted"]
    assert env.content[0].text == "absent"  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def wsecho() -> Iterator[ServerProcess]:
    with spawn("forge.servers.wsecho", path="/ws", scheme="ws") as server:
        yield server


async def test_wsecho_answers_initialize_and_echo_over_a_websocket(wsecho: ServerProcess) -> None:
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": "hi"}, "_meta": {"progressToken": 7}},
    }
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(wsecho.url, protocols=("mcp",)) as ws,
    ):
        assert ws.protocol == "mcp"
        await ws.send_json(init)
        assert (await ws.receive_json())["result"]["protocolVersion"] == "2025-11-25"
        await ws.send_json(call)
        progress, answer = await ws.receive_json(), await ws.receive_json()
    assert progress["params"]["progressToken"] == 7
    assert answer["result"]["content"][0]["text"] == "hi"
