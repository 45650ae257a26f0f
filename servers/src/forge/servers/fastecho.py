"""`python -m forge.servers.fastecho`: a fast echo MCP server of both eras, for benchmarks."""

from __future__ import annotations

import argparse
import asyncio
import uuid
from typing import Any

import msgspec
import uvloop

from forge.servers.httpwire import HttpProtocol, Request, Response
from forge.servers.ports import announce, bind_loopback

MODERN = "2026-07-28"
LEGACY = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
SERVER_INFO = {"name": "fastecho", "version": "0.1.0"}
CAPABILITIES = {"tools": {"listChanged": False}}
TOOLS = [
    {
        "name": "echo",
        "description": "Echo the text back.",
        "inputSchema": {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        },
    },
    {
        "name": "stats",
        "description": "Counts of handshakes and calls this server has seen, as JSON text.",
        "inputSchema": {"type": "object", "properties": {}},
    },
    {
        "name": "forget_sessions",
        "description": "Forget every legacy session, as a restarted server would.",
        "inputSchema": {"type": "object", "properties": {}},
    },
    {
        "name": "blob",
        "description": "A text of `size` bytes, for tests of large results.",
        "inputSchema": {
            "type": "object",
            "properties": {"size": {"type": "integer", "minimum": 0}},
            "required": ["size"],
        },
    },
]
# The largest result `blob` makes: a test server must not be a way to exhaust memory.
MAX_BLOB = 64 * 1024 * 1024


def many_tools(count: int) -> list[dict[str, Any]]:
    """`count` extra tools (`tool_00001`, ...), for tests of large catalogs; they echo."""
    schema = TOOLS[0]["inputSchema"]
    return [
        {"name": f"tool_{n:05d}", "description": f"Echo number {n}.", "inputSchema": schema}
        for n in range(1, count + 1)
    ]


_MODERN_TAIL = {"resultType": "complete"}
_CACHEABLE_TAIL = {"resultType": "complete", "ttlMs": 0, "cacheScope": "private"}


class Message(msgspec.Struct):
    method: str | None = None
    id: int | str | None = None
    params: dict[str, Any] = msgspec.field(default_factory=dict)


