"""`python -m forge.servers.wsecho`: a minimal legacy MCP server over WebSocket (subprotocol mcp).

Enough for the upstream-proxy's WebSocket transport: `initialize`, `ping`, `tools/list`,
`tools/call` of `echo` (with a progress notification first when the caller asked for progress).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from forge.servers.ports import announce, bind_loopback

VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
ECHO = {
    "name": "echo",
    "description": "Echo the text back.",
    "inputSchema": {
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
    },
}


class Message(msgspec.Struct):
    method: str | None = None
    id: int | str | None = None
    params: dict[str, Any] = msgspec.field(default_factory=dict)


_DECODE = msgspec.json.Decoder(Message).decode
_ENCODE = msgspec.json.Encoder().encode


def _answer(message: Message) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Notifications to send first, then the response (None for a notification)."""
    if message.id is None:
        return [], None
    ok = {"jsonrpc": "2.0", "id": message.id}
    if message.method == "initialize":
        asked = message.params.get("protocolVersion")
        version = asked if asked in VERSIONS else VERSIONS[0]
        result = {
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": "wsecho", "version": "0.1.0"},
        }
        return [], {**ok, "result": result}
    if message.method == "ping":
        return [], {**ok, "result": {}}
    if message.method == "tools/list":
        return [], {**ok, "result": {"tools": [ECHO]}}
    if message.method == "tools/call" and message.params.get("name") == "echo":
        text = str(message.params.get("arguments", {}).get("text", ""))
        token = message.params.get("_meta", {}).get("progressToken")
        notes = []
        if token is not None:
            params = {"progressToken": token, "progress": 1, "total": 1}
            notes.append({"jsonrpc": "2.0", "method": "notifications/progress", "params": params})
        content = [{"type": "text", "text": text}]
        return notes, {**ok, "result": {"content": content, "isError": False}}
    error = {"code": -32601, "message": f"method not found: {message.method}"}
    return [], {**ok, "error": error}


async def session(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=("mcp",))
    await ws.prepare(request)
    async for frame in ws:
        if frame.type != WSMsgType.TEXT:
            continue
        try:
            message = _DECODE(frame.data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            error = {"code": -32700, "message": "parse error"}
            await ws.send_str(_ENCODE({"jsonrpc": "2.0", "id": None, "error": error}).decode())
            continue
        notes, response = _answer(message)
        for note in notes:
            await ws.send_str(_ENCODE(note).decode())
        if response is not None:
            await ws.send_str(_ENCODE(response).decode())
    return ws


async def serve(host: str, port: int) -> None:
    app = web.Application()
    app.router.add_get("/ws", session)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = bind_loopback(host, port)
    await web.SockSite(runner, sock).start()
    announce(sock)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m forge.servers.wsecho", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    parser.add_argument("--port", type=int, default=8003, help="0 picks a free port")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
