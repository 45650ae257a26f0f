"""Resource subscriptions of legacy sessions: each stream filters upstream updates by URI.

When a legacy session's `resources/subscribe` (or `unsubscribe`) succeeds, the edge that took it
publishes a control message on `forge.session.<sid>`; whichever replica holds the session's
stream (GET stream, SSE stream, WebSocket) keeps the set of URIs and writes each matching
`forge.resource.updated.*` notification. Control messages never reach the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import msgspec

from forge.core import subjects
from forge.core.bus import Bus, Subscription
from forge.proto.mcp import RESOURCE_UPDATED_DECODER
from forge.proto.sessions import SESSION_CONTROL_DECODER, SessionControl

SUBSCRIBE_METHODS = {"resources/subscribe": "subscribe", "resources/unsubscribe": "unsubscribe"}
_CONTROL_PREFIX = b'{"forge":'
_ENC = msgspec.json.Encoder()


def control(method: str, uri: str) -> bytes:
    """The control message of a successful `resources/subscribe` or `unsubscribe`."""
    return _ENC.encode(SessionControl(forge=SUBSCRIBE_METHODS[method], uri=uri))


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
    """One stream's side of its session's subscriptions: the URIs, and where updates go."""

    def __init__(self, deliver: Callable[[bytes], None]) -> None:
        self.uris: set[str] = set()
        self.deliver = deliver

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
        return True


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
            if uri in watch.uris:
                watch.deliver(data)
