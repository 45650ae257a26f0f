"""Slow clients under uvicorn: a request's headers must be complete in time.

uvicorn closes idle keep-alive connections, but a client that sends a request's headers a byte at
a time holds its socket (and a slot of the server's) forever. This protocol arms a timer when a
connection opens and when a request's first byte arrives, and disarms it when the headers are
complete; if it fires, the edge answers 408 and closes the connection. (hypercorn's keep-alive
timer already runs until a request's headers are complete; see `app._serve_hypercorn`.) The body
has its own timeout, in `inputs.read_json`, for both servers; a connection whose request was
answered before its body had all come is closed (as hypercorn does), so that a body trickled
after the answer holds nothing.

The protocol also writes a response's head together with its first body chunk: uvicorn writes
each ASGI message to the socket as it comes, two sends for a plain JSON answer where one does
(a loopback send costs microseconds of CPU; issue 16). A held head goes out on the next write,
or at the end of the loop iteration that wrote it, so a stream's head is never delayed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class _Coalescing:
    """A connection's transport as a response cycle sees it: a response's first write (the
    head) is held until the next write or the end of this loop iteration, whichever is first."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif data:
            self._held = data
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def header_timeout_protocol(timeout_s: float) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol, with headers that must be complete within `timeout_s`."""

    class HeaderTimeoutProtocol(HttpToolsProtocol):
        header_timer: asyncio.TimerHandle | None = None
        header_pending = False  # a request has begun whose headers are not all here yet

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            # The clock runs from a request's first byte (not reset by each byte), armed only
            # when its headers did not all come with that byte: a request whose headers come in
            # one piece, the usual case, costs no timer (issue 16).
            if self.header_pending and self.header_timer is None:
                self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.header_pending = True

        def on_headers_complete(self) -> None:
            self.header_pending = False
            self._disarm()
            super().on_headers_complete()
            cycle = self.cycle
            if cycle is not None and cycle.transport is self.transport:
                cycle.transport = _Coalescing(self.transport, self.loop)  # type: ignore[assignment]

        def on_response_complete(self) -> None:
            # Answered before the request's body had all come (an early 401, a 408 body
            # timeout, a route that reads no body): the rest is not waited for. A client still
            # sending it would hold the connection as long as it liked, each byte deferring
            # uvicorn's keep-alive timeout, and no header timer runs until a next request.
            if self.cycle is not None and self.cycle.more_body:
                self.transport.close()
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self.header_timer = self.loop.call_later(timeout_s, self._headers_late)

        def _disarm(self) -> None:
            if self.header_timer is not None:
                self.header_timer.cancel()
                self.header_timer = None

        def _headers_late(self) -> None:
            self.header_timer = None
            if self.transport.is_closing():
                return
            if self.cycle is None or self.cycle.response_complete:
                self.transport.write(_TIMED_OUT)  # not in the middle of a pipelined response
            self.transport.close()

    return HeaderTimeoutProtocol
