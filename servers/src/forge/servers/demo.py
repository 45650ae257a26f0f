"""`python -m forge.servers.demo`: the SDK demo server (tools, prompts, resources).

Streamable HTTP on /mcp (default), legacy HTTP+SSE on /sse, or stdio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
from typing import Annotated, Any

import uvicorn
import uvloop
from mcp import MCPError
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import (
    AcceptedElicitation,
    Context,
    Elicit,
    ElicitationResult,
    ListRoots,
    MCPServer,
    Resolve,
    Sample,
)
from mcp.server.session import ServerSession
from mcp.types import (
    CreateMessageResult,
    EmptyResult,
    ListRootsResult,
    SamplingMessage,
    SubscribeRequestParams,
    TextContent,
    UnsubscribeRequestParams,
)
from pydantic import BaseModel
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


# How many `slow` calls were cancelled (by notifications/cancelled or a closed stream).
_cancelled = {"slow": 0}


@demo.tool()
async def slow(seconds: float, ctx: Context) -> str:
    """Sleep for the given number of seconds, then say so (progress 0 first, when asked)."""
    try:
        await ctx.report_progress(0, seconds, "started")
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        _cancelled["slow"] += 1
        raise
    return f"slept {seconds}s"


@demo.tool()
def cancelled() -> int:
    """How many `slow` calls were cancelled so far."""
    return _cancelled["slow"]


@demo.tool()
async def progress(steps: int, ctx: Context) -> str:
    """Report progress `steps` times (when the caller asked for progress), then finish."""
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps, f"step {step} of {steps}")
    return f"done after {steps} steps"


class Answer(BaseModel):
    answer: str


# The in-flight tools resolve their input the SDK's way, which follows the caller's era:
# mid-call server-to-client requests for a legacy caller, an input_required result (multi
# round-trip) for a modern one.
def _ask_user(question: str) -> Elicit[Answer]:
    return Elicit(question, Answer)


def _ask_model(prompt: str) -> Sample:
    message = SamplingMessage(role="user", content=TextContent(type="text", text=prompt))
    return Sample([message], max_tokens=100)


def _ask_roots() -> ListRoots:
    return ListRoots()


@demo.tool()
async def ask(
    question: str, answer: Annotated[ElicitationResult[Answer], Resolve(_ask_user)]
) -> str:
    """Ask the user a question (elicitation) and return the answer."""
    if isinstance(answer, AcceptedElicitation):
        return answer.data.answer
    return f"no answer ({answer.action})"


@demo.tool()
async def sample(prompt: str, reply: Annotated[CreateMessageResult, Resolve(_ask_model)]) -> str:
    """Ask the client's model to complete the prompt (sampling)."""
    content = reply.content
    return content.text if isinstance(content, TextContent) else str(content)


@demo.tool()
async def roots(listed: Annotated[ListRootsResult, Resolve(_ask_roots)]) -> list[str]:
    """The client's roots, as URIs."""
    return [str(root.uri) for root in listed.roots]


@demo.tool()
async def log(message: str, ctx: Context) -> str:
    """Send a log message to the client, then return it."""
    await ctx.info(message)
    return message


# Not a tool of the demo: it would hand the server's environment to every user. Forge's own
# tests of what a child's environment holds add it with --env-tool (never `forge up --demo`).
def env(name: str) -> str:
    """The value of an environment variable of this server, or "absent"."""
    return os.environ.get(name, "absent")


@demo.tool()
def pid() -> int:
    """This server's process id."""
    return os.getpid()


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


# Legacy resource subscriptions: uri -> the subscribed connections' sessions, one per connection
# (the SDK hands each request a session of its own over the connection's channels).
_subscribers: dict[str, dict[int, ServerSession]] = {}


def _connection_of(session: ServerSession) -> int:
    return id(getattr(session, "_connection", session))


async def _subscribe(ctx: ServerRequestContext[Any], params: SubscribeRequestParams) -> EmptyResult:
    _subscribers.setdefault(str(params.uri), {})[_connection_of(ctx.session)] = ctx.session
    return EmptyResult()


async def _unsubscribe(
    ctx: ServerRequestContext[Any], params: UnsubscribeRequestParams
) -> EmptyResult:
    _subscribers.get(str(params.uri), {}).pop(_connection_of(ctx.session), None)
    return EmptyResult()


demo._lowlevel_server.add_request_handler("resources/subscribe", SubscribeRequestParams, _subscribe)
demo._lowlevel_server.add_request_handler(
    "resources/unsubscribe", UnsubscribeRequestParams, _unsubscribe
)


@demo.tool()
async def touch(uri: str, ctx: Context) -> int:
    """Tell the clients subscribed to `uri` that it changed: the legacy sessions that subscribed
    (how many, the result) and the 2026-07-28 listen streams that name it."""
    sessions = list(_subscribers.get(uri, {}).values())
    for session in sessions:
        await session.send_resource_updated(uri)
    await ctx.notify_resource_updated(uri)
    return len(sessions)


def legacy_only(app: ASGIApp) -> ASGIApp:
    """Hide the modern version header, so the SDK answers as a 2025-11-25-only server would."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = [(k, v) for k, v in scope["headers"] if k != b"mcp-protocol-version"]
            scope = {**scope, "headers": headers}
        await app(scope, receive, send)

    return wrapped


# What a server that speaks only 2026-07-28 answers a request of the handshake era.
_NOT_MODERN = (
    b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,'
    b'"message":"this server speaks only protocol version 2026-07-28"}}'
)


def modern_only(app: ASGIApp) -> ASGIApp:
    """Refuse every request not of 2026-07-28, as a server that never spoke 2025-11-25 would."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            version = dict(scope["headers"]).get(b"mcp-protocol-version")
            if version != b"2026-07-28":
                headers = [(b"content-type", b"application/json")]
                await send({"type": "http.response.start", "status": 400, "headers": headers})
                await send({"type": "http.response.body", "body": _NOT_MODERN})
                return
        await app(scope, receive, send)

    return wrapped


async def serve(
    sock: socket.socket, *, host: str, json_response: bool, era: str, transport: str
) -> None:
    # `host` decides which Host/Origin headers the SDK's DNS-rebinding guard accepts.
    app: ASGIApp
    if transport == "sse":
        app = demo.sse_app(host=host)
    else:
        app = demo.streamable_http_app(json_response=json_response, host=host)
    if era == "legacy":
        app = legacy_only(app)
    elif era == "modern":
        app = modern_only(app)
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
        choices=("both", "legacy", "modern"),
        default="both",
        help="legacy: behave like a server that predates 2026-07-28; modern: speak only it",
    )
    parser.add_argument(
        "--transport",
        choices=("streamable-http", "sse", "stdio"),
        default="streamable-http",
        help="sse: the legacy HTTP+SSE transport on /sse; stdio: JSON-RPC on stdin/stdout",
    )
    parser.add_argument(
        "--env-tool",
        action="store_true",
        help="add the `env` tool (tests of a child's environment only: it reveals the server's)",
    )
    args = parser.parse_args()
    if args.env_tool:
        demo.tool()(env)
    try:
        if args.transport == "stdio":
            uvloop.run(demo.run_stdio_async())
            return
        sock = bind_loopback(args.host, args.port)
        uvloop.run(
            serve(
                sock,
                host=args.host,
                json_response=args.json,
                era=args.era,
                transport=args.transport,
            )
        )
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
