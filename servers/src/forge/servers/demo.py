"""`python -m forge.servers.demo`: the SDK demo server (tools, prompts, resources) on /mcp."""

from __future__ import annotations

import argparse
import asyncio
import socket

import uvicorn
import uvloop
from mcp import MCPError
from mcp.server.mcpserver import MCPServer
from starlette.types import ASGIApp, Receive, Scope, Send

from forge.servers.ports import announce, bind_loopback

demo = MCPServer(
    "forge-demo",
    instructions="A small server for Forge demos and tests.",
    version="0.1.0",
)


@demo.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    return text


@demo.tool()
def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


@demo.tool()
async def slow(seconds: float) -> str:
    """Sleep for the given number of seconds, then say so."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}s"


@demo.tool()
def fail(message: str, code: int | None = None) -> str:
    """Fail: a tool error result, or with `code` a JSON-RPC error carrying that code."""
    if code is not None:
        raise MCPError(code, message)
    raise RuntimeError(message)


@demo.prompt()
def greeting(name: str) -> str:
    """A friendly greeting for someone."""
    return f"Say hello to {name}, warmly and briefly."


@demo.prompt()
def summarize(text: str) -> str:
    """Ask for a one-paragraph summary."""
    return f"Summarize in one paragraph:\n\n{text}"


@demo.resource("forge://demo/readme", mime_type="text/plain")
def readme() -> str:
    """What this server is."""
    return "forge-demo: a sample MCP server for Forge."


@demo.resource("forge://demo/numbers/{n}", mime_type="application/json")
def numbers(n: str) -> str:
    """The numbers from 1 to n as a JSON list."""
    return str(list(range(1, int(n) + 1)))


def legacy_only(app: ASGIApp) -> ASGIApp:
    """Hide the modern version header, so the SDK answers as a 2025-11-25-only server would."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = [(k, v) for k, v in scope["headers"] if k != b"mcp-protocol-version"]
            scope = {**scope, "headers": headers}
        await app(scope, receive, send)

    return wrapped


async def serve(sock: socket.socket, *, host: str, json_response: bool, era: str) -> None:
    # `host` decides which Host/Origin headers the SDK's DNS-rebinding guard accepts.
    app: ASGIApp = demo.streamable_http_app(json_response=json_response, host=host)
    if era == "legacy":
        app = legacy_only(app)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    # The socket already listens, so a client connecting now simply waits in the backlog.
    announce(sock)
    await server.serve(sockets=[sock])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m forge.servers.demo", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    parser.add_argument(
        "--json", action="store_true", help="answer legacy requests with JSON instead of SSE"
    )
    parser.add_argument(
        "--era",
        choices=("both", "legacy"),
        default="both",
        help="legacy: behave like a server that predates 2026-07-28",
    )
    args = parser.parse_args()
    sock = bind_loopback(args.host, args.port)
    try:
        uvloop.run(serve(sock, host=args.host, json_response=args.json, era=args.era))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