class McpError(Exception):
    """A JSON-RPC error answer with the HTTP status that goes with it."""

    def __init__(self, code: int, message: str, status: int = 200, data: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.status, self.data = code, message, status, data


_DECODE = msgspec.json.Decoder(Message).decode
_ENCODE = msgspec.json.Encoder().encode


class FastEcho:
    """The MCP side: per request, pick the era from the headers, answer in JSON."""

    def __init__(self, era: str, extra_tools: int = 0) -> None:
        self.era = era  # "both", "legacy" or "modern"
        self.tools = TOOLS + many_tools(extra_tools)
        self.sessions: set[bytes] = set()
        self.counts = {"initialize": 0, "discover": 0, "calls": 0, "requests": 0}

    def handle(self, request: Request) -> Response:
        session = request.headers.get(b"mcp-session-id")
        if request.method == b"DELETE" and self.era != "modern" and session is not None:
            self.sessions.discard(session)
            return Response(200)
        if request.method != b"POST":
            return Response(405, headers=((b"Allow", b"POST"),))
        try:
            message = _DECODE(request.body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return self._error(None, McpError(-32700, "Parse error", 400))
        if message.method is None or message.id is None:
            return Response(202)  # notifications and client responses need no answer
        self.counts["requests"] += 1
        version = request.headers.get(b"mcp-protocol-version", b"").decode()
        headers: tuple[tuple[bytes, bytes], ...] = ()
        try:
            if version == MODERN:
                if self.era == "legacy":
                    # An old server knows nothing of the modern era: the method is simply unknown.
                    raise McpError(-32601, f"Method not found: {message.method}")
                result = self._modern(message)
            else:
                if self.era == "modern":
                    raise McpError(
                        -32022,
                        "Unsupported protocol version",
                        400,
                        {"supported": [MODERN], "requested": version or None},
                    )
                if message.method == "initialize":
                    result, session = self._initialize(message)
                    headers = ((b"Mcp-Session-Id", session),)
                else:
                    self._check_session(session)
                    result = self._common(message, modern=False)
        except McpError as exc:
            return self._error(message.id, exc)
        body = b'{"jsonrpc":"2.0","id":' + _ENCODE(message.id) + b',"result":' + result + b"}"
        return Response(200, body, headers=headers)

    def _error(self, request_id: int | str | None, exc: McpError) -> Response:
        error: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.data is not None:
            error["data"] = exc.data
        body = _ENCODE({"jsonrpc": "2.0", "id": request_id, "error": error})
        return Response(exc.status, body)

    def _initialize(self, message: Message) -> tuple[bytes, bytes]:
        self.counts["initialize"] += 1
        asked = message.params.get("protocolVersion")
        version = asked if asked in LEGACY else LEGACY[0]
        session = uuid.uuid4().hex.encode()
        self.sessions.add(session)
        result = {
            "protocolVersion": version,
            "capabilities": CAPABILITIES,
            "serverInfo": SERVER_INFO,
        }
        return _ENCODE(result), session

    def _check_session(self, session: bytes | None) -> None:
        if session is None:
            raise McpError(-32600, "Bad Request: Missing session ID", 400)
        if session not in self.sessions:
            raise McpError(-32600, "Session not found", 404)

    def _modern(self, message: Message) -> bytes:
        if message.method == "server/discover":
            self.counts["discover"] += 1
            return _ENCODE(
                {
                    "supportedVersions": [MODERN],
                    "capabilities": CAPABILITIES,
                    **_CACHEABLE_TAIL,
                    "_meta": {"io.modelcontextprotocol/serverInfo": SERVER_INFO},
                }
            )
        return self._common(message, modern=True)

    def _common(self, message: Message, *, modern: bool) -> bytes:
        method = message.method
        if method == "tools/call":
            self.counts["calls"] += 1
            return _ENCODE({**self._call(message.params), **(_MODERN_TAIL if modern else {})})
        if method == "tools/list":
            return _ENCODE({"tools": self.tools, **(_CACHEABLE_TAIL if modern else {})})
        if method == "ping" and not modern:
            return b"{}"
        raise McpError(-32601, f"Method not found: {method}", 404 if modern else 200)

    def _call(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("name")
        arguments = params.get("arguments") or {}
        if name == "echo" or (isinstance(name, str) and name.startswith("tool_")):
            text = arguments.get("text", "") if isinstance(arguments, dict) else ""
        elif name == "blob":
            size = arguments.get("size") if isinstance(arguments, dict) else None
            if not isinstance(size, int) or not 0 <= size <= MAX_BLOB:
                raise McpError(-32602, f"size must be an integer from 0 to {MAX_BLOB}")
            text = "x" * size
        elif name == "stats":
            text = _ENCODE({**self.counts, "sessions": len(self.sessions)}).decode()
        elif name == "forget_sessions":
            self.sessions.clear()
            text = "forgotten"
        else:
            raise McpError(-32602, f"Unknown tool: {name}")
        return {"content": [{"type": "text", "text": text}], "isError": False}


async def serve(port: int, host: str, era: str, extra_tools: int = 0) -> None:
    app = FastEcho(era, extra_tools)
    sock = bind_loopback(host, port)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HttpProtocol(app.handle), sock=sock)
    announce(sock)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m forge.servers.fastecho", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    parser.add_argument("--port", type=int, default=8002, help="0 picks a free port")
    parser.add_argument("--era", choices=("both", "legacy", "modern"), default="both")
    parser.add_argument("--tools", type=int, default=0, help="extra tools to list (tool_00001…)")
    args = parser.parse_args()
    try:
        uvloop.run(serve(args.port, args.host, args.era, args.tools))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
