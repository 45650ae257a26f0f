"""Resource updates a legacy upstream sends outside any call, published for the edges.

Streamable HTTP upstreams send them on the session's GET stream, which a `Listener` holds open
(from the first `resources/subscribe` forwarded on the session until the session closes); SSE,
WebSocket and stdio channels carry them unsolicited. Either way the raw notification goes to
`forge.resource.updated.<gateway id>`, where the edge that holds a subscribed client's stream
picks it up. Modern (2026-07-28) upstreams deliver updates on `subscriptions/listen` streams
only: a modern session holds one for the URIs subscribed through it (`subscriptions`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiohttp
import msgspec

from forge.core import subjects
from forge.core.bus import Bus
from forge.core.errors import ForgeError
from forge.proto.jsonrpc import MESSAGE_DECODER
from forge.upstream_proxy.transports.exchange import SseParser

log = logging.getLogger("forge.upstream_proxy.transports.updates")
UPDATED = "notifications/resources/updated"
# How long a subscribe waits for the GET stream to open before it goes ahead regardless.
OPEN_WAIT_S = 2.0
# Reconnect politely: double the pause after each failure, up to this.
MAX_BACKOFF_S = 30.0
Publish = Callable[[bytes], Awaitable[None]]
Connect = Callable[[], AbstractAsyncContextManager[aiohttp.ClientResponse]]


def publisher(bus: Bus) -> Callable[[str], Publish]:
    """What a pooled session of a gateway calls with each resource update."""

    def for_gateway(gateway_id: str) -> Publish:
        async def publish(raw: bytes) -> None:
            await bus.publish(subjects.resource_updated(gateway_id), raw)

        return publish

    return for_gateway


def subscribable(capabilities: dict[str, Any]) -> bool:
    resources = capabilities.get("resources")
    return isinstance(resources, dict) and resources.get("subscribe") is True


class Listener:
    """One legacy Streamable HTTP session's GET stream, reopened until closed."""

    def __init__(self, label: str, publish: Publish) -> None:
        self.label = label
        self.publish = publish
        self.opened = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, connect: Connect) -> None:
        """Open the stream unless open; wait (briefly) until the upstream has accepted it."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(connect))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(OPEN_WAIT_S):
                await self.opened.wait()

    async def _run(self, connect: Connect) -> None:
        pause = 0.0
        while True:
            try:
                async with connect() as response:
                    if response.status == 405:
                        log.info("gateway %s offers no GET stream", self.label)
                        self.opened.set()
                        return
                    if response.status == 200:
                        self.opened.set()
                        pause = 0.0
                        await self._read(response)
                    else:
                        log.debug("gateway %s refused the GET stream", self.label)
            except (aiohttp.ClientError, TimeoutError, ForgeError) as exc:
                # ForgeError: the credentials (a token, the SSRF guard) refused the stream.
                log.debug("GET stream of gateway %s ended: %s", self.label, type(exc).__name__)
            self.opened.set()  # a subscribe never waits on a stream that keeps failing
            pause = min(max(pause * 2, 0.5), MAX_BACKOFF_S)
            await asyncio.sleep(pause)

    async def _read(self, response: aiohttp.ClientResponse) -> None:
        parser = SseParser()
        async for chunk in response.content.iter_any():
            for data in parser.feed(chunk):
                await forward(data, self.publish)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


async def forward(raw: bytes, publish: Publish | None) -> bool:
    """Publish `raw` if it is a resource update; True if it was one."""
    if publish is None or UPDATED.encode() not in raw:
        return False
    try:
        message = MESSAGE_DECODER.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False
    if message.method != UPDATED or message.id not in (msgspec.UNSET, None):
        return False
    await publish(raw)
    return True
