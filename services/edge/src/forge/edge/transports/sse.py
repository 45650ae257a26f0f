"""Server-sent events on a raw ASGI connection: one writer, and the pump of long-lived streams."""

from __future__ import annotations

import asyncio
import contextlib

from forge.edge.http import Receive, Send

KEEPALIVE_S = 15.0
SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class EventStream:
    """One `text/event-stream` response, written event by event."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        self.closed = False

    async def start(self, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        raw = [*SSE_HEADERS, *(headers or [])]
        await self._send({"type": "http.response.start", "status": 200, "headers": raw})
        self.started = True

    async def event(self, data: bytes, event: bytes = b"message") -> None:
        if self.closed:
            return
        chunk = b"event: " + event + b"\ndata: " + data + b"\n\n"
        await self._send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def comment(self) -> None:
        if not self.closed:
            ping = {"type": "http.response.body", "body": b": ping\n\n", "more_body": True}
            await self._send(ping)

    async def close(self, last: bytes | None = None) -> None:
        """End the response, with `last` as the final message event."""
        if self.closed:
            return
        if last is not None:
            await self.event(last)
        self.closed = True
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})


async def disconnected(receive: Receive) -> None:
    """Return once the client has gone (the request body was read before)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def pump(
    stream: EventStream, queue: asyncio.Queue[bytes], receive: Receive, closing: asyncio.Event
) -> bool:
    """Write queued messages until the client leaves (False) or the edge shuts down (True)."""
    gone = asyncio.ensure_future(disconnected(receive))
    ending = asyncio.ensure_future(closing.wait())
    getting: asyncio.Future[bytes] | None = None
    try:
        while True:
            if getting is None:
                getting = asyncio.ensure_future(queue.get())
            waiting: set[asyncio.Future[object]] = {getting, gone, ending}  # type: ignore[arg-type]
            done, _ = await asyncio.wait(
                waiting, timeout=KEEPALIVE_S, return_when=asyncio.FIRST_COMPLETED
            )
            if gone in done:
                return False
            if getting in done:
                await stream.event(getting.result())
                getting = None
            elif ending in done:
                return True
            else:
                await stream.comment()
    finally:
        for task in (gone, ending, getting):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
