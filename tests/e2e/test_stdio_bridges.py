"""The stdio bridges: `forge wrapper` for desktop clients, `forge translate` both ways."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from forge.cli.mesh import Mesh, stop_process

TINY_SERVER = """
from mcp.server.mcpserver import MCPServer

tiny = MCPServer("tiny")


@tiny.tool()
def shout(text: str) -> str:
    return text.upper()


tiny.run("stdio")
"""


def forge(*args: str, token: str | None = None) -> StdioServerParameters:
    """The forge command as a stdio server an MCP client launches."""
    env = dict(os.environ)
    if token is not None:
        env["FORGE_TOKEN"] = token
    return StdioServerParameters(
        command=sys.executable, args=["-m", "forge.cli.main", *args], env=env
    )


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_the_wrapper_lets_a_stdio_client_call_a_tool_through_forge(
    mesh: Mesh, admin_token: str, demo: dict[str, Any], mode: str
) -> None:
    params = forge("wrapper", "--url", mesh.url + "/mcp", token=admin_token)
    async with Client(params, mode=mode) as client:
        result = await client.call_tool("demo-echo", {"text": f"wrapped {mode}"})
        assert result.content[0].text == f"wrapped {mode}"  # type: ignore[union-attr]


@pytest.mark.parametrize("path", ["/mcp", "/sse"])
async def test_translate_connect_exposes_a_remote_forge_on_stdio(
    mesh: Mesh, admin_token: str, demo: dict[str, Any], path: str
) -> None:
    sse = ["--sse"] if path == "/sse" else []
    params = forge("translate", "--connect", mesh.url + path, *sse, token=admin_token)
    async with Client(params, mode="legacy") as client:
        result = await client.call_tool("demo-echo", {"text": f"bridged {path}"})
        assert result.content[0].text == f"bridged {path}"  # type: ignore[union-attr]


def start_translate(command: str, *flags: str) -> tuple[subprocess.Popen[bytes], str]:
    args = ["-m", "forge.cli.main", "translate", "--stdio", command, "--port", "0", *flags]
    # As root on CI: the child keeps root, since the interpreter and the script live where the
    # unprivileged stdio account cannot read them (see forge.cli.launching).
    env = {**os.environ, "FORGE_STDIO_USER": ""}
    proc = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if "listening on " not in line:
        stop(proc)
        raise RuntimeError(f"translate did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[1].strip()


def stop(proc: subprocess.Popen[bytes]) -> None:
    stop_process(proc)
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.fixture
def tiny_translated(tmp_path: Path) -> Iterator[str]:
    script = tmp_path / "tiny.py"
    script.write_text(TINY_SERVER)
    proc, url = start_translate(f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}")
    try:
        yield url
    finally:
        stop(proc)


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
async def test_translate_exposes_a_stdio_server_over_http(
    tiny_translated: str, transport: str
) -> None:
    if transport == "sse":
        connection = sse_client(tiny_translated + "/sse")
    else:
        connection = streamable_http_client(tiny_translated + "/mcp")
    async with Client(connection, mode="legacy") as client:
        result = await client.call_tool("shout", {"text": "hey"})
        assert result.content[0].text == "HEY"  # type: ignore[union-attr]


async def test_translate_exposes_the_demo_servers_stdio_mode_over_http() -> None:
    command = f"{shlex.quote(sys.executable)} -m forge.servers.demo --transport stdio"
    proc, url = start_translate(command, "--streamable-http")
    try:
        async with Client(streamable_http_client(url + "/mcp"), mode="legacy") as client:
            result = await client.call_tool("echo", {"text": "from stdio"})
            assert result.content[0].text == "from stdio"  # type: ignore[union-attr]
    finally:
        stop(proc)
