"""Resource subscriptions at a modern (2026-07-28) upstream: one `subscriptions/listen` stream.

That era removed `resources/subscribe`: a client names the URIs it wants updates of in a listen
request's `resourceSubscriptions`, and the response is the stream that carries them. A session
holds one such stream for the union of the URIs Forge's clients subscribed to through it. A new
URI opens a new stream for the larger set; the old one is closed once the new one is
acknowledged, so no update falls between them. A stream that drops is opened again (with a
growing pause). Every update goes on as a plain `notifications/resources/updated`, without the
upstream's subscription id, to `forge.resource.updated.<gateway id>` like a legacy upstream's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import aiohttp
import msgspec

from forge.core.errors import ForgeError
from forge.proto.jsonrpc import notification_bytes
from forge.proto.mcp import RESOURCE_UPDATED_DECODER
from forge.upstream_proxy.transports.exchange import SseParser
from forge.upstream_proxy.transports.updates import MAX_BACKOFF_S, UPDATED, Publish

log = logging.getLogger("forge.upstream_proxy.transports.subscriptions")
ACKNOWLEDGED = "notifications/subscriptions/acknowledged"
# Beyond this many URIs at one upstream, the ones subscribed longest ago are let go (templates
# make the set of URIs unbounded; a client subscribed to a dropped one hears of it no more).
MAX_URIS = 1024
# How long a subscribe waits for the upstream to acknowledge the stream that carries its URI
# (within the call's own deadline); a refusal or a failure ends the wait at once.
ACK_WAIT_S = 10.0
_ENC = msgspec.json.Encoder()

# Opens one listen stream for the given params (the session adds headers and credentials).
Connect = Callable[[bytes], AbstractAsyncContextManager[aiohttp.ClientResponse]]


def listen_params(uris: list[str]) -> bytes:
    return _ENC.encode({"notifications": {"resourceSubscriptions": uris}})


class _Stream:
    """One open listen stream: its task and whether the upstream acknowledged it."""

    def __init__(self, uris: list[str]) -> None:
        self.uris = frozenset(uris)
        self.acknowledged = asyncio.Event()
        # Acknowledged, or failed once: a subscribe waits no longer on a stream that keeps failing.
        self.settled = asyncio.Event()
        self.task: asyncio.Task[None] | None = None


class Subscriptions:
    """The URIs a modern session is subscribed to, and the listen stream that carries them."""

    def __init__(self, label: str, publish: Publish, connect: Connect) -> None:
        self.label = label
        self.publish = publish
        self.connect = connect
        self.uris: dict[str, None] = {}  # in order of subscription: the oldest go first
        self._stream: _Stream | None = None
        self._lock = asyncio.Lock()
        self._retiring: set[asyncio.Task[None]] = set()

    async def add(self, uri: str) -> None:
        """Subscribe `uri`; return once the upstream acknowledged (or refused, or after a wait)."""
        if uri not in self.uris:
            self.uris[uri] = None
            while len(self.uris) > MAX_URIS:
                del self.uris[next(iter(self.uris))]
        async with self._lock:
            if self._stream is not None and uri in self._stream.uris:
                return  # carried already; subscribes that waited together share one new stream
            fresh = _Stream(list(self.uris))
            fresh.task = asyncio.create_task(self._run(fresh, list(self.uris)))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ACK_WAIT_S):
                    await fresh.settled.wait()
            old, self._stream = self._stream, fresh
        if old is not None:
            self._retire(old, fresh)

    def _retire(self, old: _Stream, fresh: _Stream) -> None:
        """Stop `old` once `fresh` (which carries its URIs too) is acknowledged, or has ended (a
        newer one took over): until then the old one still brings their updates."""

        async def retire() -> None:
            assert fresh.task is not None
            acknowledged = asyncio.ensure_future(fresh.acknowledged.wait())
            try:
                await asyncio.wait({acknowledged, fresh.task}, return_when="FIRST_COMPLETED")
            finally:
                acknowledged.cancel()
                await _stop(old)

        task = asyncio.create_task(retire())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _run(self, stream: _Stream, uris: list[str]) -> None:
        pause = 0.0
        params = listen_params(uris)
        while True:
            try:
                async with self.connect(params) as response:
                    if response.status == 200:
                        pause = 0.0
                        await self._read(stream, response)
                        log.debug("listen stream of gateway %s ended", self.label)
                    else:
                        log.info(
                            "gateway %s refused subscriptions/listen (HTTP %d)",
                            self.label,
                            response.status,
                        )
            except (aiohttp.ClientError, TimeoutError, ForgeError) as exc:
                log.debug("listen stream of gateway %s failed: %s", self.label, type(exc).__name__)
            stream.settled.set()  # a subscribe never waits on a stream that keeps failing
            pause = min(max(pause * 2, 0.5), MAX_BACKOFF_S)
            await asyncio.sleep(pause)

    async def _read(self, stream: _Stream, response: aiohttp.ClientResponse) -> None:
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            # A JSON answer: an error (or an immediate close) instead of a stream.
            body = await response.read()
            log.info("gateway %s answered subscriptions/listen with %s", self.label, body[:200])
            return
        parser = SseParser()
        async for chunk in response.content.iter_any():
            for data in parser.feed(chunk):
                await self._message(stream, data)

    async def _message(self, stream: _Stream, data: bytes) -> None:
        if ACKNOWLEDGED.encode() in data:
            stream.acknowledged.set()
            stream.settled.set()
            return
        try:
            message = RESOURCE_UPDATED_DECODER.decode(data)
        except msgspec.DecodeError:
            return
        if message.method == UPDATED and message.params is not None and message.params.uri:
            # Without the upstream's own subscription id: each client's stream tags its own.
            uri = message.params.uri
            await self.publish(notification_bytes(UPDATED, _ENC.encode({"uri": uri})))

    async def close(self) -> None:
        async with self._lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            await _stop(stream)
        for task in list(self._retiring):  # each stops its old stream on the way out
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _stop(stream: _Stream) -> None:
    if stream.task is not None:
        stream.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stream.task
