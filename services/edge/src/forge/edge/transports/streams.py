"""Long-lived SSE streams: a legacy GET stream, `subscriptions/listen`, the SSE transport."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import msgspec

from forge.core import subjects
from forge.core.bus import Subscription
from forge.edge.http import Receive, Send
from forge.edge.state import Edge
from forge.edge.transports.notices import ALL_KINDS, LIST_CHANGED, PROMPTS, RESOURCES, TOOLS
from forge.edge.transports.sse import EventStream, pump
from forge.edge.transports.updates import Watch
from forge.proto import jsonrpc

SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"
_ENC = msgspec.json.Encoder()
# The `subscriptions/listen` filter keys Forge honours, and the lists they name.
_LISTEN_KEYS = {
    "toolsListChanged": TOOLS,
    "resourcesListChanged": RESOURCES,
    "promptsListChanged": PROMPTS,
}

Render = Callable[[frozenset[str]], list[bytes]]


class _ListenParams(msgspec.Struct, frozen=True):
    notifications: dict[str, object] = msgspec.field(default_factory=dict)


_LISTEN_PARAMS = msgspec.json.Decoder(_ListenParams)


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
    farewell: bytes | None = None,
) -> None:
    """Hold an SSE stream open: `opening` events, then the session's messages and list changes.

    `farewell` is the last event when the edge shuts down (a listen stream's graceful close).
    """
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    sub: Subscription | None = None
    watch = Watch(queue.put_nowait)  # the session's resource subscriptions

    async def on_session(subject: str, data: bytes) -> None:
        if not watch.control(data):
            queue.put_nowait(data)

    def on_notice(kinds: frozenset[str]) -> None:
        assert render is not None
        for message in render(kinds):
            queue.put_nowait(message)

    try:
        if session_sid is not None:
            sub = await edge.bus.subscribe(subjects.session(session_sid), on_session)
            await edge.updates.add(watch)
        if render is not None:
            await edge.notices.add(on_notice)
        await edge.bus.flush()
        stream = EventStream(send)
        await stream.start(headers)
        for event, data in opening or []:
            await stream.event(data, event)
        if await pump(stream, queue, receive, edge.closing):
            await stream.close(farewell)
        else:
            await stream.close()
    finally:
        edge.notices.remove(on_notice)
        edge.updates.remove(watch)
        if sub is not None:
            await sub.unsubscribe()


async def listen(
    edge: Edge, receive: Receive, send: Send, request_id: jsonrpc.RequestId, params: bytes
) -> None:
    """A modern `subscriptions/listen`: acknowledge the honoured filter, then stream changes."""
    try:
        wanted = _LISTEN_PARAMS.decode(params).notifications
    except msgspec.DecodeError:
        wanted = {}
    honoured = {key: True for key in _LISTEN_KEYS if wanted.get(key) is True}
    kinds = frozenset(_LISTEN_KEYS[key] for key in honoured) & ALL_KINDS
    meta = {SUBSCRIPTION_ID: request_id}
    ack = jsonrpc.notification_bytes(
        "notifications/subscriptions/acknowledged",
        _ENC.encode({"notifications": honoured, "_meta": meta}),
    )
    tagged = _ENC.encode({"_meta": meta})

    def render(changed: frozenset[str]) -> list[bytes]:
        wanted = sorted(changed & kinds)
        return [jsonrpc.notification_bytes(LIST_CHANGED[kind], tagged) for kind in wanted]

    farewell = jsonrpc.result_bytes(
        request_id, _ENC.encode({"_meta": meta, "resultType": "complete"})
    )
    await serve(
        edge,
        receive,
        send,
        opening=[(b"message", ack)],
        render=render if kinds else None,
        farewell=farewell,
    )
