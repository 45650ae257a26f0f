"""The one request path of every transport: a JSON-RPC message in, an envelope out, a reply back."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import msgspec

from forge.core import logs, rpc, subjects, tracing
from forge.core.bus import TRACEPARENT
from forge.core.errors import ForgeError
from forge.core.results import complete_result
from forge.edge.auth.guard import check_method, check_method_with_plugins
from forge.edge.state import Edge
from forge.edge.transports.messages import (
    ClientResponse,
    Incoming,
    Request,
    cancelled_request_id,
    declared_protocol,
    envelope_id,
    random_hex,
    reply_target,
    to_client,
)
from forge.edge.transports.updates import SUBSCRIBE_METHODS, control
from forge.proto import jsonrpc, mcp
from forge.proto.envelope import ENCODER, Envelope, Principal, Protocol
from forge.proto.upstream import STREAM_PAUSED

# Methods the router answers from its own state: nothing can stream while they run.
LOCAL_METHODS = frozenset(
    {
        "initialize",
        "ping",
        "server/discover",
        "tools/list",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
        "logging/setLevel",
    }
)

# Sends one message (a notification, or a server-to-client request) to the client.
Deliver = Callable[[bytes], Awaitable[None]]
# The upstream closed the call's stream to be polled (STREAM_PAUSED): the transport may do the
# same to its client (a resumable Streamable HTTP answer does).
OnPause = Callable[[], Awaitable[None]]


async def _after(previous: asyncio.Future[None] | None, delivery: Awaitable[None]) -> None:
    """Deliver once the previous message has gone: the client sees them in arrival order."""
    if previous is not None:
        await asyncio.wait([previous])
    await delivery


@dataclass(frozen=True)
class Caller:
    """Who sends a message, on which endpoint, in which protocol and session."""

    principal: Principal
    protocol: Protocol
    server_id: str | None = None
    session: str | None = None  # the legacy session's sid: envelope ids derive from it
    traceparent: str | None = None
    # A modern Streamable HTTP tools/call's Mcp-Param-* headers, checked by the router against
    # the tool; None on transports without per-request headers.
    param_headers: dict[str, str] | None = None


def as_declared(caller: Caller, request: Request) -> Caller:
    """The caller in the era this request declares (message transports: no per-request
    headers, a legacy session may carry modern requests). Raises ForgeError for a modern
    request that breaks that era's rules."""
    protocol = declared_protocol(request)
    return caller if protocol is None else dataclasses.replace(caller, protocol=protocol)


def new_traceparent(incoming: str | None) -> str:
    if incoming and len(incoming) == 55:
        return incoming
    return f"00-{random_hex(16)}-{random_hex(8)}-01"


