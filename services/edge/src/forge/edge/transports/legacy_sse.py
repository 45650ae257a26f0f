"""The HTTP+SSE transport (2024-11-05): `GET /sse` holds the stream, `POST /message` feeds it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

import msgspec

from forge.core import subjects
from forge.core.errors import ForgeError
from forge.edge import inputs
from forge.edge.auth import guard
from forge.edge.http import Receive, Scope, Send, header_map, respond
from forge.edge.state import Edge
from forge.edge.transports import sessions, streams, updates
from forge.edge.transports.exchange import Caller, Exchange, as_declared
from forge.edge.transports.mcp_http import LEGACY_DEFAULT, answer_status, session_protocol
from forge.edge.transports.messages import Incoming, Request, cancelled_request_id, parse
from forge.proto import jsonrpc
from forge.proto.envelope import ENCODER, Protocol

log = logging.getLogger("forge.edge.transports.sse")
Handler = Callable[[Scope, Receive, Send], Awaitable[None]]
_NOTHING = msgspec.Raw(b"{}")


class Asgi:
    """Hands a bound method to Starlette as an ASGI app (it would wrap a method as a view)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handler(scope, receive, send)


class SseTransport:
    """`/sse` + `/message` (and under `/servers/{id}`): answers travel on `forge.session.<sid>`,

    so a POST that lands on any edge replica reaches the replica that holds the stream.
    """

    def __init__(self, edge: Edge) -> None:
        self.edge = edge
        self.exchange = Exchange(edge)
        self.tasks: set[asyncio.Task[None]] = set()

    async def stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = header_map(scope)
        server_id = scope.get("path_params", {}).get("server_id")
        try:
            principal = await guard.mcp_principal(self.edge, scope, headers, server_id)
        except ForgeError as exc:
            await _refuse(send, exc, guard.challenge_headers(exc))
            return
        # The session starts before initialize: it carries no negotiated state, only its id.
        token, state = self.edge.sessions.new(
            principal.subject,
            LEGACY_DEFAULT,
            _NOTHING,
            _NOTHING,
            sessions.endpoint("sse", server_id),
        )
        prefix = f"/servers/{server_id}" if server_id else ""
        endpoint = f"{prefix}/message?session_id={token}".encode()
        await streams.serve(
            self.edge,
            receive,
            send,
            opening=[(b"endpoint", endpoint)],
            session_sid=state.sid,
            render=streams.legacy_notices,
        )

    async def message(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = header_map(scope)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        token = (query.get("session_id") or query.get("sessionId") or [""])[0]
        server_id = scope.get("path_params", {}).get("server_id")
        try:
            principal = await guard.mcp_principal(self.edge, scope, headers, server_id)
            state = self.edge.sessions.open(
                token, principal.subject, sessions.endpoint("sse", server_id)
            )
            body = await inputs.read_json(self.edge.config, scope, receive)
            incoming = parse(body)
        except ForgeError as exc:
            await _refuse(send, exc, guard.challenge_headers(exc))
            return
        protocol = session_protocol(state)
        if isinstance(incoming, Request) and incoming.method == "initialize":
            protocol = Protocol(version=LEGACY_DEFAULT, era="legacy", session_id=state.sid)
        caller = Caller(
            principal,
            protocol,
            server_id,
            state.sid,
            headers.get("traceparent"),
        )
        await respond(send, 202, b"")
        # The answer goes on the stream, after the 202: the client may need to POST meanwhile.
        task = asyncio.create_task(self._handle(incoming, caller, subjects.session(state.sid)))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _handle(self, incoming: Incoming, caller: Caller, subject: str) -> None:
        async def to_stream(message: bytes) -> None:
            await self.edge.bus.publish(subject, message)

        request_id = incoming.id if isinstance(incoming, Request) else None
        try:
            if isinstance(incoming, Request):
                caller = as_declared(caller, incoming)
                if await self._listening(incoming, caller, subject):
                    return
            reply = await self.exchange.handle(incoming, caller, to_stream)
        except ForgeError as exc:
            reply = jsonrpc.error_bytes(request_id, ENCODER.encode(exc.to_object()))
        if reply is not None:
            await to_stream(reply)

    async def _listening(self, request: Request, caller: Caller, subject: str) -> bool:
        """What the replica holding the stream must know: a modern request (its client gets no
        untagged list changes), a modern `subscriptions/listen` (it acknowledges, then writes the
        subscription's messages; True: handled) or a cancel of one. Raises ForgeError for a
        listen that cannot be honoured."""
        if request.method == "notifications/cancelled":
            request_id = cancelled_request_id(request.params)
            if request_id is not None:  # perhaps a listen's: the stream's holder knows
                await self.edge.bus.publish(subject, updates.unlisten_control(request_id))
            return False  # a call's cancel goes on as ever
        if caller.protocol.era != "modern" or request.is_notification:
            return False  # a legacy listen: the router answers -32601, as for any unknown method
        # A 2026-07-28 client is on the stream: it gets list changes only as its listens ask.
        await self.edge.bus.publish(subject, updates.MODERN_CONTROL)
        if request.method != "subscriptions/listen":
            return False
        subscription = await streams.admit(self.exchange, request, caller)
        await self.edge.bus.publish(subject, updates.listen_control(subscription))
        return True


async def _refuse(
    send: Send, exc: ForgeError, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = jsonrpc.error_bytes(None, ENCODER.encode(exc.to_object()))
    await respond(send, answer_status(exc, False), body, extra)
