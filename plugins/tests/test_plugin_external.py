"""External plugins: hooks served as tools of a real MCP server over Streamable HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from mcp.server.mcpserver import MCPServer
from plugin_testkit import LOOPBACK, call, load, run, text_result

from forge.core.errors import INTERNAL_ERROR, InternalError, PluginViolationError
from forge.plugins.config import PluginConfigError
from forge.servers.ports import bind_loopback
from forge.testing import eventually
from forge.testing.listener import Listener

guard = MCPServer("forge-test-guard")
SEEN: list[dict[str, Any]] = []


@guard.tool()
def tool_pre_invoke(payload: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Blocks tools named `forbidden`, upper-cases a `text` argument, else allows."""
    SEEN.append(context)
    if payload.get("name") == "forbidden":
        return {"violation": {"code": "external_no", "reason": "not this tool"}}
    arguments = payload.get("arguments") or {}
    if "text" in arguments:
        return {
            "payload": {**payload, "arguments": {**arguments, "text": arguments["text"].upper()}}
        }
    return {}


@guard.tool()
def tool_post_invoke(payload: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Fails (a tool error) when the result says `explode`."""
    if "explode" in str(payload):
        raise RuntimeError("exploded")
    return {}


@guard.tool()
def unrelated(x: int) -> int:
    """Not a hook: ignored by hook discovery."""
    return x


@pytest.fixture(scope="module")
async def guard_url() -> AsyncIterator[str]:
    sock = bind_loopback("127.0.0.1", 0)
    app = guard.streamable_http_app(host="127.0.0.1")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        # uvicorn has no start event
        await eventually(lambda: server.started, every_s=0.01, what="uvicorn started")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_an_external_plugin_modifies_and_blocks_through_mcp_tools(guard_url: str) -> None:
    plugins = await load(
        f'plugins: [{{name: ext, kind: external, config: {{url: "{guard_url}"}}}}]', LOOPBACK
    )
    try:
        assert plugins.served() == ["tool_pre_invoke", "tool_post_invoke"]
        outcome = await run(plugins, "tool_pre_invoke", call("echo", text="hi"))
        assert outcome.payload["arguments"] == {"text": "HI"}
        assert SEEN[-1]["target"] == "echo" and SEEN[-1]["user"] == "ann@example.com"
        assert not (await run(plugins, "tool_pre_invoke", call("echo", n=1))).modified
        with pytest.raises(PluginViolationError) as raised:
            await run(plugins, "tool_pre_invoke", call("forbidden"))
        assert raised.value.data["code"] == "external_no"
        # a tool error from the external server is a plugin failure (on_error: fail)
        with pytest.raises(InternalError) as failed:
            await run(plugins, "tool_post_invoke", text_result("explode"), call("echo"))
        assert failed.value.code == INTERNAL_ERROR
    finally:
        await plugins.close()


async def test_declared_hooks_skip_discovery_and_an_unreachable_server_is_a_failure(
    guard_url: str,
) -> None:
    plugins = await load(
        f"""
plugins:
  - name: ext
    kind: external
    on_error: ignore
    config: {{url: "{guard_url}", hooks: [tool_pre_invoke], protocol: "2026-07-28"}}
  - name: gone
    kind: external
    on_error: ignore
    config: {{url: "http://127.0.0.1:9/mcp", hooks: [tool_pre_invoke], timeout_s: 2}}
""",
        LOOPBACK,
    )
    try:
        assert plugins.served() == ["tool_pre_invoke"]
        outcome = await run(plugins, "tool_pre_invoke", call("echo", text="up"))
        assert outcome.payload["arguments"] == {"text": "UP"}
    finally:
        await plugins.close()


async def test_an_external_plugin_that_cannot_be_listed_fails_the_load() -> None:
    with pytest.raises(PluginConfigError, match="failed to start"):
        await load(
            'plugins: [{name: ext, kind: external, config: {url: "http://127.0.0.1:9/mcp"}}]',
            LOOPBACK,
        )


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "169.254.169.254"])
async def test_an_external_plugin_on_a_forbidden_address_is_never_dialled(host: str) -> None:
    with Listener() as listener:
        url = listener.url.replace("127.0.0.1", host) + "/mcp"
        with pytest.raises(PluginConfigError):
            await load(f'plugins: [{{name: ext, kind: external, config: {{url: "{url}"}}}}]')
        assert listener.received == 0
