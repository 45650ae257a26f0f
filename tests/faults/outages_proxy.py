"""A TCP proxy that can cut its path on command, for outage tests (a database or peer that goes
away and comes back without the process on the other side knowing).

It runs its own event loop on a thread, so a test drives it with plain calls: `cut()` closes
every connection it carries and makes new ones fail (`refuse`: accepted then closed at once, as a
host whose port is closed answers; `blackhole`: accepted and never answered, as a dropped route
looks; `garbage`: each request read is answered at once with HTTP 200 and bytes that are no
JSON), `restore()` lets connections through again, `retarget(port)` sends new connections to
another port (a server restarted elsewhere). Loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")

Mode = Literal["open", "refuse", "blackhole", "garbage"]
# What the garbage mode answers any request with: a 200 that is not JSON.
GARBAGE = b"\x00\xffnot json at all {{{" * 4


class CuttableProxy:
    """Listens on 127.0.0.1:<port> (chosen by the kernel) and forwards to 127.0.0.1:`target`."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self.mode: Mode = "open"
        self.accepted = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def start(self) -> CuttableProxy:
        self._thread.start()
        self._server = self._run(self._listen())
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._run(self._close_all(close_server=True))
            self._server = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def cut(self, mode: Mode = "refuse") -> None:
        """From now on no byte passes: live connections are closed, new ones `mode`."""
        self.mode = mode
        self._run(self._close_all(close_server=False))

    def restore(self) -> None:
        self.mode = "open"

    def retarget(self, port: int) -> None:
        self.target = port

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def _close_all(self, *, close_server: bool) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        if close_server and self._server is not None:
            self._server.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.mode == "refuse":
            writer.transport.abort()
            return
        self._writers.add(writer)
        if self.mode == "blackhole":
            return  # held open, never answered, until restore-and-cut or stop closes it
        if self.mode == "garbage":
            await self._garbage(reader, writer)
            self._writers.discard(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            self._writers.discard(writer)
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        for end in (writer, up_writer):
            self._writers.discard(end)
            end.transport.abort()

    async def _garbage(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        head += b"Content-Length: %d\r\n\r\n" % len(GARBAGE)
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while self.mode == "garbage" and await reader.read(65536):
                writer.write(head + GARBAGE)
                await writer.drain()
        writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                if self.mode != "open":
                    break
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
