"""Subscriptions held on a stream: each stream filters upstream resource updates by URI.

When a legacy session's `resources/subscribe` (or `unsubscribe`) succeeds, the edge that took it
publishes a control message on `forge.session.<sid>`; whichever replica holds the session's
stream (GET stream, SSE stream, WebSocket) keeps the set of URIs and writes each matching
`forge.resource.updated.*` notification. A modern `subscriptions/listen` on the SSE transport
travels the same way (`listen`, `unlisten`) to the stream that carries it; on Streamable HTTP and
WebSocket the stream that took it holds it directly. Control messages never reach the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import msgspec

from forge.core import subjects
from forge.core.bus import Bus, Subscription
from forge.edge.transports.listens import Listen, key
from forge.proto import jsonrpc
from forge.proto.mcp import RESOURCE_UPDATED_DECODER
from forge.proto.sessions import SESSION_CONTROL_DECODER, SessionControl

SUBSCRIBE_METHODS = {"resources/subscribe": "subscribe", "resources/unsubscribe": "unsubscribe"}
_CONTROL_PREFIX = b'{"forge":'
_ENC = msgspec.json.Encoder()


def control(method: str, uri: str) -> bytes:
    """The control message of a successful `resources/subscribe` or `unsubscribe`."""
    return _ENC.encode(SessionControl(forge=SUBSCRIBE_METHODS[method], uri=uri))


# A modern request came on the SSE transport (the stream's holder sees no request).
MODERN_CONTROL = _ENC.encode(SessionControl(forge="modern"))


def listen_control(listen: Listen) -> bytes:
    """The control message of an admitted `subscriptions/listen` (SSE transport)."""
    return _ENC.encode(SessionControl(forge="listen", id=listen.id, notifications=listen.filter))


def unlisten_control(request_id: jsonrpc.RequestId) -> bytes:
    """The control message of a cancelled `subscriptions/listen` (SSE transport)."""
    return _ENC.encode(SessionControl(forge="unlisten", id=request_id))


def updated_uri(data: bytes) -> str | None:
    """The `params.uri` of a `notifications/resources/updated`, else None."""
    try:
        message = RESOURCE_UPDATED_DECODER.decode(data)
    except msgspec.DecodeError:
        return None
    if message.method != "notifications/resources/updated" or message.params is None:
        return None
    return message.params.uri


class Watch:
    """One stream's subscriptions: its session's URIs, its listens, and where messages go."""

    def __init__(self, deliver: Callable[[bytes], None]) -> None:
        self.uris: set[str] = set()
        self.listens: dict[str, Listen] = {}
        self.deliver = deliver
        # A 2026-07-28 client is on this stream (it listened, or sent a modern request): list
        # changes reach it only as its listens ask, never as a legacy session's untagged ones.
        self.modern = False

    def control(self, data: bytes) -> bool:
        """Apply `data` if it is a control message; True if it was one (never for the client)."""
        if not data.startswith(_CONTROL_PREFIX):
            return False
        try:
            message = SESSION_CONTROL_DECODER.decode(data)
        except msgspec.DecodeError:
            return True
        if message.forge == "subscribe":
            self.uris.add(message.uri)
        elif message.forge == "unsubscribe":
            self.uris.discard(message.uri)
        elif message.forge == "listen" and message.id is not None:
            if message.notifications is not None:
                listen = Listen(message.id, message.notifications)
                self.deliver(listen.ack())  # the first message of the subscription
                self.add(listen)
        elif message.forge == "unlisten" and message.id is not None:
            self.remove(message.id)
        elif message.forge == "modern":
            self.modern = True
        return True

    def add(self, listen: Listen) -> None:
        self.listens[key(listen.id)] = listen
        self.modern = True

    def remove(self, request_id: jsonrpc.RequestId | None) -> bool:
        """End a listen (its client cancelled it); True if this stream held it."""
        return self.listens.pop(key(request_id), None) is not None

    def update(self, uri: str, data: bytes) -> None:
        """An upstream's update of `uri`: to the session if subscribed, to each listen naming it."""
        if uri in self.uris:
            self.deliver(data)
        for listen in list(self.listens.values()):
            if uri in listen.uris:
                self.deliver(listen.updated(uri))

    def notices(self, kinds: frozenset[str]) -> list[bytes]:
        """The list changes each listen asked for, tagged with its id."""
        return [message for listen in self.listens.values() for message in listen.notices(kinds)]

    def farewells(self) -> list[bytes]:
        """Each listen's result, when the edge ends its stream gracefully."""
        return [listen.farewell() for listen in self.listens.values()]


class Updates:
    """Every stream's watch on this replica, fed by one `forge.resource.updated.*` subscription."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.watches: set[Watch] = set()
        self._sub: Subscription | None = None
        self._lock = asyncio.Lock()

    async def add(self, watch: Watch) -> None:
        """Register a stream's watch; the first one subscribes this replica to updates."""
        async with self._lock:
            if self._sub is None:
                self._sub = await self.bus.subscribe(subjects.RESOURCE_UPDATED_ANY, self._on_update)
        self.watches.add(watch)

    def remove(self, watch: Watch) -> None:
        self.watches.discard(watch)

    async def _on_update(self, subject: str, data: bytes) -> None:
        if not self.watches:
            return
        uri = updated_uri(data)
        if uri is None:
            return
        for watch in list(self.watches):
            watch.update(uri, data)
