"""A raw-socket client that is slow on purpose: it sends a request a byte at a time and reads
what the server sends until the server closes, to show a server cuts such clients off."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

Trickle = Callable[[], Awaitable[None]]


def trickler(writer: asyncio.StreamWriter, data: bytes) -> Trickle:
    """A `trickle()` that sends the next byte of `data` each time it runs; a connection the
    server has closed meanwhile is not an error (being cut off is what the tests expect)."""
    remaining = iter(data)

    async def trickle() -> None:
        with contextlib.suppress(ConnectionError):
            writer.write(bytes([next(remaining)]))
            await writer.drain()

    return trickle


async def read_until_closed(
    reader: asyncio.StreamReader, trickle: Trickle | None = None, idle_s: float = 0.2
) -> bytes:
    """What the server sends until it closes the connection; `trickle()` runs whenever nothing
    came for `idle_s`, as a client sending its request a byte at a time does."""
    received = b""
    while True:
        try:
            chunk = await asyncio.wait_for(reader.read(4096), idle_s)
        except TimeoutError:
            if trickle is not None:
                await trickle()
            continue
        if not chunk:
            return received
        received += chunk
