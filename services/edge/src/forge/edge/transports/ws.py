"""MCP over WebSocket (`/ws`, subprotocol `mcp`): one JSON-RPC message per text frame."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Coroutine
from typing import Any

from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from forge.core import subjects
from forge.core.bus import Subscription
from forge.core.errors import ForgeError, PayloadTooLargeError
from forge.edge import inputs
from forge.edge.auth import guard
from forge.edge.http import Receive, Scope, Send
from forge.edge.state import Edge
from forge.edge.transports import streams
from forge.edge.transports.exchange import Caller, Exchange, as_declared
from forge.edge.transports.mcp_http import LEGACY_DEFAULT, negotiated
from forge.edge.transports.messages import Request, cancelled_request_id, parse
from forge.edge.transports.updates import Watch
from forge.proto import jsonrpc
from forge.proto.envelope import ENCODER, Protocol

log = logging.getLogger("forge.edge.transports.ws")
SUBPROTOCOL = "mcp"
_POLICY_VIOLATION = 1008
# RFC 6455's "message too big": how a frame over FORGE_EDGE_MAX_BODY_BYTES is refused (the
# WebSocket form of HTTP 413), after a JSON-RPC error -32008 with a null id, since the frame's
# id is not read.
MESSAGE_TOO_BIG = 1009
_DENIAL = "websocket.http.response"


async def _refuse(ws: WebSocket, exc: ForgeError) -> None:
    """Refuse the upgrade with the error's HTTP status (and challenge), where the server lets
    the app answer a handshake with a response; else close before accepting (a 403)."""
    if _DENIAL not in ws.scope.get("extensions", {}):
        await ws.close(code=_POLICY_VIOLATION)
        return
    body = jsonrpc.error_bytes(None, ENCODER.encode(exc.to_object()))
    headers = {"www-authenticate": exc.challenge} if isinstance(exc, guard.ChallengeError) else {}
    response = Response(body, exc.http_status, headers, media_type="application/json")
    await ws.send_denial_response(response)


class _Connection:
    """One WebSocket client: a legacy session that lives exactly as long as the socket."""

    def __init__(self, edge: Edge, exchange: Exchange, ws: WebSocket, caller: Caller) -> None:
        self.edge = edge
        self.exchange = exchange
        self.ws = ws
        self.caller = caller
        self.lock = asyncio.Lock()
        self.tasks: set[asyncio.Task[None]] = set()
        self.watch = Watch(lambda message: self._spawn(self.send(message)))

    async def send(self, message: bytes) -> None:
        async with self.lock:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await self.ws.send_text(message.decode())

    def on_notice(self, kinds: frozenset[str]) -> None:
        legacy = [] if self.watch.modern else streams.legacy_notices(kinds)
        for message in [*legacy, *self.watch.notices(kinds)]:
            self._spawn(self.send(message))

    async def on_session(self, subject: str, data: bytes) -> None:
        if not self.watch.control(data):
            await self.send(data)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def receive(self, data: bytes) -> None:
        try:
            inputs.check_json(data, self.edge.config.max_json_depth)
            incoming = parse(data)
        except ForgeError as exc:
            await self.send(jsonrpc.error_bytes(None, ENCODER.encode(exc.to_object())))
            return
        if isinstance(incoming, Request) and not incoming.is_notification:
            # Requests run side by side: a long call must not hold up the client's answers.
            self._spawn(self._request(incoming))
            return
        if isinstance(incoming, Request) and incoming.method == "notifications/cancelled":
            # A cancelled subscriptions/listen ends here; any other cancel goes on.
            if self.watch.remove(cancelled_request_id(incoming.params)):
                return
        try:
            await self.exchange.handle(incoming, self.caller, None)
        except ForgeError as exc:
            await self.send(jsonrpc.error_bytes(None, ENCODER.encode(exc.to_object())))

    async def _request(self, request: Request) -> None:
        # The token is checked again per request (from the cache: no registry round trip), so a
        # revocation or a changed role reaches a socket that stays open.
        ws = self.ws
        try:
            principal = await guard.mcp_principal(
                self.edge, ws.scope, ws.headers, self.caller.server_id
            )
        except ForgeError as exc:
            await self.send(jsonrpc.error_bytes(request.id, ENCODER.encode(exc.to_object())))
            return
        if principal is not self.caller.principal:
            self.caller = dataclasses.replace(self.caller, principal=principal)
        try:
            caller = as_declared(self.caller, request)
        except ForgeError as exc:
            await self.send(jsonrpc.error_bytes(request.id, ENCODER.encode(exc.to_object())))
            return
        modern = caller.protocol.era == "modern"
        if modern:
            self.watch.modern = True  # no untagged list changes for a 2026-07-28 client
        if modern and request.method == "subscriptions/listen":
            await self._listen(request, caller)
            return
        if request.method == "initialize" and not modern:
            caller = Caller(
                caller.principal,
                Protocol(version=LEGACY_DEFAULT, era="legacy", session_id=caller.session),
                caller.server_id,
                caller.session,
            )

        def on_result(result: bytes) -> None:
            if request.method == "initialize" and not modern:
                self.caller = Caller(
                    caller.principal,
                    negotiated(request, result, caller.session),
                    caller.server_id,
                    caller.session,
                )

        await self.send(await self.exchange.reply(request, caller, self.send, on_result))

    async def _listen(self, request: Request, caller: Caller) -> None:
        """A modern `subscriptions/listen`: acknowledged, then its messages share the socket
        until the client cancels it or the socket closes."""
        try:
            subscription = await streams.admit(self.exchange, request, caller)
        except ForgeError as exc:
            await self.send(jsonrpc.error_bytes(request.id, ENCODER.encode(exc.to_object())))
            return
        await self.send(subscription.ack())
        self.watch.add(subscription)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()


class WsEndpoint:
    """The WebSocket route; authentication by the `Authorization` header of the upgrade (and its
    `Origin`, which browsers always send on WebSockets: the cross-site case to refuse)."""

    def __init__(self, edge: Edge) -> None:
        self.edge = edge
        self.exchange = Exchange(edge)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ws = WebSocket(scope, receive, send)
        server_id = ws.path_params.get("server_id")
        try:
            principal = await guard.mcp_principal(self.edge, scope, ws.headers, server_id)
        except ForgeError as exc:
            await _refuse(ws, exc)
            return
        offered = ws.scope.get("subprotocols") or []
        await ws.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)
        sid = uuid.uuid4().hex
        caller = Caller(
            principal,
            Protocol(version=LEGACY_DEFAULT, era="legacy", session_id=sid),
            server_id,
            sid,
        )
        conn = _Connection(self.edge, self.exchange, ws, caller)
        sub: Subscription | None = None
        try:
            sub = await self.edge.bus.subscribe(subjects.session(sid), conn.on_session)
            await self.edge.notices.add(conn.on_notice)
            await self.edge.updates.add(conn.watch)
            await self._read(ws, conn)
        finally:
            self.edge.notices.remove(conn.on_notice)
            self.edge.updates.remove(conn.watch)
            if sub is not None:
                await sub.unsubscribe()
            await conn.close()

    async def _too_big(self, ws: WebSocket, conn: _Connection) -> None:
        limit = self.edge.config.max_body_bytes
        error = PayloadTooLargeError(f"a message exceeds the limit of {limit} bytes")
        await conn.send(jsonrpc.error_bytes(None, ENCODER.encode(error.to_object())))
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await ws.close(code=MESSAGE_TOO_BIG)

    async def _read(self, ws: WebSocket, conn: _Connection) -> None:
        closing = asyncio.ensure_future(self.edge.closing.wait())
        try:
            while True:
                reading = asyncio.ensure_future(ws.receive())
                done, _ = await asyncio.wait({reading, closing}, return_when="FIRST_COMPLETED")
                if reading not in done:
                    reading.cancel()
                    for farewell in conn.watch.farewells():  # listens end gracefully
                        await conn.send(farewell)
                    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                        await ws.close(code=1001)
                    return
                message = reading.result()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                # A binary frame is read as the same JSON text; check_json refuses bad UTF-8.
                data = text.encode() if text is not None else message.get("bytes")
                if data and len(data) > self.edge.config.max_body_bytes:
                    await self._too_big(ws, conn)
                    return
                if data:
                    await conn.receive(data)
        finally:
            closing.cancel()
