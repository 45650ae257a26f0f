"""Long-lived SSE streams: a legacy GET stream, `subscriptions/listen`, the SSE transport."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import msgspec

from forge.core import subjects
from forge.core.bus import Subscription
from forge.edge.http import Receive, Send
from forge.edge.state import Edge
from forge.edge.transports.exchange import Caller, Exchange
from forge.edge.transports.listens import Listen, honoured, requested
from forge.edge.transports.messages import Request
from forge.edge.transports.notices import LIST_CHANGED
from forge.edge.transports.sse import EventStream, pump
from forge.edge.transports.updates import Watch
from forge.proto import jsonrpc
from forge.proto.mcp import LISTEN_PARAMS_DECODER

Render = Callable[[frozenset[str]], list[bytes]]


def legacy_notices(kinds: frozenset[str]) -> list[bytes]:
    """List-change notifications as a legacy session receives them."""
    return [jsonrpc.notification_bytes(LIST_CHANGED[kind]) for kind in sorted(kinds)]


async def serve(
    edge: Edge,
    receive: Receive,
    send: Send,
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    opening: list[tuple[bytes, bytes]] | None = None,
    session_sid: str | None = None,
    render: Render | None = None,
    listen: Listen | None = None,
) -> None:
    """Hold an SSE stream open: `opening` events, then the session's messages, list changes and
    the resource updates its subscriptions and listens name.

    `listen` is the subscription this stream is the response of (`subscriptions/listen` on
    Streamable HTTP); the SSE transport's listens arrive as control messages. When the edge shuts
    down, each listen's result ends it gracefully.
    """
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    sub: Subscription | None = None
    watch = Watch(queue.put_nowait)  # the session's resource subscriptions and the listens
    if listen is not None:
        watch.add(listen)

    async def on_session(subject: str, data: bytes) -> None:
        if not watch.control(data):
            queue.put_nowait(data)

    def on_notice(kinds: frozenset[str]) -> None:
        legacy = render(kinds) if render is not None and not watch.modern else []
        for message in [*legacy, *watch.notices(kinds)]:
            queue.put_nowait(message)

    noticed = render is not None or (listen is not None and bool(listen.kinds))
    try:
        if session_sid is not None:
            sub = await edge.bus.subscribe(subjects.session(session_sid), on_session)
        if session_sid is not None or (listen is not None and listen.uris):
            await edge.updates.add(watch)
        if noticed:
            await edge.notices.add(on_notice)
        await edge.bus.flush()
        stream = EventStream(send)
        await stream.start(headers)
        for event, data in opening or []:
            await stream.event(data, event)
        if await pump(stream, queue, receive, edge.closing):
            for farewell in watch.farewells():
                await stream.event(farewell)
        await stream.close()
    finally:
        edge.notices.remove(on_notice)
        edge.updates.remove(watch)
        if sub is not None:
            await sub.unsubscribe()


async def admit(exchange: Exchange, request: Request, caller: Caller) -> Listen:
    """A modern `subscriptions/listen`, checked: its filter (else -32602), and its resource
    subscriptions by the router (each a resource the caller can read, subscribed upstream)."""
    assert request.id is not None
    wanted = honoured(requested(bytes(request.params)))
    if wanted.resourceSubscriptions:
        result = await exchange.call(request, caller, None)
        try:
            # The router answers the filter it honours, in the shape of listen's params.
            wanted = LISTEN_PARAMS_DECODER.decode(result).notifications
        except msgspec.DecodeError:
            pass  # a router that predates this answer: the edge's own reading stands
    return Listen(request.id, wanted)


async def listen(
    edge: Edge, exchange: Exchange, receive: Receive, send: Send, request: Request, caller: Caller
) -> None:
    """A modern `subscriptions/listen` on Streamable HTTP: its response is the stream.

    Raises ForgeError (before anything is sent) for a filter that cannot be honoured.
    """
    subscription = await admit(exchange, request, caller)
    await serve(
        edge, receive, send, opening=[(b"message", subscription.ack())], listen=subscription
    )
