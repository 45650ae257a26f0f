"""`forge translate --stdio`: a stdio MCP server exposed over Streamable HTTP and HTTP+SSE."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from forge.cli.launching import LaunchConfig, child_env
from forge.cli.stdio import LINE_LIMIT, decode, error_line
from forge.core.errors import INVALID_REQUEST, PARSE_ERROR, SERVICE_UNAVAILABLE
from forge.core.launch import Launch, kill_group

_JSON = "application/json"


class Child:
    """One stdio server process, serving exactly one MCP session."""

    def __init__(self, argv: list[str], settings: LaunchConfig, routed: bool) -> None:
        self.argv = argv
        self.settings = settings
        self.routed = routed  # answers go to their POST (Streamable HTTP), else all to the stream
        self.proc: asyncio.subprocess.Process | None = None
        self.launch: Launch | None = None
        self.outbound: asyncio.Queue[bytes] = asyncio.Queue()
        self.waiters: dict[str, asyncio.Future[bytes]] = {}
        self.reading: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # The same launcher as Forge's stdio gateways: no shell, its own account when we are
        # root, no new privileges, limits, a working directory (and HOME) of its own. The child
        # gets the operator's environment without Forge's own secrets.
        env = child_env(os.environ)
        who = self.settings.account
        if who is not None:  # not root's home for another account
            env.pop("HOME", None)
            env.pop("TMPDIR", None)
        self.launch = Launch(self.argv, env, who, self.settings.limits)
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=LINE_LIMIT,
            **self.launch.popen_args(),
        )
        self.reading = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            line = line.strip()
            message = decode(line)
            if message is None:
                continue
            waiter = self.waiters.pop(json.dumps(message.get("id")), None)
            if self.routed and "method" not in message and waiter is not None:
                waiter.set_result(line)
            else:
                self.outbound.put_nowait(line)
        for key, waiter in self.waiters.items():
            waiter.set_result(
                error_line(json.loads(key), SERVICE_UNAVAILABLE, "the stdio server exited")
            )
        self.waiters.clear()

    async def write(self, line: bytes) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(line + b"\n")
        await self.proc.stdin.drain()

    async def request(self, line: bytes, request_id: Any) -> bytes:
        answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.waiters[json.dumps(request_id)] = answer
        await self.write(line)
        return await answer

    async def stop(self) -> None:
        if self.reading is not None:
            self.reading.cancel()
        if self.proc is not None and self.proc.returncode is None:
            kill_group(self.proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                kill_group(self.proc.pid, signal.SIGKILL)
                await self.proc.wait()
        if self.launch is not None:
            self.launch.cleanup()


async def _stream(
    child: Child, first: bytes | None = None, owner: Translator | None = None, sid: str = ""
) -> AsyncIterator[bytes]:
    """The child's messages as SSE; with an owner, the session ends with the stream."""
    try:
        if first is not None:
            yield first
        while True:
            yield b"event: message\ndata: " + await child.outbound.get() + b"\n\n"
    finally:
        if owner is not None:
            owner.sessions.pop(sid, None)
            await child.stop()


class Translator:
    """Sessions by id; each session is one child process."""

    def __init__(self, argv: list[str], settings: LaunchConfig) -> None:
        self.argv = argv
        self.settings = settings
        self.sessions: dict[str, Child] = {}

    async def _new(self, routed: bool) -> tuple[str, Child]:
        child = Child(self.argv, self.settings, routed)
        await child.start()
        sid = secrets.token_urlsafe(24)
        self.sessions[sid] = child
        return sid, child

    async def mcp(self, request: Request) -> Response:
        sid = request.headers.get("mcp-session-id")
        if request.method == "POST":
            return await self._post(request, sid)
        child = self.sessions.get(sid or "")
        if child is None:
            return _error(404 if sid else 400, INVALID_REQUEST, "unknown or missing session")
        if request.method == "DELETE":
            await self.sessions.pop(sid or "").stop()
            return Response(status_code=200)
        return StreamingResponse(_stream(child), media_type="text/event-stream")

    async def _post(self, request: Request, sid: str | None) -> Response:
        body = (await request.body()).strip()
        message = decode(body)
        if message is None:
            return _error(400, PARSE_ERROR, "the body is not a JSON-RPC object")
        if message.get("method") == "initialize":
            sid, fresh = await self._new(routed=True)
            answer = await fresh.request(body, message.get("id"))
            return Response(answer, media_type=_JSON, headers={"Mcp-Session-Id": sid})
        child = self.sessions.get(sid or "")
        if child is None:
            return _error(404 if sid else 400, INVALID_REQUEST, "unknown or missing session")
        if "method" in message and "id" in message:
            return Response(await child.request(body, message["id"]), media_type=_JSON)
        await child.write(body)
        return Response(status_code=202)

    async def sse(self, request: Request) -> Response:
        sid, child = await self._new(routed=False)
        endpoint = f"event: endpoint\ndata: /message?session_id={sid}\n\n".encode()
        stream = _stream(child, endpoint, self, sid)
        return StreamingResponse(stream, media_type="text/event-stream")

    async def message(self, request: Request) -> Response:
        child = self.sessions.get(request.query_params.get("session_id", ""))
        if child is None:
            return _error(404, INVALID_REQUEST, "unknown session")
        await child.write((await request.body()).strip())
        return Response(status_code=202)

    async def close(self) -> None:
        for child in self.sessions.values():
            await child.stop()


def _error(status: int, code: int, message: str) -> Response:
    return Response(error_line(None, code, message), status, media_type=_JSON)


def build(translator: Translator, sse: bool, streamable: bool) -> Starlette:
    routes = []
    if streamable:
        routes.append(Route("/mcp", translator.mcp, methods=["GET", "POST", "DELETE"]))
    if sse:
        routes.append(Route("/sse", translator.sse, methods=["GET"]))
        routes.append(Route("/message", translator.message, methods=["POST"]))
    return Starlette(routes=routes)


async def serve(
    argv: list[str], settings: LaunchConfig, port: int, sse: bool, streamable: bool
) -> None:
    """Serve on loopback only; prints the URL once listening. `argv` comes from
    forge.cli.launching.resolve."""
    translator = Translator(argv, settings)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    app = build(translator, sse=sse or not streamable, streamable=streamable or not sse)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    print(f"forge translate: listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    try:
        await server.serve(sockets=[sock])
    finally:
        await translator.close()
        sys.stdout.flush()