class Exchange:
    """Turns JSON-RPC messages into router calls, in-flight streams and replies."""

    def __init__(self, edge: Edge) -> None:
        self.edge = edge

    def envelope_id(self, caller: Caller, request: Request) -> str:
        return envelope_id(caller.session, request.id)

    async def call(
        self,
        request: Request,
        caller: Caller,
        deliver: Deliver | None,
        eid: str | None = None,
        on_pause: OnPause | None = None,
    ) -> bytes:
        """The router's result JSON; in-flight messages go to `deliver`. Raises ForgeError.

        A modern client's result carries what its era requires, whatever produced it (the
        router, a legacy upstream, an upstream that omits `resultType`) and whatever the
        transport: the one place every transport's answer passes.
        """
        result = await self._call(request, caller, deliver, eid, on_pause)
        if caller.protocol.era == "modern":
            return complete_result(request.method, result)
        return result

    async def _call(
        self,
        request: Request,
        caller: Caller,
        deliver: Deliver | None,
        eid: str | None,
        on_pause: OnPause | None,
    ) -> bytes:
        principal = caller.principal
        if self.edge.hooks.checks_permissions:
            principal = await check_method_with_plugins(
                self.edge, principal, request.method, caller.server_id
            )
        else:
            check_method(principal, request.method)
        envelope = Envelope(
            id=eid or self.envelope_id(caller, request),
            method=request.method,
            params=request.params,
            principal=principal,
            deadline=time.time() + self.edge.config.request_timeout_s,
            protocol=caller.protocol,
            server_id=caller.server_id,
            param_headers=caller.param_headers,
        )
        logs.REQUEST_ID.set(envelope.id)  # the edge's log lines of this request carry its id
        if tracing.enabled():
            return await self._traced(request, caller, envelope, deliver, on_pause)
        TRACEPARENT.set(new_traceparent(caller.traceparent))
        return await self._send(request, caller, envelope, deliver, on_pause)

    async def _traced(
        self,
        request: Request,
        caller: Caller,
        envelope: Envelope,
        deliver: Deliver | None,
        on_pause: OnPause | None,
    ) -> bytes:
        """`_send` in the edge's span of this MCP request: the HTTP request's SERVER span when
        it carries this one request (its attributes added), else a span of its own: the SERVER
        span on a WebSocket (continuing the client's `traceparent`), a child in a batch."""
        attributes = tracing.mcp_attributes(
            request.method, request.params, arguments=self.edge.config.trace_arguments
        )
        if caller.server_id is not None:
            attributes["forge.server.id"] = caller.server_id
        if tracing.claim(attributes):
            return await self._failing(request, caller, envelope, deliver, on_pause)
        inside = tracing.inside()
        if not inside:
            TRACEPARENT.set(tracing.parse(caller.traceparent))
        kind = tracing.INTERNAL if inside else tracing.SERVER
        with tracing.span(tracing.mcp_span_name(attributes), kind, attributes):
            return await self._failing(request, caller, envelope, deliver, on_pause)

    async def _failing(
        self,
        request: Request,
        caller: Caller,
        envelope: Envelope,
        deliver: Deliver | None,
        on_pause: OnPause | None,
    ) -> bytes:
        """`_send`, its error's code on the current span."""
        try:
            return await self._send(request, caller, envelope, deliver, on_pause)
        except ForgeError as exc:
            tracing.failed(exc.code, exc.message)
            raise

    async def _send(
        self,
        request: Request,
        caller: Caller,
        envelope: Envelope,
        deliver: Deliver | None,
        on_pause: OnPause | None,
    ) -> bytes:
        route = self.edge.route
        if request.method in SUBSCRIBE_METHODS:
            result = await route(envelope)
            await self._subscribed(request, caller)
            return result
        if deliver is None or request.method in LOCAL_METHODS:
            return await route(envelope)
        # Registered before the router sees the envelope, so no early message is lost. Messages
        # are rare: each is delivered in order by a chain of small tasks, made only when one
        # arrives, so the common call costs no task and no queue.
        chain: list[asyncio.Future[None]] = []

        def on_message(data: bytes, reply: str) -> None:
            previous = chain[-1] if chain else None
            if data == STREAM_PAUSED:  # never for the client; in order, after what came before
                if on_pause is not None:
                    chain.append(asyncio.ensure_future(_after(previous, on_pause())))
                return
            chain.append(asyncio.ensure_future(_after(previous, deliver(to_client(data, reply)))))

        await self.edge.await_stream(envelope.id, on_message)
        try:
            result = await route(envelope)
        finally:
            self.edge.forget_stream(envelope.id)
            if chain:
                await asyncio.gather(*chain, return_exceptions=True)
        return result

    async def _subscribed(self, request: Request, caller: Caller) -> None:
        """Tell the replica holding the session's stream which URIs it now watches."""
        if caller.session is None:
            return
        try:
            uri = mcp.NAMED_PARAMS_DECODER.decode(request.params).uri  # the router checked it
        except msgspec.DecodeError:
            return
        if uri is not None:
            bus = self.edge.bus
            await bus.publish(subjects.session(caller.session), control(request.method, uri))
            await bus.flush()  # before the client hears that it is subscribed

    async def reply(
        self,
        request: Request,
        caller: Caller,
        deliver: Deliver | None,
        on_result: Callable[[bytes], None] | None = None,
    ) -> bytes:
        """The JSON-RPC response to a request, errors included (for message-based transports)."""
        try:
            result = await self.call(request, caller, deliver)
        except ForgeError as exc:
            return jsonrpc.error_bytes(request.id, ENCODER.encode(exc.to_object()))
        except Exception as exc:  # the adapter boundary: log it, hand back only an error id
            error = rpc.internal_error(exc, f"edge {request.method}")
            return jsonrpc.error_bytes(request.id, ENCODER.encode(error))
        if on_result is not None:
            on_result(result)
        return jsonrpc.result_bytes(request.id, result)

    async def notify(self, request: Request, caller: Caller) -> None:
        """A client notification: `notifications/cancelled` cancels, others need nothing."""
        if request.method != "notifications/cancelled" or caller.session is None:
            return
        request_id = cancelled_request_id(request.params)
        if request_id is not None:
            await self.cancel(envelope_id(caller.session, request_id))

    async def cancel(self, eid: str) -> None:
        await self.edge.bus.publish(subjects.cancel(eid), b"")

    async def answer(self, response: ClientResponse) -> None:
        """A client's response to a server-to-client request goes to the inbox that waits."""
        target = reply_target(response)
        if target is not None:
            await self.edge.bus.respond(*target)

    async def handle(
        self,
        incoming: Incoming,
        caller: Caller,
        deliver: Deliver | None,
        on_result: Callable[[bytes], None] | None = None,
    ) -> bytes | None:
        """Any message of a message-based transport (SSE, WebSocket): the reply, if one is due.

        Raises ForgeError for a client response that names no pending request.
        """
        if isinstance(incoming, ClientResponse):
            await self.answer(incoming)
            return None
        if incoming.is_notification:
            await self.notify(incoming, caller)
            return None
        return await self.reply(incoming, caller, deliver, on_result)
