"""`python -m forge.servers.authprobe`: an MCP upstream that reports how it was authenticated.

Tools: `whoami` answers (as JSON text) the Authorization header, the query string, the `X-*`
headers and the TLS client certificate subject of the request that carried the call (for
WebSocket: of the upgrade request); `seen` lists what every request so far carried; `deny`
makes every later request bearing the given Authorization value (or one starting with `prefix`)
get HTTP 401; `echo`.

Transports: Streamable HTTP on /mcp (`--era legacy|modern|both`), HTTP+SSE on /sse (messages
POSTed to /messages), WebSocket on /ws (subprotocol mcp). `--tls-cert`/`--tls-key` serve
https/wss; `--tls-client-ca` also requires a client certificate signed by that CA.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import uuid
from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from forge.servers.ports import announce, bind_loopback

MODERN = "2026-07-28"
LEGACY = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
INFO = {"name": "authprobe", "version": "0.1.0"}
CAPABILITIES = {"tools": {"listChanged": False}}
_OBJECT = {"type": "object", "properties": {}}
TOOLS = [
    {
        "name": "whoami",
        "description": "How this request was authenticated.",
        "inputSchema": _OBJECT,
    },
    {"name": "seen", "description": "What every request so far carried.", "inputSchema": _OBJECT},
    {
        "name": "deny",
        "description": "Answer 401 to later requests bearing this Authorization (or prefix).",
        "inputSchema": {
            "type": "object",
            "properties": {"authorization": {"type": "string"}, "prefix": {"type": "string"}},
        },
    },
    {
        "name": "echo",
        "description": "Echo the text back.",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}},
    },
]


class Message(msgspec.Struct):
    method: str | None = None
    id: int | str | None = None
    params: dict[str, Any] = msgspec.field(default_factory=dict)


_DECODE = msgspec.json.Decoder(Message).decode
_ENCODE = msgspec.json.Encoder().encode


def _subject(request: web.BaseRequest) -> str | None:
    transport = request.transport
    cert = transport.get_extra_info("peercert") if transport is not None else None
    if not cert:
        return None
    names = [f"{key}={value}" for rdn in cert.get("subject", ()) for key, value in rdn]
    return ",".join(names).replace("commonName=", "CN=")


def _seen(request: web.BaseRequest) -> dict[str, Any]:
    return {
        "method": request.method,
        "path": request.path,
        "authorization": request.headers.get("Authorization"),
        "query": request.rel_url.raw_query_string,
        "headers": {k.lower(): v for k, v in request.headers.items() if k.lower().startswith("x-")},
        "client_cert": _subject(request),
    }


class Probe:
    """The MCP side, shared by every transport."""

    def __init__(self, era: str) -> None:
        self.era = era
        self.seen: list[dict[str, Any]] = []
        self.denied: set[str] = set()
        self.denied_prefixes: set[str] = set()
        self.sse: dict[str, asyncio.Queue[bytes]] = {}

    def refused(self, request: web.BaseRequest) -> bool:
        """Record the request; True if it must be answered 401."""
        self.seen.append(_seen(request))
        authorization = request.headers.get("Authorization")
        if authorization is None:
            return False
        return authorization in self.denied or any(
            authorization.startswith(prefix) for prefix in self.denied_prefixes
        )

    def answer(self, message: Message, request: web.BaseRequest, *, modern: bool) -> Any:
        """The JSON-RPC response to one request (None for a notification)."""
        if message.id is None or message.method is None:
            return None
        try:
            result = self._result(message, request, modern=modern)
        except LookupError as exc:
            error = {"code": -32601, "message": f"Method not found: {exc}"}
            return {"jsonrpc": "2.0", "id": message.id, "error": error}
        return {"jsonrpc": "2.0", "id": message.id, "result": result}

    def _result(self, message: Message, request: web.BaseRequest, *, modern: bool) -> Any:
        tail = {"resultType": "complete"} if modern else {}
        method = message.method
        if method == "initialize" and not modern:
            asked = message.params.get("protocolVersion")
            version = asked if asked in LEGACY else LEGACY[0]
            return {"protocolVersion": version, "capabilities": CAPABILITIES, "serverInfo": INFO}
        if method == "server/discover" and modern:
            meta = {"io.modelcontextprotocol/serverInfo": INFO}
            return {"supportedVersions": [MODERN], "capabilities": CAPABILITIES, "_meta": meta}
        if method == "ping":
            return {}
        if method == "tools/list":
            return {"tools": TOOLS, **tail}
        if method == "tools/call":
            return {"content": [{"type": "text", "text": self._call(message, request)}], **tail}
        raise LookupError(method)

    def _call(self, message: Message, request: web.BaseRequest) -> str:
        name = message.params.get("name")
        arguments = message.params.get("arguments") or {}
        if name == "whoami":
            return _ENCODE(_seen(request)).decode()
        if name == "seen":
            return _ENCODE(self.seen).decode()
        if name == "deny":
            if arguments.get("authorization"):
                self.denied.add(str(arguments["authorization"]))
            if arguments.get("prefix"):
                self.denied_prefixes.add(str(arguments["prefix"]))
            return "denied"
        return str(arguments.get("text", ""))

    # Streamable HTTP
    async def mcp(self, request: web.Request) -> web.StreamResponse:
        if self.refused(request):
            return web.Response(status=401, headers={"WWW-Authenticate": "Bearer"})
        try:
            message = _DECODE(await request.read())
        except (msgspec.DecodeError, msgspec.ValidationError):
            return web.Response(status=400)
        modern = request.headers.get("MCP-Protocol-Version") == MODERN
        if modern and self.era == "legacy":
            return self._json(message.id, {"code": -32601, "message": "Method not found"})
        if not modern and self.era == "modern":
            return self._json(message.id, {"code": -32022, "message": "Unsupported"}, 400)
        response = self.answer(message, request, modern=modern)
        if response is None:
            return web.Response(status=202)
        headers = {"Mcp-Session-Id": uuid.uuid4().hex} if message.method == "initialize" else {}
        return web.Response(
            body=_ENCODE(response), content_type="application/json", headers=headers
        )

    @staticmethod
    def _json(request_id: Any, error: dict[str, Any], status: int = 200) -> web.Response:
        body = _ENCODE({"jsonrpc": "2.0", "id": request_id, "error": error})
        return web.Response(body=body, status=status, content_type="application/json")

    # HTTP+SSE
    async def sse_stream(self, request: web.Request) -> web.StreamResponse:
        if self.refused(request):
            return web.Response(status=401)
        session = uuid.uuid4().hex
        queue = self.sse[session] = asyncio.Queue()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(f"event: endpoint\ndata: /messages?session_id={session}\n\n".encode())
        try:
            while True:
                data = await queue.get()
                await response.write(b"event: message\ndata: " + data + b"\n\n")
        finally:
            self.sse.pop(session, None)

    async def sse_message(self, request: web.Request) -> web.StreamResponse:
        if self.refused(request):
            return web.Response(status=401)
        queue = self.sse.get(request.query.get("session_id", ""))
        if queue is None:
            return web.Response(status=404)
        response = self.answer(_DECODE(await request.read()), request, modern=False)
        if response is not None:
            queue.put_nowait(_ENCODE(response))
        return web.Response(status=202)

    # WebSocket
    async def websocket(self, request: web.Request) -> web.StreamResponse:
        if self.refused(request):
            return web.Response(status=401)
        ws = web.WebSocketResponse(protocols=("mcp",))
        await ws.prepare(request)
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            response = self.answer(_DECODE(frame.data), request, modern=False)
            if response is not None:
                await ws.send_str(_ENCODE(response).decode())
        return ws


def tls(cert: str | None, key: str | None, client_ca: str | None) -> ssl.SSLContext | None:
    if not cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    if client_ca:
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


async def serve(port: int, host: str, era: str, context: ssl.SSLContext | None) -> None:
    probe = Probe(era)
    app = web.Application()
    app.router.add_post("/mcp", probe.mcp)
    app.router.add_get("/sse", probe.sse_stream)
    app.router.add_post("/messages", probe.sse_message)
    app.router.add_get("/ws", probe.websocket)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    sock = bind_loopback(host, port)
    await web.SockSite(runner, sock, ssl_context=context).start()
    announce(sock)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m forge.servers.authprobe", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    parser.add_argument("--port", type=int, default=8003, help="0 picks a free port")
    parser.add_argument("--era", choices=("both", "legacy", "modern"), default="legacy")
    parser.add_argument("--tls-cert", help="PEM certificate: serve https and wss")
    parser.add_argument("--tls-key", help="PEM key of --tls-cert")
    parser.add_argument("--tls-client-ca", help="PEM CA: require client certificates it signed")
    args = parser.parse_args()
    context = tls(args.tls_cert, args.tls_key, args.tls_client_ca)
    try:
        asyncio.run(serve(args.port, args.host, args.era, context))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
